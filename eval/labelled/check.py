"""Checks a labelled question file against the articles: python eval/labelled/check.py FILE.jsonl [...]

Every question names its `article_id` (in the split its file is for), each `evidence` quote is
exactly a substring of that article's text, each answer of an answerable question appears in its
evidence (case- and space-insensitive), and an unanswerable one has no answers, no evidence and the
tag `unanswerable`. Prints the problems, then the counts by split and tag.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1].parent / "shared" / "corpus" / "wikinews" / "articles.jsonl"
TAGS = {
    "who", "when", "where", "how-many", "how-much", "what", "which", "why", "how", "yes-no", "name",
    "what-did-x-say", "according-to", "long-question", "date-pinned", "unanswerable", "near-miss",
    "multi-sentence", "pronoun", "role-noun", "quote", "indirect", "list", "number", "date",
}


def _norm(text: str) -> str:
    text = text.translate(str.maketrans("‘’“”", "''\"\""))
    return re.sub(r"\s+", " ", text).strip().lower()


def check(path: Path, texts: dict[str, str], split_of: dict[str, str]) -> tuple[list[str], list[dict]]:
    problems, records, seen = [], [], set()
    expected_split = next((s for s in ("train", "dev", "test") if s in path.name), None)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: invalid JSON ({e})")
            continue
        for key in ("id", "question", "answers", "evidence", "tags", "article_id"):
            if key not in q:
                problems.append(f"{where}: missing {key!r}")
        if q.get("id") in seen:
            problems.append(f"{where}: id {q.get('id')!r} repeated")
        seen.add(q.get("id"))
        text = texts.get(q.get("article_id", ""))
        if text is None:
            problems.append(f"{where}: unknown article_id {q.get('article_id')!r}")
            continue
        if expected_split and split_of.get(q["article_id"]) != expected_split:
            problems.append(f"{where}: article {q['article_id']} is in {split_of.get(q['article_id'])}, not {expected_split}")
        unknown = set(q.get("tags", [])) - TAGS
        if unknown:
            problems.append(f"{where}: unknown tags {sorted(unknown)}")
        if "unanswerable" in q.get("tags", []):
            if q.get("answers") or q.get("evidence"):
                problems.append(f"{where}: unanswerable but has answers or evidence")
        else:
            if not q.get("answers") or not q.get("evidence"):
                problems.append(f"{where}: answerable needs answers and evidence")
            for quote in q.get("evidence", []):
                if quote not in text:
                    problems.append(f"{where}: evidence not in the article text exactly: {quote[:80]!r}")
            joined = _norm(" ".join(q.get("evidence", [])))
            for answer in q.get("answers", []):
                if _norm(answer) not in joined:
                    problems.append(f"{where}: answer {answer!r} not inside the evidence")
        records.append(q)
    return problems, records


def main(paths: list[str]) -> int:
    articles = [json.loads(l) for l in CORPUS.read_text(encoding="utf-8").splitlines()]
    texts = {a["id"]: a["text"] for a in articles}
    split = json.loads((HERE / "split.json").read_text())
    split_of = {a: s for s, ids in split.items() for a in ids}
    total_problems, tags, count = 0, Counter(), 0
    for p in paths:
        problems, records = check(Path(p), texts, split_of)
        for line in problems:
            print(line)
        total_problems += len(problems)
        count += len(records)
        tags.update(t for r in records for t in r.get("tags", []))
    print(f"{count} questions, {total_problems} problems; tags: {dict(tags.most_common())}")
    return 1 if total_problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
