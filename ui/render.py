"""What the chat screen shows, made from the typed answers and articles: Markdown for the chat and the
Evaluate tab, HTML for the panels and error messages.

Everything taken from an article, an evaluation set or a request is untrusted. It reaches the page
only through the three functions below, the one escaping path every renderer uses:

- `escape_html` for text and attribute values in HTML (panels, cards, error messages);
- `escape_markdown` for text in Markdown (chat, Evaluate tab): no tags, no emphasis, no links,
  not even the bare URLs Markdown renderers link by themselves;
- `link_url` for the only URLs that may become links: http and https.

A citation link carries its article id and character span (`#qa-cite=<id>|<start>|<end>`), so the
links of an old answer still open the spans it cited; the page's script (ui/app.py) turns a click on
one into a request for the article.
"""

from __future__ import annotations

import html
import re
import string
from urllib.parse import quote, unquote, urlsplit

from qa.types import Answer, Article, Citation, group_by_article

CITE_PREFIX = "#qa-cite="
CONTEXT_CHARS = 300  # of the paragraph shown around a quoted span on its card
# Markdown gives meaning to ASCII punctuation only, and CommonMark lets a backslash escape any of it.
# The HTML-special characters become entities instead, which every Markdown renderer passes through.
_HTML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKDOWN_ESCAPES = {c: _HTML_SPECIAL.get(c, "\\" + c) for c in string.punctuation}
_MARKDOWN_SPECIAL = re.compile("[" + re.escape(string.punctuation) + "]")
# No whitespace, control characters or what would end an attribute or a Markdown link: a browser reads
# those differently from us (it drops tabs inside "java\tscript:", for one).
_WEB_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f<>\"`\\]+", re.IGNORECASE)


def escape_html(text: object) -> str:
    """Untrusted text as HTML text or a quoted attribute value: shown as itself, never markup."""
    return html.escape(str(text), quote=True)


def escape_markdown(text: object) -> str:
    """Untrusted text shown as itself by a Markdown renderer: no tags, emphasis, links or autolinks.

    Every ASCII punctuation mark is escaped, so `https://x` reads `https\\:\\/\\/x` and the renderer's
    autolinker, which looks for `https://`, `www.` and `@`, finds nothing to link (a URL in quoted
    text used to become a link to an address with the escapes inside it).
    """
    return _MARKDOWN_SPECIAL.sub(lambda m: _MARKDOWN_ESCAPES[m[0]], str(text))


def link_url(url: str | None) -> str | None:
    """The URL, if it may become a link: http(s) with a host, nothing a browser would read otherwise."""
    if not url or not _WEB_URL.fullmatch(url):
        return None
    try:
        return url if urlsplit(url).hostname else None
    except ValueError:  # a malformed port or IPv6 host
        return None


def error_message(text: object) -> str:
    """A message for `gr.Error`, which the page shows as HTML: it often quotes what was typed. Only what
    makes markup is escaped (the message is element text), so API clients read quotes as quotes."""
    return html.escape(str(text), quote=False)


def cite_href(c: Citation) -> str:
    return span_href(c.article_id, c.start, c.end)


def span_href(article_id: str, start: int, end: int) -> str:
    """A link to an exact span of an article (a citation's, or a statement's the answer did not number)."""
    return CITE_PREFIX + quote(f"{article_id}|{int(start)}|{int(end)}", safe="")


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


def _short_answer(answer: Answer):
    """The answer's short span (qa.types.ShortAnswer), when it has one and it lies in one of its citations."""
    short = getattr(answer, "short_answer", None)  # None for most answers (only typed questions get one)
    if short is None or not getattr(short, "text", "").strip():
        return None
    return short if any(_holds(c, short) for c in answer.citations) else None


def _holds(c: Citation, short) -> bool:
    return c.article_id == short.article_id and c.start <= short.start and short.end <= c.end


