"""Evaluation sets: JSONL, one question a line, validated with line numbers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

BUNDLED_SETS = Path(__file__).parent / "sets"


class EvalSetError(ValueError):
    pass


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: list[str]  # empty: the articles do not hold the answer, so the right move is to abstain
    evidence: list[str] = field(default_factory=list)  # exact quotes from the articles
    history: list[tuple[str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    article_id: str | None = None  # the article a labelled question is about: cross-validation groups by it

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def _string_list(record: dict, key: str) -> list[str]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {key!r} must be a list of strings")
    return value


def _question(record: object) -> EvalQuestion:
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    for key in ("id", "question"):
        if record.get(key) in (None, ""):
            raise ValueError(f"missing field {key!r}")
    if "answers" not in record:
        raise ValueError("missing field 'answers' (use [] for a question the articles do not answer)")
    if not isinstance(record["question"], str):
        raise ValueError("field 'question' must be a string")
    history = record.get("history") or []
    if not isinstance(history, list) or not all(
        isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn) for turn in history
    ):
        raise ValueError("field 'history' must be a list of [question, answer] pairs")
    return EvalQuestion(
        id=str(record["id"]),
        question=record["question"],
        answers=_string_list(record, "answers"),
        evidence=_string_list(record, "evidence"),
        history=[(q, a) for q, a in history],
        tags=_string_list(record, "tags"),
        article_id=record["article_id"] if isinstance(record.get("article_id"), str) else None,
    )


def parse_json_lines(path: Path, parse: Callable[[object], T], key: Callable[[T], str]) -> list[T]:
    """`parse` applied to each JSON line of a file; a bad line, or one whose `key` was seen before,
    raises EvalSetError naming the file and the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"{path}: cannot read: {exc}") from None
    parsed: list[T] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = parse(json.loads(line))
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}:{number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        except ValueError as exc:
            raise EvalSetError(f"{path}:{number}: {exc}") from None
        if key(item) in seen:
            raise EvalSetError(f"{path}:{number}: duplicate id {key(item)!r}")
        seen.add(key(item))
        parsed.append(item)
    if not parsed:
        raise EvalSetError(f"{path}: no questions")
    return parsed


def load_set(path: Path) -> list[EvalQuestion]:
    """The questions of a set in our format; the first bad line raises EvalSetError."""
    return parse_json_lines(path, _question, key=lambda q: q.id)


def bundled_sets() -> list[Path]:
    """The evaluation sets that ship with qa (eval/sets/*.jsonl) that `qa eval` can run; the
    benchmarks' own sets there (briefings, relative dates, who said what) have other shapes."""
    return [path for path in sorted(BUNDLED_SETS.glob("*.jsonl")) if _loads(path)]


def _loads(path: Path) -> bool:
    try:
        load_set(path)
    except EvalSetError:
        return False
    return True
