"""Relative dates resolved against the publication date, on sentences from Wikinews reports."""

from __future__ import annotations

import json
import time
from datetime import date, datetime

import pytest

from index.dates import NO_PUBLICATION_DATE, ResolvedDate, resolve_dates


@pytest.fixture(scope="module")
def nlp(splitter):
    return splitter.nlp  # the same spaCy pipeline as ingest (it has the parser the tense needs)


def only(text, published, nlp, phrase=None):
    found = list(resolve_dates(text, published, nlp=nlp))
    if phrase is not None:
        found = [f for f in found if f.text == phrase]
    assert len(found) == 1, found
    return found[0]


def test_yesterday_with_its_exact_span_and_the_words_it_comes_from(nlp):
    text = "The roof of Notre Dame cathedral in French capital Paris caught fire yesterday."
    found = only(text, "2019-04-16", nlp)
    assert isinstance(found, ResolvedDate)
    assert text[found.start : found.end] == found.text == "yesterday"
    assert found.day == found.last_day == date(2019, 4, 15)
    assert found.kind == "day"
    assert found.describe() == "2019-04-15 (“yesterday”, in a report of 2019-04-16)"


def test_no_publication_date_resolves_nothing_and_says_so(nlp):
    text = "Yesterday, the Parliament of Iraq voted on a resolution. On Monday, it met again."
    resolution = resolve_dates(text, None, nlp=nlp)
    assert list(resolution) == [] and len(resolution) == 0
    assert resolution.note == NO_PUBLICATION_DATE == "no publication date"
    assert resolve_dates(text, "", nlp=nlp).note == NO_PUBLICATION_DATE
    assert resolve_dates(text, "2020-01-06", nlp=nlp).note is None


# A report published on Tuesday 2019-04-16.
@pytest.mark.parametrize(
    "sentence, phrase, day",
    [
        ("On Monday, the roof of the cathedral caught fire.", "On Monday", date(2019, 4, 15)),
        ("The council met on Thursday to discuss the budget.", "on Thursday", date(2019, 4, 11)),
        ("The ministers will meet on Thursday in Brussels.", "on Thursday", date(2019, 4, 18)),
        ("Leonov is to be buried at the Federal Military Memorial Cemetery on Friday.", "on Friday", date(2019, 4, 19)),
        ("Police said on Sunday they believe the theft involved a group.", "on Sunday", date(2019, 4, 14)),
        ("On Tuesday, the president announced his resignation.", "On Tuesday", date(2019, 4, 16)),
        ("The state of emergency Trump declared last Friday was challenged.", "last Friday", date(2019, 4, 12)),
        ("His resignation is effective next Wednesday.", "next Wednesday", date(2019, 4, 17)),
        ("The bill passed the state Senate on Tuesday morning.", "on Tuesday morning", date(2019, 4, 16)),
    ],
)
def test_weekdays_before_and_after_publication_follow_the_verb_tense(nlp, sentence, phrase, day):
    found = only(sentence, date(2019, 4, 16), nlp, phrase)
    assert found.day == day, found.rule


def test_last_weekday_is_not_yesterday():
    # Friday 2020-01-10: "last Thursday" is the Thursday of the week before; the day before is "yesterday".
    text = "On last Thursday, the delegations of Cyprus, Greece and Israel had met in Athens."
    assert only(text, "2020-01-10", False).day == date(2020, 1, 2)


def test_a_date_across_the_year_boundary(nlp):
    text = "The outbreak was first confirmed by the government on December 30."
    found = only(text, "2020-01-02", nlp)
    assert found.day == date(2019, 12, 30)
    ahead = only("The new law will take effect on January 5.", "2019-12-28", nlp)
    assert ahead.day == date(2020, 1, 5)
    month = only("Discovery completed its last mission last month.", "2020-01-10", nlp)
    assert (month.day, month.last_day, month.kind) == (date(2019, 12, 1), date(2019, 12, 31), "month")
    week = only("The court heard arguments last week.", "2020-01-01", nlp)
    assert (week.day, week.last_day) == (date(2019, 12, 23), date(2019, 12, 29))


