"""Who said what, measured on hand-annotated quotations of real reports, and timed at collection scale.

    .venv/bin/python benchmarks/who_said_what.py --home H [--set eval/sets/who-said-what.jsonl] [--runs 30]

H is a QA_HOME where /work/shared/corpus/wikinews/articles.jsonl (or any collection holding the
annotated reports) is ingested. The set (eval/sets/who-said-what.jsonl) holds, for each speaker, every
sentence of the collection in which the speaker's words appear, direct or reported, written by hand
from the reports before the system was run on them: `quotes` are exact spans (article_id, start,
end, quote), a sentence or the part of it that carries the words.

Printed:
- recall of the speaker's quotations: the share of annotated quotations that a statement of the
  answer covers (its span overlaps the quotation by at least half of the shorter of the two), over
  the complete answer (JSON `statements`) and over the statements the answer text shows (at most 12);
- precision of the statements shown: the share of cited statements that cover one of the speaker's
  annotated quotations (a lead-in cited with a statement counts against it);
- per speaker, what was missed and what was wrongly shown;
- the time of "What did X say?" for the most quoted speaker (p50, p95 over --runs, warm), and of
  QAService.people() (warm, and `qa people --json` as a new process).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # after PYTHONPATH: a snapshot of the code may be measured


def covers(a: tuple[int, int], b: tuple[int, int]) -> bool:
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    return overlap > 0 and overlap >= 0.5 * min(a[1] - a[0], b[1] - b[0])


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


_QUOTES = '"“”'


def whole_quotation(text: str, start: int, end: int) -> tuple[int, int]:
    """An annotated span (often the opening words of a long quotation) to the end of the quotation it
    opens, or else of its sentence: the speaker's words go on there, whatever the sentence splitter makes
    of "[...]" or a paragraph inside them."""
    inside = sum(text[start:end].count(q) for q in _QUOTES) % 2 == 1
    if inside:
        closing = min((i for i in (text.find(q, end) for q in _QUOTES) if i >= 0), default=-1)
        return start, (closing + 1 if closing >= 0 else end)
    stop = next((i + 1 for i in range(end - 1, len(text)) if text[i] in ".?!" and text[i + 1 : i + 2] in ("", " ", "\n", '"', "”")), end)
    return start, max(end, stop)


def score(record: dict, answer: dict, texts: dict[str, str] | None = None) -> dict:
    gold = [(q["article_id"], (q["start"], q["end"])) for q in record["quotes"]]
    if texts is not None:  # --whole-quotations
        gold = [(a, whole_quotation(texts[a], *span)) for a, span in gold]
    items = [(g["article_id"], (i["start"], i["end"]), i) for g in answer.get("statements") or [] for i in g["items"]]
    shown = [(c["article_id"], (c["start"], c["end"]), c) for c in answer["citations"]]

    def found_by(spans) -> list[bool]:
        return [any(a == ga and covers(s, gs) for a, s, _ in spans) for ga, gs in gold]

    recall_all, recall_shown = found_by(items), found_by(shown)
    right = [any(a == ga and covers(s, gs) for ga, gs in gold) for a, s, _ in shown]
    return {
        "gold": len(gold),
        "recalled": sum(recall_all),
        "recalled_shown": sum(recall_shown),
        "shown": len(shown),
        "right": sum(right),
        "missed": [q["quote"] for q, hit in zip(record["quotes"], recall_all) if not hit],
        "wrong": [c["quote"] for (_, _, c), ok in zip(shown, right) if not ok],
        "kinds": [(i["kind"], any(a == ga and covers(s, gs) for ga, gs in gold)) for a, s, i in items],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="QA_HOME with the collection ingested")
    parser.add_argument("--set", type=Path, default=ROOT / "eval" / "sets" / "who-said-what.jsonl")
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each timed call")
    parser.add_argument("--verbose", action="store_true", help="print what was missed and wrongly shown")
    parser.add_argument(
        "--whole-quotations",
        action="store_true",
        help="read each annotated span to the end of the quotation it opens (or of its sentence): the annotation "
        "marks where the speaker's words start, the system's sentences may split them further",
    )
    args = parser.parse_args()

    from qa.service import QAService
    from qa.settings import Settings

    service = QAService(Settings(home=args.home))
    records = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines() if line.strip()]
    service.warm_up()
    totals = {"gold": 0, "recalled": 0, "recalled_shown": 0, "shown": 0, "right": 0}
    kinds = {"direct": [0, 0], "reported": [0, 0], "context": [0, 0]}
    print(f"{'speaker':<20} {'quotes':>6} {'recall':>7} {'shown':>6} {'precision':>9}")
    texts = None
    if args.whole_quotations:
        ids = sorted({q["article_id"] for r in records for q in r["quotes"]})
        texts = {a.id: a.text for a in service.articles(ids)}
    for record in records:
        answer = service.ask(record["question"]).to_dict()
        s = score(record, answer, texts)
        for key in totals:
            totals[key] += s[key]
        for kind, ok in s["kinds"]:
            kinds[kind][0] += 1
            kinds[kind][1] += ok
        precision = s["right"] / s["shown"] if s["shown"] else float("nan")
        print(f"{record['speaker']:<20} {s['gold']:>6} {s['recalled'] / s['gold']:>7.2f} {s['shown']:>6} {precision:>9.2f}")
        if args.verbose:
            for quote in s["missed"]:
                print(f"    missed: {quote[:110]}")
            for quote in s["wrong"]:
                print(f"    wrong:  {quote[:110]}")
    print(
        f"\nrecall of the speakers' quotations: {totals['recalled'] / totals['gold']:.3f} "
        f"({totals['recalled']}/{totals['gold']}; over the statements shown: "
        f"{totals['recalled_shown'] / totals['gold']:.3f})"
    )
    print(f"precision of the statements shown:  {totals['right'] / max(1, totals['shown']):.3f} "
          f"({totals['right']}/{totals['shown']})")
    print("statements by kind (all, of them the speaker's): "
          + ", ".join(f"{k} {n} ({ok})" for k, (n, ok) in kinds.items()))

    # -- timing -------------------------------------------------------------------------------
    listed = service.people()
    top = listed[0]
    question = f"What did {top['name']} say?"
    times, answer = [], None
    for _ in range(args.runs):
        started = time.perf_counter()
        answer = service.ask(question)
        times.append((time.perf_counter() - started) * 1000)
    found = answer.to_dict()
    print(
        f"\n{question!r} ({top['statements']} statements in {top['reports']} reports; the answer shows "
        f"{len(answer.citations)}, {found['more']['statements']} more in {found['more']['reports']} reports): "
        f"p50 {statistics.median(times):.0f} ms, p95 {p95(times):.0f} ms over {args.runs} runs (warm)"
    )
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        service.people()
        times.append((time.perf_counter() - started) * 1000)
    print(f"QAService.people() ({len(listed)} people, {service.stats()['articles']} articles): "
          f"p50 {statistics.median(times):.1f} ms, p95 {p95(times):.1f} ms over {args.runs} runs (warm)")
    qa = ROOT / ".venv" / "bin" / "qa"
    times = []
    for _ in range(min(args.runs, 5)):
        started = time.perf_counter()
        subprocess.run([str(qa), "people", "--json", "--home", str(args.home)], check=True, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    print(f"`qa people --json` as a new process: p50 {statistics.median(times):.0f} ms, max {max(times):.0f} ms "
          f"over {len(times)} runs (most of it starting Python and Chroma)")


if __name__ == "__main__":
    main()
