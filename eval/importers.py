"""Importers: public benchmarks in their own formats, read as our questions and articles.

RGB (Chen et al. 2023, "Benchmarking Large Language Models in Retrieval-Augmented Generation"):
JSON lines with `id`, `query`, `answer`, `positive` and `negative` (lists of passages). Every
passage becomes an article; they are pooled over the file and de-duplicated, so the same passage
under two questions is stored once. `positive_wrong` (counterfactual passages) is left out.
Ids match the converted copy in shared/benchmarks (`rgb-` + sha1 of the passage), so ingesting
both stores each passage once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from eval.sets import EvalQuestion, parse_json_lines
from index.loaders import make_article
from qa.types import Article


def _strings(value: object, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {field!r} must be a list of strings")
    return value


def _rgb_answers(value: object) -> list[str]:
    """RGB gives alternatives either flat (["Norway"]) or as one group ([["Jul 21, 2017", "21 July 2017"]])."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        if len(value) > 1:
            raise ValueError(
                f"'answer' has {len(value)} parts that must all be found; "
                "only questions with one answer (and its alternatives) can be imported"
            )
        value = value[0]
    answers = _strings(value, "answer")
    if not answers:
        raise ValueError("field 'answer' is empty")
    return answers


def _rgb_line(record: object, source: str) -> tuple[EvalQuestion, list[str]]:
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    for key in ("id", "query", "answer"):
        if key not in record:
            raise ValueError(f"missing field {key!r}")
    if not isinstance(record["query"], str) or not record["query"].strip():
        raise ValueError("field 'query' must be a non-empty string")
    passages = _strings(record.get("positive", []), "positive") + _strings(record.get("negative", []), "negative")
    question = EvalQuestion(id=f"rgb-{record['id']}", question=record["query"], answers=_rgb_answers(record["answer"]))
    return question, passages


def read_rgb(path: Path) -> tuple[list[EvalQuestion], list[Article]]:
    """The questions and the pooled passages of an RGB file; a bad line raises EvalSetError."""
    source = f"RGB {path.stem}"
    lines = parse_json_lines(path, lambda record: _rgb_line(record, source), key=lambda parsed: parsed[0].id)
    articles: dict[str, Article] = {}
    for _, passages in lines:
        for text in passages:
            article_id = "rgb-" + hashlib.sha1(text.encode()).hexdigest()[:12]
            if article_id not in articles and text.strip():
                articles[article_id] = make_article(id=article_id, title=text[:60], text=text, source=source)
    return [question for question, _ in lines], list(articles.values())
