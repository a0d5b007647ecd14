"""'What did X say?': every statement the articles attribute to X, quoted and cited, oldest first.

Also "What did X say about Y?", "What did X warn could be …?", "According to X, …": then only
X's statements that support the rest of the question are kept, and none means abstaining: the
articles quote X, but not on that.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from index.attribution import SPEECH_VERB_PATTERN, quotation_open_after, same_speaker
from index.mentions import name_words, role_head
from index.store import ChromaStore
from index.terms import STOP_WORDS
from qa.budget import check as check_budget
from qa.questions import AskedDate, QuestionAnalysis, analyse, asked_dates, question_names
from qa.readers import NO_ANSWER, AskedSpeaker, ExtractiveReader, fitting_entities, lead_id, previous_id
from qa.retrievers import without_copies
from qa.types import Citation, Filters, Passage, Sentence, day_number

if TYPE_CHECKING:
    from index.embedders import SentenceTransformerEmbedder

# Matched against the question with its white space collapsed (parse_speaker_question), and only its
# head: the rest of the question is cut in code (_question_rest). `(?P<rest>.*?)\s*\??\s*$` backtracked
# over a run of spaces (cubic: 1,979 spaces took 14.5 s, holding the interpreter's lock meanwhile).
_ASKED_WHAT = re.compile(
    rf"^\s*(?:what|how)\s+(?:did|does|do|has|have|had|was|is)\s+(?P<who>.+?)\s+(?P<verb>{SPEECH_VERB_PATTERN})\b",
    re.IGNORECASE,
)
_ACCORDING_TO = re.compile(r"^\s*according\s+to\s+(?P<who>[^,]+),\s*", re.IGNORECASE)
_FULL_MATCH, _PARTIAL_MATCH = 2, 1
MAX_SHOWN_STATEMENTS = 12  # statements an answer shows; the rest are counted ("K more statements in M reports")
_SENTENCES_A_READ = 500  # sentences (with their vectors) read from the store at once for "… about Y"
# "What did X say about Y?" of a speaker quoted more often than this scores only the statements nearest
# to Y in meaning (_TOPIC_NEAREST of them): scoring all (18,283 sentences at 50,000 articles) took 9 s
# and a reader that weighs who speaks read every one beside the retrieved passages (30 s more).
_TOPIC_SCAN = 2_000
_TOPIC_NEAREST = 200
_IDS_A_QUERY = 20_000  # ids one Chroma query is restricted to (SQLite binds each as a variable: at most 32,766)
_KEPT_ROWS = 20_000  # a speaker's sentences kept between questions (StatementReader._said), all names together
# The speech verb governed by another verb ("allow Putin to tell", "want him to say"): no speaker asked.
_LEADS_TO_THE_VERB = re.compile(r"\bto$", re.IGNORECASE)
_SAY_VERBS = {"say", "says", "said", "tell", "tells", "told"}
_TELL_VERBS = {"tell", "tells", "told"}
# "What did X tell the court about Y?": the object of "tell" is who was told; what about follows.
_ABOUT = re.compile(r"\b(?:about|regarding|concerning)\s+(?P<topic>.+)$", re.IGNORECASE)
# What qualifies a person in a question: "X of Y", "X from Y", "X, the Y".
# A match starts where a run of white space starts (`(?<!\s)`): tried from inside the run, each start
# rescanned the rest of it (cubic in its length); a match found from inside it would start at its start.
_QUALIFIER = re.compile(r"(?<!\s)\s+(?:of|from|for|at|with)\s+|(?<!\s)\s*,\s*", re.IGNORECASE)
_ARTICLES = {"the", "a", "an"}
_TOPIC_LEAD = re.compile(r"^\s*(?:about|on|regarding|concerning|of)\s+", re.IGNORECASE)
# "What did the article say?" asks about a text, not a person.
_NOT_SPEAKERS = {"article", "articles", "report", "story", "news", "it", "they", "this", "that", "you", "i", "we"}


@dataclass(frozen=True)
class SpeakerQuestion:
    who: str
    topic: str  # empty: everything X said
    dates: tuple[AskedDate, ...] = ()  # "… in February 2020"
    # "What did X say/tell …?", "According to X, …?" ask for X's words; "How did X respond/describe …?"
    # may also be answered by what the articles report of X.
    wants_words: bool = True
    days: tuple[AskedDay, ...] = ()  # "… on 20 March", "… on 2023-03-20"
    told: str = ""  # "… to Reuters", "What did X tell Reuters?": whom X said it to
    outlet: str = ""  # "… in the Guardian": where it was published (the report's source, or named in it)

    @property
    def keys(self) -> list[str]:
        """The words of the name: "Wang Wenbin" is also quoted as plain "Wang"; "the Houthis" speak
        through a "Houthi spokesperson"."""
        words = name_words(self.who)
        return sorted(words | {role_head(w) for w in words})

    @functools.cached_property
    def core(self) -> str:
        """The person without what qualifies them: "Lydia Buchtmann of Food Standards" -> "Lydia Buchtmann".
        A role in lower case keeps its qualifier: "the head of the police's internal investigators" is
        not any head."""
        core = self.role
        return core if any(w[:1].isupper() for w in core.split() if w.lower() not in _ARTICLES) else self.who

    @functools.cached_property
    def role(self) -> str:
        """What comes before the qualifier: "the head" of "the head of the police's internal investigators"."""
        return _QUALIFIER.split(self.who, maxsplit=1)[0].strip() or self.who

    @functools.cached_property
    def qualifier(self) -> set[str]:
        """What qualifies a role asked in lower case, as words: {"police", "internal", "investigator"}
        of "the head of the police's internal investigators"; empty for a name ("Lydia Buchtmann of
        Food Standards" is found by her name alone)."""
        if self.core != self.who or self.role == self.who:
            return set()
        return _comparable(self.who[len(self.role) :])

    @functools.cached_property
    def role_words(self) -> set[str]:
        return {role_head(w) for w in name_words(self.role)}

    def said_by(
        self, sentence: Sentence, context: Callable[[], set[str]] | None = None, role_nouns: Collection[str] = ()
    ) -> int:
        """X is one of the sentence's speakers: by name ("Peskov" is "Dmitry Peskov"), by the words of a
        speaker's name and roles ("the finance minister" is "Finance Minister Ana Ruiz"), or by a
        description most of whose words, its last noun among them, are the speaker's ("the Saudi crown
        prince" is "Crown Prince Mohammad bin Salman of Saudi Arabia")."""
        # Singular and plural are one word here: "the Houthis" speak through a "Houthi spokesperson".
        keys = {role_head(k) for k in sentence.speaker_keys}
        for phrase in dict.fromkeys((self.who, self.core)):
            words = _keyed_words(phrase, keys)
            if any(same_speaker(phrase, s, role_nouns) for s in sentence.speakers) or (words and words <= keys):
                return _FULL_MATCH
        role = self.role_words
        if self.qualifier and role and role <= keys:
            # "the mayor of London": the speaker holds the role, and the report around the statement
            # (`context()`: its words) names what qualifies it; the head of another body only partly
            # matches, and a partial match on a qualified role answers nothing (read).
            return _FULL_MATCH if context is not None and self.qualifier <= context() else _PARTIAL_MATCH
        words = _keyed_words(self.core, keys)
        head = role_head(self.role.split()[-1]) if self.role.split() else ""
        return _PARTIAL_MATCH if words and head in keys and 3 * len(words & keys) >= 2 * len(words) else 0


# Two or more capitalised words, "of", "and", "for" or "the" allowed between: "Coast Guard",
# "Federal Bureau of Investigation".
# Tried once per word, from its first capital (the possessive prefix skips to it): a run tried from
# every capital of "AAAA…" or "O'O'O'…" rescanned the word each time (quadratic). From a later capital
# of the same word it would fail as the first did.
_CAPITALISED_RUN = re.compile(
    r"(?<![\w'’-])(?:[^\WA-Z]|['’-])*+(?P<run>[A-Z][\w'’-]*+(?:\s+(?:(?:of|and|for|the)\s+)?[A-Z][\w'’-]*+)+)"
)


def _keyed_words(phrase: str, keys: set[str]) -> set[str]:
    """The words of an asked speaker as a speaker's keys are compared, a capitalised run written out
    where the speaker's keys hold its acronym: "the Coast Guard captain" is "USCG Captain Monica
    Rochester". An acronym may lead with up to two letters of its own ("US" + "CG")."""
    words, runs = _phrase_parts(phrase)
    for run_words, initials in runs:
        acronym = next((k for k in keys if k.isalpha() and k.endswith(initials) and len(k) - len(initials) <= 2), None)
        if acronym:
            words = (words - run_words) | {acronym}
    return set(words)


@functools.lru_cache(maxsize=256)
def _phrase_parts(phrase: str) -> tuple[frozenset[str], tuple[tuple[frozenset[str], str], ...]]:
    """An asked speaker's words, and its capitalised runs with their initials: read once per phrase,
    not once per statement compared with it."""
    runs = tuple(
        (frozenset(role_head(w) for w in name_words(run)), "".join(w[0] for w in run.split() if w[0].isupper()).lower())
        for run in (found["run"] for found in _CAPITALISED_RUN.finditer(phrase))
    )
    return frozenset(role_head(w) for w in name_words(phrase)), runs


def _comparable(text: str) -> set[str]:
    """Content words as speakers' keys are compared: lower case, singular, no stop words."""
    return {role_head(w) for w in name_words(text) if w not in STOP_WORDS}


def _question_rest(tail: str, at_least_one: bool = False) -> str | None:
    """What follows the speech verb (or "According to X,"), less the question's end: white space, one
    "?", white space; what the lazy `rest` group of the old patterns kept, read without backtracking.
    `at_least_one`: that group was `.+?` rather than `.*?` (None when nothing follows)."""
    rest = tail.rstrip()
    if rest.endswith("?"):
        rest = rest[:-1].rstrip()
    if at_least_one and not rest:
        return tail[:1] or None  # "According to X, ?": the pattern's one character was the "?"
    return rest


def parse_speaker_question(question: str) -> SpeakerQuestion | None:
    question = " ".join(question.split())  # one space between words: the patterns read it in linear time
    match = _ASKED_WHAT.match(question) or _ACCORDING_TO.match(question)
    if not match:
        return None
    rest = _question_rest(question[match.end() :], at_least_one=match.re is _ACCORDING_TO)
    if rest is None:
        return None
    who = match["who"].strip()
    words = name_words(who)
    if not words or words <= _NOT_SPEAKERS:
        return None
    if _LEADS_TO_THE_VERB.search(who):  # "What does the visit allow Putin to tell …?" asks what it allows
        return None
    # "What is the theme of the campaign that Aparna Garg described?": the name after "that" speaks, the
    # words before it are what is asked about.
    if (about_what := _DESCRIBED_BY.match(who)) and name_words(about_what["who"]):
        who, rest = about_what["who"].strip(), f" about {about_what['what']} {rest}"
    verb = (match.groupdict().get("verb") or "say").lower()
    # "… to Reuters", "… in the Guardian", "What did X tell Reuters?": to whom, or where, X said it.
    told = outlet = ""
    said_to = (_TOLD_OBJECT.match(rest) if verb in _TELL_VERBS else None) or (
        _SAID_TO.search(rest) if verb in _SAY_VERBS else None
    )
    if found := said_to:
        told, rest = found["whom"], rest[: found.start()] + " " + rest[found.end() :]
    if (found := _SAID_IN.search(rest)) and _is_outlet(found["whom"]):
        outlet, rest = found["whom"], rest[: found.start()] + " " + rest[found.end() :]
    days = asked_days(rest)
    for day in days:
        rest = rest.replace(day.text, " ")
    dates = tuple(d for d in asked_dates(rest) if not any(d.text in day.text for day in days))
    topic = rest
    for date in dates:  # a date says when, and is matched as a date, not as words of the topic
        topic = topic.replace(date.text, " ")
    topic = re.sub(r"\s+(?:in|on|of|during)\s*$", "", " ".join(topic.split()))
    topic = re.sub(r"^(?:in|on|during)\s*$", "", topic)
    if verb in _TELL_VERBS:  # "What did X tell the court?": everything X told it, unless "… about Y"
        about = _ABOUT.search(topic)
        topic = about["topic"] if about else ""
    while (stripped := _TOPIC_LEAD.sub("", topic)) != topic:  # "on 20 March about oil" leaves "on about oil"
        topic = stripped
    return SpeakerQuestion(
        who, topic.strip(), dates, verb in _SAY_VERBS, days, told.strip(), outlet.strip()
    )


# A media name: what "… in the Guardian" or "… to Reuters" names. A known source of the collection is
# one too (StatementReader checks it).
_OUTLET_WORDS = {
    "times", "post", "guardian", "journal", "news", "herald", "telegraph", "tribune", "wikinews", "tv", "radio",
    "magazine", "weekly", "courier", "gazette", "independent", "mail", "express", "observer", "economist",
    "mirror", "standard", "chronicle", "daily", "press", "agency", "reuters", "bbc", "cnn", "ap", "afp", "npr",
    "abc", "cbs", "nbc", "fox", "tass", "pbs", "itv", "cbc", "dw", "nhk", "bloomberg", "politico", "axios",
    "interfax", "xinhua", "ria", "channel", "network", "newspaper", "wire", "bfm", "sky", "al", "jazeera",
}
_NAME_RUN = r"(?:the\s+)?(?P<whom>[A-Z][\w.&'’-]*(?:\s+(?:of\s+)?[A-Z][\w.&'’-]*)*)"
_SAID_TO = re.compile(rf"^\s*(?:to|told)\s+{_NAME_RUN}")  # right after the verb: not "send … to the Senate"
_TOLD_OBJECT = re.compile(rf"^\s*{_NAME_RUN}")
_SAID_IN = re.compile(rf"\bin\s+{_NAME_RUN}")


def _is_outlet(name: str) -> bool:
    return bool(name_words(name) & _OUTLET_WORDS)


_DESCRIBED_BY = re.compile(
    r"^(?P<what>(?:the|a|an)\s+.+?)\s+(?:that|which)\s+(?P<who>(?:[A-Z][\w'’.-]*\s+){0,3}[A-Z][\w'’.-]*)$"
)


_MONTH_NUMBERS = {m: n for n, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"], start=1)}
_MONTH_NUMBERS |= {m[:3]: n for m, n in list(_MONTH_NUMBERS.items())} | {"sept": 9}
_MONTH_WORD = r"(?P<month>" + "|".join(sorted(_MONTH_NUMBERS, key=len, reverse=True)) + r")\.?"
_ASKED_DAY = re.compile(
    r"\b(?P<iso>(?P<iy>(?:19|20)\d\d)-(?P<im>\d\d)-(?P<id>\d\d))\b"
    rf"|\b(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_WORD.replace('month', 'm1')}(?:,?\s+(?P<y1>(?:19|20)\d\d))?\b"
    rf"|\b{_MONTH_WORD.replace('month', 'm2')}\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y2>(?:19|20)\d\d))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AskedDay:
    """A day the question names ("on 20 March", "on March 20, 2023", "on 2023-03-20"): X said it then
    when the report was published that day or the next, or the statement names the day."""

    year: int | None
    month: int
    day: int
    text: str

    def fits(self, published: str | None, sentence: str) -> bool:
        for found in _ASKED_DAY.finditer(sentence):
            if _day_of(found)[1:] == (self.month, self.day):
                return True
        if not published or not re.fullmatch(r"\d{4}-\d\d-\d\d", published):
            return False
        import datetime as dt

        year = self.year or int(published[:4])
        try:
            asked = dt.date(year, self.month, self.day)
        except ValueError:
            return False
        return 0 <= (dt.date.fromisoformat(published) - asked).days <= 1


def _day_of(found: re.Match) -> tuple[int | None, int, int]:
    if found["iso"]:
        return int(found["iy"]), int(found["im"]), int(found["id"])
    if found["d1"]:
        return (int(found["y1"]) if found["y1"] else None), _MONTH_NUMBERS[found["m1"].lower()], int(found["d1"])
    return (int(found["y2"]) if found["y2"] else None), _MONTH_NUMBERS[found["m2"].lower()], int(found["d2"])


def asked_days(text: str) -> tuple[AskedDay, ...]:
    days = []
    for found in _ASKED_DAY.finditer(text):
        year, month, day = _day_of(found)
        if 1 <= month <= 12 and 1 <= day <= 31:
            days.append(AskedDay(year, month, day, found[0]))
    return tuple(days)


# "this decision", "these measures": how a statement points to the event its report is about, without
# the report's words for it. English's nouns for a decided or announced act, not a list of topics.
_THE_REPORTED_EVENT = re.compile(
    r"\b(?:this|these|that|those)\s+(?:decisions?|moves?|measures?|bans?|decrees?|rulings?|verdicts?|steps?|"
    r"announcements?|laws?|bills?|orders?|plans?|polic(?:y|ies)|proposals?|agreements?|deals?)\b",
    re.IGNORECASE,
)
# A speaker's statement on the topic needs less support than an arbitrary sentence: the speaker is
# already matched. Its support must still reach the reader's threshold less this margin, and be
# close to the best of that speaker's statements.
_SPEAKER_FLOOR_MARGIN = 0.15
_CLOSE_TO_BEST = 0.75
# A topic that opens like this is a clause ("how it was financed", "was at the top of …", "he would …").
_CLAUSE = re.compile(
    r"^\s*(?:how|why|what|whether|when|where|who|whom|which|if|that|was|were|is|are|be|been|would|could|will|"
    r"should|might|must|can|had|has|have|did|does|do|he|she|they|it|we|i|you|there)\b",
    re.IGNORECASE,
)
_WHEN_SAID = re.compile(r"^\s*(?:after|before|during|following|since|at|in|on|when)\b", re.IGNORECASE)
_PREPOSITION = re.compile(  # `(?<!\s)`: tried where a run of white space starts (see _QUALIFIER)
    r"(?<!\s)\s+(?:of|for|in|on|at|with|to|from|about|between|after|before|during|against|over|by)\s+", re.IGNORECASE
)


def topic_head(topic: str) -> str | None:
    """The noun a topic that is a noun phrase is about: "Anne Sacoolas's husband" -> "husband",
    "justice for Khashoggi" -> "justice"; None for a clause ("how the purchase was financed") and for
    a time ("after the attack in Streatham"), which says when, not what about."""
    if _CLAUSE.match(topic) or _WHEN_SAID.match(topic):
        return None
    words = _PREPOSITION.split(topic, maxsplit=1)[0].split()
    if not words or len(words) > 5:
        return None
    return words[-1].removesuffix("'s").removesuffix("’s").strip(".,;:?!\"'“”")


def _said_in(term: str, words: set[str]) -> bool:
    """A stem is said when a word has it, or when one is the other's start: the stemmer makes
    "disagr" of "disagreements" but "disagre" of "disagreed"."""
    if term in words:
        return True
    return len(term) >= _STEM_PREFIX and any(
        len(w) >= _STEM_PREFIX and (w.startswith(term) or term.startswith(w)) for w in words
    )


_STEM_PREFIX = 6  # shorter stems share starts by chance ("state", "statement")


def _statement_runs(found: list[tuple[Sentence, Passage]]) -> list[list[tuple[Sentence, Passage]]]:
    """X's statements grouped into quotations: a sentence that leaves a quotation open is continued
    by the next sentence of the article (at most `_RUN_LIMIT` sentences a run)."""
    runs: list[list[tuple[Sentence, Passage]]] = []
    open_quote = False
    for sentence, passage in found:
        last = runs[-1][-1][0] if runs else None
        # A quotation opening right after the speaker's quoted sentence goes on with it ('"…," wrote
        # Wong. "They have conceded nothing …"').
        continues = (
            last is not None
            and (open_quote or (sentence.text.startswith(_OPENING_QUOTES) and bool(_QUOTE_MARKS & set(last.text))))
            and last.article_id == sentence.article_id
            and last.index + 1 == sentence.index
            and len(runs[-1]) < _RUN_LIMIT
        )
        if continues:
            runs[-1].append((sentence, passage))
        else:
            runs.append([(sentence, passage)])
        open_quote = quotation_open_after(sentence.text, open_quote if continues else False)
    return runs


_RUN_LIMIT = 6
_OPENING_QUOTES = ('"', "“")
_QUOTE_MARKS = set('"“”')


@dataclass(frozen=True)
class TopicRules:
    """What a statement must say to be on "… about Y", and how much of Y it covers."""

    terms: set[str]  # the topic's content-word stems
    # A topic that is another person ("Anne Sacoolas's husband") needs its head word said; "relations
    # with Austria" may be spoken of as "no political turmoil between Austria and …".
    person_head: set[str]
    # What a noun-phrase topic says beyond names must be spoken of, in the statement, its lead-in or the
    # report's title: "his disagreements with Bolton" is not answered by a statement that only names
    # Bolton. A clause ("what Putin and Xi will discuss") may be answered in other words; one that asks
    # for a person, a date, a place or a number ("who would replace John Bolton") needs its own words
    # and an entity of that type that the topic does not already name.
    said_of: set[str]
    typed_clause: QuestionAnalysis | None
    topic_words: set[str]
    # "… after the knife attack in Streatham" says when, not what about: the statement's report must be
    # about that event; the statement itself need not repeat it.
    when_said: bool

    @classmethod
    def of(cls, topic: str, content_terms: Callable[[str], set[str]], person_nouns: set[str]) -> TopicRules:
        terms = content_terms(topic)
        head = content_terms(topic_head(topic) or "")
        noun_phrase = topic_head(topic) is not None
        when_said = bool(_WHEN_SAID.match(topic))
        clause = analyse(topic) if not noun_phrase and not when_said and _CLAUSE.match(topic) else None
        typed_clause = clause if clause is not None and clause.typed else None
        specific = noun_phrase or typed_clause is not None
        return cls(
            terms=terms,
            person_head=head if {role_head(h) for h in head} & person_nouns else set(),
            said_of=terms - content_terms(" ".join(question_names(topic))) if specific else set(),
            typed_clause=typed_clause,
            topic_words=set(re.findall(r"\w+", topic.lower())),
            when_said=when_said,
        )

    def admits(self, sentence: Sentence, words: set[str], title_terms: set[str]) -> bool:
        if self.person_head and not self.person_head & words:
            return False  # "about Anne Sacoolas's husband" is not answered by a statement on Anne Sacoolas
        if self.said_of and not any(_said_in(t, words | title_terms) for t in self.said_of):
            return False
        return self.typed_clause is None or bool(fitting_entities(sentence, self.typed_clause, self.topic_words))

    def coverage(self, words: set[str], title_terms: set[str], points_to_the_report: bool = False) -> float:
        """The share of the topic's words said; a word only in the report's title counts half (a statement
        in a report on the Mecca crane collapse speaks of it without naming it), and in full for a
        statement that points to what the report is about ("we find justifications for this decision") or
        in a report whose title names the whole topic, an event and not only names ("… about the Reading
        stabbing" in "Three killed in Reading stabbing"; not "… about China" in a report on Xi's visit)."""
        covered = sum(_said_in(t, words) for t in self.terms)
        whole_topic = bool(self.said_of) and all(_said_in(t, title_terms) for t in self.terms)
        title_weight = 1.0 if points_to_the_report or whole_topic else 0.5
        covered += title_weight * sum(_said_in(t, title_terms) and not _said_in(t, words) for t in self.terms)
        return covered / len(self.terms)


class StatementReader:
    """Answers a SpeakerQuestion from the sentences attributed to the speaker at ingest."""

    def __init__(
        self, store: ChromaStore, reader: ExtractiveReader, embedder: SentenceTransformerEmbedder, people=None
    ):
        """`people`: the collection's PeopleDirectory (qa/people.py), shared with `qa people`; one of
        its own by default."""
        self.store, self.reader, self.embedder = store, reader, embedder
        self._person_nouns: set[str] | None = None
        if people is None:
            from qa.people import PeopleDirectory

            people = PeopleDirectory(store)
        self.people = people
        # The speakers' sentences read from the store, by the words asked (`_spoken`): kept until the
        # collection changes, at most _KEPT_ROWS rows in all (the least recently asked go first).
        self._spoken: dict[tuple[str, ...], list[tuple[Sentence, Passage]]] = {}
        self._spoken_lock = threading.Lock()
        self._forgotten = 0  # times the collection changed: rows read before a change are not kept after it

    def forget_collection(self) -> None:
        """The collection changed: what it calls people, and who said what, are read again when next needed."""
        self._person_nouns = None
        with self._spoken_lock:
            self._spoken.clear()
            self._forgotten += 1
        self.people.forget()

    def _said(self, keys: list[str]) -> list[tuple[Sentence, Passage]]:
        """The live sentences one of whose speakers' names holds one of `keys` (store.sentences_by_speaker),
        kept for the next question on the same name (the rows are frozen: shared, never changed)."""
        key = tuple(keys)
        with self._spoken_lock:
            if (rows := self._spoken.pop(key, None)) is not None:
                self._spoken[key] = rows  # the most recently asked last
                return rows
            forgotten = self._forgotten
        rows = self.people.statements.rows(keys)  # kept beside the store (qa/people.py), else read from it
        rows = self.store.sentences_by_speaker(keys) if rows is None else rows
        with self._spoken_lock:
            if forgotten != self._forgotten:  # a write was noticed while these were read: not kept
                return rows
            self._spoken[key] = rows
            while len(self._spoken) > 1 and sum(map(len, self._spoken.values())) > _KEPT_ROWS:
                self._spoken.pop(next(iter(self._spoken)))
        return rows

    @property
    def person_nouns(self) -> set[str]:
        """The nouns the collection uses for people ("husband", "minister", "spokesperson"): the head
        words of the roles it gives named people, learnt at ingest."""
        if self._person_nouns is None:
            self._person_nouns = {role_head(role.split()[-1]) for role in self.store.known_roles() if role.split()}
        return self._person_nouns

    def read(
        self,
        asked: SpeakerQuestion,
        filters: Filters | None = None,
        oldest_first: bool = False,
        shown: int = MAX_SHOWN_STATEMENTS,
    ) -> Reading | None:
        """X's statements (those on the topic, if one is asked), grouped by report: newest report first
        (`oldest_first`: oldest first), or the most relevant first for "… about Y"; the statements of a
        report in their order in its text. The answer shows the first `shown` of them and says how
        many more there are; `Reading.groups` holds them all. None when the articles attribute nothing
        to X, and a reading without citations when nothing on the topic (or at the date, to whom or
        where asked)."""
        # The rows as read (tuples shared with the kept rows, never copied: a frequent speaker has tens of
        # thousands, and each tuple made is another object for the garbage collector to walk).
        said = self._said(asked.keys)
        if filters:  # published within the dates, or telling of them ("scheduled for Tuesday"): every filter's rule
            said = [
                row for row in said
                if filters.allows(row[1].source, row[1].published, row[1].article_id, row[0].dated)
            ]
        # What a report says around its statements, as words: its title, its lead (where news names
        # people with their full titles) and the passages that hold the statements. Read once, at the
        # first call (only a role asked with a qualifier needs it), for the reports of the role's holders.
        @functools.cache
        def report_words() -> dict[str, set[str]]:
            role = asked.role_words
            held = [p for s, p in said if role <= {role_head(k) for k in s.speaker_keys}]
            texts: dict[str, dict[str, str]] = {}  # article id -> {"title" or a chunk id: its text}
            for p in held:
                texts.setdefault(p.article_id, {"title": p.title})[p.chunk_id] = p.text
            for lead in self.store.get_chunks(sorted({lead_id(p.chunk_id) for p in held} - {p.chunk_id for p in held})):
                texts[lead.article_id][lead.chunk_id] = lead.text
            return {article_id: _comparable(" ".join(parts.values())) for article_id, parts in texts.items()}

        def context(article_id: str) -> set[str]:
            return report_words().get(article_id, set())

        nouns = self.person_nouns
        check_budget("reading the statements")
        # Many statements share their speakers (947 of "WN"'s have only "WN"): each set is matched once
        # (and once per report when a qualified role is asked: then the report's words count).
        matched: dict[tuple, int] = {}

        def said_by(s: Sentence, p: Passage) -> int:
            key = (s.speakers, s.speaker_keys, p.article_id if asked.qualifier else None)
            if key not in matched:
                matched[key] = asked.said_by(s, functools.partial(context, p.article_id), nouns)
            return matched[key]

        matches = [said_by(s, p) for s, p in said]  # how well each row's speakers are X, row by row
        check_budget("matching the speaker")
        # One person, one identity across reports: "Joshua Wong" is not "a university student named Wong".
        people = self.people.current() if matches else None
        candidates = people.candidates(asked.core, nouns) if people is not None else []
        keys = {c.key for c in candidates}

        @functools.cache
        def identities_of(article_id: str, speakers: tuple[str, ...]) -> frozenset[str]:
            return frozenset(k for k in (people.identity_of(article_id, name) for name in speakers) if k in keys)

        def identities(sentence: Sentence, article_id: str) -> frozenset[str]:
            return identities_of(article_id, sentence.speakers)

        def not_someone_else(sentence: Sentence, article_id: str) -> bool:
            """A speaker of the sentence is one of the people asked (`identities` is not empty), or the
            directory lists none of its speakers; each name looked up once, nothing kept."""
            listed = False
            for name in sentence.speakers:
                key = people.identity_of(article_id, name)
                if key in keys:
                    return True
                listed = listed or key is not None
            return not listed

        if keys:
            # A speaker who is someone else by name is left out; one the directory does not list ("Trump's
            # statement", "the police") is judged as before.
            narrowed = [m if m and not_someone_else(s, p.article_id) else 0 for m, (s, p) in zip(matches, said)]
            if any(narrowed):
                matches = narrowed
        strongest = max(matches, default=0)
        if not strongest or (strongest == _PARTIAL_MATCH and asked.qualifier):
            # Holders of the role, none in a report that names what qualifies it ("the president of
            # the Tunisian human rights league" among heads of state): nothing attributed to X.
            return None
        # When some speakers are X by name, those who only share a description with X are someone else.
        found = [row for m, row in zip(matches, said) if m == strongest]
        if not filters:
            kept = without_copies(self.store, [p for _, p in found])
            if len(kept) < len(found):
                kept_ids = {id(p) for p in kept}
                found = [row for row in found if id(row[1]) in kept_ids]
        found.sort(key=lambda sp: (sp[1].published or "9999", sp[1].article_id, sp[0].start))
        passages = [passage for _, passage in found]
        # "… in February 2020", "… on 20 March": statements from reports of then (or that name it).
        for date in asked.dates:
            found = [(s, p) for s, p in found if date.fits(p.published, s.text)]
        for day in asked.days:
            found = [(s, p) for s, p in found if day.fits(p.published, s.text)]
        # "… to Reuters", "… in the Guardian": statements whose quotation names them, or (in) a report of that source.
        if asked.told:
            found = _said_to(found, asked.told, by_source=False)
        if asked.outlet:
            found = _said_to(found, asked.outlet, by_source=True)
        vector = None
        if asked.topic and len(found) > _TOPIC_SCAN:
            vector = np.asarray(self.embedder.encode([asked.topic])[0], dtype=np.float32)
            # X's statements nearest to Y (by their ids; past what one query may name, among the sentences
            # of every speaker sharing a word of X's name, more of them, as some are someone else's), kept
            # in their order by date; the reader that weighs who speaks reads these only.
            ids = [s.id for s, _ in found]
            named = len(ids) <= _IDS_A_QUERY
            rank = {i: n for n, i in enumerate(self.store.search_said_by(
                vector, asked.keys, _TOPIC_NEAREST if named else 3 * _TOPIC_NEAREST, ids if named else None))}
            nearest = set(sorted((i for i in ids if i in rank), key=rank.__getitem__)[:_TOPIC_NEAREST])
            found = [(s, p) for s, p in found if s.id in nearest]
            passages = [p for _, p in found]
        # A sentence repeated word for word in several reports is cited once, from its first report.
        found, repeats = _cited_once(found)
        scores: dict[str, float] = {}
        if asked.topic:
            found, scores = self._on_topic(asked.topic, found, vector)
        if not found and not asked.wants_words:
            return None  # what the articles report of X may still answer "How did X respond …?"
        # X is quoted, but not on that: abstain rather than offer sentences that merely name X.
        own = {s.id for s, _ in said}
        speakers = {}
        # Who the name may be: the people it names in full ("Trump" alone in a report that names no other
        # Trump is one of them, not another candidate).
        primary = {c.key for c in candidates if not c.maybe or len(name_words(asked.core)) == 1}
        if people is not None and len(primary) > 1:
            for s, p in found:
                for k in identities(s, p.article_id) & primary:
                    speakers.setdefault(k, 0)
                    speakers[k] += 1
        described = [
            {"name": people.persons[k].name, "roles": people.persons[k].top_roles(), "statements": n,
             "described": people.persons[k].described}
            for k, n in sorted(speakers.items(), key=lambda kn: -kn[1])
        ]
        ambiguous = len(described) > 1
        speaker_of = (
            {s.id: ", ".join(people.persons[k].name for k in sorted(identities(s, p.article_id))) for s, p in found}
            if ambiguous else {}
        )
        groups = _grouped(found, scores, oldest_first, own, repeats, speaker_of)
        text, citations, more = _compose(groups, shown, asked.who if ambiguous else None, described)
        return Reading(text, citations, passages, groups, more, described, ambiguous)

    def _on_topic(
        self, topic: str, found: list[tuple[Sentence, Passage]], vector: np.ndarray | None = None
    ) -> tuple[list[tuple[Sentence, Passage]], dict[str, float]]:
        """The statements that support the topic, each read with its lead-in: "What did the mayor say
        when asked whether the budget would grow?" is answered by the statement after "Asked whether
        the budget would grow, …". A lead-in that supplied words of the topic is cited before it."""
        if vector is None:
            vector = np.asarray(self.embedder.encode([topic])[0], dtype=np.float32)
        lead_ids = {previous_id(s): s.id for s, _ in found if s.index > 0}
        # Read in parts: one Chroma get of many rows costs more than linear time (index/store.py ROWS_A_GET).
        wanted = list(dict.fromkeys([s.id for s, _ in found] + list(lead_ids)))
        by_id = {}
        for start in range(0, len(wanted), _SENTENCES_A_READ):
            sentences, vectors = self.store.get_sentences(wanted[start : start + _SENTENCES_A_READ])
            by_id.update((s.id, (s, v)) for s, v in zip(sentences, vectors))
        rules = TopicRules.of(topic, self.reader.content_terms, self.person_nouns)

        @functools.cache
        def context(passage: Passage) -> tuple[set[str], set[str]]:
            """The words of a statement's report: its title, and (for "… after Y") its passage; many
            statements share one passage."""
            title = self.reader.content_terms(passage.title) if passage.title else set()
            return title, self.reader.content_terms(passage.text) if rules.when_said else set()
        weight = self.reader.coverage_weight
        scored: list[tuple[float, Sentence, Passage, Sentence | None]] = []
        for sentence, passage in found:
            check_budget("reading the statements on the topic")
            if sentence.id not in by_id:
                continue
            # The people a statement names by pronoun or role are named in it ("she" is Anne Sacoolas).
            own_terms = self.reader.content_terms(sentence.text) | self.reader.content_terms(
                " ".join(sentence.mention_keys)
            )
            similarity = float(by_id[sentence.id][1] @ vector)
            lead = by_id.get(previous_id(sentence)) if sentence.index > 0 else None
            lead_terms = self.reader.content_terms(lead[0].text) if lead else set()
            title_terms, passage_terms = context(passage)
            points = bool(_THE_REPORTED_EVENT.search(sentence.text))
            if rules.when_said:
                own_terms = own_terms | title_terms | passage_terms
            best: tuple[float, Sentence | None] = (-1.0, None)
            for words, with_lead in ((own_terms, False), (own_terms | lead_terms, True)):
                if not rules.admits(sentence, words, title_terms):
                    continue
                coverage = rules.coverage(words, title_terms, points) if rules.terms else similarity
                support = (1 - weight) * similarity + weight * coverage
                # The lead-in is cited too when it supplied words of the topic.
                cite_lead = lead[0] if with_lead and (rules.terms & lead_terms) - own_terms else None
                best = max(best, (support, cite_lead), key=lambda b: b[0])
            if best[0] >= 0:
                scored.append((best[0], sentence, passage, best[1]))
        if not scored:
            return [], {}
        # Among X's statements, those on the topic: the best and the ones close to it, above a floor
        # lower than the reader's threshold, since being X's statement is already strong evidence.
        top = max(s for s, *_ in scored)
        if top < self.reader.threshold - _SPEAKER_FLOOR_MARGIN:
            return [], {}
        floor = max(self.reader.threshold - _SPEAKER_FLOOR_MARGIN, _CLOSE_TO_BEST * top)
        on_topic = {sentence.id for support, sentence, _, _ in scored if support >= floor}
        leads = {sentence.id: lead for support, sentence, _, lead in scored if support >= floor and lead is not None}
        kept: list[tuple[Sentence, Passage]] = []
        cited: set[str] = set()
        # A statement runs on over the speaker's next sentences ("… bishops are at the service of the
        # people. They are not above the law …"): one sentence on the topic brings its whole run.
        for run in _statement_runs(found):
            if not on_topic & {s.id for s, _ in run}:
                continue
            for sentence, passage in run:
                lead = leads.get(sentence.id)
                for item in ((lead, passage), (sentence, passage)) if lead is not None else ((sentence, passage),):
                    if item[0].id not in cited:
                        cited.add(item[0].id)
                        kept.append(item)
        scores = {sentence.id: support for support, sentence, _, _ in scored}
        return kept, scores


@dataclass(frozen=True)
class Reading:
    text: str
    citations: list[Citation]
    passages: list[Passage]  # what was read: one per statement
    groups: list[StatementGroup] = field(default_factory=list)  # every statement, by report (JSON "statements")
    more: dict = field(default_factory=lambda: {"statements": 0, "reports": 0})  # what the text leaves out
    speakers: list[dict] = field(default_factory=list)  # the people the name may be, when more than one
    ambiguous: bool = False

    def beside(self, retrieved: list[Passage]) -> list[Passage]:
        """The retrieved passages, then those of the statements from other chunks: what a ranker that
        weighs who speaks reads for "What did X say about Y?"."""
        seen = {p.chunk_id for p in retrieved}
        return retrieved + [p for p in self.passages if p.chunk_id not in seen]



@dataclass
class StatementItem:
    """One statement of X's (or the lead-in read with it, `kind` "context"), as cited."""

    sentence: Sentence
    passage: Passage
    kind: str  # "direct" (X's words in quotation marks), "reported" (X's words retold), "context" (a lead-in)
    also_in: tuple[dict, ...] = ()  # other reports with the same sentence word for word
    n: int | None = None  # its citation number, when the answer shows it

    def to_dict(self) -> dict:
        s = self.sentence
        return {"n": self.n, "start": s.start, "end": s.end, "quote": s.text, "kind": self.kind,
                "also_in": list(self.also_in)}


@dataclass
class StatementGroup:
    """X's statements in one report, in their order in its text."""

    passage: Passage  # the report's metadata
    items: list[StatementItem]
    speaker: str = ""  # whose statements, when the name asked may be more than one person
    score: float | None = None  # relevance to "… about Y"

    def to_dict(self) -> dict:
        p = self.passage
        found = {"article_id": p.article_id, "title": p.title, "published": p.published, "source": p.source,
                 "url": p.url, "items": [i.to_dict() for i in self.items]}
        return found | ({"speaker": self.speaker} if self.speaker else {})


def asked_speaker(asked: SpeakerQuestion | None, reading: Reading | None) -> AskedSpeaker | None:
    """What a reader that weighs who speaks is told of "What did X say …?": X's name, whether X's
    words are asked for, whether the articles quote X, and X's statements found on the topic."""
    if asked is None:
        return None
    on_topic = frozenset(i for p in reading.passages for i in p.sentence_ids) if reading and reading.citations else frozenset()
    return AskedSpeaker(frozenset(name_words(asked.who)), asked.wants_words, reading is not None, on_topic)


def _normalised(text: str) -> str:
    return " ".join(text.split()).strip().lower()


def _cited_once(
    found: list[tuple[Sentence, Passage]],
) -> tuple[list[tuple[Sentence, Passage]], dict[str, tuple[dict, ...]]]:
    """The statements with each sentence repeated word for word kept once (its first, in the order
    given), and sentence id -> the other reports that repeat it."""
    first: dict[str, Sentence] = {}
    repeats: dict[str, list[dict]] = {}
    # Sentence id -> the reports already listed among its copies: a set, not a scan of the list (a sentence
    # a frequent speaker repeats in thousands of reports made that quadratic).
    listed: dict[str, set[str]] = {}
    kept = []
    normalised: dict[str, str] = {}  # a sentence's text -> its key: copies of one sentence share one text
    for row in found:
        sentence, passage = row
        key = normalised.get(sentence.text)
        if key is None:
            key = normalised[sentence.text] = _normalised(sentence.text)
        if len(key) >= _REPEAT_MIN_CHARS and key in first:
            if first[key].article_id != sentence.article_id:
                first_id = first[key].id
                seen = listed.get(first_id)
                if seen is None:
                    seen = listed[first_id] = set()
                if passage.article_id not in seen:
                    seen.add(passage.article_id)
                    repeats.setdefault(first_id, []).append({
                        "article_id": passage.article_id, "title": passage.title, "source": passage.source,
                        "url": passage.url, "published": passage.published})
                continue
        first.setdefault(key, sentence)
        kept.append(row)
    return kept, {k: tuple(v) for k, v in repeats.items()}


_REPEAT_MIN_CHARS = 20  # "He said." twice is no repeated statement


def repeated_once(text: str, citations: list[Citation]) -> tuple[str, list[Citation]]:
    """An answer made of cited sentences ("S [1] S [2]"), with a sentence that two reports hold word for
    word cited once: the later ones are dropped and listed in the first one's `also_in`. An answer not
    in that form is returned as it is."""
    if len(citations) < 2 or " ".join(f"{' '.join(c.quote.split())} [{c.n}]" for c in citations) != text:
        return text, citations
    kept: dict[str, Citation] = {}
    for c in citations:
        key = _normalised(c.quote)
        if key in kept and len(key) >= _REPEAT_MIN_CHARS and kept[key].article_id != c.article_id:
            also = {"article_id": c.article_id, "title": c.title, "source": c.source, "url": c.url,
                    "published": c.published}
            kept[key] = replace(kept[key], also_in=kept[key].also_in + (also,))
        else:
            kept[key if key not in kept else f"{key}\0{c.n}"] = c
    if len(kept) == len(citations):
        return text, citations
    renumbered = [replace(c, n=n) for n, c in enumerate(kept.values(), start=1)]
    return " ".join(f"{' '.join(c.quote.split())} [{c.n}]" for c in renumbered), renumbered


def _said_to(found: list[tuple[Sentence, Passage]], name: str, by_source: bool) -> list[tuple[Sentence, Passage]]:
    """The statements (whole quotations) X made to `name` ("told Reuters", "in an interview with the
    BBC") or, `by_source`, in it: a report whose source it is, or a quotation that names it."""
    words = name_words(name)
    initials = "".join(w[0] for w in name.split() if w[:1].isupper())
    forms = [re.escape(name)] + ([re.escape(initials)] if len(initials) >= 2 else [])
    said = re.compile(
        rf"\b(?:told|tell|tells|telling|to|with|in|on|via|wrote\s+in)\s+(?:the\s+)?(?:[\w'’.-]+\s+){{0,4}}?"
        rf"(?:{'|'.join(forms)})\b",
        re.IGNORECASE,
    )
    kept = []
    for run in _statement_runs(found):
        source = run[0][1].source or ""
        if (by_source and source and words == name_words(source)) or any(said.search(s.text) for s, _ in run):
            kept.extend(run)
    return kept


def _kinds(found: list[tuple[Sentence, Passage]], own: set[str]) -> dict[str, str]:
    """Sentence id -> "direct" when it holds X's words in quotation marks (or goes on with a quotation
    the statement before it left open), "reported" when it retells them, "context" for a lead-in."""
    kinds: dict[str, str] = {}
    previous: Sentence | None = None
    inside = False
    for sentence, _ in sorted(found, key=lambda sp: (sp[0].article_id, sp[0].index)):
        continues = previous is not None and previous.article_id == sentence.article_id and (
            previous.index + 1 == sentence.index
        )
        inside = inside if continues else False
        if sentence.id not in own:
            kinds[sentence.id] = "context"
        else:
            kinds[sentence.id] = "direct" if inside or bool(_ALL_QUOTE_MARKS & set(sentence.text)) else "reported"
        if _ALL_QUOTE_MARKS & set(sentence.text):  # no mark: what was open stays open
            inside = quotation_open_after(sentence.text, inside)
        previous = sentence
    return kinds


_ALL_QUOTE_MARKS = set('"“”«»„')


def _grouped(
    found: list[tuple[Sentence, Passage]],
    scores: dict[str, float],
    oldest_first: bool,
    own: set[str],
    repeats: dict[str, tuple[dict, ...]],
    speaker_of: dict[str, str],
) -> list[StatementGroup]:
    """The statements by report: the most relevant report first when `scores` rank them ("… about Y"),
    else the newest (or, `oldest_first`, the oldest) first, undated reports last; in a report, the
    statements in their order in its text."""
    kinds = _kinds(found, own)
    groups: dict[tuple[str, str], StatementGroup] = {}
    for sentence, passage in found:
        speaker = speaker_of.get(sentence.id, "")
        group = groups.get((passage.article_id, speaker))
        if group is None:  # made once a report, not once a statement
            group = groups[(passage.article_id, speaker)] = StatementGroup(passage, [], speaker)
        group.items.append(StatementItem(sentence, passage, kinds[sentence.id], repeats.get(sentence.id, ())))
        if sentence.id in scores:
            group.score = max(group.score or 0.0, scores[sentence.id])
    for group in groups.values():
        if len(group.items) > 1:
            group.items.sort(key=lambda item: item.sentence.start)

    def by_date(group: StatementGroup):
        day = day_number(group.passage.published)
        if day is None:
            return (1, 0, group.passage.article_id)
        return (0, day if oldest_first else -day, group.passage.article_id)

    ordered = sorted(groups.values(), key=by_date)
    if scores:
        ordered.sort(key=lambda g: -(g.score or 0.0))  # stable: equally relevant reports stay by date
    return ordered


def _compose(
    groups: list[StatementGroup], shown: int, ambiguous_name: str | None, speakers: list[dict]
) -> tuple[str, list[Citation], dict]:
    """The answer text (a line per report: title, source, date, then its statements, each cited), its
    citations, and what it leaves out: {"statements": K, "reports": M}."""
    parts: list[str] = []
    if ambiguous_name:
        who = "; ".join(f"{s['name']} ({', '.join(s['roles'])})" if s["roles"] else s["name"] for s in speakers)
        parts.append(f"“{ambiguous_name}” may be more than one person in these reports: {who}.")
    citations: list[Citation] = []
    for group in groups:
        cited = []
        for item in group.items:
            if len(citations) >= shown:
                continue
            s, p = item.sentence, item.passage
            item.n = len(citations) + 1
            citations.append(Citation(item.n, s.article_id, p.title, p.published, p.source, p.url, s.start, s.end,
                                      s.text, also_in=item.also_in))
            cited.append(f"{' '.join(s.text.split())} [{item.n}]")
        if cited:
            parts.append(f"{_heading(group)}\n{' '.join(cited)}")
    left = [sum(item.n is None for item in g.items) for g in groups]
    more = {"statements": sum(left), "reports": sum(1 for n in left if n)}
    if not citations:
        return NO_ANSWER, [], more
    if more["statements"]:
        k, m = more["statements"], more["reports"]
        parts.append(f"{k} more statement{'s' if k != 1 else ''} in {m} report{'s' if m != 1 else ''}.")
    return "\n\n".join(parts), citations, more


def _heading(group: StatementGroup) -> str:
    p = group.passage
    where = ", ".join(x for x in (p.source, p.published) if x)
    title = " ".join((p.title or p.article_id).split())
    return f"{group.speaker + ' in ' if group.speaker else ''}{title}{f' ({where})' if where else ''}:"
