"""Issue 26's side-by-side table over runs of benchmarks/llm_naive.py, and the hand-judging sheet.

    python benchmarks/llm_compare.py table runs/llm-26/sample runs/llm-26/wikinews-dev
    python benchmarks/llm_compare.py sheet runs/llm-26/sample runs/llm-26/wikinews-dev --out runs/llm-judged/sheet.jsonl
    python benchmarks/llm_compare.py count runs/llm-judged/judged.jsonl

- `table`: one row a run directory and one for all of them pooled (latencies pooled per answer, not averaged
  per set): extractive accuracy; ours (the chat model with the check) accuracy of what is shown (the answer
  without its flagged sentences); the share of answerable questions whose raw model text held an acceptable
  answer (before the check: it bounds what a check can show); the naive pipeline's accuracy; unanswerable
  questions abstained on, each way; p50 / p95 seconds an answer, each way.
- `sheet`: every sentence ours shows as supported, one JSONL line each, with the exact spans it cites and
  `"supported": null` to be filled in by hand (true: the cited span says what the sentence says; false: not).
- `count`: the filled-in sheet counted: sentences judged, supported, and answered questions covered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.metrics import normalize  # noqa: E402


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _holds(answers: list[str], text: str) -> bool:
    return any(normalize(a) in normalize(text) for a in answers)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def run_rows(run: Path) -> dict:
    """Per-question outcomes of one llm_naive run directory, for pooling."""
    extractive = {r["id"]: r for r in _records(run / "extractive" / "results.jsonl")}
    ours = {r["id"]: r for r in _records(run / "ours" / "results.jsonl")}
    naive = {r["id"]: r for r in _records(run / "naive.jsonl")} if (run / "naive.jsonl").exists() else {}
    recorded = run / "ours" / "written.json"
    written = json.loads(recorded.read_text()) if recorded.exists() else {}
    rows = []
    for qid, o in ours.items():
        answers = o["expected"]["answers"]
        text = written.get(o["rewritten_question"] or o["question"], "")
        n = naive.get(qid)
        rows.append({
            "id": qid, "answerable": bool(answers),
            "extractive_correct": extractive[qid]["scores"]["correct"],
            "extractive_abstained": extractive[qid]["scores"]["abstained"],
            "extractive_s": extractive[qid]["scores"]["latency_ms"] / 1000,
            "ours_correct": o["scores"].get("supported_correct", o["scores"]["correct"]),
            "ours_abstained": o["scores"]["abstained"],
            "ours_s": o["scores"]["latency_ms"] / 1000,
            "held": _holds(answers, text) if answers else None,
            "naive_correct": n["scores"]["correct"] if n else None,
            "naive_abstained": n["scores"]["abstained"] if n else None,
            "naive_s": n["scores"]["latency_ms"] / 1000 if n else None,
        })
    return {"run": run, "rows": rows}


def _frac(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows if r[key] is not None]
    return f"{sum(values) / len(values):.2f} ({sum(values)}/{len(values)})" if values else "–"


def _times(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows if r[key] is not None]
    if not values:
        return "–"
    return f"{_quantile(values, 0.5):.1f} / {_quantile(values, 0.95):.1f}"


def table(runs: list[Path]) -> str:
    parsed = [run_rows(r) for r in runs]
    pooled = [row for p in parsed for row in p["rows"]]
    head = ("| run | questions (answerable / not) | extractive accuracy | 1.5B checked: accuracy shown "
            "| raw model text held an answer | 1.5B naive accuracy | unanswerable abstained: extractive / ours / naive "
            "| s an answer p50 / p95: extractive | checked | naive |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for name, rows in [(p["run"].name, p["rows"]) for p in parsed] + [("all", pooled)]:
        answerable = [r for r in rows if r["answerable"]]
        unanswerable = [r for r in rows if not r["answerable"]]
        abstained = " / ".join(
            f"{sum(bool(r[k]) for r in unanswerable)}/{len(unanswerable)}"
            for k in ("extractive_abstained", "ours_abstained", "naive_abstained"))
        lines.append(
            f"| {name} | {len(rows)} ({len(answerable)} / {len(unanswerable)}) "
            f"| {_frac(answerable, 'extractive_correct')} | {_frac(answerable, 'ours_correct')} "
            f"| {_frac(answerable, 'held')} | {_frac(answerable, 'naive_correct')} | {abstained} "
            f"| {_times(rows, 'extractive_s')} | {_times(rows, 'ours_s')} | {_times(rows, 'naive_s')} |")
    return "\n".join(lines)


def sheet(runs: list[Path]) -> list[dict]:
    entries = []
    for run in runs:
        for record in _records(run / "ours" / "results.jsonl"):
            if record["abstained"]:
                continue
            cited = {c["n"]: c for c in record["citations"]}
            for i, s in enumerate(record.get("sentences", [])):
                if s.get("unsupported") or not s.get("citations"):
                    continue
                entries.append({
                    "run": str(run), "id": record["id"], "question": record["rewritten_question"] or record["question"],
                    "sentence_index": i, "sentence": s["text"], "cited_by": s.get("cited_by"),
                    "spans": [{k: cited[n][k] for k in ("n", "article_id", "start", "end", "quote")}
                              for n in s["citations"] if n in cited],
                    "supported": None, "note": "",
                })
    return entries


def count(path: Path) -> str:
    judged = _records(path)
    done = [j for j in judged if j["supported"] is not None]
    ok = sum(bool(j["supported"]) for j in done)
    questions = {(j["run"], j["id"]) for j in done}
    share = f"{ok / len(done):.1%}" if done else "–"
    return (f"{len(done)} sentences shown as supported judged by hand ({len(judged) - len(done)} not yet), "
            f"over {len(questions)} answered questions: {ok} supported by the span they cite ({share}), "
            f"{len(done) - ok} not.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("table")
    t.add_argument("runs", nargs="+", type=Path)
    s = sub.add_parser("sheet")
    s.add_argument("runs", nargs="+", type=Path)
    s.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("count")
    c.add_argument("judged", type=Path)
    args = parser.parse_args()
    if args.command == "table":
        print(table(args.runs))
    elif args.command == "sheet":
        entries = sheet(args.runs)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
        print(f"{len(entries)} sentences shown as supported, from "
              f"{len({(e['run'], e['id']) for e in entries})} answered questions: {args.out}")
    else:
        print(count(args.judged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
