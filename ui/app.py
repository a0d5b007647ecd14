"""The chat screen: one Gradio page over `QAService`, the same service the CLI uses.

It holds no answering logic: asking, adding articles, reading stats and sources, and the
Markdown copy all call the service or the typed answers; ui/render.py turns them into HTML.
"""

from __future__ import annotations

import os
from pathlib import Path

from qa.generators import GeneratorError
from qa.service import QAService
from qa.types import Answer, Filters
from ui.evaluate import evaluate_tab
from ui.render import (
    answer_message,
    article_html,
    citation_cards,
    escape_markdown,
    ingest_markdown,
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


def build(service: QAService):
    import gradio as gr

    settings = service.settings

    def filters_of(sources: list[str] | None, since: str, until: str) -> Filters:
        from index.loaders import normalize_date

        try:
            return Filters(tuple(sources or ()), normalize_date(since or None), normalize_date(until or None))
        except ValueError as exc:
            raise gr.Error(f"{exc} (use YYYY-MM-DD)") from None

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
        try:
            for piece in service.ask_stream(question, history, filters, backend=backend):
                if isinstance(piece, Answer):
                    answer = piece
                    break
                written += piece
                messages[-1] = {"role": "assistant", "content": streamed_message(written)}
                yield "", messages, gr.skip(), gr.skip(), gr.skip()
        except (ValueError, GeneratorError) as exc:  # a bad setting or an unreachable model: say so, keep the chat
            raise gr.Error(str(exc)) from None
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
            return f"<p class='qa-empty'>The article {article_id!r} is no longer stored.</p>"
        return article_html(found[0], start, end)

    def ask_api(question: str, sources: str = "", since: str = "", until: str = "") -> dict:
        """The same JSON as `qa ask --json`; `sources` is comma-separated."""
        chosen = [s.strip() for s in (sources or "").split(",") if s.strip()]
        return service.ask(question, filters=filters_of(chosen, since, until)).to_dict()

    def add_files(paths: list[str] | None, progress=gr.Progress(track_tqdm=True)):
        if not paths:
            raise gr.Error("Choose one or more files first (.txt, .md, .html, .jsonl).")
        report = service.add_files([Path(p) for p in paths], progress=True)
        return ingest_markdown(report), *refreshed()

    def add_text(title: str, published: str, source: str, text: str):
        if not text.strip():
            raise gr.Error("Paste the article's text first.")
        try:
            report = service.add_text(title, text, published or None, source or None)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        return ingest_markdown(report), *refreshed()

    def forget():
        """A new conversation: follow-ups no longer refer to the old one."""
        return [], [], "", NO_ARTICLE

    def refreshed():
        """The collection stats and the source filter's choices, as they are now."""
        return stats_markdown(service.stats()), gr.Dropdown(choices=service.sources())

    with gr.Blocks(title="qa — answers from the articles") as app:
        gr.Markdown("## Ask the articles\nEvery sentence of an answer is quoted from an article and cited.")
        stats = gr.Markdown(elem_id="qa-stats")
        turns = gr.State([])
        with gr.Tab("Ask"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Chat", height=520, sanitize_html=True, elem_id="qa-chat")
                    box = gr.Textbox(label="Question", placeholder="What did Peskov say?", submit_btn=True)
                    with gr.Row():
                        copy = gr.Button("Copy answer", size="sm", elem_id="qa-copy")
                        clear = gr.Button("New conversation", size="sm")
                    gr.Examples(EXAMPLES, inputs=box, label="Examples (sample articles)")
                    with gr.Accordion("Filters and answerer", open=False):
                        with gr.Row():
                            sources = gr.Dropdown([], multiselect=True, label="Sources", scale=2)
                            since = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD", scale=1)
                            until = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD", scale=1)
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
                        label=f"Files ({', '.join(ARTICLE_TYPES)}; up to {settings.max_upload_mb:g} MB each)",
                        file_count="multiple",
                        file_types=ARTICLE_TYPES,
                        type="filepath",
                    )
                    add_files_button = gr.Button("Add files", variant="primary")
                with gr.Column():
                    title = gr.Textbox(label="Title")
                    with gr.Row():
                        published = gr.Textbox(label="Publication date", placeholder="YYYY-MM-DD")
                        source = gr.Textbox(label="Source", placeholder="pasted")
                    text = gr.Textbox(label="Text", lines=8, placeholder="Paste the article's text here")
                    add_text_button = gr.Button("Add text", variant="primary")
            added = gr.Markdown()
        with gr.Tab("Evaluate"):
            evaluate_tab(service)
        # Hidden plumbing: the citation a click asked for, the Markdown a copy takes, the JSON API.
        opened = gr.Textbox(visible="hidden", elem_id="qa-open")
        copied = gr.Textbox(visible="hidden", elem_id="qa-copied")
        api_question = gr.Textbox(visible=False)
        # Defaults, so API clients that send only the question keep working.
        api_sources, api_since, api_until = (gr.Textbox("", visible=False) for _ in range(3))
        api_answer = gr.JSON(visible=False)

        asked = [box, chat, turns, backend, sources, since, until]
        box.submit(respond, asked, [box, chat, cards, article, turns], api_name="chat", api_visibility="undocumented")
        opened.change(open_citation, opened, article, api_name="open", api_visibility="undocumented").then(
            None, js=SCROLL_TO_HIGHLIGHT_JS
        )
        copy.click(lambda t: t[-1].to_markdown() if t else "", turns, copied, api_visibility="private").then(
            None, copied, None, js=COPY_JS
        )
        clear.click(forget, None, [chat, turns, cards, article], api_visibility="private")
        chat.clear(forget, None, [chat, turns, cards, article], api_visibility="private")  # the chat's own bin
        add_files_button.click(add_files, files, [added, stats, sources], api_name="add_files")
        add_text_button.click(add_text, [title, published, source, text], [added, stats, sources], api_name="add_text")
        api_question.submit(ask_api, [api_question, api_sources, api_since, api_until], api_answer, api_name="ask")
        app.load(refreshed, None, [stats, sources], api_visibility="private")
    return app


def serve(service: QAService) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    settings = service.settings
    service.warm_up()
    settings.runs_path.mkdir(parents=True, exist_ok=True)
    build(service).launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=tuple(settings.auth.split(":", 1)) if settings.auth else None,
        max_file_size=f"{settings.max_upload_mb:g}mb",
        show_error=True,
        css=CSS,
        js=PAGE_JS,
        allowed_paths=[str(settings.runs_path)],  # the Evaluate tab shows the plots of its runs
    )
