"""The Evaluate tab: run an evaluation set through the same runner as `qa eval` and show its report."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from eval.report import counts_line, failures, outcomes_sentence, quality_table, retrieval_table, tags_table
from eval.runner import evidence_articles, new_run_dir, own_index, run_set, scope_phrase, set_corpus
from eval.sets import EvalSetError, bundled_sets, load_set
from qa.service import QAService
from qa.types import Filters
from ui.render import error_message, escape_markdown, failure_markdown

# What a set is evaluated on (`qa eval`: no flag, --own-articles, --own-index, --article ID…).
SCOPES = [
    ("the whole collection", "collection"),
    ("its own articles in the collection (those holding its evidence)", "own-articles"),
    ("a fresh index of its own corpus (bundled sets)", "own-index"),
    ("the selection the chat asks about (Library)", "selection"),
]
_PLOTS = [
    ("retrieval_at_k.png", "Retrieval by k"),
    ("outcomes_by_tag.png", "What happened to each question"),
    ("latency.png", "Answer latency"),
]


class _HoldingIndex:
    """The service, with each question asked of it while holding the index (`reading`)."""

    def __init__(self, service: QAService, reading: Callable[[], AbstractContextManager]):
        self._service, self._reading = service, reading

    def __getattr__(self, name: str):
        found = getattr(self._service, name)
        if name not in ("ask", "retrieve", "all_passages"):
            return found

        def holding(*args, **kwargs):
            with self._reading():
                result = found(*args, **kwargs)
                return list(result) if name == "all_passages" else result

        return holding


def evaluate_tab(
    service: QAService, reading: Callable[[], AbstractContextManager] = nullcontext, selection=None
) -> None:
    """The tab's components and events; call inside a `gr.Blocks` context. `reading` holds the index while
    a question of the set is answered (ui/app.py's SharedLock: an ingest waits between questions);
    `selection`, the page's state of the article ids the chat asks about (the Library's "Ask about these")."""
    import gradio as gr

    # The bundled files that are evaluation sets (briefings, relative dates and who-said-what are the
    # benchmarks' own files, in other shapes); the sample set first, as `make run`'s collection is its article.
    sets = {path.name: path for path in bundled_sets()}
    sets = {name: sets[name] for name in sorted(sets, key=lambda name: name != "sample.jsonl")}

    def scoped(scope: str, path: Path, questions, out: Path, chosen: list[str] | None, progress):
        """(the service to ask, the filters, the scope in words) for what the set is evaluated on."""
        if scope == "own-index":
            files = set_corpus(path.name)
            if not files:
                raise gr.Error(error_message(
                    f"{path.name} has no corpus of its own here: evaluate it on its own articles in the collection,"
                    " or on a selection"
                ))
            progress(0, desc=f"building a fresh index of {', '.join(p.name for p in files)}")
            try:
                fresh, _ = own_index(service, files, out / "index")
            except ValueError as exc:
                raise gr.Error(error_message(exc)) from None
            return fresh, None, scope_phrase("fresh-index", files=files)
        held = _HoldingIndex(service, reading)
        if scope == "own-articles":
            ids = evidence_articles(held, questions)
            if not ids:
                raise gr.Error(f"No stored article holds the evidence of {error_message(path.name)}.")
            return held, Filters(article_ids=tuple(ids)), scope_phrase("own-articles", len(ids))
        if scope == "selection":
            ids = [i for i in chosen or [] if i]
            if not ids:
                raise gr.Error("Choose articles in the Library and press “Ask about these” first.")
            return held, Filters(article_ids=tuple(ids)), scope_phrase("selection", len(ids))
        return held, None, None

    def evaluate(
        set_name: str | None, uploaded: str | None, scope: str = "collection", chosen: list[str] | None = None,
        progress=gr.Progress(),
    ):
        path = Path(uploaded) if uploaded else sets.get(set_name or "")
        if path is None:
            raise gr.Error("Pick an evaluation set or upload one (.jsonl).")
        try:
            questions = load_set(path)
        except EvalSetError as exc:
            raise gr.Error(error_message(str(exc).replace(str(path), path.name))) from None
        out = new_run_dir(service.settings.runs_path, path.name)
        asking, filters, said = scoped(scope or "collection", path, questions, out, chosen, progress)
        progress((0, len(questions)), desc="evaluating", unit="questions")
        try:
            run = run_set(
                asking,
                questions,
                out,
                set_name=path.name,
                progress=lambda done, total: progress((done, total), desc="evaluating", unit="questions"),
                filters=filters,
                scope=said,
            )
        except ValueError as exc:  # a question the service refuses (too long): say which problem, as text
            raise gr.Error(error_message(f"{path.name}: {exc}")) from None
        m, worst = run.metrics, failures(run.records)
        # Tags come from the set: escaped like every other text of it (a `|` would also split the row).
        tagged = m | {"by_tag": {escape_markdown(tag): row for tag, row in m.get("by_tag", {}).items()}}
        return (
            # The run in words first (as `qa eval` prints it), then the counts and where its files are.
            f"### {escape_markdown(outcomes_sentence(m))}.\n\nEvaluated on {escape_markdown(said or 'the whole collection')}. "
            f"{counts_line(m)}. The run's files (report.md, "
            f"results.jsonl, metrics.json) are in {escape_markdown(out)}.",
            f"#### Retrieval\n\n{retrieval_table(m, 'github')}",
            f"#### Answers, citations, abstention, latency\n\n{quality_table(m, 'github')}",
            f"#### By tag\n\n{tags_table(tagged, 'github')}" if m.get("by_tag") else "",
            [(str(out / name), caption) for name, caption in _PLOTS if (out / name).exists()],
            f"### Worst failures ({len(worst)} shown)\n\n"
            + ("\n\n".join(failure_markdown(r) for r in worst) or "Every question had the expected outcome."),
        )

    with gr.Row():
        chosen = gr.Dropdown(list(sets), value=next(iter(sets), None), label="Evaluation set", scale=2)
        uploaded = gr.File(
            label="…or upload a set (.jsonl)",
            file_types=[".jsonl"],
            type="filepath",
            scale=2,
            height=140,
            elem_id="qa-eval-upload",
        )
        run_button = gr.Button("Run evaluation", variant="primary", scale=1)
    scope = gr.Radio(
        SCOPES, value="collection", label="Evaluate on", elem_id="qa-eval-scope",
        info="its own articles or index: the rest of the collection neither answers nor counts as its failures",
    )
    summary = gr.Markdown("Pick a set and run it: the metrics, plots and worst failures appear here.",
                          elem_id="qa-eval-summary")
    with gr.Row():
        retrieval = gr.Markdown()
        quality = gr.Markdown()
    by_tag = gr.Markdown()
    plots = gr.Gallery(label="Plots", columns=3, height="auto", object_fit="contain")
    worst = gr.Markdown(elem_id="qa-eval-failures")
    outputs = [summary, retrieval, quality, by_tag, plots, worst]
    inputs = [chosen, uploaded, scope] + ([selection] if selection is not None else [])
    run_button.click(evaluate, inputs, outputs, api_name="evaluate", concurrency_limit=1)
