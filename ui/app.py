"""The chat screen: one Gradio page over `QAService`, the same service the CLI uses.

It holds no answering logic: asking, adding articles, reading stats and sources, and the
Markdown copy all call the service or the typed answers; ui/render.py turns them into HTML.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qa.generators import GeneratorError
from qa.service import QAService
from qa.types import Answer, Filters, parse_filter_date
from ui.evaluate import evaluate_tab
from ui.render import (
    conversation_choices,
    conversation_file_name,
    conversations_problems,
    overview_markdown,
    LIBRARY_HEADERS,
    answer_message,
    articles_markdown,
    article_html,
    citation_cards,
    error_message,
    escape_markdown,
    ingest_markdown,
    loading_message,
    library_rows,
    library_summary,
    missing_article_html,
    parse_cite_ref,
    PEOPLE_HEADERS,
    people_rows,
    people_summary,
    pick_choices,
    question_message,
    reingest_markdown,
    selection_markdown,
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
.qa-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin-bottom: 10px; }
.qa-source-head { margin-bottom: 6px; }
.qa-source .qa-card { border-style: dashed; margin-bottom: 6px; padding: 6px 10px; }
.qa-card-head { color: var(--body-text-color-subdued); }
.qa-dates { display: block; margin-top: 4px; color: var(--body-text-color-subdued); }
.qa-timeline { margin-bottom: 12px; }
.qa-timeline table { width: 100%; border-collapse: collapse; font-size: 0.92em; margin-top: 4px; }
.qa-timeline th, .qa-timeline td { text-align: left; vertical-align: top; padding: 4px 6px;
  border-bottom: 1px solid var(--border-color-primary); }
.qa-timeline .qa-when { white-space: nowrap; }
.qa-timeline .qa-side { background: var(--background-fill-secondary); }
/* A disabled button must look it: Gradio's secondary buttons look the same enabled or not. */
#qa-sidebar button:disabled { opacity: 0.45; cursor: not-allowed; }
#qa-added { min-height: 96px; }
#qa-library-article .qa-article { max-height: 600px; }

#qa-library td { cursor: pointer; }
/* The Library's table: a clicked cell stays one line (Gradio 6 draws a selected cell's whole text over the rows
   below it, so a click on the next rows would land on it and open nothing); the viewer shows the article whole. */
#qa-library .body-cell.cell-solo .cell-wrap { overflow: hidden; }
#qa-library .body-cell.cell-solo .cell-wrap > span { position: static; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; padding: 0; box-shadow: none; background: transparent; }
#qa-overview p { margin: 0; }
#qa-conversation-confirm { border: 1px solid var(--error-border-color, #ef4444); border-radius: 8px; padding: 8px; }
#qa-conversations label { width: 100%; }
#qa-library-confirm { border: 1px solid var(--error-border-color, #ef4444); border-radius: 8px; padding: 8px; }
/* Keyboard: a focused citation link or card shows where the focus is (Enter or Space opens it). */
a.qa-card:focus-visible, #qa-chat a[href*='qa-cite=']:focus-visible, a.qa-timeline-link:focus-visible {
  outline: 3px solid var(--color-accent); outline-offset: 2px; }
#qa-selection { border: 1px solid var(--color-accent); border-radius: 8px; padding: 4px 10px; align-items: center; }
#qa-selection p { margin: 0; }
#qa-people td { cursor: pointer; }
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
  // Keyboard: Tab reaches every citation link and card (they are links); Enter or Space opens it, as a click.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    const link = event.target.closest && event.target.closest("a[href*='#qa-cite=']");
    if (!link || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    link.click();
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
# Saves a conversation's Markdown (QAService.export_conversation) as a file: made in the page, so no copy is
# kept on the server and a download never finds its file swept away.
DOWNLOAD_JS = """
(markdown, name) => {
  if (!markdown) return;
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(new Blob([markdown], { type: "text/markdown;charset=utf-8" })), download: name || "conversation.md",
  });
  document.body.append(link); link.click(); link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
