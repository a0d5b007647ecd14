"""What the chat screen shows, made from the typed answers and articles: Markdown for the chat, HTML for
the panels. Article text, titles and sources are untrusted, so everything taken from them is escaped.

A citation link carries its article id and character span (`#qa-cite=<id>|<start>|<end>`), so the
links of an old answer still open the spans it cited; the page's script (ui/app.py) turns a click on
one into a request for the article.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, unquote

from qa.types import Answer, Article, Citation

CITE_PREFIX = "#qa-cite="
CONTEXT_CHARS = 300  # of the paragraph shown around a quoted span on its card
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~-])")


def escape_markdown(text: str) -> str:
    """Untrusted text shown as itself by the chat's Markdown renderer: no tags, no emphasis, no links."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def cite_href(c: Citation) -> str:
    return CITE_PREFIX + quote(f"{c.article_id}|{c.start}|{c.end}", safe="")


def parse_cite_ref(ref: str) -> tuple[str, int, int]:
    """(article id, start, end) from a citation link's reference; ValueError if it is not one."""
    ref = unquote(ref.split(CITE_PREFIX, 1)[-1]).split("@", 1)[0]  # "@…" makes repeated clicks distinct
    article_id, start, end = ref.rsplit("|", 2)
    return article_id, int(start), int(end)


def question_message(answer: Answer) -> str:
    """The user's turn, and the standalone question a follow-up was rewritten to."""
    text = escape_markdown(answer.question)
    if answer.rewritten_question:
        text += f"\n\n<sub>↳ asked as: {escape_markdown(answer.rewritten_question)}</sub>"
    return text


def answer_message(answer: Answer) -> str:
    """The assistant's turn: each sentence with its `[n]` links, unsupported ones marked, then its sources."""
    by_n = {c.n: c for c in answer.citations}
    lines = []
    if answer.abstained:
        lines.append(escape_markdown(answer.answer))
        flagged = [s for s in answer.sentences if s.unsupported]
        if flagged:
            lines.append("\nWhat the model wrote, which the cited passages do not support:")
            lines += [f"- ⚠️ ~~{escape_markdown(s.text)}~~" for s in flagged]
        return "\n".join(lines)
    parts = []
    for s in answer.sentences:
        links = "".join(f" [\\[{n}\\]]({cite_href(by_n[n])})" for n in s.citations if n in by_n)
        text = escape_markdown(s.text) + links
        parts.append(f"⚠️ **Not supported by its sources:** {text}" if s.unsupported else text)
    lines.append(" ".join(parts))
    lines.append("\n" + "\n".join(f"{c.n}. [{_source_line(c)}]({cite_href(c)})" for c in answer.citations))
    return "\n".join(lines)


def streamed_message(written: str) -> str:
    """An answer still being written: shown as plain text until it is checked."""
    return escape_markdown(written) + " ▍"


def _source_line(c: Citation) -> str:
    meta = ", ".join(escape_markdown(x) for x in (c.source, c.published) if x)
    return escape_markdown(c.title) + (f" — {meta}" if meta else "") + f", characters {c.start}–{c.end}"


def citation_cards(answer: Answer, articles: dict[str, Article]) -> str:
    """One card per citation: the quoted span highlighted in its paragraph; a click opens the article."""
    if answer.abstained:
        return "<p class='qa-empty'>No passage of the articles answers this question.</p>"
    cards = []
    for c in answer.citations:
        article = articles.get(c.article_id)
        meta = " · ".join(html.escape(x) for x in (c.source, c.published) if x)
        also = "".join(
            f"<li>{html.escape(d.get('title') or d['article_id'])}"
            f"{' — ' + html.escape(d['source']) if d.get('source') else ''}</li>"
            for d in c.also_in
        )
        cards.append(
            f"<a class='qa-card' href='{cite_href(c)}' data-n='{c.n}'>"
            f"<div class='qa-card-head'><b>[{c.n}] {html.escape(c.title)}</b></div>"
            f"<small>{meta}{' · ' if meta else ''}characters {c.start}–{c.end}</small>"
            f"<p class='qa-context'>{_in_context(article, c) if article else _marked(c.quote)}</p>"
            + (f"<small>Also in:</small><ul class='qa-also'>{also}</ul>" if also else "")
            + "</a>"
        )
    return "\n".join(cards)


def _marked(text: str) -> str:
    return f"<mark>{html.escape(text)}</mark>"


def _in_context(article: Article, c: Citation) -> str:
    paragraph = article.paragraph_around(c.start, c.end)
    start, end = max(paragraph.start, c.start - CONTEXT_CHARS), min(paragraph.end, c.end + CONTEXT_CHARS)
    before, after = article.text[start : c.start], article.text[c.end : end]
    return (
        ("…" if start > paragraph.start else "")
        + html.escape(before)
        + _marked(article.text[c.start : c.end])
        + html.escape(after)
        + ("…" if end < paragraph.end else "")
    )


def article_html(article: Article, start: int, end: int) -> str:
    """The whole article, escaped, with [start, end) marked (the page scrolls the mark into view)."""
    meta = " · ".join(html.escape(x) for x in (article.source, article.published) if x)
    link = f" · <a href='{html.escape(article.url)}' target='_blank' rel='noopener'>original</a>" if article.url else ""
    text = article.text
    body = html.escape(text[:start]) + f"<mark id='qa-highlight'>{html.escape(text[start:end])}</mark>"
    body += html.escape(text[end:])
    return (
        f"<div class='qa-article'><h3>{html.escape(article.title)}</h3><small>{meta}{link}</small>"
        f"<div class='qa-article-text'>{body}</div></div>"
    )


def stats_markdown(stats: dict) -> str:
    updated = stats.get("last_updated")
    when = f", last updated {updated.replace('T', ' ').replace('+00:00', ' UTC')}" if updated else ""
    return f"**{stats['articles']}** articles, **{stats['chunks']}** chunks{when}"


def ingest_markdown(report) -> str:
    """An ingest report: the counts, then each refused or failed file with its problem."""
    lines = [f"**{report.summary()}**"]
    lines += [f"- ❌ {escape_markdown(error)}" for error in report.errors]
    return "\n".join(lines)
