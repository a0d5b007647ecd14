"""Who said what, answered: each failure class of real reporting, on small articles written for the test,
through the real service (spaCy, the embedding model, Chroma, BM25)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from conftest import assert_quotes_exact, ingested

from qa.readers import NO_ANSWER

ARTICLES = [
    {
        "id": "budget",
        "title": "Budget passes",
        "published": "2024-02-01",
        "source": "City Desk",
        "text": "Finance Minister Ana Ruiz said on Monday that the budget would grow next year.\n\n"
        "Opposition parties called the plan reckless and promised to fight it in parliament.\n\n"
        "The minister added that the plan was final.",
    },
    {
        "id": "talks",
        "title": "Talks go on",
        "published": "2024-02-02",
        "source": "Wire",
        "text": "The border talks will continue next week, said Peter Novak. According to him, it is too early "
        "to discuss a date. He also said the president has no call planned with the chancellor.",
    },
    {
        "id": "visit",
        "title": "Prime minister in Leeds",
        "published": "2024-02-03",
        "source": "North News",
        "text": "Prime Minister Mary Smith arrived in Leeds by train on Monday for a two-day visit.\n\n"
        "On arrival, Transport Minister Jane Doe greeted her on the platform of the station.",
    },
    {
        "id": "bridge",
        "title": "Bridge to reopen",
        "published": "2024-02-04",
        "source": "Wire",
        "text": 'Engineer Chidi Okafor said: "The bridge is safe. We checked every bolt. It will reopen on Friday."\n\n'
        "Traffic was diverted through the old town in the meantime.",
    },
    {
        "id": "summit",
        "title": "Vienna summit",
        "published": "2024-02-05",
        "source": "Wire",
        "text": "President Anna Berg met Chancellor Tom Weiss in Vienna on Tuesday.\n\n"
        "The two leaders said they had agreed on a new trade deal for farm goods.",
    },
    {
        "id": "tour-review",
        "title": "What a Tour",
        "published": "2021-07-19",
        "source": "Cycling Blog",
        "text": "The 2021 Tour de France is in the books, and what a Tour it was!\n\nFans lined the roads again.",
    },
    {
        "id": "tour-result",
        "title": "Pogacar again",
        "published": "2021-07-18",
        "source": "Wire",
        "text": "Tadej Pogacar won the Tour de France in Paris on Sunday, his second overall victory.\n\n"
        "The Slovenian rider finished more than five minutes ahead.",
    },
    {
        "id": "mayor",
        "title": "Mayor on the budget",
        "published": "2024-03-01",
        "source": "City Desk",
        "text": "Mayor Lisa Grant was asked on Friday whether the city budget would grow next year.\n\n"
        "“We will see in the spring,” she said.",
    },
    {
        "id": "stadium",
        "title": "Stadium approved",
        "published": "2024-03-02",
        "source": "City Desk",
        "text": "The city council approved the new football stadium on Monday. It will cost 40 million euros, "
        "paid over ten years.",
    },
    {
        "id": "drones",
        "title": "Drones hit oil plant",
        "published": "2024-03-03",
        "source": "Wire",
        "text": "Houthi military spokesperson Yahya Sarea said the group had used ten drones in the attack.\n\n"
        '"These attacks are our right, and we warn the Saudis that our targets will keep expanding," Saree said.',
    },
    {
        "id": "trial",
        "title": "Eczema trial goes on",
        "published": "2024-03-04",
        "source": "Court Desk",
        "text": "Prosecutor Mark Tedeschi said the evidence was strong, and the Crown argued that the parents knew.\n\n"
        'Crown Prince Mohammad bin Salman of Saudi Arabia said in an interview that the killing "happened under '
        'my watch".\n\nThe head of the internal investigators told the court "Basic checks were not done."',
    },
    {
        "id": "arms-sale",
        "title": "Hungary buys arms maker",
        "published": "2024-03-05",
        "source": "Wire",
        "text": "Government commissioner Gáspár Maróth said the Hungarian bid won after long talks.\n\n"
        "He said he expects no political turmoil between Austria and Hungary over the sale.\n\n"
        "His wife, Eva Kiss, attended the signing in Budapest.",
    },
    {
        "id": "debates",
        "title": "Debate cancelled",
        "published": "2024-03-06",
        "source": "Wire",
        "text": "The second presidential debate between Lena Ortiz and Mark Hale, planned for October 15 in Miami, "
        "was cancelled on Friday.\n\nThe final debate is still scheduled for October 22 at Belmont University in "
        "Nashville.",
    },
    {
        "id": "lawsuit",
        "title": "States sue over emergency",
        "published": "2024-03-07",
        "source": "Wire",
        "text": "Sixteen states filed a lawsuit against the emergency declaration on Monday, saying the wall "
        "would divert funds from schools.\n\nThe lawsuit was filed in the U.S. District Court for the Northern "
        "District of California.",
    },
    {
        "id": "cases",
        "title": "Cases pass 126,000",
        "published": "2020-03-12",
        "source": "Wire",
        "text": "As of Thursday, the Associated Press reported at least 126,000 cases of COVID-19 worldwide.",
    },
    {
        "id": "boat-fire",
        "title": "Dive boat fire",
        "published": "2024-03-08",
        "source": "Coast Desk",
        "text": "A fire broke out on the dive boat Conception before dawn on Monday.\n\n"
        "Authorities have not named a cause for the fire.\n\n"
        "One crew member, who has not been named, died in hospital in Santa Barbara.\n\n"
        "Divers said they were attacked by two guides and an unidentified third guide.",
    },
    {
        "id": "relief",
        "title": "Helicopters carry aid",
        "published": "2024-03-09",
        "source": "Wire",
        "text": '"We are relying on helicopters because that is the only way to reach the villages," said Michael '
        "Elmquist, head of the UN relief operation in the region.\n\nRoads in the north remain closed.",
    },
    {
        "id": "stabbing",
        "title": "Mayor stabbed",
        "published": "2024-03-11",
        "source": "Wire",
        "text": "Interior Minister Joachim Brudzinski said the attack was an act of barbarity.\n\n"
        "Police chief Greg Allen said the attacker, Adam Nowak, had a knife.",
    },
    {
        "id": "rules",
        "title": "Rules start in May",
        "published": "2024-03-12",
        "source": "Wire",
        "text": "Minister said the new rules on masks would start in May.",
    },
    {
        "id": "veil-decree",
        "title": "Prime minister signs decree to ban face veils in public offices",
        "published": "2024-03-13",
        "source": "Wire",
        "text": "The prime minister signed a decree on Friday that bars anyone whose face is covered from public "
        "offices.\n\n"
        "Speaking to Agence France-Presse, the president of the National League for Civil Rights, Ahmed Mansour, "
        'said, "We are for the freedom to dress, but with the current threats we find justifications for this '
        'decision."\n\nA niqab is a face veil worn by some Muslim women.',
    },
    {
        "id": "reading",
        "title": "Three killed in Reading stabbing",
        "published": "2024-03-14",
        "source": "Wire",
        "text": "Police chief Neil Barton said on Sunday that officers found nothing inconsistent with the attacker "
        "acting alone. He also said there was no sign of a wider threat to crowded places.\n\n"
        "Oleksiy Danilov said Ukraine would keep fighting whatever happened.",
    },
    {
        "id": "diver-search",
        "title": "Search for diver ends",
        "published": "2024-03-10",
        "source": "Coast Desk",
        "text": "USCG Captain Ann Vega told reporters the search for the missing diver had ended.\n\n"
        "Volunteers from a local diving club had joined the search on Sunday.",
    },
]


@pytest.fixture(scope="module")
def news(tmp_path_factory, embedder, splitter):
    return ingested(tmp_path_factory.mktemp("who-said-what"), ARTICLES, embedder, splitter)


@pytest.fixture(scope="module")
def news_rules(news):
    """The same collection read by the rules reader (QA_READER=rules): the statement reader's topic
    rules answer "What did X say about Y?" there. The learned reader (the default) weighs them as
    features instead; the near misses below it still answers are listed in LEARNED_MISSES."""
    from qa.service import QAService

    return QAService(news.settings.model_copy(update={"reader": "rules"}), embedder=news.embedder, splitter=news.splitter)


def quotes(answer) -> list[str]:
    return [c.quote for c in answer.citations]


def test_role_noun_statements_are_the_persons(news):
    answer = news.ask("What did Ruiz say about the plan?")
    assert quotes(answer) == ["The minister added that the plan was final."]
    everything = news.ask("What did the finance minister say?")
    assert len(everything.citations) == 2
    assert_quotes_exact(news, everything)


def test_pronoun_statements_are_the_persons_and_pass_the_name_check(news_rules):
    answer = news_rules.ask("What did Novak say?")
    assert len(answer.citations) == 3
    on_topic = news_rules.ask("What did Novak say about the chancellor?")
    assert quotes(on_topic) == ["He also said the president has no call planned with the chancellor."]


def test_a_person_named_by_a_pronoun_in_the_evidence(news):
    answer = news.ask("Who greeted the prime minister at the station?")
    assert quotes(answer) == ["On arrival, Transport Minister Jane Doe greeted her on the platform of the station."]
    assert answer.short_answer is not None and answer.short_answer.text == "Jane Doe"
    assert_quotes_exact(news, answer)


def test_every_sentence_of_a_quotation_is_its_speakers(news):
    answer = news.ask("What did Okafor say?")
    assert len(answer.citations) == 3 and "reopen on Friday" in quotes(answer)[-1]
    assert news.ask("When will the bridge reopen, according to Okafor?").citations


def test_the_two_leaders_speak_for_both(news):
    for who in ("Berg", "Weiss"):
        answer = news.ask(f"What did {who} say?")
        assert any("new trade deal" in q for q in quotes(answer)), who


def test_a_who_question_wants_a_person_not_the_question_repeated(news):
    answer = news.ask("Who won the 2021 Tour de France?")
    assert quotes(answer)[0].startswith("Tadej Pogacar won the Tour de France")
    assert answer.short_answer is not None and answer.short_answer.text == "Tadej Pogacar"
    assert_quotes_exact(news, answer)


def test_an_absent_asked_for_thing_means_abstaining(news_rules):
    answer = news_rules.ask("Which trade deals did Smith and Doe sign in Leeds?")
    assert answer.abstained and answer.answer == NO_ANSWER


def test_a_statement_is_matched_with_its_lead_in(news):
    answer = news.ask("What did Grant say when asked whether the budget would grow?")
    assert quotes(answer)[-1] == "“We will see in the spring,” she said."
    assert quotes(answer)[0].startswith("Mayor Lisa Grant was asked")


def test_a_sentence_that_leans_on_the_one_before_is_cited_with_it(news_rules):
    answer = news_rules.ask("How much will the new football stadium cost?")
    assert quotes(answer) == [
        "The city council approved the new football stadium on Monday.",
        "It will cost 40 million euros, paid over ten years.",
    ]
    assert answer.short_answer is not None and answer.short_answer.text == "40 million euros"
    assert answer.to_dict()["short_answer"]["text"] == "40 million euros"


def test_a_speaker_who_is_only_part_of_the_asked_phrase_must_end_as_it_does(news):
    answer = news.ask("What did the Saudi crown prince say?")
    assert quotes(answer) == [
        (
            "Crown Prince Mohammad bin Salman of Saudi Arabia said in an interview that the killing "
            '"happened under my watch".'
        )
    ]


def test_a_group_speaks_through_its_spokesperson(news):
    answer = news.ask("What did the Houthis say?")
    assert len(answer.citations) == 2 and "targets will keep expanding" in quotes(answer)[-1]
    assert_quotes_exact(news, answer)


def test_what_x_told_someone_is_everything_x_told_them(news):
    answer = news.ask("What did the head of the internal investigators tell the court on Monday?")
    assert quotes(answer) == ['The head of the internal investigators told the court "Basic checks were not done."']


def test_a_role_asked_with_what_qualifies_it_is_not_any_holder_of_the_role(news):
    # Both speakers are a "head": what follows "of" says which one is asked for.
    investigators = news.ask("What did the head of the internal investigators say?")
    assert quotes(investigators) == ['The head of the internal investigators told the court "Basic checks were not done."']
    relief = news.ask("What did the head of the UN relief operation say?")
    assert len(relief.citations) == 1 and "relying on helicopters" in quotes(relief)[0]


def test_a_statement_pointing_to_the_reported_decision_is_on_its_topic(news_rules):
    # "this decision" is the decree of the report's title; the statement names neither niqab nor ban.
    expected = "We are for the freedom to dress"
    for question in (
        "What did Ahmed Mansour say about the niqab ban?",
        "What did the president of the civil rights league say about the niqab ban?",
    ):
        answer = news_rules.ask(question)
        assert len(answer.citations) == 1 and expected in quotes(answer)[0], question
    # A topic the report is not about is still not answered by it.
    assert news_rules.ask("What did Ahmed Mansour say about the budget?").abstained


def test_a_statement_in_a_report_whose_title_names_the_whole_topic_is_on_it(news_rules):
    answer = news_rules.ask("What did Neil Barton say about the Reading stabbing?")
    assert len(answer.citations) == 2 and "nothing inconsistent" in quotes(answer)[0]
    # A topic of names only ("Reading") is what the whole report is about, not what each statement says.
    assert news_rules.ask("What did Oleksiy Danilov say about Reading?").abstained


def test_a_bare_title_is_no_name_for_a_described_person(news):
    # "Minister" alone (a title the small parser took for a name) is not "Poland's interior minister".
    answer = news.ask("What did Poland's interior minister say?")
    assert quotes(answer) == ["Interior Minister Joachim Brudzinski said the attack was an act of barbarity."]


def test_someone_elses_words_about_x_are_not_xs(news):
    # Nothing is attributed to Nowak: the police chief's sentence naming him is not what he said.
    assert news.ask("What did Adam Nowak say?").abstained


def test_a_body_asked_in_full_is_its_acronym(news):
    answer = news.ask("What did the Coast Guard captain say?")
    assert quotes(answer) == ["USCG Captain Ann Vega told reporters the search for the missing diver had ended."]
    assert news.ask("What did the Border Guard captain say?").abstained


def test_a_topic_is_matched_by_meaning_unless_it_is_another_person(news_rules):
    answer = news_rules.ask("What did Maróth say about relations with Austria over the sale?")
    assert quotes(answer) == ["He said he expects no political turmoil between Austria and Hungary over the sale."]
    # "wife" is a noun the collection uses for people: a statement must then say it.
    assert news_rules.ask("What did Maróth say about the commissioner's wife?").abstained


def test_a_topic_beyond_names_must_be_spoken_of(news_rules):
    answer = news_rules.ask("What did the Houthis say about Yahya Sarea's successor?")
    assert answer.abstained and answer.answer == NO_ANSWER


def test_an_ordinal_says_which_one_is_asked_for(news):
    answer = news.ask("Where is the final debate between Ortiz and Hale to be held?")
    # The sentence before is cited for the names the question gives; the answer is the final debate's.
    assert (
        quotes(answer)[-1] == "The final debate is still scheduled for October 22 at Belmont University in Nashville."
    )
    assert answer.short_answer is not None and answer.short_answer.text in ("Belmont University", "Nashville")
    # No report says anything of a third debate: the second and the final are other debates.
    assert news.ask("Where is the third debate between Ortiz and Hale to be held?").abstained


def test_which_noun_is_answered_by_a_sentence_that_has_the_noun(news):
    answer = news.ask("In which court did the states file their lawsuit against the emergency?")
    assert "The lawsuit was filed in the U.S. District Court for the Northern District of California." in quotes(answer)


def test_a_hyphenated_name_in_the_question_is_found_whole(news):
    answer = news.ask("How many COVID-19 cases had the Associated Press reported?")
    assert quotes(answer) == [
        "As of Thursday, the Associated Press reported at least 126,000 cases of COVID-19 worldwide."
    ]
    assert answer.short_answer is not None and "126,000" in answer.short_answer.text


def test_a_sentence_saying_the_asked_thing_is_not_known_is_no_answer(news):
    for question in ("What caused the fire on the Conception?", "What is the name of the third guide?"):
        answer = news.ask(question)
        assert answer.abstained and answer.answer == NO_ANSWER, question
    # Another thing not known ("who has not been named") does not stop an answer about where.
    answer = news.ask("Where did the crew member die?")
    assert quotes(answer)[0] == "One crew member, who has not been named, died in hospital in Santa Barbara."


@pytest.mark.xfail(strict=True, reason="a known miss of the learned reader: a runner-up about the guides joins (docs/reader.md)")
def test_where_the_crew_member_died_is_answered_by_that_sentence_alone(news):
    answer = news.ask("Where did the crew member die?")
    assert quotes(answer) == ["One crew member, who has not been named, died in hospital in Santa Barbara."]


# -- at collection scale: grouped by report, bounded, narrowed, each statement cited once --------------

IVANOVA = [
    {
        "id": "bridge-1",
        "title": "Bridge to reopen in June",
        "published": "2023-03-20",
        "source": "Wire",
        "text": "Transport Minister Olga Ivanova said the bridge would reopen in June.\n\n"
        "She told Reuters the repairs had cost 40 million euros.\n\n"
        '"We are on schedule," Ivanova said.',
    },
    {
        "id": "ferry",
        "title": "Ferry keeps running",
        "published": "2023-03-21",
        "source": "The Guardian",
        "text": "Olga Ivanova told the Guardian that the ferry would run until the summer.\n\n"
        "The council approved the ferry service last year.\n\n"
        "Transport Minister Olga Ivanova said the bridge would reopen in June.",
    },
    {
        "id": "hearing",
        "title": "Minister questioned on transport",
        "published": "2023-04-02",
        "source": "Wire",
        "text": "Olga Ivanova spoke at a hearing on Tuesday.\n\n"
        + "\n\n".join(
            f"Minister Olga Ivanova said the {thing} would be ready by {month}."
            for thing, month in [
                ("tram line", "May"), ("bus depot", "July"), ("ring road", "August"), ("cycle lane", "September"),
                ("train station", "October"), ("harbour wall", "November"), ("tunnel", "December"),
                ("airport link", "January"), ("car park", "February"), ("footbridge", "March"),
            ]
        ),
    },
]


@pytest.fixture(scope="module")
def ivanova(tmp_path_factory, embedder, splitter):
    return ingested(tmp_path_factory.mktemp("ivanova"), IVANOVA, embedder, splitter)


def test_statements_are_grouped_by_report_newest_first_and_bounded(ivanova):
    answer = ivanova.ask("What did Ivanova say?")
    found = answer.to_dict()
    groups = found["statements"]
    assert [g["article_id"] for g in groups] == ["hearing", "ferry", "bridge-1"]
    assert groups[0]["title"] == "Minister questioned on transport" and groups[0]["source"] == "Wire"
    assert groups[0]["published"] == "2023-04-02"
    items = [i for g in groups for i in g["items"]]
    # At most 12 shown and cited, the rest counted; the JSON holds them all.
    assert len(answer.citations) == 12 and [i["n"] for i in items[:12]] == list(range(1, 13))
    assert all(i["n"] is None for i in items[12:])
    left = len(items) - 12
    assert found["more"]["statements"] == left and left > 0
    assert answer.answer.endswith(f"{left} more statement{'s' if left > 1 else ''} in {found['more']['reports']} "
                                  f"report{'s' if found['more']['reports'] > 1 else ''}.")
    assert answer.answer.startswith("Minister questioned on transport (Wire, 2023-04-02):\n")
    for g in groups:  # in their order in the text
        assert [i["start"] for i in g["items"]] == sorted(i["start"] for i in g["items"])
    assert_quotes_exact(ivanova, answer)
    everything = ivanova.ask("What did Ivanova say?", oldest_first=True).to_dict()["statements"]
    assert [g["article_id"] for g in everything] == ["bridge-1", "ferry", "hearing"]


def test_each_statement_is_marked_direct_or_reported(ivanova):
    groups = ivanova.ask("What did Ivanova say?", oldest_first=True).to_dict()["statements"]
    kinds = {i["quote"]: i["kind"] for g in groups for i in g["items"]}
    assert kinds['"We are on schedule," Ivanova said.'] == "direct"
    assert kinds["She told Reuters the repairs had cost 40 million euros."] == "reported"


def test_a_sentence_repeated_word_for_word_is_cited_once(ivanova):
    groups = ivanova.ask("What did Ivanova say?", oldest_first=True).to_dict()["statements"]
    repeated = "Transport Minister Olga Ivanova said the bridge would reopen in June."
    items = [i for g in groups for i in g["items"] if i["quote"] == repeated]
    assert len(items) == 1 and [c["article_id"] for c in items[0]["also_in"]] == ["ferry"]
    answer = ivanova.ask("What did Ivanova say?", oldest_first=True)
    cited = [c for c in answer.citations if c.quote == repeated]
    assert len(cited) == 1 and cited[0].article_id == "bridge-1"
    assert any(a["article_id"] == "ferry" for a in cited[0].also_in)


def test_what_x_said_on_a_day_in_a_month_to_someone_or_in_a_source(ivanova):
    def reports(question):
        return {c.article_id for c in ivanova.ask(question).citations}

    assert reports("What did Ivanova say on 21 March?") == {"ferry"}
    # A report of the next day may tell what was said the day before ("yesterday").
    assert reports("What did Ivanova say on March 20, 2023?") == {"bridge-1", "ferry"}
    # A month is matched as before (qa/questions.py AskedDate: the report's month, a month either side, or named).
    assert reports("What did Ivanova say in March 2023?") >= {"bridge-1", "ferry"}
    assert ivanova.ask("What did Ivanova say in 2022?").abstained
    to_reuters = ivanova.ask("What did Ivanova say to Reuters?")
    assert [c.quote for c in to_reuters.citations] == ["She told Reuters the repairs had cost 40 million euros."]
    assert reports("What did Ivanova tell Reuters?") == {"bridge-1"}
    assert reports("What did Ivanova say in the Guardian?") == {"ferry"}
    assert ivanova.ask("What did Ivanova say to the BBC?").abstained
    assert ivanova.ask("What did Ivanova say on 5 May?").abstained


@pytest.mark.xfail(
    strict=True,
    reason="a known miss of the learned reader since stop 22: over three short reports its best sentence, the "
    "right one, gets 0.108, under the threshold of 0.13, and it abstains (docs/reader.md)",
)
def test_statements_about_a_topic_are_ranked_by_relevance(ivanova):
    answer = ivanova.ask("What did Ivanova say about the ferry?")
    assert answer.citations and answer.citations[0].article_id == "ferry"


# Near misses and neighbours the learned reader (the default) still gets wrong on this small
# collection, kept as known failures (strict: one it starts getting right fails here, so the list
# stays true). On the labelled Wikinews questions, grouped cross-validation: "What did X say …?"
# right 0.72, its unanswerable ones abstained 0.48 (docs/reader.md).
LEARNED_MISSES = [
    "What did Oleksiy Danilov say about Reading?",
    "What did the Houthis say about Yahya Sarea's successor?",
]


@pytest.mark.xfail(strict=True, reason="a known miss of the learned reader (docs/reader.md)")
@pytest.mark.parametrize("question", LEARNED_MISSES)
def test_near_misses_the_learned_reader_still_answers(news, question):
    assert news.ask(question).abstained


def test_a_near_miss_about_deals_nobody_signed_is_abstained_on(news):
    """A known miss until stop 22, when the tuned question encoder joined the ranker's features."""
    assert news.ask("Which trade deals did Smith and Doe sign in Leeds?").abstained