def test_month_day_in_the_past_a_few_days_after_publication_and_ahead(nlp):
    # The rule for a past tense: the publication year unless more than a few days after it.
    assert only("The vote was held on April 9.", "2020-04-07", nlp).day == date(2020, 4, 9)
    assert only("The vote was held on May 20.", "2020-04-07", nlp).day == date(2019, 5, 20)
    # Looking ahead: the deadline, a planned announcement.
    assert only("The Brexit deadline is October 31.", "2019-09-11", nlp).day == date(2019, 10, 31)
    planned = "Biden said he planned to announce his choice around August 1."
    assert only(planned, "2020-06-19", nlp).day == date(2020, 8, 1)
    # "March 20 last year", and the year of an explicit date just before.
    assert only("Pompeo joined the meeting on March 20 last year.", "2020-01-10", nlp).day == date(2019, 3, 20)
    text = "The army moved on November 15, 2017. Mugabe resigned on November 21."
    assert only(text, "2019-09-09", nlp).day == date(2017, 11, 21)


def test_spans_and_parts_of_days(nlp):
    text = (
        "The city sustained heavy rains earlier this week. Three children were taken to hospital this morning. "
        "Polls open tomorrow. The process was approved two days ago. The summit took place this week."
    )
    found = {f.text: f for f in resolve_dates(text, "2019-07-12", nlp=nlp)}  # a Friday
    earlier = found["earlier this week"]
    assert (earlier.day, earlier.last_day) == (date(2019, 7, 8), date(2019, 7, 11))
    assert found["this morning"].day == date(2019, 7, 12)
    assert found["tomorrow"].day == date(2019, 7, 13)
    assert found["two days ago"].day == date(2019, 7, 10)
    assert found["this week"].describe() == "2019-07-08 to 2019-07-14 (“this week”, in a report of 2019-07-12)"


def test_a_quotation_speaks_from_the_day_it_was_said(nlp):
    text = (
        "Yesterday, the Parliament of Iraq voted on a resolution to expel United States troops.\n\n"
        'A spokesperson said: "While we await clarification on the impact of today\'s resolution, '
        'we urge leaders to reconsider."'
    )
    found = {f.text: f for f in resolve_dates(text, "2020-01-06", nlp=nlp)}
    assert found["Yesterday"].day == date(2020, 1, 5)
    assert found["today"].day == date(2020, 1, 5)
    assert "quotation" in found["today"].rule
    # Outside quotation marks "today" is the publication day.
    assert only("The Home Office today rejects the plan.", "2023-02-23", nlp).day == date(2023, 2, 23)


@pytest.mark.parametrize(
    "text",
    [
        "She dropped out after failing to win any of the contests of Super Tuesday.",
        "The Sunday trade ban, introduced in 2018, also hurt sales.",
        "We whittle that down on a Monday to about a hundred.",
        "The director told Kamloops This Week that payments were a factor.",
        "The United Kingdom voted on June 23, 2016, to leave the European Union.",
        "On the last night, Trump delivered a long acceptance speech.",
        "Wikinews attended the convention on the last weekend of July.",
    ],
)
def test_names_generic_days_and_absolute_dates_are_not_relative_dates(nlp, text):
    assert list(resolve_dates(text, "2020-06-21", nlp=nlp)) == []


def test_weekday_with_its_date_and_published_as_datetime():
    text = "Friday, March 29, 2019 Toronto Comicon returned to its city."
    found = only(text, datetime(2019, 3, 29, 12, 0), False, "Friday")
    assert found.day == date(2019, 3, 29) and found.published == date(2019, 3, 29)


def test_time_grows_linearly_with_the_text():
    sentence = 'He said on Monday that "the vote happened yesterday" and it ends on March 3. '
    small, large = sentence * 500, sentence * 5000
    timings = []
    for text in (small, large):
        started = time.perf_counter()
        found = resolve_dates(text, "2020-03-10", nlp=False)
        timings.append(time.perf_counter() - started)
        assert len(found) == 3 * text.count(sentence)
    assert timings[1] < 30 * timings[0] + 0.5
    # No catastrophic backtracking on long runs of what the pattern looks for.
    started = time.perf_counter()
    resolve_dates("on " * 50_000 + "Monday" + " last" * 50_000 + "1" * 50_000 + '"' * 50_000, "2020-03-10", nlp=False)
    assert time.perf_counter() - started < 5


