"""Who said what, as news writes it: mentions resolved at ingest on the real spaCy pipeline.

Each article is written for the test, in the shape of one failure class of real reporting.
"""

from __future__ import annotations

import pytest

from index.attribution import SpeakerAttributor


@pytest.fixture(scope="module")
def attribute(splitter):
    attributor = SpeakerAttributor()

    def run(
        text: str, known_roles: dict[str, set[str]] | None = None
    ) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
        (parsed,) = splitter.parse([text])
        facts = attributor.attribute(text, parsed, known_roles).sentences
        return [(text[s.start : s.end], f.speakers, f.mentions) for s, f in zip(parsed, facts)]

    return run


def speakers(rows, fragment: str) -> tuple[str, ...]:
    (found,) = [who for text, who, _ in rows if fragment in text]
    return found


def mentions(rows, fragment: str) -> tuple[str, ...]:
    (found,) = [who for text, _, who in rows if fragment in text]
    return found


def test_a_role_noun_speaks_for_the_person_who_holds_the_role(attribute):
    rows = attribute(
        "Finance Minister Ana Ruiz said on Monday that the budget would grow next year.\n\n"
        "Opposition parties called the plan reckless.\n\n"
        "The minister added that the plan was final."
    )
    assert speakers(rows, "budget would grow") == ("Ana Ruiz",)
    assert speakers(rows, "The minister added") == ("Ana Ruiz",)


def test_an_appositive_role_is_learnt_too(attribute):
    rows = attribute(
        "Ana Ruiz, the finance minister, presented the budget on Monday.\n\nThe minister said the plan was final."
    )
    assert speakers(rows, "The minister said") == ("Ana Ruiz",)


def test_pronouns_after_a_named_speaker(attribute):
    rows = attribute(
        "The talks will continue next week, said Peter Novak. According to him, it is too early to discuss "
        "a date. He also said the president has no call planned with the chancellor."
    )
    assert speakers(rows, "too early") == ("Peter Novak",)
    assert speakers(rows, "no call planned") == ("Peter Novak",)
    assert "Peter Novak" in mentions(rows, "too early")


def test_a_pronoun_object_refers_to_someone_else_than_its_subject(attribute):
    rows = attribute(
        "Prime Minister Mary Smith arrived in Leeds by train on Monday.\n\n"
        "On arrival, Transport Minister Jane Doe greeted her on the platform."
    )
    assert mentions(rows, "greeted her") == ("Jane Doe", "Mary Smith")


def test_a_quotation_over_several_sentences_belongs_to_its_speaker(attribute):
    rows = attribute(
        'Engineer Chidi Okafor said: "The bridge is safe. We checked every bolt. It will reopen on Friday."\n\n'
        "Traffic was diverted in the meantime."
    )
    assert speakers(rows, "We checked every bolt") == ("Chidi Okafor",)
    assert speakers(rows, "reopen on Friday") == ("Chidi Okafor",)
    assert speakers(rows, "Traffic was diverted") == ()


def test_a_speaker_named_after_the_quotation_closes(attribute):
    rows = attribute(
        "“The harbour will reopen in May. Every crane has been checked,” harbour master Lena Vos said.\n\n"
        "“We are ready.”"
    )
    assert speakers(rows, "reopen in May") == ("Lena Vos",)
    assert speakers(rows, "We are ready") == ("Lena Vos",)  # a quoted paragraph goes on quoting her


def test_the_two_leaders_are_the_last_two_people_named(attribute):
    rows = attribute(
        "President Anna Berg met Chancellor Tom Weiss in Vienna on Tuesday.\n\n"
        "The two leaders said they had agreed on a new trade deal."
    )
    assert set(speakers(rows, "The two leaders")) == {"Anna Berg", "Tom Weiss"}


def test_the_two_countries_are_not_people(attribute):
    rows = attribute("Anna Berg met Tom Weiss in Vienna. The two countries signed a treaty.")
    assert mentions(rows, "The two countries") == ()


def test_an_interview_answer_belongs_to_its_label(attribute):
    rows = attribute(
        "Wikinews: Why did you start the project?\n\n"
        "Hugh Carver: I think free books matter. Everyone should read.\n\n"
        "Wikinews: Do you record audiobooks?\n\n"
        "Hugh Carver: Yes, every week."
    )
    assert speakers(rows, "Everyone should read") == ("Hugh Carver",)
    assert speakers(rows, "Do you record") == ("Wikinews",)
    rows = attribute(
        "((WN)) How did you find the project?\n\n((Perttu Ahola)) Hi. I found it by chance in 2010.\n\n"
        "((WN)) What came next?\n\n((Perttu Ahola)) A lot of work on the engine."
    )
    assert speakers(rows, "found it by chance") == ("Perttu Ahola",)
    assert speakers(rows, "work on the engine") == ("Perttu Ahola",)


def test_a_role_tied_to_one_name_in_the_collection_links_across_reports(attribute):
    text = "The finance minister said the plan was final.\n\nCritics disagreed."
    assert speakers(attribute(text, {"finance minister": {"Ana Ruiz"}}), "plan was final") == ("Ana Ruiz",)
    # Two finance ministers in the collection: which one is not known, so nobody is guessed.
    ambiguous = {"finance minister": {"Ana Ruiz", "Jon Bell"}}
    assert speakers(attribute(text, ambiguous), "plan was final") == ("finance minister",)
    # A bare role noun ("the minister", "the victim") is too common to name someone across reports.
    bare = "The minister said the plan was final."
    assert speakers(attribute(bare, {"minister": {"Ana Ruiz"}}), "plan was final") == ("minister",)
