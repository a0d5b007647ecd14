"""One person, one identity across reports; `qa people` and QAService.people behind it.

The identity rules on stored speakers alone (no model), then through the real service (spaCy, the
embedding model, Chroma) on small reports written for the test, shaped like the Wikinews ones where
"a university student named Wong" was taken for Joshua Wong."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import QA, ingested

from qa.people import PeopleIndex, compatible_roles
from qa.types import Filters


def index(rows, facts, texts=None) -> PeopleIndex:
    return PeopleIndex.build(rows, facts, texts or {})


FACTS = {
    "a": {"published": "2019-09-06", "source": "Wire", "people": {"Joshua Wong": ["student protester"]}},
    "b": {"published": "2019-08-19", "source": "Wire", "people": {"Wong": ["university student"]}},
    "c": {"published": "2019-11-21", "source": "Science Desk", "people": {"Tak-Sing Wong": ["study co-author"]}},
    "d": {"published": "2019-10-01", "source": "Wire", "people": {"Wong": ["student protester"]}},
    "e": {"published": "2023-03-20", "source": "Wire", "people": {"Dmitry Peskov": ["kremlin spokesman"]}},
    "f": {"published": "2023-03-21", "source": "Daily", "people": {}},
}
ROWS = [
    ("a", ("Joshua Wong",)), ("a", ("Joshua Wong",)),
    ("b", ("Wong",)),
    ("c", ("Tak-Sing Wong",)),
    ("d", ("Wong",)),
    ("e", ("Dmitry Peskov",)),
    ("f", ("Peskov",)), ("f", ("Peskov",)),
    ("f", ("police",)),  # a description, no name: nobody to list
]
TEXTS = {"b": "A university student named Wong said, \"We never back down.\"", "d": "Wong said the march would go on.",
         "f": "Peskov said talks went well."}


def test_a_name_is_one_person_across_reports_with_compatible_roles():
    people = index(ROWS, FACTS, TEXTS)
    # A report saying only "Peskov" is the collection's one Dmitry Peskov.
    assert people.identity_of("f", "Peskov") == people.identity_of("e", "Dmitry Peskov")
    # "Wong" with the role Joshua Wong has elsewhere is Joshua Wong; the student "named Wong" is nobody else.
    assert people.identity_of("d", "Wong") == people.identity_of("a", "Joshua Wong")
    assert people.identity_of("b", "Wong") not in {people.identity_of("a", "Joshua Wong"), None}
    assert people.identity_of("c", "Tak-Sing Wong") != people.identity_of("a", "Joshua Wong")


def test_a_one_word_name_with_other_roles_is_someone_else():
    facts = FACTS | {"d": FACTS["d"] | {"people": {"Wong": ["chef"]}}}
    people = index(ROWS, facts, TEXTS)
    assert people.identity_of("d", "Wong") != people.identity_of("a", "Joshua Wong")
    assert compatible_roles(["Kremlin spokesman"], ["spokesperson for the Kremlin"])
    assert compatible_roles([], ["chef"]) and not compatible_roles(["chef"], ["student protester"])


def test_candidates_for_a_name():
    people = index(ROWS, FACTS, TEXTS)
    assert [p.name for p in people.candidates("Joshua Wong")] == ["Joshua Wong"]
    assert [p.name for p in people.candidates("student protester Joshua Wong")] == ["Joshua Wong"]
    assert {p.name for p in people.candidates("Wong")} == {"Joshua Wong", "Tak-Sing Wong", "Wong"}
    assert [p.name for p in people.candidates("Peskov")] == ["Dmitry Peskov"]
    assert people.candidates("the finance minister") == []


def test_people_lists_who_is_quoted_with_filters():
    people = index(ROWS, FACTS, TEXTS)
    listed = people.people()
    names = [p["name"] for p in listed]
    assert names[:2] == ["Dmitry Peskov", "Joshua Wong"] and "police" not in names
    peskov = listed[0]
    assert peskov["statements"] == 3 and peskov["reports"] == 2
    assert (peskov["first"], peskov["last"]) == ("2023-03-20", "2023-03-21")
    assert peskov["roles"] == ["kremlin spokesman"]
    assert [p["name"] for p in people.people(Filters(("Daily",)))] == ["Dmitry Peskov"]
    assert people.people(Filters(("Daily",)))[0]["statements"] == 2
    assert {p["name"] for p in people.people(Filters((), "2019-09-01", "2019-12-31"))} == {"Joshua Wong", "Tak-Sing Wong"}
    # The cache's JSON form reads back the same.
    again = PeopleIndex.from_json(json.loads(json.dumps(people.to_json())))
    assert again.people() == listed and again.identity == people.identity


WONG_ARTICLES = [
    {
        "id": "withdrawal",
        "title": "Hong Kong leader announces withdrawal of extradition bill",
        "published": "2019-09-06",
        "source": "Wire",
        "text": '"Whenever there are signs of sending a palm branch," wrote student protester Joshua Wong on Twitter. '
        '"They have conceded nothing in fact, and a full-scale clampdown is on the way."',
    },
    {
        "id": "rainstorms",
        "title": "Hong Kong protests continue through rainstorms",
        "published": "2019-08-19",
        "source": "Wire",
        "text": "Protesters marched from Victoria Park despite the rain.\n\n"
        'A university student named Wong said, "Even though the weather was so bad, Hong Kong people never back down."',
    },
    {
        "id": "coating",
        "title": "Scientists invent coating for self-cleaning toilets",
        "published": "2019-11-21",
        "source": "Science Desk",
        "text": 'Study co-author Tak-Sing Wong said in a press release that the coating makes a toilet self-cleaning.',
    },
    {
        "id": "cousins",
        "title": "Two Lees at the council",
        "published": "2019-12-01",
        "source": "City Desk",
        "text": "Council member Anna Lee said the budget was too small. Her cousin, the architect Tom Lee, said the "
        "plans were ready.",
    },
]


@pytest.fixture(scope="module")
def wongs(tmp_path_factory, embedder, splitter):
    return ingested(tmp_path_factory.mktemp("people"), WONG_ARTICLES, embedder, splitter)


def test_a_student_named_wong_is_not_joshua_wong(wongs):
    answer = wongs.ask("What did Joshua Wong say?")
    assert {c.article_id for c in answer.citations} == {"withdrawal"}
    assert not answer.to_dict().get("speakers")


def test_an_ambiguous_name_is_said_and_its_candidates_listed(wongs):
    answer = wongs.ask("What did Wong say?")
    assert answer.answer.startswith("“Wong” may be more than one person")
    found = answer.to_dict()
    names = {s["name"] for s in found["speakers"]}
    assert {"Joshua Wong", "Tak-Sing Wong", "Wong"} <= names
    assert any("student" in " ".join(s["roles"]) for s in found["speakers"] if s["name"] == "Joshua Wong")
    assert all(g.get("speaker") for g in found["statements"])


def test_two_people_sharing_a_surname_in_one_report_stay_apart(wongs):
    anna = wongs.ask("What did Anna Lee say?")
    assert [c.quote for c in anna.citations] == ["Council member Anna Lee said the budget was too small."]
    tom = wongs.ask("What did Tom Lee say?")
    assert len(tom.citations) == 1 and "plans were ready" in tom.citations[0].quote


def test_service_people_and_the_cli(wongs):
    listed = wongs.people()
    names = [p["name"] for p in listed]
    assert {"Joshua Wong", "Tak-Sing Wong", "Wong", "Anna Lee", "Tom Lee"} <= set(names)
    joshua = next(p for p in listed if p["name"] == "Joshua Wong")
    assert joshua["statements"] == 2 and joshua["first"] == joshua["last"] == "2019-09-06"
    assert [p["name"] for p in wongs.people(Filters(("Science Desk",)))] == ["Tak-Sing Wong"]
    assert (wongs.settings.home / "people.json").is_file()  # a new process reads it, not every sentence
    home = str(wongs.settings.home)
    out = subprocess.run([str(QA), "people", "--json", "--home", home, "--source", "Science Desk"],
                         capture_output=True, text=True, check=True)
    assert [p["name"] for p in json.loads(out.stdout)] == ["Tak-Sing Wong"]
    out = subprocess.run([str(QA), "people", "--home", home, "--since", "2019-09", "--until", "2019-09"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("Joshua Wong (student protester): 2 statements in 1 report, 2019-09-06")


def test_a_one_word_name_several_people_fit_may_be_any_of_them():
    facts = {
        "a": {"published": "2020-01-01", "source": "Wire", "people": {"Donald Trump": ["president"]}},
        "b": {"published": "2020-01-02", "source": "Wire", "people": {"Melania Trump": ["first lady"]}},
        "c": {"published": "2020-01-03", "source": "Wire", "people": {}},
        "d": {"published": "2020-01-04", "source": "Wire", "people": {}},
    }
    rows = [("a", ("Donald Trump",)), ("b", ("Melania Trump",)), ("c", ("Trump",)), ("d", ("Trump's statement",))]
    texts = {"c": "Biden called Trump a liar. Trump said the election was stolen."}
    people = index(rows, facts, texts)
    alone = people.persons[people.identity_of("c", "Trump")]
    assert not alone.described  # "Biden called Trump a liar" describes nobody
    assert set(alone.maybe) == {people.identity_of("a", "Donald Trump"), people.identity_of("b", "Melania Trump")}
    # Asked for Donald Trump, the report that says only "Trump" may be his; Melania Trump's is not.
    assert {p.name for p in people.candidates("Donald Trump")} == {"Donald Trump", "Trump"}
    # Someone's statement is not someone: not listed, not a candidate.
    assert people.identity_of("d", "Trump's statement") is None
    assert "Trump's statement" not in {p["name"] for p in people.people()}
