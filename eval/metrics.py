"""Scores of one answer against its question, and their aggregates over a run."""

from __future__ import annotations

import re

import numpy as np

from eval.sets import EvalQuestion

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


def normalize(text: str) -> str:
    """Case-, quote- and white-space-insensitive form used to compare answers."""
    text = text.translate(_QUOTES).lower()
    return re.sub(r"\s+", " ", text).strip()


def answer_correct(question: EvalQuestion, answer: dict) -> bool | None:
    """Does a non-abstaining answer contain an acceptable answer? None for unanswerable questions."""
    if not question.answerable:
        return None
    if answer["abstained"]:
        return False
    said = normalize(answer["answer"])
    return any(normalize(a) in said for a in question.answers)


def score_answer(question: EvalQuestion, answer: dict) -> dict:
    return {
        "correct": answer_correct(question, answer),
        "should_abstain": not question.answerable,
        "abstained": answer["abstained"],
    }


def aggregate(scores: list[dict], latencies_ms: list[float]) -> dict:
    answerable = [s for s in scores if not s["should_abstain"]]
    unanswerable = [s for s in scores if s["should_abstain"]]
    abstained = [s for s in scores if s["abstained"]]
    lat = np.asarray(latencies_ms, dtype=float)
    return {
        "questions": len(scores),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "accuracy": _share(sum(bool(s["correct"]) for s in answerable), len(answerable)),
        "abstention_precision": _share(sum(s["should_abstain"] for s in abstained), len(abstained)),
        "abstention_recall": _share(sum(s["abstained"] for s in unanswerable), len(unanswerable)),
        "answered_should_abstain": sum(not s["abstained"] for s in unanswerable),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
        "latency_ms_max": round(float(lat.max()), 1) if lat.size else None,
    }


def _share(part: int, whole: int) -> float | None:
    """A ratio, or None where it is undefined (nothing to count)."""
    return round(part / whole, 4) if whole else None
