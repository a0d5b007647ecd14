"""The labelled Wikinews set's split by article (issue 22): which articles are train, dev and test.

Articles the project's earlier sets (wikinews*.jsonl) ask about are dev: the rules were written from
them. The rest are split by a hash of the article id, so the split never depends on the order of
the file and an article's questions all fall in one split.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

SETS = Path(__file__).resolve().parent.parent / "sets"
EARLIER_SETS = ("wikinews.jsonl", "wikinews-heldout.jsonl", "wikinews-heldout-2.jsonl")
# Shares of the articles not in the earlier sets.
TEST_SHARE, DEV_SHARE = 0.30, 0.18


def _bucket(article_id: str) -> float:
    digest = hashlib.sha256(f"qa-labelled-v1:{article_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 0x1_0000_0000


def split(articles: list[dict]) -> dict[str, list[str]]:
    texts = {a["id"]: a["text"] for a in articles}
    earlier: set[str] = set()
    for name in EARLIER_SETS:
        for line in (SETS / name).read_text(encoding="utf-8").splitlines():
            for quote in json.loads(line).get("evidence", []):
                earlier.update(i for i, text in texts.items() if quote in text)
    parts: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for article_id in texts:
        if article_id in earlier:
            parts["dev"].append(article_id)
            continue
        b = _bucket(article_id)
        parts["test" if b < TEST_SHARE else "dev" if b < TEST_SHARE + DEV_SHARE else "train"].append(article_id)
    return parts


if __name__ == "__main__":
    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/corpus/wikinews/articles.jsonl")
    articles = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    parts = split(articles)
    print(json.dumps(parts, indent=1))
