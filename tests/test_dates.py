"""Relative dates resolved against the publication date, on sentences from Wikinews reports."""

from __future__ import annotations

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