def test_a_cost_in_a_sentence_leaning_on_the_one_before_is_quoted(news):
    """A known miss until stop 22 (it abstained), when the tuned question encoder joined the ranker's features."""
    answer = news.ask("How much will the new football stadium cost?")
    assert "40 million euros" in " ".join(quotes(answer))
    assert_quotes_exact(news, answer)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did Novak say about the chancellor?", "He also said the president has no call planned with the chancellor."),
        ("What did Maróth say about relations with Austria over the sale?", "He said he expects no political turmoil"),
        ("What did Ahmed Mansour say about the niqab ban?", "We are for the freedom to dress"),
        ("What did Neil Barton say about the Reading stabbing?", "nothing inconsistent"),
    ],
)
def test_the_learned_reader_cites_xs_statement_on_the_topic(news, question, expected):
    answer = news.ask(question)
    assert any(expected in q for q in quotes(answer)), question
    assert_quotes_exact(news, answer)


def test_a_statement_written_after_a_question_is_in_the_next_answer(tmp_path, embedder, splitter):
    """The statements read for a name are kept between questions; a write makes them read again."""
    service = ingested(tmp_path, IVANOVA[:2], embedder, splitter)
    before = service.ask("What did Ivanova say?")
    counted = next(p["statements"] for p in service.people() if p["name"] == "Olga Ivanova")
    service.add_text("Trams at night", "Transport Minister Olga Ivanova said the trams would run all night.",
                     published="2023-05-01", source="Wire")
    after = service.ask("What did Ivanova say?").to_dict()
    assert after["statements"][0]["title"] == "Trams at night"
    assert after["statements"][0]["items"][0]["quote"].endswith("the trams would run all night.")
    assert len(after["citations"]) == len(before.citations) + 1
    assert next(p["statements"] for p in service.people() if p["name"] == "Olga Ivanova") == counted + 1


