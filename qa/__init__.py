"""qa: answers from news articles, every sentence cited to the exact characters."""
