"""Briefings and timelines, measured on eval/sets/briefings.jsonl (broad questions over the Wikinews
collection, each with the key events, by report, that a briefing must hold).

    .venv/bin/qa ingest --home /tmp/briefings-home ../shared/corpus/wikinews/articles.jsonl
    .venv/bin/python benchmarks/briefings.py --home /tmp/briefings-home [--set eval/sets/briefings.jsonl] [--json out.json]

For each question, through the real service (`QAService.ask`, the extractive backend):

- routed: the question was answered as a briefing (the answer has a `timeline`);
- event recall (shown): a key event counts when a sentence the answer shows, and cites, is from its
  report, or lists its report in `also_in` (a near-copy merged into it);
- event recall (evidence): stricter, the shown sentence from its report is the event's evidence
  sentence (the cited span overlaps it);
- event recall (listed): the report is anywhere in the JSON timeline, shown or counted in "K more";
- shown twice: sentences the answer shows more than once (the same words, or the same span);
- uncited: shown timeline lines without a citation, and citations whose quote is not the stored
  article text at its offsets;
- latency of each question (the service warm), p50 and p95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(service, items: list[dict]) -> dict:
    results = []
    for item in items:
        started = time.perf_counter()
        answer = service.ask(item["question"])
        seconds = time.perf_counter() - started
        texts = {a.id: a.text for a in service.articles([c.article_id for c in answer.citations])}
        shown_articles: dict[str, list] = {}
        for c in answer.citations:
            for article_id in [c.article_id, *(copy["article_id"] for copy in c.also_in)]:
                shown_articles.setdefault(article_id, []).append(c)
        listed = {e["article_id"] for e in answer.timeline or []} | {
            copy["article_id"] for e in answer.timeline or [] for copy in e["also_in"]
        }
        events = []
        for event in item["events"]:
            article_id, evidence = event["article_id"], event["evidence"]
            text = texts.get(article_id) or (service.articles([article_id]) or [None])[0].text
            at = text.find(evidence)
            span = (at, at + len(evidence))
            hits = shown_articles.get(article_id, [])
            strict = any(c.article_id == article_id and c.start < span[1] and span[0] < c.end for c in hits)
            events.append({"article_id": article_id, "shown": bool(hits), "evidence": strict,
                           "listed": article_id in listed})
        quotes = [" ".join(c.quote.split()).lower() for c in answer.citations]
        spans = [(c.article_id, c.start, c.end) for c in answer.citations]
        twice = (len(quotes) - len(set(quotes))) + (len(spans) - len(set(spans)))
        uncited = sum(texts.get(c.article_id, "")[c.start : c.end] != c.quote for c in answer.citations)
        uncited += sum(f"[{c.n}]" not in answer.answer for c in answer.citations)
        uncited += sum(1 for e in answer.timeline or [] if e["n"] is None and e.get("shown"))
        results.append({"id": item["id"], "question": item["question"], "routed": answer.timeline is not None,
                        "shown": len(answer.citations), "more": (answer.more or {}).get("reports"),
                        "events": events, "twice": twice, "uncited": uncited, "seconds": round(seconds, 3)})
    all_events = [e for r in results for e in r["events"]]
    seconds = sorted(r["seconds"] for r in results)
    return {
        "questions": len(results),
        "routed": sum(r["routed"] for r in results),
        "events": len(all_events),
        "recall_shown": round(sum(e["shown"] for e in all_events) / len(all_events), 3),
        "recall_evidence": round(sum(e["evidence"] for e in all_events) / len(all_events), 3),
        "recall_listed": round(sum(e["listed"] for e in all_events) / len(all_events), 3),
        "mean_question_recall_shown": round(
            statistics.mean(sum(e["shown"] for e in r["events"]) / len(r["events"]) for r in results), 3
        ),
        "shown_twice": sum(r["twice"] for r in results),
        "uncited": sum(r["uncited"] for r in results),
        "latency_p50_s": round(statistics.median(seconds), 3),
        "latency_p95_s": round(seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))], 3),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a QA_HOME holding the Wikinews collection")
    parser.add_argument("--set", default=str(ROOT / "eval" / "sets" / "briefings.jsonl"))
    parser.add_argument("--json", help="write every question's result here")
    args = parser.parse_args()

    from qa.service import QAService
    from qa.settings import Settings

    items = [json.loads(line) for line in Path(args.set).read_text(encoding="utf-8").splitlines() if line.strip()]
    service = QAService(Settings(home=Path(args.home)))
    service.warm_up()
    service.ask(items[0]["question"])  # the first question loads what the rest reuse (spaCy for dates)
    found = measure(service, items)
    for r in found["results"]:
        got = sum(e["shown"] for e in r["events"])
        missed = [e["article_id"][:40] for e in r["events"] if not e["shown"]]
        print(f"{r['id']:<26} {got}/{len(r['events'])} shown={r['shown']:<2} more={r['more']!s:<4} "
              f"{'' if r['routed'] else 'NOT ROUTED '}{r['seconds']:.2f}s {'missed: ' + ', '.join(missed) if missed else ''}")
    summary = {k: v for k, v in found.items() if k != "results"}
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(found, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
