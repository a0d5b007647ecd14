"""The first screen's words, from the collection itself: what it holds, in a line, and questions to ask it.

`QAService.overview` puts them together; these are the pure parts.
"""

from __future__ import annotations

import re

# A title's subject that says nothing about what happened ("Reports: …", "Officials say …").
_EMPTY_SUBJECTS = {"reports", "report", "officials", "sources", "news", "update", "it", "they", "this", "police"}
_MAX_SUBJECT_WORDS = 8


def people_quoted(index, facts: dict[str, dict], sources: set[str]) -> list[dict]:
    """The people the collection quotes (qa.people's `people()` rows), the most reports first: identities
    that some report names as a person (index/mentions.py resolved them: not "Officials", "WN" or "CNN"),
    leaving out an outlet of the collection ("Wikinews")."""
    named = {(article_id, name) for article_id, f in facts.items() for name in (f.get("people") or {})}
    persons = {key for (article_id, stored), key in index.identity.items() if (article_id, stored) in named}
    names = {index.persons[key].name for key in persons if key in index.persons} - sources
    found = [p for p in index.people() if p["name"] in names]
    found.sort(key=lambda p: (-p["reports"], -p["statements"], p["name"].lower()))
    return found


def title_subject(doc, sources: set[str] = frozenset()) -> str | None:
    """What a title (parsed by spaCy) is about: its subject with what names it ("Prime Minister of
    Slovakia Igor Matovič", "the Kherson ferry"), else its first telling noun phrase; None if none."""
    subjects = [t for t in doc if t.dep_ in ("nsubj", "nsubjpass")]
    phrases = [_phrase(t) for t in subjects] + [_chunk(c) for c in doc.noun_chunks]
    for words, common in phrases:
        text = " ".join(words)
        if not words or text.lower() in _EMPTY_SUBJECTS or text in sources or len(words) > _MAX_SUBJECT_WORDS:
            continue
        return f"the {text}" if common else text
    return None


def _phrase(head) -> tuple[list[str], bool]:
    """The subject's words: its subtree up to a comma or a clause of its own; whether it is a common noun."""
    kept = []
    for t in head.subtree:
        if t.i > head.i and (t.dep_ in ("relcl", "acl", "cc", "conj", "appos") or t.text == ","):
            break
        kept.append(t)
    return _words(kept), head.pos_ == "NOUN"


def _chunk(chunk) -> tuple[list[str], bool]:
    return _words(list(chunk)), chunk.root.pos_ == "NOUN"


def _words(tokens) -> list[str]:
    """The phrase's words as the title writes them ("China's", not "China 's"), without a leading article
    and without quotation marks ("'streamlined' UK asylum process": streamlined UK asylum process)."""
    while tokens and (tokens[0].dep_ == "det" or tokens[0].is_punct):
        tokens = tokens[1:]
    while tokens and tokens[-1].is_punct:
        tokens = tokens[:-1]
    if not tokens:
        return []
    text = tokens[0].doc[tokens[0].i : tokens[-1].i + 1].text
    return _QUOTE_MARKS.sub("", text).split()


_QUOTE_MARKS = re.compile(r"(?<!\w)['‘’\"“”]|['‘’\"“”](?!\w)")


def collection_line(articles: int, dates: list[str], people: int) -> str:
    """"374 reports from 2004 to 2023, 212 people quoted"; `dates` are the reports' dates, sorted."""
    if not articles:
        return "No articles yet: add some on the Add articles tab, or with `qa ingest`."
    line = f"{articles:,} report{'s' if articles != 1 else ''}"
    if dates:
        first, last = dates[0][:4], dates[-1][:4]
        line += f" from {first} to {last}" if first != last else f" from {first}"
        if len(dates) < articles:
            line += f" ({articles - len(dates):,} undated)"
    quoted = "nobody quoted" if not people else f"{people:,} {'person' if people == 1 else 'people'} quoted"
    return f"{line}, {quoted}"


def selection_line(articles: list[dict], asked: int | None = None, shown: int = 3) -> str:
    """A selection asked about, in a line: "Asking 3 articles: Title (2023-03-20), Title (undated) and 1 more".
    `articles` are `QAService.list_articles` rows of the chosen ids; `asked`, how many ids were chosen (some may
    be gone since: "2 of the 3 chosen articles are still stored")."""
    n = len(articles)
    asked = n if asked is None else asked
    if not n:
        return f"Asking {asked} chosen article{'s' if asked != 1 else ''}: none is stored any more."
    named = [f"{a['title'] or a['id']} ({a['published'] or 'undated'})" for a in articles[:shown]]
    more = n - len(named)
    said = ", ".join(named[:-1]) + (" and " if len(named) > 1 and not more else ", " if more else "") + named[-1]
    said = named[0] if len(named) == 1 else said
    tail = f" and {more} more" if more else ""
    gone = f" ({asked - n} of the {asked} chosen are no longer stored)" if asked > n else ""
    return f"Asking {n} article{'s' if n != 1 else ''}: {said}{tail}{gone}"
