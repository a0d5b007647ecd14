"""The chat screen: one Gradio page over `QAService`, the same service the CLI uses.

It holds no answering logic: asking, adding articles, reading stats and sources, and the
Markdown copy all call the service or the typed answers; ui/render.py turns them into HTML.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qa.generators import GeneratorError
from qa.service import QAService
from qa.types import Answer, Filters
from ui.evaluate import evaluate_tab
from ui.render import (
    answer_message,
    article_html,
    citation_cards,
    error_message,
    escape_markdown,
    ingest_markdown,
    missing_article_html,
    parse_cite_ref,
    question_message,
    stats_markdown,
    streamed_message,
)

CSS = """
.qa-card { display: block; text-align: left; color: inherit !important; text-decoration: none !important; cursor: pointer;
  border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin-bottom: 10px; }
.qa-card:hover, .qa-card.qa-open { border-color: var(--color-accent); }
.qa-context { margin: 6px 0 0; }
.qa-also { margin: 2px 0 0 18px; font-size: 0.9em; }
.qa-empty { color: var(--body-text-color-subdued); }
.qa-article { text-align: left; max-height: 460px; overflow-y: auto; padding: 4px 8px; }
.qa-article-text { white-space: pre-wrap; line-height: 1.5; margin-top: 8px; }
mark { background: #ffe066; color: #000; padding: 0 1px; border-radius: 2px; }
mark.qa-short { background: #ffb703; font-weight: 600; padding: 0; }
"""

# A click on a citation link (in the chat or on a card) asks the server for the article through a
# hidden textbox; the time suffix makes a second click on the same link a change too.
PAGE_JS = """
() => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href*='#qa-cite=']");
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const box = document.querySelector("#qa-open textarea, #qa-open input");
    box.value = link.getAttribute("href") + "@" + Date.now();
    box.dispatchEvent(new Event("input", { bubbles: true }));
    document.querySelectorAll(".qa-card").forEach((card) =>
      card.classList.toggle("qa-open", card.getAttribute("href") === link.getAttribute("href")));
  }, true);
}
"""
SCROLL_TO_HIGHLIGHT_JS = """
() => { document.querySelector("#qa-article mark")?.scrollIntoView({ block: "center" }); }
"""
COPY_JS = """
async (markdown) => {
  if (!markdown) return;
  try { await navigator.clipboard.writeText(markdown); }
  catch (error) {  // no clipboard API outside a secure context: the old way
    const area = Object.assign(document.createElement("textarea"), { value: markdown });
    document.body.append(area); area.select(); document.execCommand("copy"); area.remove();
  }
}
"""
EXAMPLES = [
    "What did Peskov say?",
    "Who welcomed China's peace plan?",
    "Why does the International Criminal Court want to put Putin on trial?",
    "How did Washington respond to Beijing's call for a cease-fire?",
]
ARTICLE_TYPES = [".txt", ".md", ".html", ".jsonl"]
NO_ARTICLE = "<p class='qa-empty'>Click a citation to read it in its article.</p>"
# Questions answered at once (GRADIO_DEFAULT_CONCURRENCY_LIMIT overrides it). One at a time, every request
# also waited for the queue's round trips of all those before it (benchmarks/concurrent_clients.py). The
# models are shared and only read while answering: the embedder (torch, and a tokenizer whose settings
# never change between calls), spaCy, Chroma's client and the BM25 arrays; writes take SharedLock.
ASK_CONCURRENCY = 4
# The optional inputs of the `/ask` API and their defaults, so that a raw HTTP call with the question alone
# works too (gradio_client fills them in itself; Gradio's HTTP routes want every input).
API_DEFAULTS = {"ask": ["", "", ""]}


class SharedLock:
    """Many readers or one writer: questions share the index, an ingest rewrites it (the BM25 index is
    swapped in memory) and waits for the questions in flight; new questions wait for a waiting ingest."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._readers = 0
        self._writers = 0  # waiting or writing: new readers wait while there is one
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._writers)
            self._readers += 1
        try:
            yield
        finally:
            with self._changed:
                self._readers -= 1
                self._changed.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._changed:
            self._writers += 1
            self._changed.wait_for(lambda: not self._readers and not self._writing)
            self._writing = True
        try:
            yield
        finally:
            with self._changed:
                self._writers -= 1
                self._writing = False
                self._changed.notify_all()


def blocks_with_api_defaults(gr):
    """gr.Blocks whose API endpoints named in API_DEFAULTS accept calls that leave out their optional inputs."""

    class QABlocks(gr.Blocks):
        def validate_inputs(self, block_fn, inputs: list) -> None:
            defaults = API_DEFAULTS.get(block_fn.api_name or "")
            if defaults and isinstance(inputs, list) and len(inputs) < len(block_fn.inputs):
                needed = len(block_fn.inputs) - len(inputs)
                if needed <= len(defaults):
                    inputs.extend(defaults[len(defaults) - needed :])  # in place: Gradio reads this list next
            super().validate_inputs(block_fn, inputs)

    return QABlocks