"""
ARTICLE_TYPES = QAService.article_types()


def _delete_confirmation(elem_id: str):
    """A hidden "delete it?" box (its question, yes and no) that a delete button shows: (box, question, yes, no)."""
    import gradio as gr

    with gr.Column(visible=False, elem_id=elem_id) as box:
        question = gr.Markdown()
        with gr.Row():
            yes = gr.Button("Yes, delete it", variant="stop", size="sm")
            no = gr.Button("Keep it", size="sm")
    return box, question, yes, no
NO_ARTICLE = "<p class='qa-empty'>Click a citation to read it in its article.</p>"
NO_CARDS = "<p class='qa-empty'>Citations appear here.</p>"
# Questions answered at once (GRADIO_DEFAULT_CONCURRENCY_LIMIT overrides it). One at a time, every request
# also waited for the queue's round trips of all those before it (benchmarks/concurrent_clients.py). The
# models are shared and only read while answering: the embedder (torch, and a tokenizer whose settings
# never change between calls), spaCy, Chroma's client and the BM25 arrays; writes take SharedLock.
ASK_CONCURRENCY = 4
# An upload is ingested in a worker process (QA_UPLOAD_WORKER=0: in the server, as before), stopped after this long.
UPLOAD_TIMEOUT_S = 3600.0
# Gradio's copies of uploads and of shown files are deleted after this many seconds (checked every minute);
# anything else left in its upload folder (the files of a refused upload) goes after the same age.
CACHE_AGE_S = 300
CACHE_SWEEP_S = 60
# The optional inputs of the `/ask` API and their defaults, so that a raw HTTP call with the question alone
# works too (gradio_client fills them in itself; Gradio's HTTP routes want every input).
API_DEFAULTS = {"ask": ["", "", "", ""]}
# The header's figures are read again this often (seconds): another process's writes show, and while one
# writes the header says so.
HEADER_REFRESH_S = 3.0
# Gradio's queue summarises its event log (up to 10,000 events) with pandas after every event it runs, for its
# /monitoring page, which this screen does not use: 2 ms a question on a fresh server, 10 ms once 10,000 events
# are logged, holding the interpreter lock the answers need. Summarised every this many events instead
# (GRADIO_ANALYTICS_CACHE_FREQUENCY; the page's summary is then up to that many events old).
ANALYTICS_EVERY = 1000
NO_LIBRARY_ARTICLE = "<p class='qa-empty'>Click an article in the list to read it here.</p>"


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

    def filters_of(sources: list[str] | None, since: str | None, until: str | None, article_ids=()) -> Filters:
        try:
            return Filters.build(sources or (), since, until, article_ids or ())
        except ValueError as exc:
            raise gr.Error(error_message(exc)) from None

    def date_problems(since: str | None, until: str | None) -> tuple[str, str]:
        """What is wrong with the date filters as typed: (the "from" field's problem, the "until" field's);
        "" when it is fine. The same parsing as `qa ask --since/--until` (qa.types)."""
        problems, parsed = {"since": "", "until": ""}, {}
        for bound, value in (("since", since), ("until", until)):
            try:
                parsed[bound] = parse_filter_date(value, bound)
            except ValueError as exc:  # "since 'May' is not a date: …": the field is named by its place
                problems[bound] = str(exc).removeprefix(f"{bound} ")
        if not any(problems.values()) and parsed["since"] and parsed["until"] and parsed["since"] > parsed["until"]:
            problems["until"] = f"{parsed['until']} is before the “from” date, {parsed['since']}: no article is in between"
        return problems["since"], problems["until"]

    def dates_checked(since, until) -> list:
        """gr.validate for the two date fields: a bad one gets its message beside it, and the event does
        not run (nothing else on the page shows an error)."""
        return [gr.validate(not problem, problem) for problem in date_problems(since, until)]

    def respond(
        question: str, messages: list, turns: list[Answer], backend: str, sources, since, until,
        conversation_id: str | None = None, selection: list[str] | None = None,
    ):
        """Stream one answer into the chat; then show its citation cards, keep it in the turns, and save it
        in the conversation (QAService.save_turn: a new one for the first question)."""
        if not question.strip():
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        filters = filters_of(sources, since, until, selection)  # the Library's selection, if one is asked about
        history = [(t.question, t.answer) for t in turns]
        messages = [
            *messages,
            {"role": "user", "content": escape_markdown(question)},
            {"role": "assistant", "content": ""},
        ]
        written = ""
        try:
            # A model picked on the screen answers through a service of its own (QAService.answering_with).
            answering = service.answering_with(backend)
        except ValueError as exc:
            raise gr.Error(error_message(exc)) from None
        if answering.model_loads_first():  # loading takes seconds: say so before the answer streams
            messages[-1] = {"role": "assistant", "content": loading_message(answerer_label(backend))}
            yield "", messages, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        configured = backend if answering is service else None
        stream = answering.ask_stream(question, history, filters, backend=configured)
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
                yield "", messages, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        except (ValueError, GeneratorError) as exc:  # bad input, a bad setting, an unreachable model: say so
            raise gr.Error(error_message(exc)) from None
        messages[-2:] = [
            {"role": "user", "content": question_message(answer)},
            {"role": "assistant", "content": answer_message(answer)},
        ]
        articles = service.cited_articles([answer])
        try:
            conversation_id = service.save_turn(answer, conversation_id).id
        except (OSError, ValueError) as exc:  # a full disk, a damaged file: the answer is still shown
            gr.Warning(error_message(f"This answer could not be saved: {exc}"))
        yield "", messages, citation_cards(answer, articles), NO_ARTICLE, [*turns, answer], conversation_id

    def answerer_label(choice: str) -> str:
        return next((label for label, value in service.answerers() if value == choice), choice)

    def answerers_now(chosen: str | None):
        """The picker as it is now: a model added to the folder, or an Ollama server started, since the last look."""
        choices = service.answerers(refresh=True)
        values = [value for _, value in choices]
        return gr.Radio(choices=choices, value=chosen if chosen in values else settings.backend)

    def open_citation(ref: str) -> str:
        try:
            article_id, start, end = parse_cite_ref(ref)
        except ValueError:
            return gr.skip()
        found = service.articles([article_id])
        if not found:
            return missing_article_html(article_id)
        return article_html(found[0], start, end)

    def ask_api(
        question: str, sources: str | None = "", since: str | None = "", until: str | None = "",
        article_ids: str | None = "",
    ) -> dict:
        """The same JSON as `qa ask --json`; `sources` and `article_ids` (`qa ask --article`) are comma-separated."""
        chosen = (sources or "").split(",")
        filters = filters_of(chosen, since, until, (article_ids or "").split(","))
        try:
            with index_lock.reading():
                return service.ask(question or "", filters=filters).to_dict()
        except (ValueError, GeneratorError) as exc:
            raise gr.Error(error_message(exc)) from None

    def add_files(uploads: list[dict] | None, progress=gr.Progress(track_tqdm=True)):
        """Uploads arrive unprocessed (the event has preprocess=False): Gradio's own type check would refuse a
        file before this runs and leave it in its temporary folder; here each is checked (index/uploads.py),
        listed with its problem if refused, and Gradio's copy is removed whatever happened."""
        from index.uploads import UploadError, ingest_uploads, ingest_uploads_in_worker

        paths = [Path(u["path"]) for u in uploads or [] if isinstance(u, dict) and u.get("path")]
        if not paths:
            raise gr.Error("Choose one or more files first (.txt, .md, .html, .jsonl).")
        try:
            if settings.upload_worker:
                # Parsed and embedded in a process of its own: questions go on meanwhile (the store's write
                # lock keeps other writers out), and the upload's memory goes with the process.
                progress(0, desc="reading and embedding the files in a worker process")
                outcome = ingest_uploads_in_worker(settings, paths, timeout=UPLOAD_TIMEOUT_S)
                with index_lock.writing():
                    service.catch_up()  # the new articles, for the next question
            else:
                with index_lock.writing():
                    outcome = ingest_uploads(settings, paths)
                    service.catch_up()
        except UploadError as exc:
            raise gr.Error(error_message(exc)) from None
        finally:
            for path in paths:
                path.unlink(missing_ok=True)
                try:
                    path.parent.rmdir()  # Gradio keeps each upload in a folder of its own
                except OSError:
                    pass
        return upload_markdown(outcome, named_articles(outcome.report)), *refreshed()

    def named_articles(report) -> dict:
        """The articles an ingest added or updated, by id (the report names them by title and date)."""
        return {a.id: a for a in service.articles([*report.added, *report.updated])}

    def pasted_checked(title, published, source, text) -> list:
        """gr.validate for the pasted article's fields: an unreadable date, or no text, is said beside its
        field (the date read as `qa ingest` reads one), and nothing is added."""
        from index.loaders import normalize_date

        problem = ""
        try:
            normalize_date(published or None)
        except ValueError as exc:
            problem = f"{exc}: use YYYY-MM-DD"
        return [gr.validate(True, ""), gr.validate(not problem, problem), gr.validate(True, ""),
                gr.validate(bool((text or "").strip()), "Paste the article's text first.")]

    def add_text(title: str, published: str, source: str, text: str):
        if not text.strip():
            raise gr.Error("Paste the article's text first.")
        try:
            with index_lock.writing():
                report = service.add_text(title, text, published or None, source or None)
        except ValueError as exc:
            raise gr.Error(error_message(exc)) from None
        return ingest_markdown(report, named_articles(report)), *refreshed()

    def forget():
        """A new conversation: follow-ups no longer refer to the old one, and the next question starts a new
        saved conversation (the old one stays in the list)."""
        return [], [], "", NO_ARTICLE, None, gr.Radio(value=None), gr.Button(interactive=False), gr.Button(
            interactive=False
        ), gr.Column(visible=False)

    # -- saved conversations (QAService.conversations …, as `qa conversations`) -------------------------

    def conversations_now(chosen: str | None):
        """The list of saved conversations as it is now (another server's too), `chosen` selected; and the
        files that could not be read."""
        found = service.conversations()
        ids = [c["id"] for c in found.conversations]
        chosen = chosen if chosen in ids else None
        return (
            gr.Radio(choices=conversation_choices(found.conversations), value=chosen, visible=bool(ids)),
            conversations_problems(found.problems, listed=len(ids)),
            gr.Button(interactive=chosen is not None),
            gr.Button(interactive=chosen is not None),
        )

    def chat_messages(answers: list[Answer], direct_only: bool = False) -> list[dict]:
        """The chat's messages for these answers (a reopened conversation; "Direct quotations only" turned)."""
        messages = []
        for a in answers:
            messages += [{"role": "user", "content": question_message(a)},
                         {"role": "assistant", "content": answer_message(a, direct_only)}]
        return messages

    def open_conversation(conversation_id: str | None):
        """A saved conversation back in the chat: every turn, the last answer's cards; follow-ups go on from it,
        and new questions are saved in it."""
        if not conversation_id:
            return (gr.skip(),) * 9
        try:
            conversation = service.conversation(conversation_id)
        except ValueError as exc:
            gr.Warning(error_message(exc))
            return (gr.skip(),) * 9
        answers = [t.answer for t in conversation.turns]
        messages = chat_messages(answers)
        last = answers[-1] if answers else None
        cards_now = citation_cards(last, service.cited_articles([last])) if last else NO_CARDS
        return (
            messages, answers, cards_now, NO_ARTICLE, conversation.id, gr.Button(interactive=True),
            gr.Button(interactive=True), gr.Column(visible=False), "",
        )

    def ask_to_delete_conversation(conversation_id: str | None):
        if not conversation_id:
            return gr.Column(visible=False), "", gr.skip()
        try:
            title = service.conversation(conversation_id).title
        except ValueError:
            title = conversation_id
        question = f"Delete the conversation **{escape_markdown(title)}**? This cannot be undone."
        return gr.Column(visible=True), question, gr.Button(interactive=False)

    def delete_conversation(chosen: str | None, current: str | None):
        """Delete the chosen saved conversation; when it is the one in the chat, the chat starts anew."""
        try:
            done = service.delete_conversation(chosen or "")
        except ValueError as exc:
            said = f"❌ {escape_markdown(exc)}"
        else:
            said = f"🗑️ Deleted **{escape_markdown(done['title'] or done['id'])}**"
        listed, problems, *_ = conversations_now(None)
        closed = (gr.Button(interactive=False), gr.Button(interactive=False), gr.Column(visible=False))
        if chosen and chosen == current:
            return said, listed, problems, *closed, [], [], NO_CARDS, NO_ARTICLE, None
        return said, listed, problems, *closed, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()

    def export_conversation(conversation_id: str | None) -> tuple[str, str]:
        """The chosen conversation as Markdown, and a file name for it (the page saves it: DOWNLOAD_JS)."""
        if not conversation_id:
            raise gr.Error("Choose a saved conversation first.")
        try:
            conversation = service.conversation(conversation_id)
        except ValueError as exc:
            raise gr.Error(error_message(exc)) from None
        return conversation.to_markdown(service.cited_articles([t.answer for t in conversation.turns])), conversation_file_name(
            conversation
        )

    def copied_markdown(shown: list[Answer]) -> str:
        """The last answer and its sources as Markdown, as `qa ask --markdown` prints it."""
        return shown[-1].to_markdown(service.cited_articles(shown[-1:])) if shown else ""

    def overview_now():
        """What the collection holds and questions drawn from it (QAService.overview, as `qa overview`)."""
        found = service.overview()
        questions = [[e["question"]] for e in found["examples"]]
        placeholder = found["examples"][0]["question"] if questions else "Ask the articles a question"
        return (
            overview_markdown(found),
            gr.Dataset(samples=questions or [[""]], visible=bool(questions)),
            gr.Textbox(placeholder=placeholder),
            [q for q, in questions],
        )

    def refreshed():
        """The collection stats and the source filter's choices, as they are now."""
        return stats_markdown(service.stats(), service.writing_elsewhere()), gr.Dropdown(choices=service.sources())

    def header(seen: dict | None):
        """The header as the collection is now, for the timer: the figures, and a line while another
        process holds the write lock (then the figures last read are kept: reading could wait for the
        writer). The source filters' choices are sent only when the figures changed; `seen` is this
        page's last figures."""
        elsewhere = service.writing_elsewhere()
        figures = seen if elsewhere and seen else service.stats()
        if figures == seen:
            return stats_markdown(figures, elsewhere), gr.skip(), gr.skip(), figures, *(gr.skip(),) * 4
        choices = service.sources()
        # The first screen follows the collection too: its line and example questions.
        shown = overview_now() if not elsewhere else (gr.skip(),) * 4
        return stats_markdown(figures, elsewhere), gr.Dropdown(choices=choices), gr.Dropdown(choices=choices), figures, *shown

    # -- the Library -------------------------------------------------------------------------

    def listing(search: str, chosen: list[str] | None, since: str | None, until: str | None):
        """The Library table and its count line: `QAService.list_articles`, the list `qa list` prints."""
        import pandas as pd

        listed = service.list_articles(filters_of(chosen, since, until), search or "")
        table = pd.DataFrame(library_rows(listed), columns=LIBRARY_HEADERS)
        return table, library_summary(listed, service.stats()["articles"])

    def listing_checked(search, chosen, since, until) -> list:
        return [gr.validate(True, ""), gr.validate(True, ""), *dates_checked(since, until)]

    def select_listed(evt: gr.SelectData) -> str:
        """A click on a row of the table: the id of its article (the last column), whichever cell was clicked."""
        row = evt.row_value or []
        return str(row[-1]) if row else gr.skip()

    # Gradio finds the event data parameter by its type; with postponed annotations it sees only a string.
    select_listed.__annotations__["evt"] = gr.SelectData

    def show_listed(article_id: str):
        """The chosen article in the Library's viewer, and the Delete button for it."""
        if not article_id:  # (after a delete: what it said stays)
            return NO_LIBRARY_ARTICLE, gr.Button(interactive=False), gr.Column(visible=False), gr.skip()
        found = service.articles([article_id])
        if not found:
            return missing_article_html(article_id), gr.Button(interactive=False), gr.Column(visible=False), ""
        return article_html(found[0]), gr.Button(interactive=True), gr.Column(visible=False), ""

    def ask_to_delete(article_id: str):
        found = service.articles([article_id]) if article_id else []
        if not found:
            return gr.Column(visible=False), "", gr.skip()
        a = found[0]
        question = (
            f"Delete **{escape_markdown(a.title)}** ({escape_markdown(a.published or 'undated')})? Answers will no "
            "longer quote it, and if it was uploaded here its file goes too. This cannot be undone."
        )
        return gr.Column(visible=True), question, gr.Button(interactive=False)

    def delete_listed(article_id: str, search, chosen, since, until):
        """Delete the chosen article (QAService.delete_articles, as `qa delete ID`), then show the list,
        the header and the source choices as they are now."""
        try:
            with index_lock.writing():
                done = service.delete_articles([article_id])
                service.catch_up()
        except ValueError as exc:
            said = f"❌ {escape_markdown(exc)}"
        else:
            said = "\n".join(
                f"🗑️ Deleted **{escape_markdown(a['title'])}** ({escape_markdown(a['published'] or 'undated')})"
                for a in done["deleted"]
            )
            said += "".join(f"\n- removed the uploaded file {escape_markdown(n)}" for n in done["files_removed"])
            said += "".join(f"\n- ⚠️ {escape_markdown(w)}" for w in done["warnings"])
        try:
            table, summary = listing(search, chosen, since, until)
        except gr.Error:  # the filters were changed to a bad date meanwhile: the list stays as it is
            table, summary = gr.skip(), gr.skip()
        figures, choices = refreshed()
        return said, table, summary, "", gr.Column(visible=False), figures, choices, choices

    # -- the selection the chat asks about, and re-ingest (as `qa ask --article ID`, `qa reingest ID`) ------

    def listed_ids(table) -> list[str]:
        """The ids of the articles the Library table lists now (its last column)."""
        try:
            return [str(i) for i in table.iloc[:, -1].tolist() if str(i)] if table is not None and len(table) else []
        except (AttributeError, IndexError):
            return [str(row[-1]) for row in (table or []) if row]

    def pick_now(table, picked: list[str] | None):
        """The "chosen articles" choices: those listed now, and those already chosen (kept when the list is
        filtered); the chosen stay chosen."""
        picked = [i for i in picked or [] if i]
        listed = listed_ids(table)
        shown = service.list_articles(Filters(article_ids=tuple(dict.fromkeys([*listed, *picked])))) if listed or picked else []
        stored = {a["id"] for a in shown}
        return gr.Dropdown(choices=pick_choices(shown), value=[i for i in picked if i in stored])

    def selection_shown(ids: list[str]):
        """The line above the chat ("Asking 3 articles: …", qa.suggestions.selection_line, as `qa ask --article`
        prints it) and its row, hidden when the chat asks every article."""
        from qa.suggestions import selection_line

        if not ids:
            return gr.Row(visible=False), ""
        listed = service.list_articles(Filters(article_ids=tuple(ids)))
        return gr.Row(visible=True), selection_markdown(selection_line(listed, len(ids)))

    def ask_about(picked: list[str] | None, table, search, chosen, since, until):
        """"Ask about these": the chosen articles (none chosen: the articles the filtered list shows) become
        the selection the chat answers from; the chat opens, the selection shown above it."""
        ids = [i for i in picked or [] if i]
        if not ids and (search or chosen or since or until):
            ids = listed_ids(table)
        if not ids:
            raise gr.Error("Choose articles first (or filter the list: then the articles it shows are asked).")
        row, line = selection_shown(ids)
        return ids, row, line, gr.Tabs(selected="ask")

    def clear_selection():
        return [], gr.Row(visible=False), ""

    def reingest(picked: list[str] | None, opened: str, search, chosen, since, until):
        """Re-ingest the chosen articles (none chosen: the one open) from the files they came from:
        QAService.reingest_articles, as `qa reingest ID…`."""
        ids = [i for i in picked or [] if i] or ([opened] if opened else [])
        if not ids:
            raise gr.Error("Choose articles (or open one) to re-ingest.")
        try:
            with index_lock.writing():
                report = service.reingest_articles(ids, progress=False)
                service.catch_up()
        except ValueError as exc:
            said = f"❌ {escape_markdown(exc)}"
        else:
            said = reingest_markdown(report, {a.id: a for a in service.articles([*report.updated, *report.unchanged])})
        try:
            table, summary = listing(search, chosen, since, until)
        except gr.Error:
            table, summary = gr.skip(), gr.skip()
        figures, _ = refreshed()
        # The open article as it is now stored (its text may have changed).
        found = service.articles([opened]) if opened else []
        shown = article_html(found[0]) if found else gr.skip()
        return said, table, summary, figures, shown

    # -- the people quoted (QAService.people, as `qa people`) ------------------------------------------

    def people_listing():
        import pandas as pd

        found = service.people()
        return pd.DataFrame(people_rows(found), columns=PEOPLE_HEADERS), people_summary(found)

    def person_question(evt: gr.SelectData):
        """A click on a person: their statements, asked as "What did NAME say?" in the chat."""
        row = evt.row_value or []
        if not row or not str(row[0]).strip():
            return gr.skip(), gr.skip()
        return f"What did {row[0]} say?", gr.Tabs(selected="ask")

    person_question.__annotations__["evt"] = gr.SelectData

    # delete_cache: Gradio's copies of uploads and of shown files (evaluation sets, plots) go within minutes.
    with blocks_with_api_defaults(gr)(
        title="qa — answers from the articles", delete_cache=(CACHE_SWEEP_S, CACHE_AGE_S)
    ) as app:
        gr.Markdown("## Ask the articles\nEvery sentence of an answer is quoted from an article and cited.")
        stats = gr.Markdown(elem_id="qa-stats")
        seen_figures = gr.State(None)  # the header's figures this page last showed
        header_timer = gr.Timer(HEADER_REFRESH_S)
        turns = gr.State([])
        conversation_id = gr.State(None)  # the saved conversation the chat's questions go to (None: a new one)
        selection = gr.State([])  # the article ids the chat asks about (the Library's "Ask about these"); []: all
        with gr.Sidebar(label="Conversations", open=True, width=300, elem_id="qa-sidebar"):
            gr.Markdown("### Saved conversations")
            conversations = gr.Radio([], show_label=False, label="Saved conversations", elem_id="qa-conversations")
            conversation_problems = gr.Markdown(elem_id="qa-conversations-problems")
            with gr.Row():
                export = gr.Button("Export as Markdown", size="sm", interactive=False, elem_id="qa-conversation-export")
                delete_conv = gr.Button(
                    "Delete…", variant="stop", size="sm", interactive=False, elem_id="qa-conversation-delete"
                )
            conv_confirm, conv_question, conv_yes, conv_no = _delete_confirmation("qa-conversation-confirm")
            conv_said = gr.Markdown(elem_id="qa-conversation-said")
        with gr.Tabs(selected="ask", elem_id="qa-tabs") as tabs:
            with gr.Tab("Ask", id="ask"):
                # Above the fold: what the collection holds, and questions drawn from it (QAService.overview).
                overview = gr.Markdown(elem_id="qa-overview")
                # The selection the chat answers from, above the answers, with a way back to every article.
                with gr.Row(visible=False, elem_id="qa-selection") as selection_row:
                    selection_said = gr.Markdown(elem_id="qa-selection-line")
                    selection_clear = gr.Button("Ask all articles again", size="sm", scale=0, elem_id="qa-selection-clear")
                with gr.Row():
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(label="Chat", height=440, sanitize_html=True, elem_id="qa-chat")
                        box = gr.Textbox(
                            label="Question",
                            placeholder="Ask the articles a question",
                            submit_btn=True,
                            max_length=settings.max_question_chars,
                        )
                        # (type "index": the samples shown are this page's, kept in `example_questions`; the
                        # component's own are those it was built with)
                        examples = gr.Dataset(
                            components=[box], samples=[[""]], type="index", label="Try asking", visible=False,
                            elem_id="qa-examples",
                        )
                        example_questions = gr.State([])
                        with gr.Row():
                            copy = gr.Button("Copy answer", size="sm", elem_id="qa-copy")
                            clear = gr.Button("New conversation", size="sm")
                            # "What did X say?": X's direct quotations alone, without reported speech.
                            direct_only = gr.Checkbox(False, label="Direct quotations only", elem_id="qa-direct-only")
                        with gr.Accordion("Filters and answerer", open=False):
                            with gr.Row():
                                sources = gr.Dropdown([], multiselect=True, label="Sources", scale=2)
                                since = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD (or YYYY-MM, YYYY)")
                                until = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD (or YYYY-MM, YYYY)")
                            # What can answer now (qa/answerers.py): extractive, the configured chat model, each
                            # GGUF model of the models folder, an Ollama server's models; looked for again on load.
                            backend = gr.Radio(
                                service.answerers(),
                                value=settings.backend,
                                label="Answerer",
                                info="extractive: quoted sentences, offline; a chat model's answer is checked "
                                "against the passages it cites (a model is loaded at its first answer)",
                                elem_id="qa-answerer",
                            )
                    with gr.Column(scale=2):
                        gr.Markdown("### Cited passages")
                        cards = gr.HTML(NO_CARDS, elem_id="qa-cards")
                        gr.Markdown("### Article")
                        article = gr.HTML(NO_ARTICLE, elem_id="qa-article")
            with gr.Tab("Library", id="library") as library_tab:
                with gr.Row(equal_height=True):
                    lib_search = gr.Textbox(
                        label="Search titles", placeholder="words of the title", scale=3, elem_id="qa-library-search"
                    )
                    # Any value is taken (an API client's, or a source added after the page loaded): a source with
                    # no article lists nothing.
                    lib_sources = gr.Dropdown(
                        service.sources(), multiselect=True, allow_custom_value=True, label="Sources", scale=2
                    )
                    lib_since = gr.Textbox(
                        label="Published from", placeholder="YYYY-MM-DD (or YYYY-MM, YYYY)", scale=1, elem_id="qa-library-since"
                    )
                    lib_until = gr.Textbox(
                        label="Published until", placeholder="YYYY-MM-DD (or YYYY-MM, YYYY)", scale=1, elem_id="qa-library-until"
                    )
                with gr.Row():
                    # The articles the chat will ask about ("Ask about these") or that are re-ingested.
                    lib_pick = gr.Dropdown(
                        [], value=[], multiselect=True, allow_custom_value=True, label="Chosen articles", scale=3,
                        elem_id="qa-library-pick",
                        info="Ask about these: the chosen articles (none chosen: those the filtered list shows)",
                    )
                    with gr.Column(scale=2):
                        with gr.Row():
                            lib_choose = gr.Button("Choose the open article", size="sm", interactive=False,
                                                   elem_id="qa-library-choose")
                            lib_choose_all = gr.Button("Choose all listed", size="sm", elem_id="qa-library-choose-all")
                        with gr.Row():
                            lib_ask = gr.Button("Ask about these", variant="primary", size="sm", elem_id="qa-library-ask")
                            lib_reingest = gr.Button("Re-ingest", size="sm", elem_id="qa-library-reingest")
                with gr.Row():
                    with gr.Column(scale=7):
                        lib_summary = gr.Markdown(elem_id="qa-library-summary")
                        lib_table = gr.Dataframe(
                            headers=LIBRARY_HEADERS,
                            datatype="str",
                            interactive=False,
                            wrap=False,  # one line an article (ids are long slugs); the viewer shows it whole
                            max_height=620,
                            column_widths=["18%", "29%", "14%", "20%", "8%", "11%"],  # (a date shown whole)
                            elem_id="qa-library",
                        )
                    with gr.Column(scale=4):
                        with gr.Row():
                            lib_delete = gr.Button("Delete this article…", variant="stop", size="sm", interactive=False)
                        lib_confirm, lib_question, lib_yes, lib_no = _delete_confirmation("qa-library-confirm")
                        lib_said = gr.Markdown(elem_id="qa-library-said")
                        lib_article = gr.HTML(NO_LIBRARY_ARTICLE, elem_id="qa-library-article")
                # The chosen article's id: set by a click on a row, or by an API client (/library_open).
                lib_chosen = gr.Textbox(visible="hidden", elem_id="qa-library-chosen")
            with gr.Tab("People", id="people") as people_tab:
                people_said = gr.Markdown(elem_id="qa-people-summary")
                people_table = gr.Dataframe(
                    headers=PEOPLE_HEADERS, datatype="str", interactive=False, wrap=True, max_height=620,
                    column_widths=["22%", "30%", "10%", "8%", "15%", "15%"], elem_id="qa-people",
                )
            with gr.Tab("Add articles", id="add"):
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
            with gr.Tab("Evaluate", id="evaluate"):
                evaluate_tab(service, index_lock.reading, selection)
        # Hidden plumbing: the citation a click asked for, the Markdown a copy takes, the JSON API.
        opened = gr.Textbox(visible="hidden", elem_id="qa-open")
        copied = gr.Textbox(visible="hidden", elem_id="qa-copied")
        exported, exported_name = gr.Textbox(visible="hidden"), gr.Textbox(visible="hidden")
        api_question = gr.Textbox(visible=False, max_length=settings.max_question_chars)
        # Defaults, so API clients that send only the question keep working.
        api_sources, api_since, api_until, api_articles = (gr.Textbox("", visible=False) for _ in range(4))
        api_answer = gr.JSON(visible=False)

        asked = [box, chat, turns, backend, sources, since, until, conversation_id, selection]
        # Questions and article views run several at once ("default": ASK_CONCURRENCY); ingests one at a time.
        # The date filters are checked first: a bad one gets its message beside the field and nothing else runs
        # (the chat, the cards and the article stay as they are). A step of its own, so that `/chat`'s own
        # input checks (a backend not configured) still answer API clients with their message.
        box.submit(
            lambda *_: None, [since, until], None, validator=dates_checked, api_visibility="private",
            show_progress="minimal",  # (queued: Gradio runs validators on queued events only)
        ).success(
            respond,
            asked,
            [box, chat, cards, article, turns, conversation_id],
            api_name="chat",
            api_visibility="undocumented",
            concurrency_id="answers",
        ).then(conversations_now, conversation_id, [conversations, conversation_problems, export, delete_conv],
               api_visibility="private", show_progress="hidden"
        ).then(lambda answers, only: chat_messages(answers, only) if only else gr.skip(), [turns, direct_only], chat,
               api_visibility="private", show_progress="hidden")
        direct_only.change(chat_messages, [turns, direct_only], chat, api_visibility="private", show_progress="hidden")
        examples.click(
            lambda i, shown: shown[i] if isinstance(i, int) and 0 <= i < len(shown) else gr.skip(),
            [examples, example_questions], box, api_visibility="private", show_progress="hidden",
        )
        conversation_shown = [chat, turns, cards, article, conversation_id, export, delete_conv, conv_confirm, conv_said]
        conversations.input(open_conversation, conversations, conversation_shown, api_visibility="private")
        export.click(export_conversation, conversations, [exported, exported_name], api_name="export_conversation").then(
            None, [exported, exported_name], None, js=DOWNLOAD_JS
        )
        delete_conv.click(ask_to_delete_conversation, conversations, [conv_confirm, conv_question, delete_conv],
                          api_visibility="private")
        conv_no.click(lambda: (gr.Column(visible=False), gr.Button(interactive=True)), None, [conv_confirm, delete_conv],
                      api_visibility="private")
        conv_yes.click(
            delete_conversation,
            [conversations, conversation_id],
            [conv_said, conversations, conversation_problems, export, delete_conv, conv_confirm,
             chat, turns, cards, article, conversation_id],
            api_visibility="private",
        )
        opened.change(open_citation, opened, article, api_name="open", api_visibility="undocumented").then(
            None, js=SCROLL_TO_HIGHLIGHT_JS
        )
        copy.click(copied_markdown, turns, copied, api_visibility="private").then(
            None, copied, None, js=COPY_JS
        )
        forgotten = [chat, turns, cards, article, conversation_id, conversations, export, delete_conv, conv_confirm]
        clear.click(forget, None, forgotten, api_visibility="private")
        chat.clear(forget, None, forgotten, api_visibility="private")  # the chat's own bin
        add_files_button.click(
            add_files,
            files,
            [added, stats, sources],
            api_name="add_files",
            preprocess=False,
            concurrency_limit=1,
            show_progress_on=added,  # the progress bar in the report's place, not over the header's figures
        ).then(lambda: None, None, files, api_visibility="private")  # their copies are gone: clear the list
        add_text_button.click(
            add_text,
            [title, published, source, text],
            [added, stats, sources],
            api_name="add_text",
            concurrency_limit=1,
            show_progress_on=added,
            validator=pasted_checked,
        )
        api_question.submit(
            ask_api,
            [api_question, api_sources, api_since, api_until, api_articles],
            api_answer,
            api_name="ask",
            concurrency_id="answers",
        )
        library_filters = [lib_search, lib_sources, lib_since, lib_until]
        library_shown = [lib_table, lib_summary]
        gr.on(
            [lib_search.change, lib_sources.change, lib_since.submit, lib_since.blur, lib_until.submit, lib_until.blur],
            listing,
            library_filters,
            library_shown,
            api_name="list_articles",
            trigger_mode="always_last",
            show_progress="minimal",  # (with "hidden", Gradio 6.31 shows no validation message beside the field)
            validator=listing_checked,
        )
        library_tab.select(listing, library_filters, library_shown, api_visibility="private", show_progress="hidden")
        lib_table.select(select_listed, None, lib_chosen, api_visibility="private", show_progress="hidden")
        lib_chosen.change(
            show_listed, lib_chosen, [lib_article, lib_delete, lib_confirm, lib_said], api_name="library_open",
            show_progress="hidden",
        )
        # The selection the chat asks about, and re-ingest.
        lib_table.change(pick_now, [lib_table, lib_pick], lib_pick, api_visibility="private", show_progress="hidden")
        lib_chosen.change(lambda opened: gr.Button(interactive=bool(opened)), lib_chosen, lib_choose,
                          api_visibility="private", show_progress="hidden")
        lib_choose.click(
            lambda opened, picked: [*(picked or []), *([opened] if opened and opened not in (picked or []) else [])],
            [lib_chosen, lib_pick], lib_pick, api_visibility="private", show_progress="hidden",
        )
        lib_choose_all.click(
            lambda table, picked: list(dict.fromkeys([*(picked or []), *listed_ids(table)])),
            [lib_table, lib_pick], lib_pick, api_visibility="private", show_progress="hidden",
        )
        lib_ask.click(
            ask_about, [lib_pick, lib_table, *library_filters], [selection, selection_row, selection_said, tabs],
            api_visibility="private",
        )
        selection_clear.click(clear_selection, None, [selection, selection_row, selection_said], api_visibility="private")
        lib_reingest.click(
            reingest, [lib_pick, lib_chosen, *library_filters], [lib_said, lib_table, lib_summary, stats, lib_article],
            api_name="reingest", concurrency_limit=1, show_progress_on=lib_said,
        )
        # The people quoted: a click on one asks for their statements in the chat.
        people_tab.select(people_listing, None, [people_table, people_said], api_name="people", show_progress="hidden")
        people_table.select(person_question, None, [box, tabs], api_visibility="private", show_progress="hidden").then(
            respond, asked, [box, chat, cards, article, turns, conversation_id], api_visibility="private",
            concurrency_id="answers",
        ).then(conversations_now, conversation_id, [conversations, conversation_problems, export, delete_conv],
               api_visibility="private", show_progress="hidden")
        lib_delete.click(ask_to_delete, lib_chosen, [lib_confirm, lib_question, lib_delete], api_visibility="private")
        lib_no.click(
            lambda: (gr.Column(visible=False), gr.Button(interactive=True)), None, [lib_confirm, lib_delete],
            api_visibility="private",
        )
        lib_yes.click(
            delete_listed,
            [lib_chosen, *library_filters],
            [lib_said, lib_table, lib_summary, lib_chosen, lib_confirm, stats, sources, lib_sources],
            api_name="delete_article",
            concurrency_limit=1,
            show_progress_on=lib_said,
        )
        header_timer.tick(
            header, seen_figures, [stats, sources, lib_sources, seen_figures, overview, examples, box, example_questions],
            api_visibility="private",
            show_progress="hidden", queue=False,
        )
        app.load(answerers_now, backend, backend, api_visibility="private", show_progress="hidden")
        app.load(overview_now, None, [overview, examples, box, example_questions], api_visibility="private",
                 show_progress="hidden")
        app.load(conversations_now, conversation_id, [conversations, conversation_problems, export, delete_conv],
                 api_visibility="private", show_progress="hidden")
        app.load(refreshed, None, [stats, sources], api_visibility="private").then(
            lambda: gr.Dropdown(choices=service.sources()), None, lib_sources, api_visibility="private"
        ).then(listing, library_filters, library_shown, api_visibility="private", show_progress="hidden")
    return app


