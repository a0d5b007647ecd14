"""What people read of a run: the metrics table (terminal and Markdown) and report.md."""

from __future__ import annotations

import html
import logging
from pathlib import Path

from tabulate import tabulate

from eval.metrics import KS, OUTCOMES, outcome
from eval.plots import write_plots

log = logging.getLogger(__name__)

# (section, metrics.json key, label); the order is the order of every table.
METRICS: list[tuple[str, str, str]] = [
    *(("retrieval", f"hit@{k}", f"hit@{k}") for k in KS),
    *(("retrieval", f"recall@{k}", f"evidence recall@{k}") for k in KS),
    ("retrieval", "mrr", "MRR"),
    *(("retrieval", f"ndcg@{k}", f"nDCG@{k}") for k in KS),
    ("answers", "accuracy", "accuracy"),
    ("answers", "token_f1", "token F1"),
    ("answers", "supported_accuracy", "accuracy, supported sentences only"),
    ("citations", "citation_validity", "quote validity"),
    ("citations", "evidence_recall", "evidence recall"),
    ("citations", "citation_precision", "citation precision"),
    ("abstention", "abstention_precision", "abstention precision"),
    ("abstention", "abstention_recall", "abstention recall"),
    ("abstention", "answered_should_abstain", "answered, should abstain"),
    ("abstention", "abstained_should_answer", "abstained, should answer"),
    ("sentences", "sentences_model", "cited by the chat model"),
    ("sentences", "sentences_attached", "citation attached by the check"),
    ("sentences", "sentences_extractive", "extractive (article sentences)"),
    ("sentences", "sentences_unsupported", "unsupported (flagged)"),
    ("latency", "latency_ms_p50", "p50 (ms)"),
    ("latency", "latency_ms_p95", "p95 (ms)"),
    ("latency", "latency_ms_max", "max (ms)"),
]
# The few metrics that fit in one row per tag.
TAG_COLUMNS = [
    ("hit@5", "hit@5"),
    ("accuracy", "accuracy"),
    ("token_f1", "F1"),
    ("evidence_recall", "evidence"),
    ("citation_precision", "precision"),
    ("abstention_recall", "abstained"),
    ("latency_ms_p50", "p50 ms"),
]


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}" if value > 1 else f"{value:.3f}"
    return str(value)


def counts_line(metrics: dict) -> str:
    return f"{metrics['questions']} questions: {metrics['answerable']} answerable, {metrics['unanswerable']} not"


def outcomes_sentence(metrics: dict) -> str:
    """The run in words people read first, before any table: "34 of 40 answered right (30 answered, 4
    rightly said the articles don't say); 3 answered wrongly; 2 answered where the articles don't say;
    1 said "don't know" wrongly". The counts are those of eval.metrics.outcome, from the run's metrics."""
    asked, answerable, unanswerable = metrics["questions"], metrics["answerable"], metrics["unanswerable"]
    correct = round((metrics.get("accuracy") or 0.0) * answerable)  # a share of at most 10,000 questions: exact
    missed, invented = metrics["abstained_should_answer"], metrics["answered_should_abstain"]
    declined = unanswerable - invented
    wrong = answerable - correct - missed
    right = f"{correct + declined} of {asked} answered right"
    if declined:
        right += f" ({correct} answered, {declined} rightly said the articles don't say)"
    parts = [
        right,
        f"{wrong} answered wrongly",
        f"{invented} answered where the articles don't say",
        f"{missed} said \"don't know\" wrongly",
    ]
    validity = metrics.get("citation_validity")
    if validity is not None:
        parts.append("every quote is the article's exact text" if validity == 1 else
                     f"{1 - validity:.0%} of the quotes differ from the article's text")
    return "; ".join(parts)


def retrieval_table(metrics: dict, tablefmt: str = "simple") -> str:
    """Retrieval as one row per k, then MRR."""
    rows = [(k, *(fmt(metrics.get(f"{name}@{k}")) for name in ("hit", "recall", "ndcg"))) for k in KS]
    rows.append(("MRR", fmt(metrics.get("mrr")), "", ""))
    headers = ["k", "hit@k", "evidence recall@k", "nDCG@k"]
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def quality_table(metrics: dict, tablefmt: str = "simple") -> str:
    """Answers, citations, abstention and latency."""
    rows = [(section, label, fmt(metrics.get(key))) for section, key, label in METRICS if section != "retrieval"]
    return tabulate(rows, headers=["", "metric", "value"], tablefmt=tablefmt, disable_numparse=True)


def metrics_table(metrics: dict, tablefmt: str = "simple") -> str:
    return "\n\n".join([
        outcomes_sentence(metrics) + ".",  # in words first
        counts_line(metrics),
        retrieval_table(metrics, tablefmt),
        quality_table(metrics, tablefmt),
    ])


def side_by_side(runs: list[tuple[str, dict]], tablefmt: str = "github") -> str:
    """The answer, abstention, sentence and latency metrics of several runs (named) in one table."""
    keys = [(key, label) for section, key, label in METRICS if section != "retrieval"]
    keys = [("hit@5", "hit@5"), *keys]
    rows = [(label, *(fmt(metrics.get(key)) for _, metrics in runs)) for key, label in keys]
    return tabulate(rows, headers=["metric", *(name for name, _ in runs)], tablefmt=tablefmt, disable_numparse=True)


def tags_table(metrics: dict, tablefmt: str = "simple") -> str:
    rows = [
        (tag, m["questions"], *(fmt(m.get(key)) for key, _ in TAG_COLUMNS))
        for tag, m in metrics.get("by_tag", {}).items()
    ]
    if not rows:
        return ""
    headers = ["tag", "n", *(label for _, label in TAG_COLUMNS)]
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


# Worst first: a quote that is not the article's text breaks trust; then made-up answers,
# then wrong ones (least overlap first), then needless abstentions.
_SEVERITY = {"invented": 1, "wrong": 2, "missed": 3}


def failures(records: list[dict], limit: int = 20) -> list[dict]:
    def rank(record: dict) -> tuple:
        scores = record["scores"]
        if scores["citations_valid"] < scores["citations"]:
            return (0, 0.0)
        return (_SEVERITY.get(outcome(scores), 9), scores.get("f1") or 0.0)

    failed = [r for r in records if rank(r)[0] < 9]
    return sorted(failed, key=rank)[:limit]


def _escaped(text: str) -> str:
    """Article and set text is untrusted: it must not turn into markup in the report."""
    return html.escape(text, quote=False).replace("\n", " ")


def failure_markdown(record: dict) -> str:
    scores = record["scores"]
    problem = OUTCOMES[outcome(scores)]
    if scores["citations_valid"] < scores["citations"]:
        problem = f"{scores['citations'] - scores['citations_valid']} cited quote(s) differ from the article text"
    expected = record["expected"]
    lines = [f"#### `{_escaped(record['id'])}` — {problem}", "", f"- **Question:** {_escaped(record['question'])}"]
    for asked, answered in record.get("history", []):
        lines.append(f"- **Earlier turn:** {_escaped(asked)} → {_escaped(answered)}")
    if record.get("rewritten_question"):
        lines.append(f"- **Rewritten as:** {_escaped(record['rewritten_question'])}")
    lines.append(
        "- **Expected:** "
        + (" / ".join(_escaped(a) for a in expected["answers"]) or "abstain (the articles do not say)")
    )
    lines += [f"  - evidence: {_escaped(quote)}" for quote in expected["evidence"]]
    lines.append(f"- **Answered:** {_escaped(record['answer'])}")
    lines += [
        f"  - unsupported, flagged: {_escaped(s['text'])}" for s in record.get("sentences", []) if s.get("unsupported")
    ]
    lines += [
        f"  - [{c['n']}] {_escaped(c['title'])}: {_escaped(c['quote'])}"  # offsets stay in results.jsonl
        for c in record["citations"]
    ]
    if scores.get("f1") is not None:
        lines.append(
            f"- token F1 {scores['f1']:.2f} · evidence cited {scores['evidence_cited']}/{scores['evidence_units']}"
        )
    return "\n".join(lines)