def answer_message(answer: Answer, direct_only: bool = False) -> str:
    """The assistant's turn: the short answer, each sentence with its `[n]` links, unsupported ones marked,
    then its sources; "What did X say?" as X's statements by report (`direct_only`: direct quotations only)."""
    by_n = {c.n: c for c in answer.citations}
    lines = []
    if answer.abstained:
        lines.append(escape_markdown(answer.answer))
        flagged = [s for s in answer.sentences if s.unsupported]
        if flagged:
            lines.append("\nWhat the model wrote, which the cited passages do not support:")
            lines += [f"- ⚠️ ~~{escape_markdown(s.text)}~~" for s in flagged]
        return "\n".join(lines)
    if short := _short_answer(answer):
        if short.described:  # "yesterday" alone says nothing: the day, then the words it comes from
            day, _, words = short.described.partition(" ")
            lines.append(f"**{escape_markdown(day)}** {escape_markdown(words)}\n")
        else:
            lines.append(f"**{escape_markdown(' '.join(short.text.split()))}**\n")
    if answer.statements:
        lines.append(statements_message(answer, by_n, direct_only))
        return "\n".join(lines)
    if answer.timeline_parts():
        lines.append(_timeline_message(answer, by_n))
        lines.append("\n" + "\n".join(_source_line(group) for group in group_by_article(answer.citations)))
        return "\n".join(lines)
    parts = []
    for s in answer.sentences:
        links = "".join(f" [\\[{n}\\]]({cite_href(by_n[n])})" for n in s.citations if n in by_n)
        text = escape_markdown(s.text) + links
        parts.append(f"⚠️ **Not supported by its sources:** {text}" if s.unsupported else text)
    lines.append(" ".join(parts))
    lines.append("\n" + "\n".join(_source_line(group) for group in group_by_article(answer.citations)))
    return "\n".join(lines)


def streamed_message(written: str) -> str:
    """An answer still being written: shown as plain text until it is checked."""
    return escape_markdown(written) + " ▍"


LOADING = "Loading the model … (first answer only)"


def loading_message(model: str) -> str:
    """Said in the chat while a chosen model loads, before its answer streams: the first answer with it."""
    return f"⏳ {escape_markdown(LOADING)}: {escape_markdown(model)}"


def _timeline_message(answer: Answer, by_n: dict[int, Citation]) -> str:
    """A briefing in the chat: a dated list, one event a line ("**2019-08-18** — Yesterday, … [2]"), under
    each side's name for a comparison, then how many reports are left out."""
    blocks = []
    for side, entries in answer.timeline_parts():
        items = []
        for e in entries:
            n = int(e["n"])
            link = f" [\\[{n}\\]]({cite_href(by_n[n])})" if n in by_n else ""
            items.append(f"- **{escape_markdown(e.get('date') or 'undated')}** — {escape_markdown(' '.join(e['quote'].split()))}{link}")
        head = [f"**{escape_markdown(side)}**", ""] if side else []
        blocks.append("\n".join(head + (items or [escape_markdown("The articles don't say.")])))
    left = (answer.more or {}).get("reports")
    if left:
        blocks.append(escape_markdown(f"{left} more report{'s' if left != 1 else ''}."))
    return "\n\n".join(blocks)


_KIND_WORDS = {"reported": "reported speech", "context": "context"}  # a direct quotation needs no label


def statements_message(answer: Answer, by_n: dict[int, Citation], direct_only: bool = False) -> str:
    """X's statements by report (title, source, date once, then each statement with its `[n]` link and,
    unless it is a direct quotation, its kind), then the statements the answer does not show, under
    "K more statements in M reports", which opens; with `direct_only`, direct quotations alone."""
    blocks = []
    if answer.speakers:  # the name asked may be more than one person: say who they are
        who = "; ".join(
            escape_markdown(f"{p['name']} ({', '.join(p['roles'])})" if p.get("roles") else p["name"])
            for p in answer.speakers
        )
        blocks.append(f"This name may be more than one person in these reports: {who}.")
    hidden: list[tuple[dict, dict]] = []
    shown_any = False
    for group in answer.statements or []:
        items = [i for i in group["items"] if not direct_only or i.get("kind") == "direct"]
        hidden += [(group, i) for i in items if not i.get("n")]
        shown = [i for i in items if i.get("n")]
        shown_any = shown_any or bool(shown)
        if shown:
            blocks.append(_report_head(group) + "\n" + "\n".join(
                f"- {_statement_line(i)}" + (f" [\\[{int(i['n'])}\\]]({cite_href(by_n[int(i['n'])])})"
                                             if int(i["n"]) in by_n else "")
                for i in shown
            ))
    if not shown_any:
        blocks.append(escape_markdown("No direct quotation among the statements shown."))
    if hidden:
        reports = len({id(group) for group, _ in hidden})
        label = f"{len(hidden)} more {'direct quotation' if direct_only else 'statement'}{'s' if len(hidden) != 1 else ''}"
        rows = "\n".join(
            f"- {_statement_line(i)} ({_report_words(group)}) [open]({span_href(group['article_id'], i['start'], i['end'])})"
            for group, i in hidden
        )
        blocks.append(
            f"<details><summary>{escape_html(label)} in {reports} report{'s' if reports != 1 else ''}</summary>\n\n"
            f"{rows}\n\n</details>"
        )
    return "\n\n".join(blocks)