def upload_markdown(outcome, articles: dict | None = None) -> str:
    """What became of an upload: the counts; each article added or updated (title, date); each stored file
    under the name it is kept as (saying so when that is not the name it was uploaded under); each warning;
    each refused or failed file with its problem."""
    report = outcome.report
    lines = [f"**{report.summary()}**", *articles_markdown(report, articles)]
    warnings = list(report.warnings)
    for uploaded, stored in outcome.stored:
        if uploaded == stored:
            lines.append(f"- ✅ stored as {escape_markdown(stored)}")
            continue
        said = f"{uploaded} is stored as {stored}"  # the service's warning for a renamed upload: shown here once
        why = next((w for w in warnings if w.startswith(said)), None)
        if why is not None:
            warnings.remove(why)
        reason = why[len(said) :].strip(" ()") if why else ""
        lines.append(
            f"- ✅ {escape_markdown(uploaded)} stored as {escape_markdown(stored)} "
            f"(renamed{': ' + escape_markdown(reason) if reason else ''})"
        )
    lines += [f"- ⚠️ {escape_markdown(warning)}" for warning in warnings]
    lines += [f"- ❌ {escape_markdown(error)}" for error in report.errors]
    return "\n".join(lines)


class LoginThrottle:
    """ASGI middleware: each failed `/login` of a client (its address) doubles the wait before its next
    attempt is checked (0.5 s after the first failure, then 1, 2, 4 … up to 30 s); a success, or an
    hour without attempts, forgets the failures. A client's attempts are checked one at a time, so
    sending many at once does not skip the waits. Gradio's `auth` function is given no request, so it
    cannot tell clients apart: this wraps the route instead."""

    FIRST_DELAY_S = 0.5
    MAX_DELAY_S = 30.0
    FORGET_AFTER_S = 3600.0

    def __init__(self, app):
        self.app = app
        self.failures: dict[str, tuple[int, float]] = {}  # client -> (failures in a row, time of the last)
        self.locks: dict[str, object] = {}

    def delay(self, client: str) -> float:
        failures, last = self.failures.get(client, (0, 0.0))
        if not failures or time.monotonic() - last > self.FORGET_AFTER_S:
            return 0.0
        return min(self.MAX_DELAY_S, self.FIRST_DELAY_S * 2 ** (failures - 1))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].rstrip("/").endswith("/login"):
            await self.app(scope, receive, send)
            return
        import asyncio

        client = (scope.get("client") or ("unknown",))[0]
        lock = self.locks.setdefault(client, asyncio.Lock())
        async with lock:
            if wait := self.delay(client):
                await asyncio.sleep(wait)
            status = 0

            async def sending(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                if status == 200:
                    self.failures.pop(client, None)
                elif 400 <= status < 500:  # refused credentials (Gradio answers 400)
                    failures, last = self.failures.get(client, (0, 0.0))
                    if time.monotonic() - last > self.FORGET_AFTER_S:
                        failures = 0
                    self.failures[client] = (failures + 1, time.monotonic())
                    self._forget_old()

    def _forget_old(self) -> None:
        if len(self.failures) > 10_000:
            now = time.monotonic()
            for client, (_, last) in list(self.failures.items()):
                if now - last > self.FORGET_AFTER_S:
                    self.failures.pop(client, None)
                    self.locks.pop(client, None)


class UploadLeftovers:
    """ASGI middleware around Gradio's upload route. Gradio writes each uploaded file to a temporary
    file in its upload folder, then moves it into a folder of its own; when it refuses a request midway
    (a file named "..": "Invalid file name"), what it had written stays, tracked by nothing, so its own
    cleanup never deletes it. After a refused upload, when no other upload was in flight, this deletes
    the files and folders made in the upload folder since the request began that Gradio does not track;
    otherwise `sweep_folder` gets them within minutes."""

    def __init__(self, app, folder: Path, tracked):
        self.app = app
        self.folder = Path(folder)
        self.tracked = tracked  # () -> the paths Gradio keeps track of (and deletes itself)
        self.in_flight = 0
        self.overlapped = False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].rstrip("/").endswith("/upload"):
            await self.app(scope, receive, send)
            return
        import anyio

        began = time.time() - 1  # file times are coarse on some file systems
        if self.in_flight:
            self.overlapped = True
        self.in_flight += 1

        async def sending(message):
            # Before the refusal is sent: whoever reads it finds the folder as it will stay.
            if message["type"] == "http.response.start" and message["status"] != 200 and not self.overlapped:
                await anyio.to_thread.run_sync(self._remove_since, began)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.overlapped = False

    def _remove_since(self, began: float) -> None:
        tracked = {str(Path(p)) for p in self.tracked()}
        for path in sorted(self.folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            try:
                st = path.lstat()
                if st.st_ctime < began or str(path) in tracked:
                    continue
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()  # only when empty
                else:
                    path.unlink()
            except OSError:
                continue


def sweep_folder(folder: Path, age_s: float) -> int:
    """Delete what is older than `age_s` seconds in `folder` (the server's own Gradio upload folder), and
    the folders left empty; how many files went."""
    removed = 0
    cutoff = time.time() - age_s
    for path in sorted(Path(folder).rglob("*"), key=lambda p: len(p.parts), reverse=True):
        try:
            st = path.lstat()
            if path.is_dir() and not path.is_symlink():
                if st.st_mtime < cutoff:
                    path.rmdir()  # only when empty
            elif st.st_mtime < cutoff and st.st_ctime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def _max_upload_bytes(settings) -> int:
    """QA_MAX_UPLOAD_MB in bytes, as index/uploads counts them (1 MB = 1,000,000 bytes): Gradio refuses
    larger uploads before they are stored, with the same limit as ours."""
    return int(settings.max_upload_mb * 1_000_000)


def serve(service: QAService) -> None:
    import shutil
    import signal
    import sys
    import tempfile

    from starlette.middleware import Middleware

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_DEFAULT_CONCURRENCY_LIMIT", str(ASK_CONCURRENCY))
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))
    # Gradio's upload folder is this server's own (unless GRADIO_TEMP_DIR says otherwise), so that what its
    # cleanup misses can be swept without touching another program's files; it goes when the server stops.
    own_folder = None
    if not os.environ.get("GRADIO_TEMP_DIR"):
        own_folder = Path(tempfile.mkdtemp(prefix="qa-gradio-"))
        os.environ["GRADIO_TEMP_DIR"] = str(own_folder)
    folder = Path(os.environ["GRADIO_TEMP_DIR"])
    settings = service.settings
    service.warm_up()
    service.overview()  # the first screen's line and examples (it parses titles: spaCy loads now, not on a page load)
    settings.runs_path.mkdir(parents=True, exist_ok=True)
    app = build(service)
    stop = threading.Event()
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # stopped by a signal, still clean up below
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if own_folder is not None:

        def sweep() -> None:
            while not stop.wait(CACHE_SWEEP_S):
                sweep_folder(own_folder, CACHE_AGE_S)

        threading.Thread(target=sweep, name="qa-upload-sweep", daemon=True).start()
    try:
        app.launch(
            server_name=settings.host,
            server_port=settings.port,
            auth=tuple(settings.auth.split(":", 1)) if settings.auth else None,
            max_file_size=_max_upload_bytes(settings),
            show_error=True,
            css=CSS,
            js=PAGE_JS,
            allowed_paths=[str(settings.runs_path)],  # the Evaluate tab shows the plots of its runs
            app_kwargs={
                "middleware": [
                    Middleware(LoginThrottle),
                    Middleware(
                        UploadLeftovers,
                        folder=folder,
                        tracked=lambda: [p for files in app.temp_file_sets for p in list(files)],
                    ),
                ]
            },
        )
    finally:
        stop.set()
        if own_folder is not None:
            shutil.rmtree(own_folder, ignore_errors=True)