def gguf_line(gguf: dict) -> str:
    """The model file that answered (eval.runner.gguf_record), in one line."""
    size = f"{gguf['size']:,} bytes" if gguf.get("size") is not None else "size unknown"
    sha = f"SHA-256 {gguf['sha256_prefix']}…" if gguf.get("sha256_prefix") else "SHA-256 unknown"
    name = f" ({_escaped(gguf['name'])})" if gguf.get("name") else ""
    problem = f" · {_escaped(gguf['error'])}" if gguf.get("error") else ""
    return f"Chat model file `{_escaped(gguf['path'])}`{name} · {size} · {sha}{problem}"


def report_markdown(run, plots: list[Path]) -> str:
    meta, metrics = run.meta, run.metrics
    counts = meta["index_counts"]
    parts = [
        f"# Evaluation of `{_escaped(meta['set'])}`",
        "",
        f"{meta['finished']} · index {_escaped(meta['index'])} ({counts['articles']} articles, "
        f"{counts['chunks']} chunks) · {meta['machine']}",
        "",
        f"Embedding model {meta['model']} · settings: "
        + ", ".join(f"{k}={v}" for k, v in sorted(meta["settings"].items())),
    ]
    if meta.get("llm_gguf"):
        parts += ["", gguf_line(meta["llm_gguf"])]
    if meta.get("scope"):
        parts += ["", f"Evaluated on {_escaped(meta['scope'])}."]
    parts += [
        "",
        "## Metrics",
        "",
        metrics_table(metrics, "github"),
        "",
        _DEFINITIONS,
    ]
    if plots:
        parts += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    if metrics.get("by_tag"):
        parts += ["", "## By tag", "", tags_table(metrics, "github")]
    if meta["warnings"]:
        parts += ["", "## Warnings", ""] + [f"- {_escaped(w)}" for w in meta["warnings"]]
    worst = failures(run.records)
    parts += ["", f"## Worst failures ({len(worst)} shown)", ""]
    parts += [failure_markdown(r) + "\n" for r in worst] or ["None: every question had the expected outcome."]
    return "\n".join(parts) + "\n"


_DEFINITIONS = """\
<details><summary>What the metrics mean</summary>

- A retrieved passage is *relevant* when it contains an evidence quote (or, where a question lists no evidence, one of its answers). hit@k: a relevant passage is in the top k. Evidence recall@k: share of the evidence quotes inside the top k. MRR: mean of 1/rank of the first relevant passage. nDCG@k: binary gains, ideal ranking from every relevant passage in the index.
- Accuracy: the answer contains an acceptable answer (case- and quote-insensitive). Token F1: SQuAD's token overlap with the best acceptable answer (citation markers removed). Both over answerable questions; abstaining there counts as wrong. Accuracy, supported sentences only: the same, on the answer without the sentences the check flagged unsupported (a chat model's; extractive answers have none).
- Sentences: how many answer sentences, over the run, the chat model cited itself (`cited_by: "model"`, its marker verified), had a citation attached by the check (`"attached"`), came from the extractive reader, or were left unsupported (flagged ⚠️, no citation).
- Quote validity: share of citations whose quote is exactly the article text at its offsets. Evidence recall: share of evidence quotes inside the cited spans. Citation precision: share of citations whose span holds evidence or an acceptable answer (answerable questions).
- Abstention precision: share of abstentions that were on unanswerable questions; recall: share of unanswerable questions abstained on.
- Latency: time to answer, as `timings_ms.total` of `qa ask --json` (the process and model load excluded).
</details>"""


def write_report(run) -> Path:
    path = run.out / "report.md"
    try:
        plots = write_plots(run.out, run.metrics, run.records, run.meta["set"])
    except Exception as exc:  # a plot that cannot be drawn must not cost the report
        log.warning("plots of %s not drawn", run.out, exc_info=True)
        problem = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        report = report_markdown(run, [])
        note = f"\nPlots could not be drawn ({_escaped(problem)}).\n"
        report = report.replace("\n## Metrics\n", f"{note}\n## Metrics\n", 1)
        path.write_text(report, encoding="utf-8")
        return path
    path.write_text(report_markdown(run, plots), encoding="utf-8")
    return path
