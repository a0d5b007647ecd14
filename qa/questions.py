"""What a question asks for, read offline from its words alone (no model at question time).

- **Answer type**: the entity labels (spaCy's, stored per sentence at ingest) that can answer it:
  who → a person, organisation or country; when → a date; where → a place; how many / how much
  → a number or amount; "which company", "what year" and the like by their noun.
- **Names**: runs of capitalised words after the first word ("Xi Jinping", "China"); an answer
  must name each of them (in its words, initials or resolved mentions).
- **Key phrase**: in "Which trade deals did …?" / "What weapons were …?" the thing asked for;
  an answer that never mentions its head noun answers another question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERSON_LIKE = frozenset({"PERSON", "NAME", "ORG", "NORP", "GPE"})  # NAME: a proper name NER left unlabelled
DATE_LIKE = frozenset({"DATE", "TIME"})
PLACE_LIKE = frozenset({"GPE", "LOC", "FAC"})
NUMBER_LIKE = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})

# The noun of "which X" / "what X" that names a type of answer rather than a topic.
_TYPE_NOUNS = {
    **dict.fromkeys(("year", "date", "day", "month", "time", "week", "decade", "century"), DATE_LIKE),
    **dict.fromkeys(
        ("country", "city", "town", "place", "state", "region", "province", "village", "nation"), PLACE_LIKE
    ),
    **dict.fromkeys(
        (
            "company",
            "organisation",
            "organization",
            "party",
            "group",
            "team",
            "agency",
            "firm",
            "club",
            "newspaper",
            "university",
            "bank",
        ),
        frozenset({"ORG", "NORP"}),
    ),
    **dict.fromkeys(
        ("person", "man", "woman", "player", "official", "minister", "president", "leader"),
        frozenset({"PERSON", "NAME"}),
    ),
    **dict.fromkeys(
        ("number", "percentage", "amount", "proportion", "share", "total", "price", "cost", "sum"), NUMBER_LIKE
    ),
}
# Nouns that frame what kind of answer is wanted ("What position does X hold?", "What effect did …
# have?"): not the topic, so an answer need not repeat them.
_FRAME_NOUNS = {
    "position",
    "role",
    "title",
    "job",
    "post",
    "effect",
    "impact",
    "reason",
    "kind",
    "type",
    "way",
    "thing",
    "step",
    "steps",
    "measure",
    "action",
    "message",
    "point",
    "view",
    "stance",
    "response",
    "reaction",
    "purpose",
    "goal",
    "aim",
    "happened",
    "did",
    "else",
    "advice",
}
_LEAD = r"^\s*(?:(?:in|on|at|by|from|to|for|since|during|of)\s+)?"
_WHO = re.compile(_LEAD + r"(?:who|whom|whose)\b", re.IGNORECASE)
_WHEN = re.compile(_LEAD + r"when\b", re.IGNORECASE)
_WHERE = re.compile(_LEAD + r"where\b", re.IGNORECASE)
_HOW_MANY = re.compile(_LEAD + r"how\s+(?:many|much)\b", re.IGNORECASE)
_HOW_LONG = re.compile(_LEAD + r"how\s+(?:long|old)\b", re.IGNORECASE)
_WHICH_NOUN = re.compile(
    _LEAD + r"(?:which|what)\s+(?P<phrase>(?:[\w-]+\s+){0,3}?(?P<head>[\w-]+))\s+"
    r"(?:did|do|does|is|are|was|were|has|have|had|will|would|can|could|should|might|may)\b",
    re.IGNORECASE,
)
_CAPITALISED_RUN = re.compile(r"\b(?:[A-Z][\w'’-]*|[A-Z]{2,})(?:\s+(?:[A-Z][\w'’-]*|[A-Z]{2,}))*")
# Words that open or frame a question even when capitalised.
_FUNCTION_WORDS = {
    "who",
    "whom",
    "whose",
    "what",
    "when",
    "where",
    "which",
    "why",
    "how",
    "did",
    "does",
    "do",
    "is",
    "are",
    "was",
    "were",
    "has",
    "have",
    "had",
    "will",
    "would",
    "can",
    "could",
    "should",
    "in",
    "on",
    "at",
    "by",
    "according",
    "the",
    "a",
    "an",
    "i",
    "after",
    "before",
    "during",
    "since",
    "from",
    "for",
    "of",
    "to",
    "and",
}


_TIME_UNITS = {"second", "minute", "hour", "day", "week", "month", "year", "decade", "century", "time"}
_TIME_WORDS = {f"{unit}s" for unit in _TIME_UNITS} | _TIME_UNITS | {
    "today", "yesterday", "tomorrow", "morning", "afternoon", "evening", "night", "tonight", "noon", "midnight",
    "weekend", "spring", "summer", "autumn", "fall", "winter"}
# Within a type, the labels that answer it best come first ("Who won?": a person before a place).
LABEL_PREFERENCE = (
    "PERSON",
    "NAME",
    "ORG",
    "NORP",
    "MONEY",
    "PERCENT",
    "QUANTITY",
    "CARDINAL",
    "DATE",
    "TIME",
    "GPE",
    "LOC",
    "FAC",
)


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sep sept",
            "october oct",
            "november nov",
            "december dec",
        ),
        start=1,
    )
    for name in names.split()
}
_WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
_MONTH_NAMES = "|".join(sorted((m for m in _MONTHS if len(m) > 3 or m == "may"), key=len, reverse=True))
_ASKED_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\s+)?(?P<month>{_MONTH_NAMES})\b(?:\s+\d{{1,2}}\b)?(?:,?\s+(?P<year>(?:19|20)\d\d))?"
    r"|\b(?P<only_year>(?:19|20)\d\d)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AskedDate:
    """A month or year the question names ("in March 2020", "in 2019"): the article's publication
    date or the sentence must fit it."""

    year: int | None
    month: int | None
    text: str

    def fits(self, published: str | None, sentence: str) -> bool:
        """The sentence names the year and month, or the article was published then; a report of an
        event is published within weeks, so a month either side of the asked one fits too."""
        lower = sentence.lower()
        day = (int(published[:4]), int(published[5:7])) if published else None
        year_fits = self.year is None or str(self.year) in lower or (day is not None and day[0] == self.year)
        if self.month is None:
            return year_fits
        named = any(re.search(rf"\b{m}\b", lower) for m, n in _MONTHS.items() if n == self.month and len(m) > 3)
        if named:
            return year_fits
        if day is None:
            return False
        asked = (self.year or day[0]) * 12 + self.month
        return abs(day[0] * 12 + day[1] - asked) <= 1


@dataclass(frozen=True)
class QuestionAnalysis:
    answer_labels: frozenset[str]  # entity labels that can answer it; empty: any sentence
    names: tuple[str, ...]  # names the answer must mention
    key_phrase: str | None  # "trade deals"
    key_head: str | None  # "deals"
    dates: tuple[AskedDate, ...] = ()
    verb: str | None = None  # the word after "Who": "won" in "Who won the Tour?"
    ordinals: tuple[str, ...] = ()  # "third", "final", "next": which one is asked for
    asks_identity: bool = False  # "Who …?", "What is the name of …?"
    asks_cause: bool = False  # "Why …?", "What caused …?"

    @property
    def typed(self) -> bool:
        return bool(self.answer_labels)


# "In September 2019, whose resignation …": the wh-word after a leading phrase.
_LEADING_PHRASE = re.compile(r"^[^,?]{1,60},\s*(?=(?:who|whom|whose|when|where|how|which|what)\b)", re.IGNORECASE)


def analyse(question: str) -> QuestionAnalysis:
    labels: frozenset[str] = frozenset()
    key_phrase = key_head = None
    full, question = question, _LEADING_PHRASE.sub("", question)
    if _WHO.match(question):
        labels = PERSON_LIKE
    elif _WHEN.match(question):
        labels = DATE_LIKE
    elif _WHERE.match(question):
        labels = PLACE_LIKE
    elif match := _HOW_MANY.match(question):
        # "How many days …?" is answered by "a three-day visit" as well as by a number.
        unit = question[match.end() :].split()[:1]
        labels = NUMBER_LIKE | (DATE_LIKE if unit and _singular(unit[0].lower()) in _TIME_UNITS else frozenset())
    elif _HOW_LONG.match(question):
        labels = DATE_LIKE | NUMBER_LIKE
    elif match := _WHICH_NOUN.match(question):
        head = match["head"].lower()
        singular = _singular(head)
        labels = _TYPE_NOUNS.get(singular, frozenset())
        if not labels and singular not in _FUNCTION_WORDS and head not in _FRAME_NOUNS and singular not in _FRAME_NOUNS:
            key_phrase, key_head = match["phrase"].lower(), head
    verb = None
    if labels == PERSON_LIKE and (after := _WHO.match(question)):
        words = question[after.end() :].split()
        verb = words[0].lower().strip("?,.") if words and words[0].lower() not in _FUNCTION_WORDS else None
    return QuestionAnalysis(
        labels,
        question_names(full),
        key_phrase,
        key_head,
        asked_dates(full),
        verb,
        question_ordinals(full),
        asks_identity=bool(_WHO.match(question) or _NAME_OF.search(question)),
        asks_cause=bool(_CAUSE.search(question)),
    )


_NAME_OF = re.compile(r"\bnames? of\b", re.IGNORECASE)
_CAUSE = re.compile(r"^\W*why\b|\bcaused?\b|\breason\b", re.IGNORECASE)


# Words that say which one of several is meant ("the third officer", "the final debate", "last ordered").
_ORDINALS = {
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "last",
    "final",
    "next",
    "previous",
}


def question_ordinals(question: str) -> tuple[str, ...]:
    """The ordinals of a question, leaving out those that only say when ("last week", "next Monday",
    "for the first time")."""
    words = re.findall(r"[a-z]+", question.lower())
    found = []
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        when = _singular(following) in _TIME_UNITS or following in _WEEKDAYS or following in _MONTHS
        if word in _ORDINALS and not when and word not in found:
            found.append(word)
    return tuple(found)


_ALL_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_OF_MONTH = re.compile(
    rf"\b(?:(?P<month>{_ALL_MONTH_NAMES})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b"
    rf"|(?P<day_first>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month_after>{_ALL_MONTH_NAMES})\b)",
    re.IGNORECASE,
)


def days_named(text: str) -> set[tuple[int, int]]:
    """(month, day) of every day of a month the text names: "April 20", "20 April", "Apr. 20", "21st July"."""
    found = set()
    for m in _DAY_OF_MONTH.finditer(text):
        month, day = (m["month"], m["day"]) if m["month"] else (m["month_after"], m["day_first"])
        if 1 <= int(day) <= 31 and month != "may":  # "may 5" in lower case is the verb
            found.add((_MONTHS[month.lower()], int(day)))
    return found


def names_a_time(text: str) -> bool:
    """The text names a month, a weekday or a word of time ("yesterday", "noon")."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return bool(words & (set(_MONTHS) - {"may"} | _WEEKDAYS | _TIME_WORDS)) or bool(re.search(r"\bMay\b", text))


def asked_dates(question: str) -> tuple[AskedDate, ...]:
    found = []
    for match in _ASKED_DATE.finditer(question):
        if match["only_year"]:
            found.append(AskedDate(int(match["only_year"]), None, match[0]))
        else:
            year = int(match["year"]) if match["year"] else None
            # "May" alone is as often the verb as the month.
            if match["month"].lower() == "may" and year is None:
                continue
            found.append(AskedDate(year, _MONTHS[match["month"].lower()], match[0]))
    return tuple(found)


def question_names(question: str) -> tuple[str, ...]:
    """Runs of capitalised words, leaving out the question's framing words ("What", "Did", "I")."""
    names = []
    for match in _CAPITALISED_RUN.finditer(question):
        # Months and weekdays are dates, not names (asked_dates reads them).
        words = [
            w for w in match[0].split() if w.lower() not in _FUNCTION_WORDS | _WEEKDAYS and w.lower() not in _MONTHS
        ]
        # The first word of a question is capitalised anyway: a name only when it is not a function word.
        if words:
            names.append(" ".join(words).removesuffix("'s").removesuffix("’s"))
    return tuple(dict.fromkeys(names))


def _singular(noun: str) -> str:
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun
