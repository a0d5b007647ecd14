"""Runs an evaluation set through the service and writes what a person needs to judge it.

DIR/results.jsonl  every answer as `qa ask --json` prints it, plus id, expectations and scores
DIR/metrics.json   the aggregates (see eval/metrics.py), overall and by tag
DIR/run.json       what was evaluated: set, index, settings, time
DIR/report.md      the metrics, the plots and the worst failures
DIR/*.png          hit@k by k, latency histogram, outcomes by tag
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from eval.metrics import (
    KS,
    aggregate_by_tag,
    evidence_units,
    holds,
    normalize,
    relevant,
    score_answer,
    score_citations,
    score_retrieval,
    score_support,
)
from eval.report import write_report
from eval.sets import EvalQuestion
from qa.types import Filters

if TYPE_CHECKING:
    from qa.service import QAService

Progress = Callable[[int, int], None]  # (questions done, questions in all)


@dataclass
class EvalRun:
    out: Path
    meta: dict
    metrics: dict
    records: list[dict]
    warnings: list[str] = field(default_factory=list)


def new_run_dir(runs: Path, set_name: str) -> Path:
    """A fresh directory under `runs` named after the set and the time, for runs nobody named."""
    base = runs / f"{Path(set_name).stem}-{datetime.now():%Y%m%d-%H%M%S}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def run_set(
    service: QAService,
    questions: list[EvalQuestion],
    out: Path,
    *,
    set_name: str,
    progress: Progress | None = None,
    filters: Filters | None = None,
    scope: str | None = None,
) -> EvalRun:
    """Answer every question (with its history), score it, and write the run's files to `out`.

    `filters`: ask and retrieve only from the articles they allow (a selection: `Filters.article_ids`), so
    other articles of the collection neither answer nor count as retrieval misses; `scope` says in words
    what was evaluated on (kept in run.json and the report)."""
    out.mkdir(parents=True, exist_ok=True)
    corpus = [
        p.text for p in service.all_passages()
        if not filters or filters.allows(p.source, p.published, p.article_id)
    ]
    warnings = _unfindable_evidence(questions, corpus)
    records: list[dict] = []
    with (out / "results.jsonl").open("w", encoding="utf-8") as results:
        for done, question in enumerate(questions):
            if progress:
                progress(done, len(questions))
            record = _evaluate(service, question, corpus, filters)
            records.append(record)
            results.write(json.dumps(record, ensure_ascii=False) + "\n")
    if progress:
        progress(len(questions), len(questions))
    metrics = aggregate_by_tag([r["scores"] for r in records], [r["tags"] for r in records])
    meta = {
        "set": set_name,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "index": service.location,
        "index_counts": service.stats(),
        "model": service.embedder.model_id,
        "settings": service.settings.model_dump(mode="json", include=_SETTINGS_SHOWN),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "warnings": warnings,
        "scope": scope or ("the articles the filters allow" if filters else "the whole collection"),
    }
    if filters:
        meta["filters"] = {"sources": list(filters.sources), "since": filters.since, "until": filters.until,
                           "article_ids": list(filters.article_ids)}
    if service.settings.backend == "llamacpp" and service.settings.llm_gguf:
        meta["llm_gguf"] = gguf_record(service.settings.llm_gguf)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out / "run.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    run = EvalRun(out, meta, metrics, records, warnings)
    write_report(run)
    return run


_SETTINGS_SHOWN = {
    *("chunk_chars", "chunk_overlap", "top_k", "candidates", "abstain_threshold"),
    *("backend", "llm_model", "llm_max_tokens"),  # who wrote the answers
}


def gguf_record(path: Path) -> dict:
    """Which model file answered: its path, byte size, SHA-256 (the first 16 hex digits) and GGUF `general.name`.

    The file is hashed once per run (a gigabyte takes seconds), so that two runs of the "same" path can be
    told apart when the file was rebuilt or replaced."""
    from qa.llamacpp import LlamaCppError, gguf_header, sha256_of

    path = Path(path)
    record: dict = {"path": str(path.resolve()), "size": None, "sha256_prefix": None, "name": None}
    try:
        record["size"] = path.stat().st_size
        record["sha256_prefix"] = sha256_of(path)[:16]
        record["name"] = gguf_header(path)["metadata"].get("general.name")
    except (OSError, LlamaCppError) as exc:
        record["error"] = " ".join(str(exc).split())[:300]
    return record


def _evaluate(service: QAService, question: EvalQuestion, corpus: list[str], filters: Filters | None = None) -> dict:
    answer = service.ask(question.question, history=question.history, filters=filters).to_dict()
    # Retrieval is scored on the question the answer was retrieved for (a follow-up's rewrite);
    # the ranking's first top_k passages are the ones the answer read.
    ranked = service.retrieve(answer["rewritten_question"] or answer["question"], k=max(KS), filters=filters)
    cited_ids = list(dict.fromkeys(c["article_id"] for c in answer["citations"]))
    articles = {a.id: a.text for a in service.articles(cited_ids)}
    scores = (
        score_answer(question, answer)
        | score_support(question, answer)
        | score_retrieval(question, [p.text for p in ranked], sum(relevant(question, text) for text in corpus))
        | score_citations(question, answer, articles)
        | {"latency_ms": answer["timings_ms"]["total"]}
    )
    return {
        "id": question.id,
        **answer,
        "history": [list(turn) for turn in question.history],
        "tags": question.tags,
        "expected": {"answers": question.answers, "evidence": question.evidence},
        "retrieved": [
            {"chunk_id": p.chunk_id, "article_id": p.article_id, "relevant": relevant(question, p.text)} for p in ranked
        ],
        "scores": scores,
    }


def _unfindable_evidence(questions: list[EvalQuestion], corpus: list[str]) -> list[str]:
    """Evidence no single stored passage holds: retrieval cannot score a hit for it (a set or index problem)."""
    warnings = []
    for question in questions:
        for unit in evidence_units(question):
            if not any(holds(unit, text) for text in corpus):
                warnings.append(f"{question.id}: no stored passage contains {' / '.join(map(repr, unit))}")
    return warnings


# -- what a set is evaluated on: its own articles, or a fresh index of its own corpus -----------------

ROOT = Path(__file__).resolve().parent.parent
# The articles the bundled sets were written from, where the repository holds them: a fresh index of these
# answers the set without the rest of a collection (`qa eval --own-index`, the Evaluate tab).
SET_CORPORA = {
    "sample.jsonl": [ROOT / "corpus" / "xi-moscow-2023-03-20.txt"],
    "wikinews.jsonl": [ROOT / "corpus" / "wikinews" / "articles.jsonl"],
}


def set_corpus(set_name: str) -> list[Path] | None:
    """The corpus files of a bundled set (SET_CORPORA), None for a set without one here."""
    found = SET_CORPORA.get(Path(set_name).name)
    return found if found and all(p.exists() for p in found) else None


def scope_phrase(kind: str, count: int = 0, files: list[Path] | tuple[Path, ...] = ()) -> str:
    """How a run's scope is said (`qa eval`, the Evaluate tab, report.md): kind is "fresh-index" (of
    `files`), "own-articles" (`count` articles hold the evidence) or "selection" (of `count` articles)."""
    if kind == "fresh-index":
        return f"a fresh index of {', '.join(p.name for p in files)}"
    if kind == "own-articles":
        return f"the {count} stored article{'s that hold' if count != 1 else ' that holds'} the set's evidence"
    return f"a selection of {count} article{'s' if count != 1 else ''}"


def evidence_articles(service: QAService, questions: list[EvalQuestion]) -> list[str]:
    """The stored articles that hold some of the set's evidence quotes (a passage of theirs holds one): the set's own articles in the collection, to restrict a run to (`qa eval --own-articles`)."""
    quotes = {normalize(quote) for q in questions if q.answerable for quote in q.evidence} - {""}
    found: dict[str, None] = {}
    for passage in service.all_passages():
        if passage.article_id not in found and quotes:
            text = normalize(passage.text)
            if any(quote in text for quote in quotes):
                found[passage.article_id] = None
    return list(found)


def own_index(service: QAService, corpus: list[Path], home: Path) -> tuple[QAService, str]:
    """A fresh index in `home` (embedded Chroma) of the `corpus` files only, sharing `service`'s loaded
    models; and the ingest's summary. ValueError when no article of the corpus could be stored."""
    from qa.service import QAService

    settings = service.settings.model_copy(update={"home": Path(home), "chroma_host": None})
    fresh = QAService(settings, embedder=service.embedder, splitter=service.splitter)
    report = fresh.ingest([Path(p) for p in corpus], progress=False)
    if not fresh.stats()["articles"]:
        raise ValueError(f"no article of {', '.join(Path(p).name for p in corpus)} could be stored: "
                         + ("; ".join(report.errors[:3]) or "nothing in it"))
    return fresh, report.summary()
