"""`qa eval compare RUN_A RUN_B`: each metric side by side, and the questions whose outcome changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from eval.metrics import OUTCOMES, outcome
from eval.report import METRICS, fmt

# Where a smaller number is the better one.
_LOWER_IS_BETTER = {
    "answered_should_abstain",
    "abstained_should_answer",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_max",
    "sentences_unsupported",
}


class RunError(ValueError):
    pass


@dataclass
class Flip:
    id: str
    question: str
    before: str  # a key of OUTCOMES
    after: str


@dataclass
class Comparison:
    rows: list[tuple]  # section, label, A, B, B - A (None when either is undefined), metrics.json key
    flips: list[Flip]
    only_a: list[str]
    only_b: list[str]


def load_run(run: Path) -> tuple[dict, dict[str, dict]]:
    """metrics.json and the results.jsonl records by id of a run directory."""
    try:
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        lines = (run / "results.jsonl").read_text(encoding="utf-8").splitlines()
        records = {r["id"]: r for r in (json.loads(line) for line in lines if line.strip())}
    except (OSError, ValueError, KeyError) as exc:
        raise RunError(f"{run}: not a readable evaluation run ({exc})") from None
    return metrics, records


def compare_runs(a: Path, b: Path) -> Comparison:
    metrics_a, records_a = load_run(a)
    metrics_b, records_b = load_run(b)
    rows = []
    for section, key, label in METRICS:
        va, vb = metrics_a.get(key), metrics_b.get(key)
        delta = round(vb - va, 4) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        rows.append((section, label, va, vb, delta, key))
    flips = [
        Flip(i, records_b[i]["question"], outcome(records_a[i]["scores"]), outcome(records_b[i]["scores"]))
        for i in records_a
        if i in records_b and outcome(records_a[i]["scores"]) != outcome(records_b[i]["scores"])
    ]
    return Comparison(
        rows=rows,
        flips=flips,
        only_a=[i for i in records_a if i not in records_b],
        only_b=[i for i in records_b if i not in records_a],
    )


def _delta(delta: float | None, key: str) -> str:
    if not delta:
        return "" if delta is None else "0"
    better = (delta < 0) if key in _LOWER_IS_BETTER else (delta > 0)
    return f"{delta:+.4g} {'better' if better else 'worse'}"


def comparison_text(comparison: Comparison, a: Path, b: Path) -> str:
    table = tabulate(
        [
            (section, label, fmt(va), fmt(vb), _delta(delta, key))
            for section, label, va, vb, delta, key in comparison.rows
        ],
        headers=["", "metric", f"A: {a.name}", f"B: {b.name}", "B − A"],
        disable_numparse=True,
    )
    lines = [table, ""]
    if comparison.flips:
        lines.append(f"{len(comparison.flips)} question(s) changed outcome:")
        for f in comparison.flips:
            lines.append(f"  {f.id}: {OUTCOMES[f.before]} → {OUTCOMES[f.after]}    {f.question}")
    else:
        lines.append("No question changed outcome.")
    if comparison.only_a or comparison.only_b:
        lines.append(
            f"Only in A: {', '.join(comparison.only_a) or '-'}; only in B: {', '.join(comparison.only_b) or '-'}"
        )
    return "\n".join(lines)
