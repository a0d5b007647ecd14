"""The data types every part of `qa` speaks: articles in, cited answers out.

They are plain dataclasses so that the CLI, the screen, the evaluation runner and
tests all see the same shapes; `to_dict()` gives the public JSON form.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Article:
    """One news article as stored: `text` is what every offset points into."""

    id: str
    title: str
    text: str
    published: str | None = None  # ISO date, YYYY-MM-DD
    source: str | None = None  # outlet, or the name of the file it came from
    url: str | None = None
    path: str | None = None  # the file it was read from (for --prune)
    content_hash: str = ""

    def paragraph_around(self, start: int, end: int) -> Span:
        """The paragraph (lines between newlines) that holds the span [start, end)."""
        return Span(self.text.rfind("\n", 0, start) + 1, _end_of_line(self.text, end))

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "published": self.published,
            "source": self.source,
            "url": self.url,
            "text": self.text,
        }


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) of an article's text."""

    start: int
    end: int


def _end_of_line(text: str, at: int) -> int:
    found = text.find("\n", at)
    return len(text) if found < 0 else found


@dataclass(frozen=True)
class Entity:
    """A named entity found at ingest (spaCy's label: PERSON, ORG, GPE, DATE, CARDINAL, …), by article offsets."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class Sentence:
    """A sentence of an article, the unit answers are built from."""

    id: str
    article_id: str
    index: int  # position in the article
    start: int
    end: int
    text: str
    chunk_id: str = ""  # the first chunk that holds it
    speakers: tuple[str, ...] = ()  # who the sentence quotes or reports (index/attribution.py)
    # Resolved at ingest (index/mentions.py): the people it refers to, by name, pronoun or role.
    mentions: tuple[str, ...] = ()
    # Words a question may use for its speakers and mentioned people: their names and roles.
    speaker_keys: tuple[str, ...] = ()
    mention_keys: tuple[str, ...] = ()
    entities: tuple[Entity, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences, the unit passages are retrieved by."""

    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str
    sentence_ids: tuple[str, ...] = ()


def day_number(date: str | None) -> int | None:
    """20230320 for 2023-03-20: dates compare as numbers in Chroma filters and in BM25 masks alike."""
    return int(date.replace("-", "")) if date else None


_FILTER_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_filter_date(value: str | None, bound: Literal["since", "until"] = "since") -> str | None:
    """A date filter's bound as YYYY-MM-DD; None when empty. ValueError for anything else.

    YYYY-MM and YYYY mean the whole month or year: as `since` their first day, as `until`
    their last (`until 2023-02` is 2023-02-28). Nothing looser is guessed at ("May", "1",
    "Monday" are refused): a filter that silently means another date hides articles.
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    found = _FILTER_DATE.fullmatch(text)
    try:
        if not found:
            raise ValueError
        year, month, day = int(found[1]), int(found[2] or 0), int(found[3] or 0)
        if not month:
            month, day = (1, 1) if bound == "since" else (12, 31)
        elif not day:
            day = 1 if bound == "since" else calendar.monthrange(year, month)[1]
        return dt.date(year, month, day).isoformat()
    except ValueError:
        raise ValueError(f"{bound} {text!r} is not a date: use YYYY-MM-DD, YYYY-MM or YYYY") from None


@dataclass(frozen=True)
class Filters:
    """Which articles a question may be answered from: by source, and by publication date (inclusive).

    `Filters.build` reads them as people type them; the constructor takes ISO dates and refuses
    a `since` after `until`, which no article could pass.
    """

    sources: tuple[str, ...] = ()
    since: str | None = None  # YYYY-MM-DD
    until: str | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}: no article can be in between")

    @classmethod
    def build(cls, sources=(), since: str | None = None, until: str | None = None) -> Filters:
        """From user input (CLI, screen, API): sources, and dates as YYYY-MM-DD, YYYY-MM or YYYY."""
        sources = [sources] if isinstance(sources, str) else sources or ()
        chosen = tuple(dict.fromkeys(s.strip() for s in sources if s and s.strip()))
        return cls(chosen, parse_filter_date(since, "since"), parse_filter_date(until, "until"))

    def __bool__(self) -> bool:
        return bool(self.sources or self.since or self.until)

    @property
    def since_day(self) -> int | None:
        return day_number(self.since)

    @property
    def until_day(self) -> int | None:
        return day_number(self.until)

    def allows(self, source: str | None, published: str | None) -> bool:
        """The rule Chroma's `where` applies too (index.store.where_clause): undated articles fail a date filter."""
        if self.sources and source not in self.sources:
            return False
        day = day_number(published)
        if self.since_day and (day is None or day < self.since_day):
            return False
        return not (self.until_day and (day is None or day > self.until_day))


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its score and the metadata of its article."""

    article_id: str
    chunk_id: str
    start: int
    end: int
    score: float
    text: str
    title: str = ""
    published: str | None = None
    source: str | None = None
    url: str | None = None
    sentence_ids: tuple[str, ...] = ()
    duplicate_of: str | None = None  # the canonical article this one is a near-copy of

    def to_dict(self) -> dict:
        return {
            "article_id": self.article_id,
            "chunk_id": self.chunk_id,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "text": self.text,
            "title": self.title,
        }


@dataclass(frozen=True)
class Citation:
    """An exact span of an article that supports part of an answer: `quote == text[start:end]`."""

    n: int
    article_id: str
    title: str
    published: str | None
    source: str | None
    url: str | None
    start: int
    end: int
    quote: str
    also_in: tuple[dict, ...] = ()  # near-copies of the article elsewhere: id, title, source, url, published
    # A chat model's citation: "model" (it wrote the marker) or "attached" (the check found the span);
    # None, and absent from the JSON, for the extractive answerer, whose sentences are the spans themselves.
    cited_by: str | None = None
    # The relative dates inside the quote ("yesterday"), resolved against the report's publication date
    # (qa/briefings.py DateResolver): start, end, text, date (ISO), kind, rule, described, last_day for a span.
    dates: tuple[dict, ...] = ()
    dates_note: str | None = None  # "no publication date": the quote names relative dates that cannot be resolved

    def to_dict(self) -> dict:
        found = asdict(self) | {"also_in": list(self.also_in), "dates": list(self.dates)}
        if self.cited_by is None:
            del found["cited_by"]
        if self.dates_note is None:
            del found["dates_note"]
        return found


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer, the citations it carries, and whether the check found it supported."""

    text: str
    citations: list[int]
    unsupported: bool = False
    # How a chat model's sentence got its citations: "model" (its own valid [n], verified) or "attached"
    # (the check matched it to a passage span); None when it has none (unsupported) and for the
    # extractive answerer, whose sentences are article sentences: then the JSON leaves the key out.
    cited_by: str | None = None

    def to_dict(self) -> dict:
        found = {"text": self.text, "citations": self.citations, "unsupported": self.unsupported}
        return found | ({"cited_by": self.cited_by} if self.cited_by else {})