# --- stored at ingest, and used: through the service (spaCy, the embedding model, Chroma, BM25) ----------

# Reports of one flood, written for the test: one published in April, one in May telling of April ("Last
# month"), one with no publication date, and one of June.
RAVENSBROOK = [
    {"id": "dam-burst", "title": "Ravensbrook dam bursts", "published": "2019-04-12", "source": "Valley Post",
     "text": "The Ravensbrook dam burst its banks yesterday, flooding the lower town.\n\n"
             "Engineers said the dam had been inspected in January."},
    {"id": "dam-inquiry", "title": "Inquiry into the Ravensbrook flood opens", "published": "2019-05-02",
     "source": "Valley Post",
     "text": "An inquiry into the Ravensbrook flood opened in Hexham on Wednesday.\n\n"
             "Last month, the Ravensbrook dam burst its banks after a week of heavy rain, flooding the lower town."},
    {"id": "mill-fire", "title": "Old mill burns", "source": "Valley Post",
     "text": "The old mill of Ravensbrook burned down yesterday, the fire brigade said."},
    {"id": "harbour", "title": "Ravensbrook harbour reopens", "published": "2019-06-10", "source": "Valley Post",
     "text": "The harbour of Ravensbrook reopened on Monday after repairs to its sea wall."},
]


@pytest.fixture(scope="module")
def flood(tmp_path_factory, embedder, splitter):
    """A service over a new QA_HOME holding the Ravensbrook reports, ingested from a JSONL file: (service, report)."""
    from qa.service import QAService
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("flood")
    feed = root / "flood.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in RAVENSBROOK), encoding="utf-8")
    service = QAService(Settings(home=root / "home"), embedder=embedder, splitter=splitter)
    report = service.ingest([feed])
    assert len(report.added) == len(RAVENSBROOK), report.errors
    return service, report


def _stored_sentences(service, article_id):
    (passage,) = [p for p in service.store.chunks_of([article_id])]
    sentences, _ = service.store.get_sentences(list(passage.sentence_ids))
    return sentences


def test_ingest_stores_each_relative_date_with_its_exact_span(flood):
    service, _ = flood
    stored = service.store.stored_dates(["dam-burst", "dam-inquiry", "harbour"])
    texts = {a.id: a.text for a in service.articles(list(stored))}
    for article_id, resolution in stored.items():
        assert all(texts[article_id][d.start : d.end] == d.text for d in resolution)
    said = {article_id: [d.describe() for d in resolution] for article_id, resolution in stored.items()}
    assert said["dam-burst"] == ["2019-04-11 (“yesterday”, in a report of 2019-04-12)"]
    assert said["dam-inquiry"] == ["2019-05-01 (“on Wednesday”, in a report of 2019-05-02)",
                                   "2019-04-01 to 2019-04-30 (“Last month”, in a report of 2019-05-02)"]
    assert said["harbour"] == ["2019-06-10 (“on Monday”, in a report of 2019-06-10)"]
    # What ingest stored is what resolving again gives (the rules the benchmark measures).
    assert stored["dam-inquiry"].dates == resolve_dates(texts["dam-inquiry"], "2019-05-02", nlp=service.splitter.nlp).dates
    # Each sentence keeps the first and last day its dates name: what date filters compare.
    assert [s.dated for s in _stored_sentences(service, "dam-inquiry")] == [
        ("2019-05-01", "2019-05-01"), ("2019-04-01", "2019-04-30")]
    assert [s.dated for s in _stored_sentences(service, "dam-burst")] == [("2019-04-11", "2019-04-11"), None]


def test_a_report_with_no_publication_date_stores_none_and_says_so(flood):
    service, report = flood
    (undated,) = service.store.stored_dates(["mill-fire"]).values()
    assert list(undated) == [] and undated.note == NO_PUBLICATION_DATE
    assert [s.dated for s in _stored_sentences(service, "mill-fire")] == [None]
    assert any("no publication date" in w and "mill-fire" in w for w in report.warnings), report.warnings


