"""Relative dates against hand labels: the share of the labelled occurrences resolved to the right day.

    .venv/bin/python benchmarks/relative_dates.py                 # eval/sets/relative-dates.jsonl
    .venv/bin/python benchmarks/relative_dates.py --no-spacy      # without the verb tense
    .venv/bin/python benchmarks/relative_dates.py --json out.json
    .venv/bin/python benchmarks/relative_dates.py --stored        # the dates ingest stores, read back

`--stored` ingests the labelled articles (and the undated ones, with no date) into a temporary
QA_HOME through the service, as `qa ingest` does, and scores the dates read back from the store
(`ChromaStore.stored_dates`) instead of resolving them here.

Each line of the set is an occurrence in an article of the collection: its span, the publication
date, and the day a reader of the article would say it means (`day`, plus `last_day` for a week,
month or year). An occurrence is right when the resolver returns a date overlapping its span
with the same day (and the same last day for a span). Lines with `"published": null` name an
article to resolve with no publication date: nothing may be resolved there. Lines with
`"split": "fresh"` were labelled after the resolver was tuned on the others: their share is
reported apart, as the check of how the rules carry over to occurrences they were not fitted to.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.dates import DateResolution, resolve_dates  # noqa: E402

DEFAULT_SET = ROOT / "eval" / "sets" / "relative-dates.jsonl"
DEFAULT_ARTICLES = ROOT.parent / "shared" / "corpus" / "wikinews" / "articles.jsonl"


def load(path: Path) -> tuple[list[dict], list[dict]]:
    occurrences, no_date = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            (no_date if row.get("published") is None else occurrences).append(row)
    return occurrences, no_date


def _span(first: date, last: date) -> str:
    return first.isoformat() if first == last else f"{first}..{last}"


def stored(articles: dict[str, dict], undated: set[str]) -> dict[tuple[str, bool], DateResolution]:
    """(article id, dated) -> the dates ingest stores for it: the articles ingested into a temporary QA_HOME,
    those of `undated` once more with no publication date."""
    import tempfile

    from qa.service import QAService
    from qa.settings import Settings

    with tempfile.TemporaryDirectory(prefix="qa-dates-") as home:
        feed = Path(home) / "articles.jsonl"
        rows = list(articles.values()) + [
            {k: v for k, v in articles[i].items() if k != "published"} | {"id": f"{i}--undated"} for i in sorted(undated)]
        feed.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        service = QAService(Settings(home=Path(home) / "home"))
        report = service.ingest([feed], progress=False)
        assert not report.errors, report.errors
        found = service.store.stored_dates([r["id"] for r in rows])
    return {(i.removesuffix("--undated"), not i.endswith("--undated")): resolution for i, resolution in found.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES)
    parser.add_argument("--no-spacy", action="store_true", help="no verb tense: bare weekdays take the past")
    parser.add_argument("--stored", action="store_true", help="score the dates ingest stores (a temporary QA_HOME)")
    parser.add_argument("--json", type=Path, help="write the figures and misses here")
    args = parser.parse_args(argv)

    occurrences, no_date = load(args.set)
    wanted = {row["article_id"] for row in occurrences + no_date}
    articles = {}
    for line in args.articles.read_text(encoding="utf-8").splitlines():
        article = json.loads(line)
        if article["id"] in wanted:
            articles[article["id"]] = article
    nlp = False if args.no_spacy else None
    kept = stored(articles, {row["article_id"] for row in no_date}) if args.stored else {}

    def resolution(article_id: str, published: str | None) -> DateResolution:
        if args.stored:
            return kept[(article_id, published is not None)]
        return resolve_dates(articles[article_id]["text"], published, nlp=nlp)

    by_article = defaultdict(list)
    for row in occurrences:
        by_article[row["article_id"]].append(row)
    started = time.perf_counter()
    right, misses = defaultdict(int), []
    for article_id, rows in by_article.items():
        text = articles[article_id]["text"]
        if args.stored:  # ingest resolves against the article's own date: the label's must be it
            assert (articles[article_id].get("published") or "")[:10] == rows[0]["published"], article_id
        found = list(resolution(article_id, rows[0]["published"]))
        for row in rows:
            assert text[row["start"] : row["end"]] == row["text"], row
            overlapping = [f for f in found if f.start < row["end"] and f.end > row["start"]]
            best = max(overlapping, key=lambda f: min(f.end, row["end"]) - max(f.start, row["start"]), default=None)
            day = date.fromisoformat(row["day"])
            last_day = date.fromisoformat(row.get("last_day") or row["day"])
            split = row.get("split", "main")
            if best is not None and best.day == day and best.last_day == last_day:
                right[split] += 1
                continue
            got = None if best is None else _span(best.day, best.last_day)
            misses.append(
                {
                    "split": split,
                    "article_id": article_id,
                    "text": row["text"],
                    "published": row["published"],
                    "want": row["day"] if row.get("kind", "day") == "day" else f"{row['day']}..{row['last_day']}",
                    "got": got,
                    "rule": None if best is None else best.rule,
                    "context": text[max(0, row["start"] - 120) : row["end"] + 60].replace("\n", " "),
                }
            )
    resolved_without_date = {}
    for row in no_date:
        undated = resolution(row["article_id"], None)
        resolved_without_date[row["article_id"]] = (len(undated), undated.note)
    elapsed = time.perf_counter() - started

    totals = defaultdict(int)
    for row in occurrences:
        totals[row.get("split", "main")] += 1
    mode = ("no tense" if args.no_spacy else "spaCy tense") + (", as stored by ingest" if args.stored else "")
    for split in sorted(totals, key=lambda name: name != "main"):
        label = "the hand-labelled set" if split == "main" else f"split {split!r}"
        print(f"relative dates, {label}: {right[split]}/{totals[split]} resolved to the right day "
              f"({right[split] / totals[split]:.1%})  [{args.set.name}, {mode}]")
    print(f"({elapsed:.1f} s for {len(by_article)} articles{', reading the stored dates back' if args.stored else ''})")
    for miss in misses:
        print(f"  miss ({miss['split']}): {miss['text']!r} in {miss['article_id']} (published {miss['published']}): "
              f"want {miss['want']}, got {miss['got']} [{miss['rule']}]")
        print(f"        …{miss['context']}…")
    bad = {k: v for k, v in resolved_without_date.items() if v[0]}
    count = sum(v[0] for v in resolved_without_date.values())
    print(f"no publication date: {len(no_date)} articles, {count} dates resolved"
          f" (note: {next(iter(resolved_without_date.values()))[1] if resolved_without_date else None!r})"
          + ("" if not bad else f"  FAIL: {bad}"))
    if args.json:
        figures = {s: {"right": right[s], "total": totals[s], "share": right[s] / totals[s]} for s in totals}
        no_date_resolved = {k: v[0] for k, v in resolved_without_date.items()}
        report = {"figures": figures, "misses": misses, "no_date_resolved": no_date_resolved}
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