def test_a_speakers_sentences_read_in_small_gets_are_those_of_one_get(ivanova, monkeypatch):
    import index.store

    store = ivanova.store
    whole = store.sentences_by_speaker(["ivanova", "olga"])
    rows = store.speaker_rows()
    monkeypatch.setattr(index.store, "ROWS_A_GET", 2)
    assert store.sentences_by_speaker(["ivanova", "olga"]) == whole and len(whole) > 2
    assert store.speaker_rows() == rows


def test_statements_read_while_a_write_is_noticed_are_not_kept(ivanova, monkeypatch):
    """A question reading a name's statements while another notices a write keeps nothing it read: the
    real read of the statements kept beside the store, with another question catching up with a write
    during the first of them."""
    reader, kept = ivanova.statements, ivanova.people_directory.statements  # the statements kept beside the store
    read_from_file = kept.rows
    reads = []

    def read_while_another_question_catches_up(keys):
        rows = read_from_file(keys)
        reads.append(keys)
        if len(reads) == 1:
            reader.forget_collection()  # what another question does when it notices a write
        return rows

    monkeypatch.setattr(kept, "rows", read_while_another_question_catches_up)
    reader.forget_collection()
    said = [reader._said(["ivanova"]) for _ in range(3)]
    assert said[0] and said[0] == said[1] == said[2]
    assert len(reads) == 2  # the first read was not kept, the second was