def test_a_date_filter_finds_what_a_later_report_tells_of_the_period(flood):
    from qa.types import Filters

    service, _ = flood
    april = Filters.build(since="2019-04", until="2019-04")
    found = {p.article_id: p for p in service.retrieve("When did the Ravensbrook dam burst its banks?", k=5, filters=april)}
    # Published in May, but its "Last month" is April 2019; the June report tells of nothing in April.
    assert set(found) == {"dam-burst", "dam-inquiry"}
    june = {p.article_id for p in service.retrieve("Ravensbrook", k=5, filters=Filters.build(since="2019-06"))}
    assert june == {"harbour"}  # the inquiry's days (April, 1 May) are all before June
    # The filter's rule in Python is the same: a sentence passes by the days it names.
    assert april.allows("Valley Post", "2019-05-02", "dam-inquiry", dated=("2019-04-01", "2019-04-30"))
    assert not april.allows("Valley Post", "2019-05-02", "dam-inquiry", dated=("2019-05-01", "2019-05-01"))
    answer = service.ask("What happened to the Ravensbrook dam?", filters=Filters.build(until="2019-04-30"))
    assert not answer.abstained and "dam-inquiry" in {p.article_id for p in answer.passages}


def test_when_answers_read_the_stored_dates(flood):
    service, _ = flood
    answer = service.ask("When did the Ravensbrook dam burst its banks?")
    short = answer.short_answer
    assert short is not None and short.described == "2019-04-11 (“yesterday”, in a report of 2019-04-12)"
    assert answer.answer.startswith(short.described)
    cited = next(c for c in answer.citations if c.article_id == "dam-burst")
    stored = service.store.stored_dates(["dam-burst"])["dam-burst"]
    assert [(d["start"], d["end"], d["date"], d["rule"]) for d in cited.dates] == [
        (d.start, d.end, d.day.isoformat(), d.rule) for d in stored]


def test_an_index_stored_before_dates_is_dated_in_place_at_the_next_ingest(tmp_path, embedder, splitter):
    from qa.service import QAService
    from qa.settings import Settings

    feed = tmp_path / "flood.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in RAVENSBROOK), encoding="utf-8")
    home = tmp_path / "home"
    service = QAService(Settings(home=home), embedder=embedder, splitter=splitter)
    service.ingest([feed])
    versions = service.store.versions(None)
    # An index written before dates were stored: its records and rows hold none of the dates' fields.
    store = service.store
    old = {"relative_dates": None, "dates_rules": None, "dates_note": None, "dates_first_day": None, "dates_last_day": None}
    with store.access.writing():
        store._articles.update(ids=list(versions), metadatas=[old] * len(versions))
        rows = [i for i, _ in store._rows_of(store._sentences, list(versions))]
        store._sentences.update(ids=rows, metadatas=[{"dates_first_day": None, "dates_last_day": None}] * len(rows))
        store.access.changed()
    reopened = QAService(Settings(home=home), embedder=embedder, splitter=splitter)
    assert reopened.store.stored_dates(list(versions)) == {}
    # It keeps working: "When …?" resolves the cited report's dates as it answers.
    answer = reopened.ask("When did the Ravensbrook dam burst its banks?")
    assert answer.short_answer.described == "2019-04-11 (“yesterday”, in a report of 2019-04-12)"
    # The next ingest (of anything) dates every stored article in place: nothing is rewritten or lost.
    other = tmp_path / "other.txt"
    other.write_text("Title: Fair\n\nThe Ravensbrook fair opened today.\n", encoding="utf-8")
    report = reopened.ingest([other])
    assert len(report.added) == 1, report.errors
    assert any(f"relative dates of {len(versions)} stored articles in place" in w for w in report.warnings), report.warnings
    assert {i: v for i, v in reopened.store.versions(None).items() if i in versions} == versions
    dated = reopened.store.stored_dates(list(versions))
    assert set(dated) == set(versions) and dated["mill-fire"].note == NO_PUBLICATION_DATE
    assert [s.dated for s in _stored_sentences(reopened, "dam-inquiry")][1] == ("2019-04-01", "2019-04-30")
    assert not reopened.ingest([feed, other]).warnings  # dated once: the next ingest has nothing to do
