"""The learned reader (QA_READER=learned, issue 22): its model file, its features and its answers on
the sample article, with the real index and embedding model."""

from __future__ import annotations

import json

import pytest

from qa.rankers import DEFAULT_MODEL, FEATURES, SentenceRanker, select
from qa.readers import NO_ANSWER, LearnedReader


@pytest.fixture
def learned(make_service, tmp_path, corpus):
    from qa.settings import Settings

    service = make_service(Settings(home=tmp_path / "learned", reader="learned"))
    service.ingest([corpus])
    return service


def test_the_committed_model_matches_the_features_and_says_what_it_was_trained_on():
    ranker = SentenceRanker.load()
    assert ranker.features == FEATURES
    assert len(ranker.weights) == len(ranker.mean) == len(ranker.scale) == len(FEATURES)
    assert 0 < ranker.threshold < 1
    model = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))
    assert model["trained_on"] == ["eval/sets/wikinews-train.jsonl"]
    assert len(model["train_sha256"]) == 64 and model["train_questions"] > 300


def test_a_model_of_other_features_is_refused_with_the_way_to_rebuild_it(tmp_path):
    model = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))
    model["features"] = model["features"][:-1]
    path = tmp_path / "reader.json"
    path.write_text(json.dumps(model), encoding="utf-8")
    with pytest.raises(RuntimeError, match="make train-reader"):
        SentenceRanker.load(path)


def test_select_answers_with_the_best_and_its_close_runners_up_or_abstains():
    assert select([0.1, 0.9, 0.5, 0.3], threshold=0.2, ratio=0.5, limit=3) == [1, 2]
    assert select([0.1, 0.9, 0.5, 0.3], threshold=0.2, ratio=0.5, limit=1) == [1]
    assert select([0.1, 0.15], threshold=0.2, ratio=0.5, limit=3) == []
    assert select([], threshold=0.2, ratio=0.5, limit=3) == []
    # The threshold decides whether to answer; what joins the best is judged against the best alone.
    assert select([0.3, 0.16, 0.1], threshold=0.2, ratio=0.5, limit=3) == [0, 1]


def test_every_candidate_is_described_by_every_feature(learned):
    from qa.questions import analyse

    assert isinstance(learned.reader, LearnedReader)
    question = "Who welcomed China's peace plan?"
    retrieval = learned.retriever.retrieve(question)
    described = learned.reader.describe(question, retrieval.query_vector, retrieval.passages, analyse(question))
    assert described
    for sentence, passage, _, row in described:
        assert len(row) == len(FEATURES)
        assert sentence.id in passage.sentence_ids
    scored = learned.reader.score(question, retrieval.query_vector, retrieval.passages)
    assert [s.support for s in scored] == sorted((s.support for s in scored), reverse=True)
    assert all(0 <= s.support <= 1 for s in scored)


def test_the_learned_reader_quotes_the_fact_and_abstains_where_the_article_is_silent(learned):
    answer = learned.ask("Who welcomed China's peace plan?")
    assert any("The Kremlin has welcomed China’s peace plan" in c.quote for c in answer.citations)
    articles = {a.id: a for a in learned.articles([c.article_id for c in answer.citations])}
    for c in answer.citations:
        assert c.quote == articles[c.article_id].text[c.start : c.end]
    silent = learned.ask("What is the population of Moscow?")
    assert silent.abstained and silent.answer == NO_ANSWER


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who won the election?", "PERSON"),
        ("Why did the minister resign?", "NONE"),
        ("How many people died in the fire?", "NUMBER"),
        ("Where did the plane crash?", "PLACE"),
        ("When did the fire start?", "TIME"),
    ],
)
def test_the_committed_answer_type_model_reads_the_kind_a_question_asks_for(embedder, question, kind):
    from qa.classifiers import KINDS, AnswerTypeClassifier
    from qa.questions import analyse

    asked = AnswerTypeClassifier.load().probabilities(question, analyse(question).answer_labels, embedder.encode([question])[0])
    assert set(asked) == set(KINDS) and abs(sum(asked.values()) - 1.0) < 1e-9
    assert max(asked, key=asked.get) == kind


def test_a_name_the_small_ner_left_unlabelled_may_hold_a_person_or_an_organisation():
    from qa.classifiers import held_probability

    asked = {"PERSON": 0.6, "ORGANISATION": 0.2, "PLACE": 0.1, "NONE": 0.1}
    assert held_probability(asked, ["NAME"]) == pytest.approx(0.8)  # "Tadej Pogacar" with no NER label
    assert held_probability(asked, ["GPE", "LOC"]) == pytest.approx(0.1)  # one kind, counted once
    assert held_probability(asked, ["DATE"]) == 0.0


def test_the_committed_model_records_its_grouped_cross_validation():
    model = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))
    for key in ("cv_right", "cv_answerable_right", "cv_unanswerable_abstained", "cv_speaker_right"):
        assert 0 < model[key] <= 1, key
    assert model["cv_questions"] == model["train_questions"] + model["dev_questions"]