def _statement_line(item: dict) -> str:
    kind = _KIND_WORDS.get(item.get("kind") or "")
    return escape_markdown(" ".join(item["quote"].split())) + (f" — *{kind}*" if kind else "")


def _report_head(group: dict) -> str:
    meta = ", ".join(escape_markdown(x) for x in (group.get("source"), group.get("published")) if x)
    speaker = f" · {escape_markdown(group['speaker'])}" if group.get("speaker") else ""
    return f"**{escape_markdown(group.get('title') or group['article_id'])}**" + (f" — {meta}" if meta else "") + speaker


def _report_words(group: dict) -> str:
    return escape_markdown(", ".join(x for x in (group.get("title") or group["article_id"], group.get("source"),
                                                group.get("published")) if x))


def _source_line(group: list[Citation]) -> str:
    """One article's line under an answer: its title, source and date once, then a link per citation
    (the link carries the exact span; the words people read do not)."""
    c = group[0]
    meta = ", ".join(escape_markdown(x) for x in (c.source, c.published) if x)
    links = " ".join(f"[\\[{int(x.n)}\\]]({cite_href(x)})" for x in group)
    return f"- {escape_markdown(c.title)}" + (f" — {meta}" if meta else "") + f" · {links}"


def timeline_html(answer: Answer) -> str:
    """A briefing's timeline above the cards: one row an event, its day (and the words that name it, when
    the sentence says "yesterday"), the report, and its citation link; "" for other answers."""
    parts = answer.timeline_parts()
    if not parts:
        return ""
    by_n = {c.n: c for c in answer.citations}
    rows = []
    for side, entries in parts:
        if side:
            rows.append(f"<tr><th colspan='3' class='qa-side'>{escape_html(side)}</th></tr>")
        for e in entries:
            n = int(e["n"])
            words = e.get("date_words")
            said = (f"<br><small>“{escape_html(words)}” in a report of {escape_html(e.get('published') or '')}</small>"
                    if words and e.get("published") and e.get("date") != e.get("published") else "")
            meta = " · ".join(escape_html(x) for x in (e.get("source"), e.get("published")) if x)
            link = (f"<a class='qa-timeline-link' href='{escape_html(cite_href(by_n[n]))}'>[{n}]</a>"
                    if n in by_n else f"[{n}]")
            rows.append(
                f"<tr><td class='qa-when'><b>{escape_html(e.get('date') or 'undated')}</b>{said}</td>"
                f"<td>{escape_html(e.get('title') or e['article_id'])}<br><small>{meta}</small></td><td>{link}</td></tr>"
            )
    return (
        "<div class='qa-timeline'><b>Timeline</b><table><thead><tr><th>Date</th><th>Report</th><th></th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def citation_cards(answer: Answer, articles: dict[str, Article]) -> str:
    """The cited passages, grouped by article (its title, source and date once): one card per citation,
    the quoted span highlighted in its paragraph (and the short answer within it); a click on a card
    opens the article at that span."""
    if answer.abstained:
        return "<p class='qa-empty'>No passage of the articles answers this question.</p>"
    short = _short_answer(answer)
    groups = [timeline_html(answer)] if answer.timeline_parts() else []
    for group in group_by_article(answer.citations):
        first = group[0]
        meta = " · ".join(escape_html(x) for x in (first.source, first.published) if x)
        copies = {d["article_id"]: d for c in group for d in c.also_in}
        also = "".join(
            f"<li>{escape_html(d.get('title') or d['article_id'])}"
            f"{' — ' + escape_html(d['source']) if d.get('source') else ''}</li>"
            for d in copies.values()
        )
        cards = []
        for c in group:
            article = articles.get(c.article_id)
            inner = short if short and _holds(c, short) else None
            where = f", paragraph {article.paragraph_number(c.start)}" if article else ""
            cards.append(
                f"<a class='qa-card' href='{escape_html(cite_href(c))}' data-n='{int(c.n)}'>"
                f"<small class='qa-card-head'><b>[{int(c.n)}]</b> Exact quote{where} · open in article</small>"
                f"<p class='qa-context'>{_in_context(article, c, inner) if article else _marked(c.quote, c.start, inner)}"
                "</p>" + "".join(f"<small class='qa-dates'>Date: {escape_html(said)}</small>" for said in c.dates_said())
                + "</a>"
            )
        groups.append(
            "<div class='qa-source'>"
            f"<div class='qa-source-head'><b>{escape_html(first.title)}</b>"
            f"{'<br><small>' + meta + '</small>' if meta else ''}</div>"
            + "".join(cards)
            + (f"<small>Also in:</small><ul class='qa-also'>{also}</ul>" if also else "")
            + "</div>"
        )
    return "\n".join(groups)


def _marked(quote_text: str, start: int, short=None) -> str:
    """The quoted span (which starts at `start` in its article) in a <mark>, the short answer in a nested one."""
    if short is None or not (0 <= short.start - start <= short.end - start <= len(quote_text)):
        return f"<mark>{escape_html(quote_text)}</mark>"
    a, b = short.start - start, short.end - start
    return (
        f"<mark>{escape_html(quote_text[:a])}<mark class='qa-short'>{escape_html(quote_text[a:b])}</mark>"
        f"{escape_html(quote_text[b:])}</mark>"
    )


def _in_context(article: Article, c: Citation, short=None) -> str:
    paragraph = article.paragraph_around(c.start, c.end)
    start, end = max(paragraph.start, c.start - CONTEXT_CHARS), min(paragraph.end, c.end + CONTEXT_CHARS)
    before, after = article.text[start : c.start], article.text[c.end : end]
    return (
        ("…" if start > paragraph.start else "")
        + escape_html(before)
        + _marked(article.text[c.start : c.end], c.start, short)
        + escape_html(after)
        + ("…" if end < paragraph.end else "")
    )


def article_html(article: Article, start: int | None = None, end: int | None = None) -> str:
    """The whole article, escaped, with [start, end) marked (the page scrolls the mark into view); nothing
    marked without a span (an article opened from the Library)."""
    meta = " · ".join(escape_html(x) for x in (article.source, article.published) if x)
    url = link_url(article.url)  # old stored data may hold any scheme: only http(s) becomes a link
    link = f" · <a href='{escape_html(url)}' target='_blank' rel='noopener noreferrer'>original</a>" if url else ""
    text = article.text
    if start is None or end is None:
        body = escape_html(text)
    else:
        body = escape_html(text[:start]) + f"<mark id='qa-highlight'>{escape_html(text[start:end])}</mark>"
        body += escape_html(text[end:])
    return (
        f"<div class='qa-article'><h3>{escape_html(article.title)}</h3><small>{meta}{link}</small>"
        f"<div class='qa-article-text'>{body}</div></div>"
    )


def missing_article_html(article_id: str) -> str:
    """What a citation link shows when its article is gone (or the link was made up)."""
    return f"<p class='qa-empty'>The article '{escape_html(article_id)}' is no longer stored.</p>"


def stats_markdown(stats: dict, writing_elsewhere: bool = False) -> str:
    """The header's figures; while another process writes to the collection, a line saying so."""
    updated = stats.get("last_updated")
    when = f", last updated {updated.replace('T', ' ').replace('+00:00', ' UTC')}" if updated else ""
    line = f"**{stats['articles']}** articles, **{stats['chunks']}** chunks{escape_markdown(when)}"
    if writing_elsewhere:
        line += "\n\n**Updating…** another program is adding or removing articles; questions see its changes when it is done."
    return line


def articles_markdown(report, articles: dict[str, Article] | None = None) -> list[str]:
    """One line per article an ingest added or updated: its title and date (its id when it is not found)."""
    articles = articles or {}
    lines = []
    for verb, ids in (("added", report.added), ("updated", report.updated)):
        for article_id in ids:
            a = articles.get(article_id)
            named = f"{escape_markdown(a.title)} ({escape_markdown(a.published or 'undated')})" if a else escape_markdown(article_id)
            lines.append(f"- {'➕' if verb == 'added' else '🔄'} {verb}: {named}")
    return lines


def ingest_markdown(report, articles: dict[str, Article] | None = None) -> str:
    """An ingest report: the counts, each article added or updated, then each refused or failed file with its problem."""
    lines = [f"**{report.summary()}**", *articles_markdown(report, articles)]
    lines += [f"- ❌ {escape_markdown(error)}" for error in report.errors]
    return "\n".join(lines)


LIBRARY_HEADERS = ["Date", "Title", "Source", "People quoted", "Chunks", "ID"]


def library_rows(listed: list[dict]) -> list[list]:
    """`QAService.list_articles` as the Library table's rows (LIBRARY_HEADERS). The table shows cells as
    text (datatype "str"), so nothing in them is markup."""
    rows = []
    for a in listed:
        people = a["people"][:3]
        more = len(a["people"]) - len(people)
        rows.append([
            a["published"] or "undated",
            a["title"],
            a["source"] or "",
            ", ".join(people) + (f" +{more}" if more > 0 else ""),
            a["chunks"] if isinstance(a["chunks"], int) else "",
            a["id"],
        ])
    return rows


def library_summary(listed: list[dict], total: int) -> str:
    shown = len(listed)
    if shown == total:
        return f"{total} article{'s' if total != 1 else ''}. Click a row to read the article."
    return f"{shown} of {total} articles match. Click a row to read the article."


# -- the Evaluate tab ------------------------------------------------------------------------


def failure_markdown(record: dict) -> str:
    """One failed question of a run (a results.jsonl record): what was asked, expected and answered.

    Like eval.report's version for report.md, but through escape_markdown: the set and the
    articles are untrusted, and this is shown on the page, where a link would be live.
    """
    from eval.metrics import OUTCOMES, outcome

    scores = record["scores"]
    problem = OUTCOMES[outcome(scores)]
    if scores["citations_valid"] < scores["citations"]:
        problem = f"{scores['citations'] - scores['citations_valid']} cited quote(s) differ from the article text"
    expected = record["expected"]

    def line(text: object) -> str:
        return escape_markdown(" ".join(str(text).split()))  # one line: a newline could start a new block

    lines = [f"#### {line(record['id'])} — {escape_markdown(problem)}", ""]
    lines.append(f"- **Question:** {line(record['question'])}")
    for asked, answered in record.get("history", []):
        lines.append(f"- **Earlier turn:** {line(asked)} → {line(answered)}")
    if record.get("rewritten_question"):
        lines.append(f"- **Rewritten as:** {line(record['rewritten_question'])}")
    lines.append(
        "- **Expected:** " + (" / ".join(line(a) for a in expected["answers"]) or "abstain (the articles do not say)")
    )
    lines += [f"  - evidence: {line(quote_text)}" for quote_text in expected["evidence"]]
    lines.append(f"- **Answered:** {line(record['answer'])}")
    flagged = [s for s in record.get("sentences", []) if s.get("unsupported")]
    lines += [f"  - unsupported, flagged: {line(s['text'])}" for s in flagged]
    lines += [
        f"  - \\[{int(c['n'])}\\] {line(c['title'])}: " + line(c["quote"])  # offsets stay in results.jsonl
        for c in record["citations"]
    ]
    if scores.get("f1") is not None:
        lines.append(
            f"- token F1 {scores['f1']:.2f} · evidence cited {scores['evidence_cited']}/{scores['evidence_units']}"
        )
    return "\n".join(lines)


# -- the first screen and saved conversations ---------------------------------------------------


def overview_markdown(overview: dict) -> str:
    """`QAService.overview`'s line, under the header (`qa overview` prints the same line)."""
    return f"**{escape_markdown(overview['line'])}**"


def conversation_choices(conversations: list[dict]) -> list[tuple[str, str]]:
    """The saved conversations as the list's choices, (label, id): the first question and the date. The
    list shows labels as text, not markup."""
    choices = []
    for c in conversations:
        title = " ".join(c["title"].split())
        title = title if len(title) <= 80 else title[:79] + "…"
        n = c["questions"]
        choices.append((f"{title} · {c['updated'][:10]} · {n} question{'s' if n != 1 else ''}", c["id"]))
    return choices


def conversations_problems(problems: list[str], listed: int = 1) -> str:
    """The saved conversation files that could not be read, each with its problem (the rest are listed);
    with nothing listed, what the list is for."""
    lines = [] if listed else ["Each question you ask is kept here, with its answer, to open again or export."]
    return "\n".join([*lines, *(f"- ⚠️ {escape_markdown(p)}" for p in problems)])


def conversation_file_name(conversation) -> str:
    """A download's file name: the first question's words, then the id ("what-did-peskov-say-2024….md")."""
    words = re.findall(r"[a-z0-9]+", conversation.title.lower())[:8]
    return "-".join([*words, conversation.id]) + ".md"


# -- the selection the chat asks about, re-ingest, and the people quoted ----------------------------


def selection_markdown(line: str) -> str:
    """The selection above the chat ("Asking 3 articles: …", qa.suggestions.selection_line): titles are the
    articles' own words, so escaped."""
    return f"**{escape_markdown(line)}**"


def pick_choices(listed: list[dict]) -> list[tuple[str, str]]:
    """`QAService.list_articles` rows as the Library's "chosen articles" choices, (label, id): the title and
    date (the list shows labels as text)."""
    return [(f"{a['title'] or a['id']} ({a['published'] or 'undated'})", a["id"]) for a in listed]


def reingest_markdown(report, articles: dict[str, Article] | None = None) -> str:
    """What a re-ingest did (QAService.reingest_articles, as `qa reingest`): the counts, each article updated
    or unchanged by its title and date, then each problem."""
    articles = articles or {}
    lines = [f"**Re-ingested: {len(report.updated)} updated, {len(report.unchanged)} unchanged, {report.failed} failed**"]
    for verb, mark, ids in (("updated", "🔄", report.updated), ("unchanged", "✔️", report.unchanged)):
        for article_id in ids:
            a = articles.get(article_id)
            named = f"{escape_markdown(a.title)} ({escape_markdown(a.published or 'undated')})" if a else escape_markdown(article_id)
            lines.append(f"- {mark} {verb}: {named}")
    lines += [f"- ⚠️ {escape_markdown(w)}" for w in report.warnings]
    lines += [f"- ❌ {escape_markdown(e)}" for e in report.errors]
    return "\n".join(lines)


PEOPLE_HEADERS = ["Name", "Roles", "Statements", "Reports", "First", "Last"]


def people_rows(people: list[dict]) -> list[list]:
    """`QAService.people` (what `qa people` prints) as the People table's rows (PEOPLE_HEADERS), shown as text."""
    return [
        [p["name"], ", ".join(p["roles"]), p["statements"], p["reports"], p["first"] or "undated", p["last"] or "undated"]
        for p in people
    ]


def people_summary(people: list[dict]) -> str:
    n = len(people)
    if not n:
        return "Nobody is quoted in the stored articles."
    # Every speaker the articles quote, bodies such as "Kremlin" too; the first screen counts the people.
    persons = sum(bool(p.get("person")) for p in people)
    of_them = f" ({persons} of them {'a person' if persons == 1 else 'people'}, the others bodies and groups)" if persons < n else ""
    return (
        f"{n} speaker{' is' if n == 1 else 's are'} quoted{of_them}, the most quoted first. "
        "Click a name to read their statements."
    )