def build(service: QAService):
    import gradio as gr

    settings = service.settings
    index_lock = SharedLock()

    def filters_of(sources: list[str] | None, since: str | None, until: str | None) -> Filters:
        try:
            return Filters.build(sources or (), since, until)
        except ValueError as exc:
            raise gr.Error(error_message(exc)) from None

    def respond(question: str, messages: list, turns: list[Answer], backend: str, sources, since, until):
        """Stream one answer into the chat; then show its citation cards and keep it in the turns."""
        if not question.strip():
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        filters = filters_of(sources, since, until)
        history = [(t.question, t.answer) for t in turns]
        messages = [
            *messages,
            {"role": "user", "content": escape_markdown(question)},
            {"role": "assistant", "content": ""},
        ]
        written = ""
        stream = service.ask_stream(question, history, filters, backend=backend)
        try:
            while True:
                # The index is held while the answer is worked on, not while the page receives it.
                with index_lock.reading():
                    piece = next(stream)
                if isinstance(piece, Answer):
                    answer = piece
                    break
                written += piece
                messages[-1] = {"role": "assistant", "content": streamed_message(written)}
                yield "", messages, gr.skip(), gr.skip(), gr.skip()
        except (ValueError, GeneratorError) as exc:  # bad input, a bad setting, an unreachable model: say so
            raise gr.Error(error_message(exc)) from None
        messages[-2:] = [
            {"role": "user", "content": question_message(answer)},
            {"role": "assistant", "content": answer_message(answer)},
        ]
        articles = {a.id: a for a in service.articles([c.article_id for c in answer.citations])}
        yield "", messages, citation_cards(answer, articles), NO_ARTICLE, [*turns, answer]

    def open_citation(ref: str) -> str:
        try:
            article_id, start, end = parse_cite_ref(ref)
        except ValueError:
            return gr.skip()
        found = service.articles([article_id])
        if not found:
            return missing_article_html(article_id)
        return article_html(found[0], start, end)

    def ask_api(question: str, sources: str | None = "", since: str | None = "", until: str | None = "") -> dict:
        """The same JSON as `qa ask --json`; `sources` is comma-separated."""
        chosen = (sources or "").split(",")
        filters = filters_of(chosen, since, until)
        try:
            with index_lock.reading():
                return service.ask(question or "", filters=filters).to_dict()
        except (ValueError, GeneratorError) as exc:
            raise gr.Error(error_message(exc)) from None

    def add_files(uploads: list[dict] | None, progress=gr.Progress(track_tqdm=True)):
        """Uploads arrive unprocessed (the event has preprocess=False): Gradio's own type check would refuse a
        file before this runs and leave it in its temporary folder; here each is checked (index/uploads.py),
        listed with its problem if refused, and Gradio's copy is removed whatever happened."""
        paths = [Path(u["path"]) for u in uploads or [] if isinstance(u, dict) and u.get("path")]
        if not paths:
            raise gr.Error("Choose one or more files first (.txt, .md, .html, .jsonl).")
        try:
            with index_lock.writing():
                report = service.add_files(paths, progress=True)
                _drop_unstored_uploads(paths)
        finally:
            for path in paths:
                path.unlink(missing_ok=True)
                try:
                    path.parent.rmdir()  # Gradio keeps each upload in a folder of its own
                except OSError:
                    pass
        return ingest_markdown(report), *refreshed()

    def _drop_unstored_uploads(paths: list[Path]) -> None:
        """Kept uploads that gave no stored article (an empty file, a broken page) are not kept."""
        from index.uploads import UploadError, stored_name

        stored = set(service.store.article_paths().values())
        for path in paths:
            try:
                kept = (settings.uploads_path / stored_name(path.name)).resolve()
            except UploadError:
                continue
            if kept.parent == settings.uploads_path.resolve() and str(kept) not in stored:
                kept.unlink(missing_ok=True)

    def add_text(title: str, published: str, source: str, text: str):
        if not text.strip():
            raise gr.Error("Paste the article's text first.")
        try:
            with index_lock.writing():
                report = service.add_text(title, text, published or None, source or None)
        except ValueError as exc:
            raise gr.Error(error_message(exc)) from None
        return ingest_markdown(report), *refreshed()

    def forget():
        """A new conversation: follow-ups no longer refer to the old one."""
        return [], [], "", NO_ARTICLE

    def refreshed():
        """The collection stats and the source filter's choices, as they are now."""
        return stats_markdown(service.stats()), gr.Dropdown(choices=service.sources())

    # delete_cache: Gradio's copies of uploads and of shown files (evaluation sets, plots) go after an hour.
    with blocks_with_api_defaults(gr)(title="qa — answers from the articles", delete_cache=(3600, 3600)) as app:
        gr.Markdown("## Ask the articles\nEvery sentence of an answer is quoted from an article and cited.")
        stats = gr.Markdown(elem_id="qa-stats")
        turns = gr.State([])
        with gr.Tab("Ask"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Chat", height=520, sanitize_html=True, elem_id="qa-chat")
                    box = gr.Textbox(
                        label="Question",
                        placeholder="What did Peskov say?",
                        submit_btn=True,
                        max_length=settings.max_question_chars,
                    )
                    with gr.Row():
                        copy = gr.Button("Copy answer", size="sm", elem_id="qa-copy")
                        clear = gr.Button("New conversation", size="sm")
                    gr.Examples(EXAMPLES, inputs=box, label="Examples (sample articles)")
                    with gr.Accordion("Filters and answerer", open=False):
                        with gr.Row():
                            sources = gr.Dropdown([], multiselect=True, label="Sources", scale=2)
                            since = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD (or YYYY-MM, YYYY)")
                            until = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD (or YYYY-MM, YYYY)")
                        backend = gr.Radio(
                            settings.backends,
                            value=settings.backend,
                            label="Answerer",
                            info="extractive: quoted sentences, offline; a chat model's answer is checked "
                            "against the passages it cites",
                        )
                with gr.Column(scale=2):
                    gr.Markdown("### Cited passages")
                    cards = gr.HTML("<p class='qa-empty'>Citations appear here.</p>", elem_id="qa-cards")
                    gr.Markdown("### Article")
                    article = gr.HTML(NO_ARTICLE, elem_id="qa-article")
        with gr.Tab("Add articles"):
            with gr.Row():
                with gr.Column():
                    files = gr.File(
                        label=f"Files ({', '.join(ARTICLE_TYPES)}; up to {settings.max_upload_mb:g} MB "
                        f"= {_max_upload_bytes(settings):,} bytes each)",
                        file_count="multiple",
                        file_types=ARTICLE_TYPES,
                        type="filepath",
                        elem_id="qa-files",
                    )
                    add_files_button = gr.Button("Add files", variant="primary")
                with gr.Column():
                    title = gr.Textbox(label="Title")
                    with gr.Row():
                        published = gr.Textbox(label="Publication date", placeholder="YYYY-MM-DD")
                        source = gr.Textbox(label="Source", placeholder="pasted")
                    text = gr.Textbox(label="Text", lines=8, placeholder="Paste the article's text here")
                    add_text_button = gr.Button("Add text", variant="primary")
            added = gr.Markdown(elem_id="qa-added")
        with gr.Tab("Evaluate"):
            evaluate_tab(service, index_lock.reading)
        # Hidden plumbing: the citation a click asked for, the Markdown a copy takes, the JSON API.
        opened = gr.Textbox(visible="hidden", elem_id="qa-open")
        copied = gr.Textbox(visible="hidden", elem_id="qa-copied")
        api_question = gr.Textbox(visible=False, max_length=settings.max_question_chars)
        # Defaults, so API clients that send only the question keep working.
        api_sources, api_since, api_until = (gr.Textbox("", visible=False) for _ in range(3))
        api_answer = gr.JSON(visible=False)

        asked = [box, chat, turns, backend, sources, since, until]
        # Questions and article views run several at once ("default": ASK_CONCURRENCY); ingests one at a time.
        box.submit(
            respond,
            asked,
            [box, chat, cards, article, turns],
            api_name="chat",
            api_visibility="undocumented",
            concurrency_id="answers",
        )
        opened.change(open_citation, opened, article, api_name="open", api_visibility="undocumented").then(
            None, js=SCROLL_TO_HIGHLIGHT_JS
        )
        copy.click(lambda t: t[-1].to_markdown() if t else "", turns, copied, api_visibility="private").then(
            None, copied, None, js=COPY_JS
        )
        clear.click(forget, None, [chat, turns, cards, article], api_visibility="private")
        chat.clear(forget, None, [chat, turns, cards, article], api_visibility="private")  # the chat's own bin
        add_files_button.click(
            add_files, files, [added, stats, sources], api_name="add_files", preprocess=False, concurrency_limit=1
        ).then(lambda: None, None, files, api_visibility="private")  # their copies are gone: clear the list
        add_text_button.click(
            add_text,
            [title, published, source, text],
            [added, stats, sources],
            api_name="add_text",
            concurrency_limit=1,
        )
        api_question.submit(
            ask_api,
            [api_question, api_sources, api_since, api_until],
            api_answer,
            api_name="ask",
            concurrency_id="answers",
        )
        app.load(refreshed, None, [stats, sources], api_visibility="private")
    return app


def _max_upload_bytes(settings) -> int:
    """QA_MAX_UPLOAD_MB in bytes, as index/uploads counts them (1 MB = 1,000,000 bytes): Gradio refuses
    larger uploads before they are stored, with the same limit as ours."""
    return int(settings.max_upload_mb * 1_000_000)


def serve(service: QAService) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_DEFAULT_CONCURRENCY_LIMIT", str(ASK_CONCURRENCY))
    settings = service.settings
    service.warm_up()
    settings.runs_path.mkdir(parents=True, exist_ok=True)
    build(service).launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=tuple(settings.auth.split(":", 1)) if settings.auth else None,
        max_file_size=_max_upload_bytes(settings),
        show_error=True,
        css=CSS,
        js=PAGE_JS,
        allowed_paths=[str(settings.runs_path)],  # the Evaluate tab shows the plots of its runs
    )
