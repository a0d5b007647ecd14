"""The data types every part of `qa` speaks: articles in, cited answers out.

They are plain dataclasses so that the CLI, the screen, the evaluation runner and
tests all see the same shapes; `to_dict()` gives the public JSON form.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
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

    def paragraph_number(self, start: int) -> int:
        """Which paragraph (non-empty line, counted from 1) holds `start`: what people are told instead of offsets."""
        return sum(1 for line in self.text[:start].split("\n")[:-1] if line.strip()) + 1

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
    # The first and last day (ISO) its relative dates name ("yesterday", "last month"), resolved at ingest
    # against the report's publication date (index/dates.py); None when it names none or the report is undated.
    dated: tuple[str, str] | None = None


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
    """Which articles a question may be answered from: by source, by publication date (inclusive), and
    a selection of articles by id (the Library's "Ask about these", `qa ask --article ID`).

    `Filters.build` reads them as people type them; the constructor takes ISO dates and refuses
    a `since` after `until`, which no article could pass.
    """

    sources: tuple[str, ...] = ()
    since: str | None = None  # YYYY-MM-DD
    until: str | None = None
    article_ids: tuple[str, ...] = ()  # when given, only these articles (and the other filters still apply)

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}: no article can be in between")

    @classmethod
    def build(cls, sources=(), since: str | None = None, until: str | None = None, article_ids=()) -> Filters:
        """From user input (CLI, screen, API): sources, dates as YYYY-MM-DD, YYYY-MM or YYYY, article ids."""
        sources = [sources] if isinstance(sources, str) else sources or ()
        chosen = tuple(dict.fromkeys(s.strip() for s in sources if s and s.strip()))
        article_ids = [article_ids] if isinstance(article_ids, str) else article_ids or ()
        ids = tuple(dict.fromkeys(i.strip() for i in article_ids if i and i.strip()))
        return cls(chosen, parse_filter_date(since, "since"), parse_filter_date(until, "until"), ids)

    def __bool__(self) -> bool:
        return bool(self.sources or self.since or self.until or self.article_ids)

    @property
    def since_day(self) -> int | None:
        return day_number(self.since)

    @property
    def until_day(self) -> int | None:
        return day_number(self.until)

    def allows(
        self, source: str | None, published: str | None, article_id: str | None = None,
        dated: tuple[str, str] | None = None,
    ) -> bool:
        """The rule Chroma's `where` applies too (index.store.where_clause): undated articles fail a date filter.
        With a selection (`article_ids`), an article outside it fails, and so does one whose id is not given:
        a caller that cannot say which article it asks about never lets one outside the selection through.
        `dated`: a sentence's `Sentence.dated`; it passes the dates when they lie within them, whenever its
        report was published ("last month" in a report of 2019-05-02 is in April 2019)."""
        if self.article_ids and article_id not in self.article_ids:
            return False
        if self.sources and source not in self.sources:
            return False
        return self.within(published, published) or (dated is not None and self.within(*dated))

    def within(self, first: str | None, last: str | None) -> bool:
        """Whether the days `first` to `last` (ISO; None: unknown) lie within `since`..`until`."""
        first_day, last_day = day_number(first), day_number(last)
        if self.since_day and (first_day is None or first_day < self.since_day):
            return False
        return not (self.until_day and (last_day is None or last_day > self.until_day))


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

    def dates_said(self) -> list[str]:
        """The relative dates inside the quote as people read them ("2019-04-15 (“yesterday”, in a report of
        2019-04-16)"), or why they have no day."""
        said = [d["described"] for d in self.dates if d.get("described")]
        if self.dates_note:
            said.append(f"its relative dates have no day: {self.dates_note}")
        return said

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

    def lead(self) -> str | None:
        """The short answer as said before the answer: for "When …?" the day with the words it comes from
        (`described`), else the entity. None when there is none, or the answer text already opens with it."""
        short = self.short_answer
        if short is None or not short.text.strip():
            return None
        said = short.described or " ".join(short.text.split())
        return None if self.answer.startswith(said) else said

    def timeline_parts(self) -> list[tuple[str | None, list[dict]]]:
        """A briefing's shown entries (those with a citation number) in date order, per side of a comparison
        (side None for a plain timeline); [] for other answers."""
        if self.comparison:
            return [(part["side"], [e for e in part["timeline"] if e.get("n")]) for part in self.comparison]
        if self.timeline:
            return [(None, [e for e in self.timeline if e.get("n")])]
        return []

    def _more_reports(self) -> str | None:
        left = (self.more or {}).get("reports") if self.timeline is not None else None
        return f"{left} more report{'s' if left != 1 else ''}." if left else None

    def timeline_text(self) -> str | None:
        """A briefing as a dated list, one line an event: "2019-08-18 — Yesterday, … [2]" (the report's title
        is in the sources); None for other answers."""
        parts = self.timeline_parts()
        if not parts:
            return None
        blocks = []
        for side, entries in parts:
            lines = [f"{e.get('date') or 'undated'} — {_one_line(e['quote'])} [{e['n']}]" for e in entries]
            blocks.append("\n".join(([f"{side}:"] if side else []) + (lines or ["The articles don't say."])))
        return "\n\n".join(blocks + ([more] if (more := self._more_reports()) else []))

    def to_text(self, articles: Mapping[str, Article] | None = None) -> str:
        """The whole answer as `qa ask` prints it: the short answer, the answer (a briefing as its dated
        list), then its sources."""
        lines = [lead, ""] if (lead := self.lead()) else []
        lines.append(self.timeline_text() or self.answer)
        return "\n".join(lines) + self.sources_text(articles)

    def sources_text(self, articles: Mapping[str, Article] | None = None) -> str:
        """The sources in plain words, one block an article (its title, date, source and URL once), then each
        citation's paragraph, quote and the days its relative dates mean. `articles` (by id) give the
        paragraph numbers; character offsets are for `--json` only."""
        if not self.citations:
            return ""
        lines = ["", "", "Sources:"]
        for group in group_by_article(self.citations):
            c = group[0]
            dated = f" ({c.published})" if c.published else ""
            lines += ["", f"{c.title}{dated} — {c.source or c.article_id}" + (f" · {c.url}" if c.url else "")]
            for x in group:
                lines.append(f"  [{x.n}] {_where(x, articles)}“{x.quote}”")
                lines += [f"      date: {said}" for said in x.dates_said()]
        return "\n".join(lines)

    def to_markdown(self, articles: Mapping[str, Article] | None = None) -> str:
        """The answer and its sources as Markdown, to paste elsewhere ("Copy answer", `qa ask --markdown`):
        the same plain words as the screen, one title per article (`articles` give paragraph numbers)."""
        lines = [f"**{self.question}**", ""]
        if self.rewritten_question:
            lines += [f"*(asked as: {self.rewritten_question})*", ""]
        if lead := self.lead():
            lines += [f"**{lead}**", ""]
        lines.append(self._markdown_body())
        for s in self.sentences:
            if s.unsupported:
                lines.append(f"\n> Not supported by the passages it cites: {s.text}")
        if self.citations:
            lines += ["", "Sources:", ""]
        for group in group_by_article(self.citations):
            c = group[0]
            where = ", ".join(x for x in (c.source, c.published) if x)
            # Only a web address becomes a link: a stored `javascript:` URL stays out of the Markdown.
            linkable = c.url and c.url.lower().startswith(("http://", "https://"))
            title = f"[{c.title}]({c.url})" if linkable else c.title
            lines.append(f"- {title}{f' — {where}' if where else ''}")
            for x in group:
                lines.append(f"  - [{x.n}] {_where(x, articles)}“{x.quote}”")
                lines += [f"    - date: {said}" for said in x.dates_said()]
        return "\n".join(lines) + "\n"

    def _markdown_body(self) -> str:
        """The answer text; a briefing as its dated list. Single line breaks are kept (Markdown would join
        the lines of a "What did X say?" report)."""
        parts = self.timeline_parts()
        if not parts:
            return re.sub(r"(?<!\n)\n(?!\n)", "  \n", self.answer)
        blocks = []
        for side, entries in parts:
            items = [f"- **{e.get('date') or 'undated'}** — {_one_line(e['quote'])} [{e['n']}]" for e in entries]
            blocks.append("\n".join(([f"**{side}**", ""] if side else []) + (items or ["The articles don't say."])))
        return "\n\n".join(blocks + ([more] if (more := self._more_reports()) else []))


def group_by_article(citations: list[Citation]) -> list[list[Citation]]:
    """The citations grouped by article, in the order each article is first cited: its title is said once."""
    groups: dict[str, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.article_id, []).append(c)
    return list(groups.values())


def _where(c: Citation, articles: Mapping[str, Article] | None) -> str:
    """"paragraph 3: " when the cited article is at hand, else nothing (never character offsets)."""
    article = (articles or {}).get(c.article_id)
    return f"paragraph {article.paragraph_number(c.start)}: " if article else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


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


# -- saved conversations (qa/conversations.py) ------------------------------------------------------

# What a saved turn keeps of an answer: what the chat shows again and the Markdown export needs. The
# retrieved passages and a "what did X say?" answer's every statement stay out: they can be large, and
# the citations already hold each quote.
TURN_KEYS = ("question", "rewritten_question", "answer", "abstained", "citations", "sentences", "backend",
             "short_answer", "more")


def answer_from_dict(data: dict) -> Answer:
    """An Answer from its JSON form (`Answer.to_dict()`, or a saved turn): what the chat shows of it."""
    citations = [
        Citation(
            n=int(c["n"]), article_id=c["article_id"], title=c.get("title") or "", published=c.get("published"),
            source=c.get("source"), url=c.get("url"), start=int(c["start"]), end=int(c["end"]), quote=c["quote"],
            also_in=tuple(c.get("also_in") or ()), cited_by=c.get("cited_by"), dates=tuple(c.get("dates") or ()),
            dates_note=c.get("dates_note"),
        )
        for c in data.get("citations") or ()
    ]
    sentences = [
        AnswerSentence(
            s["text"], [int(n) for n in s.get("citations") or ()], bool(s.get("unsupported")), s.get("cited_by")
        )
        for s in data.get("sentences") or ()
    ]
    short = data.get("short_answer")
    return Answer(
        question=data["question"],
        answer=data["answer"],
        abstained=bool(data.get("abstained")),
        citations=citations,
        rewritten_question=data.get("rewritten_question"),
        sentences=sentences,
        backend=data.get("backend") or "extractive",
        short_answer=ShortAnswer(**short) if short else None,
        more=data.get("more"),
    )


@dataclass
class ConversationTurn:
    """One question of a saved conversation and the answer it got, as the chat showed it."""

    asked_at: str  # ISO time, UTC
    answer: Answer

    def to_dict(self) -> dict:
        shown = self.answer.to_dict()
        return {"asked_at": self.asked_at} | {k: shown.get(k) for k in TURN_KEYS}

    @classmethod
    def from_dict(cls, data: dict) -> ConversationTurn:
        return cls(data["asked_at"], answer_from_dict(data))


@dataclass
class Conversation:
    """A saved chat: its id (the file's name), title (its first question), when it began and last changed."""

    id: str
    title: str
    created: str
    updated: str
    turns: list[ConversationTurn] = field(default_factory=list)

    def summary(self) -> dict:
        """What a list of conversations shows (`qa conversations --json`)."""
        return {"id": self.id, "title": self.title, "created": self.created, "updated": self.updated,
                "questions": len(self.turns)}

    def to_dict(self) -> dict:
        return self.summary() | {"turns": [t.to_dict() for t in self.turns]}

    @classmethod
    def from_dict(cls, data: dict) -> Conversation:
        turns = [ConversationTurn.from_dict(t) for t in data["turns"]]
        return cls(data["id"], data["title"], data["created"], data["updated"], turns)

    def to_markdown(self, articles: Mapping[str, Article] | None = None) -> str:
        """The conversation and every answer's sources, as `Answer.to_markdown` writes one answer."""
        n = len(self.turns)
        asked = f"{n} question{'s' if n != 1 else ''}"
        lines = [f"# {self.title}", "", f"Saved conversation · began {_when(self.created)} · {asked}", ""]
        for turn in self.turns:
            lines += ["---", "", f"*Asked {_when(turn.asked_at)}*", "", turn.answer.to_markdown(articles)]
        return "\n".join(lines)


def _when(iso: str) -> str:
    """"2024-05-01 14:03 UTC" for an ISO time."""
    return iso[:16].replace("T", " ") + " UTC" if len(iso) >= 16 else iso


@dataclass
class ConversationList:
    """The saved conversations, newest first, and each file that could not be read, with its problem."""

    conversations: list[dict] = field(default_factory=list)  # Conversation.summary() each
    problems: list[str] = field(default_factory=list)
