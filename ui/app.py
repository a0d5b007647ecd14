"""The chat screen. It only renders: every answer comes from `QAService.ask`, as in the CLI."""

from __future__ import annotations

import html
import os

from qa.service import QAService
from qa.types import Answer
from ui.evaluate import evaluate_tab

CSS = """
.qa-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin-bottom: 10px; }
.qa-card blockquote { margin: 8px 0 0; padding-left: 10px; border-left: 3px solid var(--color-accent); }
.qa-empty { color: var(--body-text-color-subdued); }
"""
EXAMPLES = ["What did Peskov say?", "Who welcomed China's peace plan?", "What did Medvedev warn about?"]


def citations_html(answer: Answer) -> str:
    """One card per citation. Article text is untrusted: everything is escaped."""
    if answer.abstained:
        return "<p class='qa-empty'>No passage of the articles answers this question.</p>"
    cards = []
    for c in answer.citations:
        meta = " · ".join(html.escape(x) for x in (c.published, c.source) if x)
        cards.append(
            f"<div class='qa-card'><b>[{c.n}] {html.escape(c.title)}</b><br><small>{meta} · "
            f"characters {c.start}–{c.end}</small><blockquote>{html.escape(c.quote)}</blockquote></div>"
        )
    return "\n".join(cards)


def build(service: QAService):
    import gradio as gr

    def history_pairs(messages: list[dict]) -> list[tuple[str, str]]:
        pairs, question = [], None
        for m in messages:
            content = m["content"] if isinstance(m["content"], str) else str(m["content"])
            if m["role"] == "user":
                question = content
            elif question is not None:
                pairs.append((question, content))
                question = None
        return pairs

    def respond(question: str, messages: list[dict]):
        if not question.strip():
            return "", messages, gr.skip()
        answer = service.ask(question, history=history_pairs(messages))
        messages = messages + [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.answer},
        ]
        return "", messages, citations_html(answer)

    def ask_api(question: str) -> dict:
        """The same JSON as `qa ask --json`."""
        return service.ask(question).to_dict()

    with gr.Blocks(title="qa — answers from the articles") as app:
        gr.Markdown("## Ask the articles\nEvery sentence of an answer is quoted from an article and cited.")
        with gr.Tab("Ask"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Chat", height=480, sanitize_html=True)
                    box = gr.Textbox(label="Question", placeholder="What did Peskov say?", submit_btn=True)
                    gr.Examples(EXAMPLES, inputs=box)
                with gr.Column(scale=2):
                    gr.Markdown("### Cited passages")
                    cited = gr.HTML("<p class='qa-empty'>Citations appear here.</p>")
        with gr.Tab("Evaluate"):
            evaluate_tab(service)
        box.submit(respond, [box, chat], [box, chat, cited], api_name="chat", api_visibility="undocumented")
        api_question = gr.Textbox(visible=False)
        api_answer = gr.JSON(visible=False)
        api_question.submit(ask_api, api_question, api_answer, api_name="ask")
    return app


def serve(service: QAService) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    settings = service.settings
    service.warm_up()
    settings.runs_path.mkdir(parents=True, exist_ok=True)
    build(service).launch(
        server_name=settings.host,
        server_port=settings.port,
        show_error=True,
        css=CSS,
        allowed_paths=[str(settings.runs_path)],  # the Evaluate tab shows the plots of its runs
    )
