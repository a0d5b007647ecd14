"""Runs an evaluation set through the service and writes results.jsonl and metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from eval.metrics import aggregate, score_answer
from eval.sets import load_set


def run_set(service, set_path: Path, out: Path, progress: bool | None = None) -> dict:
    """Answer every question of the set (with its history) and score it; returns the metrics."""
    questions = load_set(set_path)
    out.mkdir(parents=True, exist_ok=True)
    scores, latencies = [], []
    with (out / "results.jsonl").open("w", encoding="utf-8") as results:
        for question in tqdm(questions, desc="evaluating", unit="question", disable=True if progress is False else None):
            answer = service.ask(question.question, history=question.history).to_dict()
            score = score_answer(question, answer)
            scores.append(score)
            latencies.append(answer["timings_ms"]["total"])
            results.write(json.dumps({"id": question.id, **answer, "scores": score}, ensure_ascii=False) + "\n")
    metrics = aggregate(scores, latencies)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics
