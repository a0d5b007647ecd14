"""Briefings and timelines: questions about a topic rather than a fact.

"What happened in Hong Kong in 2019?", "Summarize the coverage of the coronavirus", "Timeline of
Hurricane Dorian", "Give me a briefing on X" get a dated timeline: for each report on the topic, its
key sentence, in date order, each cited to its exact span. "Compare A and B" / "How did A compare
with B?" gets the two sides' reports side by side. Nothing is written: every line is a report's own
sentence.

- The reports: the passages retrieved for the topic (a wide pool), narrowed to the period the
  question names: published in it, or telling of it ("last month" in a report of 2019-05-02 is
  April 2019: the dates ingest stored, index/store.py where_clause); a report is on the topic when
  most of the topic's content words are in its title and retrieved text (or its best sentence is
  very close in meaning).
- Its key sentence: the reader's own support (meaning and the topic's words, qa/readers.py), plus a
  preference for the lead that fades with the position in the text; a sentence another report
  repeats (background, a near-copy) is preferred less, so each report shows what it adds.
- Near-duplicate key sentences are merged into one entry, the other reports listed in `also_in`.
- The most relevant reports (at most MAX_SHOWN_REPORTS) are shown in date order; the rest are
  counted ("K more reports") and listed in the JSON.
- A line's date is the day its sentence names ("yesterday", "on Monday": index/dates.py, resolved
  against the report's publication date at ingest), else the publication date; a report published
  outside the period asked gives a sentence dated within it, and its line that date ("2019-04").
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from qa.questions import AskedDate, analyse, asked_dates, days_named
from qa.types import Citation, Filters, Passage, Sentence, ShortAnswer, parse_filter_date

if TYPE_CHECKING:
    from index.dates import ResolvedDate
    from index.store import ChromaStore
    from qa.readers import ExtractiveReader, ScoredSentence
    from qa.retrievers import HybridRetriever

MAX_SHOWN_REPORTS = 12  # as for "What did X say?": a bounded answer, then "K more reports"
MAX_SHOWN_PER_SIDE = 6  # a comparison shows at most this many reports per side
POOL = 60  # passages retrieved for a topic: a topic spans many reports, a fact one or two
TOPIC_COVERAGE = 0.6  # share of the topic's content words a report must hold (2 of 2, 2 of 3, 3 of 5)
CLOSE_MEANING = 0.62  # or: its best sentence's cosine with the topic
LEAD_PRIOR = 0.25  # the lead's bonus; the n-th sentence gets LEAD_PRIOR / (1 + n): news puts the event first
REPEATED_PENALTY = 0.1  # per other report repeating a sentence (up to 3): boilerplate is preferred less
NEAR_COPY = 0.6  # Jaccard similarity of two sentences' content words above which they are one entry
MIN_WORDS = 6  # shorter "sentences" (a dateline, a heading) are not a report's key sentence

# --- which questions are briefings ---------------------------------------------------------------
# A few general patterns, each a family of phrasings (tests/test_briefings.py tries many of each):
# a request for a summary-like thing ("summary", "timeline", "briefing", … of X), a summary verb
# ("summarize X", "brief me on X", "catch me up on X"), "what happened/has been happening in/with X",
# "what is the latest/news on X", "what do the articles say about X", "how did X unfold".
_POLITE = r"(?:(?:please|ok|okay|so|now|hi|hey)[,\s]+)*(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?)?"
_NOUNS = (
    r"summary|summaries|overview|briefing|brief|timeline|time\s*line|chronology|recap|rundown|run-down|"
    r"round-?up|digest|history|synopsis"
)
_COVERAGE_NOUNS = r"news|coverage|reporting|reports|articles|stories|story|events|developments|key\s+events|main\s+events"
_REQUEST = re.compile(
    rf"^{_POLITE}(?:(?:give|show|get|make|write|send|offer|provide)\s+(?:me|us)\s+|"
    r"(?:i|we)(?:\s+(?:want|need|would\s+like)|['’]d\s+like)\s+|"
    r"(?:make|write|produce|prepare|provide|show|get)\s+|what\s+is\s+|what's\s+)?"
    rf"(?:an?\s+|the\s+|some\s+)?(?:short\s+|brief\s+|quick\s+|full\s+|complete\s+|dated\s+)?(?:{_NOUNS})\s*"
    rf"(?:of|on|about|for|regarding|concerning|covering|:)\s+(?:the\s+)?(?:(?:{_COVERAGE_NOUNS})\s+"
    r"(?:of|on|about|regarding|concerning|in|with)\s+)?(?P<topic>.+)$",
    re.IGNORECASE,
)
_SUMMARY_VERB = re.compile(
    rf"^{_POLITE}(?:summari[sz]e|sum\s+up|recap|outline|review|brief\s+(?:me|us)\s+(?:on|about)|"
    r"catch\s+(?:me|us)\s+up\s+(?:on|with)|fill\s+(?:me|us)\s+in\s+on|bring\s+(?:me|us)\s+up\s+to\s+speed\s+on|"
    r"update\s+(?:me|us)\s+on|walk\s+(?:me|us)\s+through|tell\s+(?:me|us)\s+(?:about|what\s+happened\s+(?:in|with|at|during))|"
    r"give\s+(?:me|us)\s+the\s+(?:gist|story|lowdown)\s+(?:of|on))\s+"
    rf"(?:the\s+)?(?:(?:{_COVERAGE_NOUNS})\s+(?:of|on|about|regarding|concerning|in|with)\s+)?(?P<topic>.+)$",
    re.IGNORECASE,
)
_HAPPENED = re.compile(
    r"^(?:so\s+)?what\s*(?:'s|’s|\s+has|\s+had|\s+have)?\s*(?:all\s+)?"
    r"(?:happened|been\s+happening|is\s+happening|was\s+happening|went\s+on|is\s+going\s+on|was\s+going\s+on|"
    r"has\s+been\s+going\s+on|been\s+going\s+on|happening|going\s+on|occurred|took\s+place|unfolded)\s+"
    r"(?:in|with|at|during|around|regarding|concerning|about|over|on|inside|within|across|throughout|after|"
    r"following|since)\s+(?P<topic>.+)$",
    re.IGNORECASE,
)
_LATEST = re.compile(
    r"^what\s*(?:'s|’s|\s+is|\s+was|\s+were|\s+are)\s+(?:the\s+)?(?:latest|news|story|coverage|developments?|"
    r"key\s+events|main\s+events|events|situation)\s+(?:on|about|with|regarding|in|of|concerning|around)\s+(?P<topic>.+)$",
    re.IGNORECASE,
)
_ARTICLES_SAY = re.compile(
    r"^what\s+(?:do|did|does|have)\s+(?:the\s+)?(?:articles|reports|news|stories|papers|sources|coverage|reporters)\s+"
    r"(?:say|said|report|reported|tell\s+(?:me|us)|cover|covered)\s+(?:about|on|of|regarding)\s+(?P<topic>.+)$",
    re.IGNORECASE,
)
_UNFOLD = re.compile(
    r"^how\s+(?:did|has|have|had|do|does)\s+(?P<topic>.+?)\s+(?:unfold(?:ed)?|develop(?:ed)?|evolved?|"
    r"play(?:ed)?\s+out|progress(?:ed)?|turn(?:ed)?\s+out)(?:\s+over\s+time|\s+so\s+far)?$",
    re.IGNORECASE,
)
# "Hurricane Dorian timeline", "Brexit: a summary" (not a question that merely ends in "history").
_TIMELINE_AFTER = re.compile(
    r"^(?!(?:what|who|whom|whose|when|where|why|how|which|did|does|do|is|are|was|were|has|have|can|could)\b)"
    r"(?P<topic>.+?)\s*[:,-]?\s+(?:an?\s+|the\s+)?(?:timeline|time\s*line|chronology|recap|overview|briefing|summary|round-?up)$",
    re.IGNORECASE,
)
_TOPIC_PATTERNS = (_REQUEST, _SUMMARY_VERB, _HAPPENED, _LATEST, _ARTICLES_SAY, _UNFOLD)

_COMPARE = (
    re.compile(rf"^{_POLITE}(?:compare|contrast)\s+(?P<a>.+?)\s+(?:and|with|to|against|versus|vs\.?)\s+(?P<b>.+)$", re.I),
    re.compile(
        r"^how\s+(?:did|does|do|was|were|is|are)\s+(?P<a>.+?)\s+(?:compare|stack\s+up|measure\s+up)\s+"
        r"(?:with|to|against)\s+(?P<b>.+)$",
        re.I,
    ),
    re.compile(r"^how\s+(?:did|does|do|was|were|is|are)\s+(?P<a>.+?)\s+differ\s+from\s+(?P<b>.+)$", re.I),
    re.compile(
        r"^what\s*(?:'s|’s|\s+is|\s+are|\s+were|\s+was)\s+(?:the\s+)?(?:main\s+|key\s+)?(?:differences?|contrast)\s+"
        r"between\s+(?P<a>.+?)\s+and\s+(?P<b>.+)$",
        re.I,
    ),
    re.compile(rf"^{_POLITE}(?:give\s+(?:me|us)\s+)?(?:a\s+)?comparison\s+(?:of|between)\s+(?P<a>.+?)\s+(?:and|with|to|versus|vs\.?)\s+(?P<b>.+)$", re.I),
    re.compile(r"^(?P<a>[^,]+?)\s+(?:vs\.?|versus)\s+(?P<b>[^,]+)$", re.I),
)
# What a period looks like in a question, beside asked_dates' "in 2019" / "in March 2020".
_PERIOD_WORDS = re.compile(
    r"\s*,?\s*\b(?:so\s+far|to\s+date|recently|lately|over\s+time|(?:in|during|over|through|throughout|for|of)\s*$)\s*$",
    re.IGNORECASE,
)
_TRAILING = re.compile(r"[\s?.!]+$")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class BriefingQuestion:
    """A question about a topic: `topic` (without its period), the months or years it names
    (narrowing by publication date), and for a comparison the two `sides`."""

    topic: str
    dates: tuple[AskedDate, ...] = ()
    sides: tuple[str, ...] = ()

    @property
    def compares(self) -> bool:
        return len(self.sides) == 2


def parse_briefing_question(question: str) -> BriefingQuestion | None:
    """The briefing a question asks for, or None for a question about a fact."""
    text = _TRAILING.sub("", " ".join(question.split()))
    if not text or days_named(text):  # "What happened to X on 27 August 2019?" asks about one day: a fact
        return None
    # A month or year after "in", "during" … is the period asked ("What happened in Hong Kong in 2019?"); one
    # inside a name is part of the topic ("the 2020 Groom by-election").
    dates = tuple(d for d in asked_dates(text) if re.search(rf"\b{_PERIOD_PREPOSITIONS}\s+{re.escape(d.text)}\b", text, re.I))
    for pattern in _COMPARE:
        if found := pattern.match(text):
            a, b = (_without_period(found[k], dates) for k in ("a", "b"))
            if a and b and len(a) < 120 and len(b) < 120:
                return BriefingQuestion(f"{a} and {b}", dates, (a, b))
    for pattern in (*_TOPIC_PATTERNS, _TIMELINE_AFTER):
        if found := pattern.match(text):
            topic = _without_period(found["topic"], dates)
            if topic and not re.fullmatch(r"(?:it|this|that|them|him|her|they|there|here)", topic, re.I):
                return BriefingQuestion(topic, dates)
    return None


_PERIOD_PREPOSITIONS = r"(?:in|during|of|from|for|through|throughout|since|over|between)"


def _without_period(topic: str, dates: tuple[AskedDate, ...]) -> str:
    """The topic without the period the question names ("Hong Kong in 2019" -> "Hong Kong")."""
    for date in dates:
        topic = re.sub(rf"\s*,?\s*\b{_PERIOD_PREPOSITIONS}\s+{re.escape(date.text)}\b", " ", topic, flags=re.IGNORECASE)
    topic = _PERIOD_WORDS.sub("", " ".join(topic.split()))
    return _LEADING_ARTICLE.sub("", _TRAILING.sub("", topic).strip(" ,;:-"))


def period_filters(filters: Filters | None, dates: tuple[AskedDate, ...]) -> Filters | None:
    """`filters` narrowed to the months or years the question names ("in 2019": 2019-01-01 to 2019-12-31;
    a report passes by its publication date or by the days its sentences tell of, index.store.where_clause).
    A month without a year narrows nothing (it would be every year's)."""
    since, until = (filters.since, filters.until) if filters else (None, None)
    for date in dates:
        if date.year is None:
            continue
        bound = f"{date.year}" if date.month is None else f"{date.year}-{date.month:02d}"
        first, last = parse_filter_date(bound, "since"), parse_filter_date(bound, "until")
        since = max(since, first) if since else first
        until = min(until, last) if until else last
    if since and until and since > until:
        since, until = until, until  # the question's period is outside the filters': nothing passes it
    narrowed = Filters(filters.sources if filters else (), since, until, filters.article_ids if filters else ())
    return narrowed if narrowed else None


# --- the answer ----------------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    """One report's line of a timeline: its key sentence and the day it tells of."""

    sentence: Sentence
    passage: Passage  # the report's metadata (title, source, date, url)
    relevance: float
    date: str | None  # the day the sentence names, else the publication date (None: undated)
    date_words: str | None = None  # the words that name that day ("yesterday"), when the sentence names it
    repeated: bool = False  # the sentence is repeated (near enough) in another report: background
    also_in: tuple[dict, ...] = ()
    side: str | None = None
    n: int | None = None  # its citation number, when the answer shows it

    def to_dict(self) -> dict:
        s, p = self.sentence, self.passage
        found = {"n": self.n, "date": self.date, "date_words": self.date_words, "article_id": s.article_id,
                 "title": p.title, "published": p.published, "source": p.source, "url": p.url,
                 "start": s.start, "end": s.end, "quote": s.text, "also_in": list(self.also_in),
                 "background": self.repeated}
        return found | ({"side": self.side} if self.side else {})


@dataclass(frozen=True)
class BriefingReading:
    text: str
    citations: list[Citation]
    passages: list[Passage]
    timeline: list[dict] = field(default_factory=list)  # every report on the topic (JSON "timeline")
    more: dict = field(default_factory=lambda: {"reports": 0})  # what the text leaves out
    comparison: list[dict] | None = None  # for "Compare A and B": [{"side", "timeline"}, …]
    # The reports shown, in the order shown: (side or None, the passage holding its key sentence, relevance,
    # the key sentence), for a chat model to write from (qa/generators.py, synthesis).
    reports: list[tuple[str | None, Passage, float, Sentence]] = field(default_factory=list)


class BriefingReader:
    """Answers a BriefingQuestion from the retrieved reports' key sentences."""

    def __init__(self, store: ChromaStore, retriever: HybridRetriever, reader: ExtractiveReader, dates: DateResolver):
        self.store, self.retriever, self.reader, self.dates = store, retriever, reader, dates

    def read(self, asked: BriefingQuestion, filters: Filters | None = None) -> BriefingReading:
        period = period_filters(filters, asked.dates)
        if period and not self.store.has_articles(period):
            when = f"between {period.since} and {period.until}" if period.since else ""
            text = f"No stored report was published {when}, so there is nothing to brief on.".replace("  ", " ")
            return BriefingReading(text, [], [])
        if asked.compares:
            return self._compare(asked, period)
        entries, passages = self._entries(asked.topic, period)
        shown = _most_relevant(entries, MAX_SHOWN_REPORTS)
        self._date(shown, period)
        shown.sort(key=_by_date)
        citations = _cite(shown)
        lines = [_line(e) for e in shown]
        left = len(entries) - len(shown)
        if not citations:
            return BriefingReading(_no_answer(), [], passages)
        if left:
            lines.append(f"{left} more report{'s' if left != 1 else ''}.")
        rest = sorted((e for e in entries if e.n is None), key=_by_date)
        timeline = [e.to_dict() for e in [*shown, *rest]]
        return BriefingReading("\n".join(lines), citations, passages, timeline, {"reports": left},
                               reports=_reports(shown))

    def _compare(self, asked: BriefingQuestion, period: Filters | None) -> BriefingReading:
        a, b = asked.sides
        found = {side: self._entries(side, period) for side in (a, b)}
        # A report on both sides goes to the side it is more about.
        best = {}
        for side in (a, b):
            for e in found[side][0]:
                if e.sentence.article_id not in best or e.relevance > best[e.sentence.article_id][1]:
                    best[e.sentence.article_id] = (side, e.relevance)
        parts, citations, comparison, timeline, left = [], [], [], [], 0
        passages: list[Passage] = []
        reports: list[tuple[str | None, Passage, float, Sentence]] = []
        for side in (a, b):
            entries = [replace(e, side=side) for e in found[side][0] if best[e.sentence.article_id][0] == side]
            passages += found[side][1]
            shown = _most_relevant(entries, MAX_SHOWN_PER_SIDE)
            self._date(shown, period)
            shown.sort(key=_by_date)
            citations += _cite(shown, start=len(citations) + 1)
            reports += _reports(shown)
            rest = sorted((e for e in entries if e.n is None), key=_by_date)
            left += len(rest)
            side_timeline = [e.to_dict() for e in [*shown, *rest]]
            comparison.append({"side": side, "timeline": side_timeline})
            timeline += side_timeline
            body = "\n".join(_line(e) for e in shown) if shown else "The articles don't say."
            parts.append(f"{side}:\n{body}")
        if not citations:
            return BriefingReading(_no_answer(), [], passages)
        if left:
            parts.append(f"{left} more report{'s' if left != 1 else ''}.")
        return BriefingReading("\n\n".join(parts), citations, passages, timeline, {"reports": left}, comparison,
                               reports)

    def _entries(self, topic: str, period: Filters | None) -> tuple[list[TimelineEntry], list[Passage]]:
        """Every report on the topic with its key sentence; near-copies merged. And the passages read."""
        retrieval = self.retriever.retrieve(topic, k=POOL, filters=period)
        passages = list(retrieval.passages)
        if not passages:
            return [], []
        # The lead of each report: the key sentence is usually there.
        leads = self.store.get_chunks(sorted({_lead_id(p.chunk_id) for p in passages} - {p.chunk_id for p in passages}))
        read = passages + leads
        scored = self.reader.score(topic, retrieval.query_vector, read, analyse(topic))
        terms = self.reader.content_terms(topic)
        by_article: dict[str, list[ScoredSentence]] = {}
        for s in scored:
            by_article.setdefault(s.sentence.article_id, []).append(s)
        texts: dict[str, list[str]] = {}
        for p in read:
            texts.setdefault(p.article_id, [p.title]).append(p.text)
        words_of = {s.sentence.id: _words(s.sentence.text) for s in scored}
        entries = []
        for article_id, sentences in by_article.items():
            covered = len(terms & self.reader.content_terms(" ".join(texts.get(article_id, [])))) / max(1, len(terms))
            closest = max(s.similarity for s in sentences)
            if covered < TOPIC_COVERAGE and closest < CLOSE_MEANING:
                continue
            if period and not period.within(sentences[0].passage.published, sentences[0].passage.published):
                # A report published outside the period is here for what it tells of the period ("last month"
                # in a report of 2019-05-02, asked about April 2019): only those sentences may be its line.
                sentences = [s for s in sentences if s.sentence.dated and period.within(*s.sentence.dated)]
                if not sentences:
                    continue
            candidates = [s for s in sentences if len(words_of[s.sentence.id]) >= MIN_WORDS] or sentences
            repeats = {s.sentence.id: _repeated_in(words_of[s.sentence.id], article_id, scored, words_of) for s in candidates}

            def key_score(s: ScoredSentence) -> float:
                return s.support + LEAD_PRIOR / (1 + s.sentence.index) - REPEATED_PENALTY * min(repeats[s.sentence.id], 3)

            best = max(candidates, key=key_score)
            # A report about the topic names it in its title: that decides between a report on A that
            # mentions B and a report on B (comparisons), and ranks the reports shown.
            titled = len(terms & self.reader.content_terms(best.passage.title)) / max(1, len(terms))
            relevance = covered + titled + max(s.support for s in sentences)
            entries.append(TimelineEntry(best.sentence, best.passage, relevance, best.passage.published,
                                         repeated=repeats[best.sentence.id] > 0))
        return _merged(entries, words_of), passages

    def _date(self, entries: list[TimelineEntry], period: Filters | None = None) -> None:
        """Each entry's date: the day its sentence names, resolved against its report's date at ingest; for
        a report published outside the period asked, the days its sentence names within it ("2019-04" for
        "last month" in a report of 2019-05-02)."""
        found = self.dates.within([(e.sentence.article_id, e.sentence.start, e.sentence.end) for e in entries])
        for e, dates in zip(entries, found):
            day = next((d for d in dates if d.kind == "day"), None)
            if day is None and period and not period.within(e.passage.published, e.passage.published):
                day = next((d for d in dates if period.within(d.day.isoformat(), d.last_day.isoformat())), None)
            if day is not None:
                e.date, e.date_words = _line_date(day), day.text


def _line_date(d: ResolvedDate) -> str:
    """A date as a timeline line says it: the day, else the month ("2019-04"), the year, or the first and last day."""
    if d.kind == "day":
        return d.day.isoformat()
    if d.kind == "month":
        return d.day.isoformat()[:7]
    if d.kind == "year":
        return str(d.day.year)
    return f"{d.day.isoformat()} to {d.last_day.isoformat()}"


def _reports(entries: list[TimelineEntry]) -> list[tuple[str | None, Passage, float, Sentence]]:
    return [(e.side, e.passage, e.relevance, e.sentence) for e in entries]


def _lead_id(chunk_id: str) -> str:
    return f"{chunk_id.rsplit(':c', 1)[0]}:c0"


_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _similar(a: set[str], b: set[str]) -> bool:
    return bool(a and b) and len(a & b) / len(a | b) >= NEAR_COPY


def _repeated_in(words: set[str], article_id: str, scored, words_of) -> int:
    """How many other reports hold (near enough) the same sentence: background they all repeat."""
    if len(words) < MIN_WORDS:
        return 0
    return len({s.sentence.article_id for s in scored
                if s.sentence.article_id != article_id and _similar(words, words_of[s.sentence.id])})


def _merged(entries: list[TimelineEntry], words_of: dict[str, set[str]]) -> list[TimelineEntry]:
    """Entries whose key sentences are near-copies become one: the earliest report's, the others in `also_in`."""
    kept: list[TimelineEntry] = []
    for e in sorted(entries, key=lambda e: (e.passage.published or "9999", e.sentence.article_id)):
        same = next((k for k in kept if _similar(words_of[k.sentence.id], words_of[e.sentence.id])), None)
        if same is None:
            kept.append(e)
            continue
        p = e.passage
        same.also_in += ({"article_id": p.article_id, "title": p.title, "source": p.source, "url": p.url,
                          "published": p.published},)
        same.relevance = max(same.relevance, e.relevance)
    return kept


def _most_relevant(entries: list[TimelineEntry], shown: int) -> list[TimelineEntry]:
    return sorted(entries, key=lambda e: -e.relevance)[:shown]


def _by_date(e: TimelineEntry):
    return (e.date is None, e.date or "", e.passage.published or "", e.sentence.article_id)


def _cite(entries: list[TimelineEntry], start: int = 1) -> list[Citation]:
    citations = []
    for n, e in enumerate(entries, start=start):
        e.n = n
        s, p = e.sentence, e.passage
        citations.append(Citation(n, s.article_id, p.title, p.published, p.source, p.url, s.start, s.end, s.text,
                                  also_in=e.also_in))
    return citations


def _line(e: TimelineEntry) -> str:
    p = e.passage
    where = ", ".join(x for x in (p.source, p.published) if x)
    title = " ".join((p.title or e.sentence.article_id).split())
    return f"{e.date or 'undated'} — {title}{f' ({where})' if where else ''}: {' '.join(e.sentence.text.split())} [{e.n}]"


def _no_answer() -> str:
    from qa.readers import NO_ANSWER

    return NO_ANSWER


# --- real dates in answers -----------------------------------------------------------------------


class DateResolver:
    """The relative dates ("yesterday", "on Monday") inside cited spans, resolved against their
    report's publication date (index/dates.py) at ingest and read from the store. An article stored
    before its dates were (an index not yet re-ingested) is resolved here, once, and kept (by id and
    content), since a question cites a few articles and the next question often the same ones."""

    def __init__(self, store: ChromaStore, size: int = 256):
        self.store = store
        self._cache: OrderedDict[tuple[str, str], tuple] = OrderedDict()
        self._size = size

    def within(self, spans: list[tuple[str, int, int]]) -> list[list[ResolvedDate]]:
        """For each (article id, start, end): the dates resolved inside that span, in text order."""
        resolved = self._resolutions({article_id for article_id, _, _ in spans})
        return [[d for d in resolved.get(a, ()) if start <= d.start and d.end <= end] for a, start, end in spans]

    def _resolutions(self, article_ids: set[str]) -> dict[str, tuple]:
        from index.dates import resolve_dates

        if not article_ids:
            return {}
        found = {i: tuple(r) for i, r in self.store.stored_dates(sorted(article_ids)).items()}
        missing = sorted(set(article_ids) - set(found))
        for article in self.store.get_articles(missing) if missing else ():
            key = (article.id, article.content_hash or str(hash(article.text)))
            if key not in self._cache:
                self._cache[key] = tuple(resolve_dates(article.text, article.published))
                if len(self._cache) > self._size:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(key)
            found[article.id] = self._cache[key]
        return found

    def cite(self, citations: list[Citation]) -> list[Citation]:
        """The citations with `dates`: each relative date inside the quote, with its span, its words and
        the day it resolves to; a report with no publication date resolves none and says so."""
        from index.dates import NO_PUBLICATION_DATE, names_relative_date

        todo = [c for c in citations if names_relative_date(c.quote)]  # most quotes name none: no lookup
        if not todo:
            return citations
        found = dict(zip([c.n for c in todo], self.within([(c.article_id, c.start, c.end) for c in todo])))
        out = []
        for c in citations:
            if c.n not in found:
                out.append(c)
            elif not c.published:
                out.append(replace(c, dates_note=NO_PUBLICATION_DATE))
            else:
                out.append(replace(c, dates=tuple(_date_dict(d) for d in found[c.n])))
        return out


def _date_dict(d: ResolvedDate) -> dict:
    found = {"start": d.start, "end": d.end, "text": d.text, "date": d.day.isoformat(), "kind": d.kind,
             "rule": d.rule, "described": d.describe()}
    return found | ({"last_day": d.last_day.isoformat()} if d.last_day != d.day else {})


_WHEN = re.compile(r"^\W*(?:when|on\s+what\s+(?:day|date)|what\s+(?:day|date))\b", re.IGNORECASE)


def dated_short_answer(question: str, citations: list[Citation], short: ShortAnswer | None) -> ShortAnswer | None:
    """For "When …?": the short answer as a real date when the cited words are relative ("yesterday"
    in a report of 2019-04-16 is 2019-04-15). The span is the words themselves (so `text` stays the
    article's text at `start`..`end`); `date` and `described` say the day. The short answer as it was
    when no cited sentence names a relative day."""
    if not _WHEN.match(question):
        return short
    days = [(c, d) for c in citations for d in c.dates if d["kind"] == "day"]
    if not days:
        return short
    # The relative date inside the reader's short answer, else the first cited one.
    inside = [(c, d) for c, d in days if short and c.article_id == short.article_id
              and short.start <= d["end"] and d["start"] <= short.end]
    c, d = (inside or days)[0]
    return ShortAnswer(d["text"], c.article_id, d["start"], d["end"], date=d["date"], described=d["described"])