def test_the_chat_shows_statements_by_report_then_the_rest_under_more_and_can_show_quotations_only(ivanova):
    """On the screen (ui/render.py): each report's heading once, the 12 numbered statements under it, the
    rest behind "K more statements in M reports" with links to their exact spans; reported speech is
    marked, and "Direct quotations only" leaves it out."""
    from urllib.parse import unquote

    from ui.render import CITE_PREFIX, answer_message, escape_markdown

    answer = ivanova.ask("What did Ivanova say?")
    found = answer.to_dict()
    shown = answer_message(answer)
    heads = [f"**{escape_markdown(g['title'])}** — {escape_markdown(g['source'])}, {escape_markdown(g['published'])}"
             for g in found["statements"]]
    at = [shown.find(h) for h in heads if h in shown]
    assert at and at == sorted(at) and shown.count(heads[0]) == 1
    more = found["more"]
    assert (f"<details><summary>{more['statements']} more statements in {more['reports']} "
            f"report{'s' if more['reports'] != 1 else ''}</summary>") in shown
    hidden = shown.split("<details>", 1)[1]
    spans = [unquote(ref).rsplit("|", 2) for ref in re.findall(re.escape(CITE_PREFIX) + r"([^)\s]+)\)", hidden)]
    assert len(spans) == more["statements"]
    texts = {a.id: a.text for a in ivanova.articles([article_id for article_id, _, _ in spans])}
    quotes = {i["quote"] for g in found["statements"] for i in g["items"] if i["n"] is None}
    assert {texts[a][int(s):int(e)] for a, s, e in spans} == quotes  # each link is the statement's exact span
    assert escape_markdown("She told Reuters the repairs had cost 40 million euros.") + " — *reported speech*" in shown
    direct = answer_message(answer, direct_only=True)
    assert "reported speech" not in direct and "40 million" not in direct
    assert escape_markdown('"We are on schedule," Ivanova said.') in direct
    directs = [i for g in found["statements"] for i in g["items"] if i["kind"] == "direct"]
    assert all(escape_markdown(" ".join(i["quote"].split())) in direct for i in directs)