def test_what_x_said_on_a_topic_is_read_beside_the_retrieved_passages_and_weighed(learned):
    from qa.quotes import asked_speaker, parse_speaker_question
    from qa.questions import analyse

    question = "What did Medvedev say about the court in The Hague?"
    statements, statements_answer = learned.speaker_reading(question)
    # Medvedev's statements on it are found, but the learned reader, not the statement reader, answers.
    assert statements is not None and statements.citations and not statements_answer
    retrieval = learned.retriever.retrieve(question)
    passages = statements.beside(retrieval.passages)
    assert {p.chunk_id for p in retrieval.passages} <= {p.chunk_id for p in passages}
    speaker = asked_speaker(parse_speaker_question(question), statements)
    assert speaker.quoted and speaker.on_topic and "medvedev" in speaker.words
    rows = learned.reader.describe(question, retrieval.query_vector, passages, analyse(question), speaker)
    on_topic = FEATURES.index("statement_on_topic")
    assert {s.id for s, _, _, row in rows if row[on_topic]} == set(speaker.on_topic) & {s.id for s, *_ in rows}
    answer = learned.ask(question)
    assert any("could be a target for a Russian missile strike" in c.quote for c in answer.citations)
    # "What did Peskov say?" (no topic) is still every statement of his, grouped by report.
    assert learned.speaker_reading("What did Peskov say?")[1]


def test_the_committed_form_word_model_goes_with_the_words_a_form_asks_for():
    from qa.classifiers import DEFAULT_FORM_WORDS, FormWordScorer

    scorer = FormWordScorer.load()
    record = json.loads(DEFAULT_FORM_WORDS.read_text(encoding="utf-8"))
    assert record["trained_on"] == ["eval/sets/wikinews-train.jsonl"] and len(record["train_sha256"]) == 64
    because, when = scorer.scores("Why did the minister resign?", ["He resigned because of the scandal.", "He resigned on Monday."])
    assert because > when
    number, none = scorer.scores("How many people died in the fire?", ["12 people died in the fire.", "People died in the fire."])
    assert number > none


def _described(question: str, article: str, texts: list[str], evidence: int):
    import numpy as np

    from eval.sets import EvalQuestion

    q = EvalQuestion(id=f"{article}-{question}", question=question, answers=["x"], article_id=article)
    x = np.zeros((len(texts), len(FEATURES)))
    return {"question": q, "text": question, "texts": texts, "x": x, "y": np.asarray([i == evidence for i in range(len(texts))], dtype=np.int64)}


def test_each_train_question_is_scored_by_form_words_fitted_without_its_article():
    """The ranker learns how far to trust the form-word scorer from scores on articles the scorer never
    saw; scored by a scorer fitted on them, the feature would look better than it is."""
    from eval.train_reader import _FORM_COLUMN, fit_form_words, with_form_words

    train = []
    for n in range(10):  # ten articles where "how deep" goes with "metres"
        train.append(_described(f"How deep is lake {n}?", f"lake-{n}", [f"Lake {n} is 40 metres deep.", f"Lake {n} is old."], 0))
    # one article, five questions: only there does "who" go with "skipper"
    for n in range(5):
        train.append(_described(f"Who led boat {n}?", "regatta", [f"The skipper led boat {n}.", f"Boat {n} sailed."], 0))
    scored, (others,), full = with_form_words(train, [train[-5:]], folds=5)
    whole = fit_form_words(train)
    assert full.weights == whole.weights  # the scorer kept is fitted on all of train
    assert whole.weights.get("who|skipper", 0) > 0
    for held_out, as_fitted in zip(scored[-5:], others):
        # Out of fold, "who|skipper" was never seen: the evidence scores lower than with the whole fit.
        assert held_out["x"][0, _FORM_COLUMN] < as_fitted["x"][0, _FORM_COLUMN]


def test_the_ranker_weighs_a_pair_of_signals_as_training_fitted_it(tmp_path):
    """A sentence answers here only when two signals hold together (a quotation, and its speaker the one
    asked about), which no weighing of each alone can tell apart. The fit learns the pair, and the
    ranker, reading the model file, gives the probabilities the fit gives."""
    import numpy as np

    from eval.sets import EvalQuestion
    from eval.train_reader import fit, model_record, probabilities

    rng = np.random.default_rng(0)
    quoted, speaker = FEATURES.index("quotation"), FEATURES.index("names_speaker")
    described = []
    for n in range(200):
        x = rng.normal(size=(4, len(FEATURES)))
        x[:, quoted], x[:, speaker] = [1, 1, 0, 0], [1, 0, 1, 0]
        q = EvalQuestion(id=f"q{n}", question="What did she say?", answers=["x"], article_id=f"a{n}")
        described.append({"question": q, "x": x, "y": np.asarray([1, 0, 0, 0])})
    mean, scale, model = fit(described)
    record = model_record(mean, scale, model)
    assert record["pair_weights"][0][:2] == ["quotation", "names_speaker"]  # the largest pair
    assert record["pair_weights"][0][2] > 0
    path = tmp_path / "reader.json"
    path.write_text(json.dumps(record | {"threshold": 0.5, "runner_up_ratio": 0.5}), encoding="utf-8")
    ranker = SentenceRanker.load(path)
    for d in described[:20]:
        assert ranker.probabilities(d["x"]) == pytest.approx(probabilities(d, mean, scale, model), abs=1e-5)
        assert int(np.argmax(ranker.probabilities(d["x"]))) == 0
