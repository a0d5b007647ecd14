"""Articles in: loaders, splitters, embedders and the Chroma store."""