def test_a_speakers_statements_are_kept_in_a_file_beside_the_store_as_the_store_has_them(ivanova):
    """"What did X say?" reads X's sentences from `statements.sqlite3` (qa/people.py StatementIndex), made
    at warm-up: the rows the store gives for the same words, and a new service on the home answers alike."""
    from qa.service import QAService

    ivanova.warm_up()
    assert (ivanova.settings.home / "statements.sqlite3").is_file()
    kept = ivanova.people_directory.statements
    for words in (["ivanova"], ["ivanova", "olga"], ["minister"], ["nobody"]):
        assert sorted(kept.rows(words), key=lambda sp: sp[0].id) == sorted(
            ivanova.store.sentences_by_speaker(words), key=lambda sp: sp[0].id)
    assert sorted(kept.speaker_rows()) == sorted(ivanova.store.speaker_rows())
    again = QAService(ivanova.settings, embedder=ivanova.embedder, splitter=ivanova.splitter)
    assert again.ask("What did Ivanova say?").to_dict()["statements"] == ivanova.ask("What did Ivanova say?").to_dict()["statements"]


def test_the_file_of_statements_follows_a_write_by_another_process(tmp_path, embedder, splitter):
    """A `qa` process adds, then deletes, a report quoting X: the statements file beside the store reads the
    changed article again (and drops the deleted one) when the collection is seen to change, and the next
    answer has it (then not)."""
    import subprocess

    from conftest import QA, cli_env

    service = ingested(tmp_path, IVANOVA[:2], embedder, splitter)
    service.warm_up()
    before = service.ask("What did Ivanova say?")
    home = service.settings.home
    added = subprocess.run([str(QA), "add", "--title", "Trams at night", "--date", "2023-05-01", "--source", "Wire"],
                           input="Transport Minister Olga Ivanova said the trams would run all night.",
                           env=cli_env(home), capture_output=True, text=True, timeout=600)
    assert added.returncode == 0, added.stderr[-3000:]
    after = service.ask("What did Ivanova say?").to_dict()
    assert after["statements"][0]["items"][0]["quote"].endswith("the trams would run all night.")
    assert len(after["citations"]) == len(before.citations) + 1
    kept = service.people_directory.statements
    assert any(s.text.endswith("run all night.") for s, _ in kept.rows(["ivanova"]))
    deleted = subprocess.run([str(QA), "delete", after["statements"][0]["article_id"]], env=cli_env(home),
                             capture_output=True, text=True, timeout=600)
    assert deleted.returncode == 0, deleted.stderr[-3000:]
    assert service.ask("What did Ivanova say?").to_dict()["citations"] == before.to_dict()["citations"]
    assert not any(s.text.endswith("run all night.") for s, _ in kept.rows(["ivanova"]))
    filed = sqlite3.connect(home / "statements.sqlite3").execute("SELECT text FROM statements").fetchall()
    assert filed and not any(t.endswith("run all night.") for (t,) in filed)  # the deleted report's rows are gone


def test_a_speaker_quoted_very_often_is_read_on_a_topic_among_the_statements_nearest_to_it(ivanova, monkeypatch):
    """Past _TOPIC_SCAN statements (thousands in a large collection), "What did X say about Y?" scores only
    X's _TOPIC_NEAREST statements nearest to Y in meaning, and a reader that weighs who speaks reads those
    beside the retrieved passages, not every statement of X's. Here both are made small."""
    import qa.quotes
    from qa.quotes import parse_speaker_question

    asked = parse_speaker_question("What did Ivanova say about the footbridge?")
    whole = ivanova.statements.read(asked)
    monkeypatch.setattr(qa.quotes, "_TOPIC_SCAN", 3)
    monkeypatch.setattr(qa.quotes, "_TOPIC_NEAREST", 2)
    narrowed = ivanova.statements.read(asked)
    assert len(narrowed.passages) == 2 < len(whole.passages)
    assert [c.quote for c in narrowed.citations] == [c.quote for c in whole.citations]
    assert "footbridge" in narrowed.citations[0].quote
    answer = ivanova.ask("What did Ivanova say about the footbridge?")
    assert answer.citations and "footbridge" in answer.citations[0].quote


def test_a_sentence_repeated_in_thousands_of_reports_is_cited_once_in_linear_time():
    """A frequent speaker's sentence in 14,000 reports (wire copies: 100,000 chunks hold such runs): kept once,
    every other report listed once in its `also_in`, in order, and a report that repeats it twice listed once.
    The reports already listed were found by scanning the list at each copy (quadratic: 4.3 s of CPU here, 2.2 s at
    10,000; about 0.3 s of the most quoted speaker's first asking at 100,000 chunks)."""
    import time

    from index.store import statement
    from qa.quotes import _cited_once

    said = "Mayor Mara Quill said the money would repair 12 bridges before winter."

    def row(n: int, index: int = 1):
        article_id = f"report-{n:05d}"
        meta = {"article_id": article_id, "index": index, "start": 40 * index, "end": 40 * index + len(said),
                "chunk_id": f"{article_id}:v:c0", "speakers": ["Mara Quill"], "speaker_keys": ["mara", "quill"],
                "title": f"Council report {n}", "published": "2020-01-02", "source": "Scale Wire", "version": "v"}
        return statement(f"{article_id}:v:s{index}", meta, said)

    rows = [row(n) for n in range(14_000)] + [row(1, index=3)]  # report 1 says it twice
    started = time.process_time()
    kept, repeats = _cited_once(rows)
    spent = time.process_time() - started
    assert kept == rows[:1]
    listed = [copy["article_id"] for copy in repeats[rows[0][0].id]]
    assert listed == [f"report-{n:05d}" for n in range(1, 14_000)]
    assert repeats[rows[0][0].id][0] == {
        "article_id": "report-00001", "title": "Council report 1", "source": "Scale Wire", "url": None,
        "published": "2020-01-02",
    }
    assert spent < 1.0, f"{spent:.2f} s of CPU for 14,001 rows"