@dataclass(frozen=True)
class ShortAnswer:
    """The entity that answers a typed question ("Who …?" → a name), inside a cited sentence:
    `text == article.text[start:end]`, the same guarantee as a citation's quote."""

    text: str
    article_id: str
    start: int
    end: int
    # For "When …?" answered by relative words: the day they mean and how ("2019-04-15 (“yesterday”, in a
    # report of 2019-04-16)"); None, and absent from the JSON, otherwise.
    date: str | None = None
    described: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k not in ("date", "described")}


@dataclass
class Answer:
    """What `qa ask --json` prints; later work adds fields, never removes these."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    rewritten_question: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    sentences: list[AnswerSentence] = field(default_factory=list)
    backend: str = "extractive"
    short_answer: ShortAnswer | None = None
    # "What did X say?": every statement of X's, grouped by report (article_id, title, published, source,
    # url, items: n, start, end, quote, kind "direct"|"reported"|"context", also_in), in the answer's order;
    # `n` is the citation number of a statement the answer shows, None for one beyond them. None (and
    # absent from the JSON) for other questions.
    statements: list[dict] | None = None
    more: dict | None = None  # what the answer leaves out: {"statements": K, "reports": M}
    speakers: list[dict] | None = None  # when the name asked may be more than one person: name, roles, statements
    # A briefing ("What happened in X?", "Timeline of X", qa/briefings.py): every report on the topic, the
    # shown ones first in date order (n, date, date_words, article_id, title, published, source, url, start,
    # end, quote, also_in, background, side); `more` is then {"reports": K}. None (absent) for other questions.
    timeline: list[dict] | None = None
    comparison: list[dict] | None = None  # "Compare A and B": [{"side": A, "timeline": [...]}, {"side": B, ...}]

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "rewritten_question": self.rewritten_question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "sentences": [s.to_dict() for s in self.sentences],
            "backend": self.backend,
            "short_answer": self.short_answer.to_dict() if self.short_answer else None,
        } | ({"support": self.support_counts()} if self.backend != "extractive" else {}) | (
            {"statements": self.statements, "more": self.more} if self.statements is not None else {}
        ) | ({"speakers": self.speakers} if self.speakers else {}) | (
            {"timeline": self.timeline, "more": self.more} if self.timeline is not None else {}
        ) | ({"comparison": self.comparison} if self.comparison is not None else {})

    def support_counts(self) -> dict[str, int]:
        """How many sentences of a chat model's answer it cited itself, had a citation attached, or neither."""
        kinds = ["unsupported" if s.unsupported else s.cited_by for s in self.sentences]
        return {kind: kinds.count(kind) for kind in ("model", "attached", "unsupported")}

    def to_markdown(self) -> str:
        """The answer and its sources as Markdown, to paste elsewhere ("Copy answer", `qa ask --markdown`)."""
        lines = [f"**{self.question}**", ""]
        if self.rewritten_question:
            lines += [f"*(asked as: {self.rewritten_question})*", ""]
        if self.short_answer:
            lines += [f"**{self.short_answer.text}**", ""]
        lines.append(self.answer)
        for s in self.sentences:
            if s.unsupported:
                lines.append(f"\n> Not supported by the passages it cites: {s.text}")
        if self.citations:
            lines += ["", "Sources:", ""]
        for c in self.citations:
            where = ", ".join(x for x in (c.source, c.published) if x)
            # Only a web address becomes a link: a stored `javascript:` URL stays out of the Markdown.
            linkable = c.url and c.url.lower().startswith(("http://", "https://"))
            title = f"[{c.title}]({c.url})" if linkable else c.title
            lines.append(f"{c.n}. {title}{f' ({where})' if where else ''}, characters {c.start}–{c.end}: “{c.quote}”")
        return "\n".join(lines) + "\n"


@dataclass
class IngestReport:
    """The outcome of one ingest run, per article id and per failed input."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "file[:line]: problem"
    warnings: list[str] = field(default_factory=list)  # about inputs that did load: "file: what was changed"
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step: load, split, attribution, embed, …

    @property
    def failed(self) -> int:
        return len(self.errors)

    def summary(self) -> str:
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, "
            f"unchanged {len(self.unchanged)}, failed {self.failed}"
            + (f", pruned {len(self.pruned)}" if self.pruned else "")
        )

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "pruned": self.pruned,
            "errors": self.errors,
            "warnings": self.warnings,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }
