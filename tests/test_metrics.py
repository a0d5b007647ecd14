"""Each metric on small cases whose right values were worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from eval.metrics import aggregate, aggregate_by_tag, outcome, score_answer, score_citations, score_retrieval, token_f1
from eval.sets import EvalQuestion

TUESDAY = EvalQuestion("q1", "When are the talks?", ["Tuesday"], evidence=["talks are on Tuesday", "Peskov said it"])
NORWAY = EvalQuestion("q2", "Who won most medals?", ["Norway", "NOR"])  # no evidence listed: the answers stand in
UNANSWERABLE = EvalQuestion("q3", "What is the population of Moscow?", [])


def answer(text: str, abstained: bool = False, citations: list[dict] | None = None) -> dict:
    return {"answer": text, "abstained": abstained, "citations": citations or []}


def cite(n: int, start: int, end: int, quote: str, article_id: str = "a") -> dict:
    return {"n": n, "article_id": article_id, "start": start, "end": end, "quote": quote}


# -- retrieval ---------------------------------------------------------------------------------


def test_retrieval_with_evidence_quotes():
    ranked = ["nothing here", "The talks are on Tuesday.", "x", "Peskov said it: the talks are on Tuesday."]
    scores = score_retrieval(TUESDAY, ranked, total_relevant=3)
    # Relevant at ranks 2 and 4. RR = 1/2.
    assert scores["rr"] == 0.5
    assert (scores["hit@1"], scores["recall@1"], scores["ndcg@1"]) == (0.0, 0.0, 0.0)
    # Top 3 holds the first quote only: recall 1/2. DCG = 1/log2(3) = 0.63093;
    # ideal (3 relevant in the index) = 1 + 0.63093 + 0.5 = 2.13093; nDCG = 0.29608.
    assert (scores["hit@3"], scores["recall@3"], scores["ndcg@3"]) == (1.0, 0.5, 0.2961)
    # Top 5 (only 4 passages): both quotes. DCG = 0.63093 + 1/log2(5) = 1.06161; ideal 2.13093 -> 0.49819.
    assert (scores["hit@5"], scores["recall@5"], scores["ndcg@5"]) == (1.0, 1.0, 0.4982)
    assert scores["ndcg@10"] == 0.4982


def test_retrieval_without_evidence_uses_the_answers():
    scores = score_retrieval(NORWAY, ["Germany won 31 medals", "NORWAY won 39 medals"], total_relevant=1)
    # The one unit (any answer) is found at rank 2: RR 0.5; nDCG@3 = (1/log2(3)) / 1 = 0.63093.
    assert scores["rr"] == 0.5 and scores["hit@1"] == 0.0 and scores["hit@3"] == 1.0
    assert scores["recall@3"] == 1.0 and scores["ndcg@3"] == 0.6309


def test_retrieval_is_not_scored_for_unanswerable_questions():
    assert score_retrieval(UNANSWERABLE, ["The population of Moscow"], total_relevant=0) == {}


def test_nothing_relevant_anywhere_scores_zero():
    scores = score_retrieval(NORWAY, ["Germany won"], total_relevant=0)
    assert scores["rr"] == 0.0 and scores["hit@10"] == 0.0 and scores["ndcg@10"] == 0.0


# -- answers ------------------------------------------------------------------------------------


def test_token_f1_by_hand():
    # Prediction tokens (articles and punctuation dropped): kremlin, welcomed, plan; truth: kremlin.
    # P = 1/3, R = 1, F1 = 2 * (1/3) / (4/3) = 0.5.
    assert token_f1("The Kremlin welcomed the plan.", "Kremlin") == 0.5
    assert token_f1("Norway", "norway") == 1.0
    assert token_f1("", "Norway") == 0.0
    assert token_f1("", "") == 1.0  # two empty texts agree (SQuAD)
    # Shared tokens count as often as both texts have them: b b c vs b c c share b and c: P = R = 2/3.
    assert token_f1("b b c", "b c c") == pytest.approx(2 / 3)


def test_answer_scores():
    scores = score_answer(TUESDAY, answer("Talks are scheduled for tuesday. [1]"))
    # Citation marker removed; tokens talks, are, scheduled, for, tuesday vs tuesday: P 1/5, R 1, F1 = 1/3.
    assert scores == {"should_abstain": False, "abstained": False, "correct": True, "f1": 0.3333}
    curly = EvalQuestion("q", "What do they say?", ["won't bend"])
    assert score_answer(curly, answer("They say they won’t bend. [1]"))["correct"] is True  # quote-insensitive


def test_abstaining_or_an_empty_answer_on_an_answerable_question_is_wrong():
    assert score_answer(TUESDAY, answer("The articles don't say.", abstained=True)) == {
        "should_abstain": False,
        "abstained": True,
        "correct": False,
        "f1": 0.0,
    }
    assert score_answer(TUESDAY, answer(""))["correct"] is False
    assert score_answer(TUESDAY, answer(""))["f1"] == 0.0


def test_unanswerable_questions_have_no_accuracy():
    scores = score_answer(UNANSWERABLE, answer("Moscow has 13 million people. [1]"))
    assert scores["correct"] is None and scores["f1"] is None and scores["should_abstain"] is True
    assert outcome(scores) == "invented"


# -- citations ----------------------------------------------------------------------------------

ARTICLE = "Alpha one. Beta two. Gamma three."  # Alpha one. = 0-10, Beta two. = 11-20, Gamma three. = 21-33
LETTERS = EvalQuestion("q4", "Which letters?", ["beta two"], evidence=["Alpha one. Beta two.", "Gamma three"])


def test_citation_counts_by_hand():
    citations = [cite(1, 0, 10, "Alpha one."), cite(2, 11, 20, "Beta two."), cite(3, 21, 33, "Gamma thre!")]
    scores = score_citations(LETTERS, answer("...", citations=citations), {"a": ARTICLE})
    # [3]'s quote is not the article's text at 21-33: 2 of 3 valid.
    # [1] and [2] each lie inside the first evidence quote: precise; [3]'s quote holds no evidence: 2 precise.
    # The three spans are separated by single spaces, so they join into 0-33, which holds both quotes: 2/2.
    assert scores == {
        "citations": 3,
        "citations_valid": 2,
        "citations_precise": 2,
        "evidence_units": 2,
        "evidence_cited": 2,
    }


def test_spans_with_text_between_them_are_not_joined():
    citations = [cite(1, 0, 10, "Alpha one."), cite(2, 21, 33, "Gamma three.")]
    scores = score_citations(LETTERS, answer("...", citations=citations), {"a": ARTICLE})
    # "Alpha one." alone does not hold the first quote; "Gamma three." holds the second: 1/2.
    assert scores["evidence_cited"] == 1 and scores["citations_precise"] == 2 and scores["citations_valid"] == 2


def test_citation_of_an_unknown_article_is_invalid_and_no_evidence_uses_answers():
    citations = [cite(1, 0, 14, "Norway won it.", article_id="gone"), cite(2, 0, 5, "Alpha")]
    scores = score_citations(NORWAY, answer("...", citations=citations), {"a": ARTICLE})
    # "gone" is not in the index: invalid, but its quote still counts for precision and evidence.
    assert scores == {
        "citations": 2,
        "citations_valid": 1,
        "citations_precise": 1,
        "evidence_units": 1,
        "evidence_cited": 1,
    }


def test_unanswerable_questions_count_validity_only():
    scores = score_citations(UNANSWERABLE, answer("...", citations=[cite(1, 0, 10, "Alpha one.")]), {"a": ARTICLE})
    assert scores == {
        "citations": 1,
        "citations_valid": 1,
        "citations_precise": None,
        "evidence_units": None,
        "evidence_cited": None,
    }


# -- aggregates ---------------------------------------------------------------------------------


def scored(
    should_abstain,
    abstained,
    correct=None,
    f1=None,
    hit=None,
    rr=None,
    cited=(0, 0, None),
    evidence=(None, None),
    latency=0.0,
):
    citations, valid, precise = cited
    s = {
        "should_abstain": should_abstain,
        "abstained": abstained,
        "correct": correct,
        "f1": f1,
        "citations": citations,
        "citations_valid": valid,
        "citations_precise": precise,
        "evidence_units": evidence[0],
        "evidence_cited": evidence[1],
        "latency_ms": latency,
    }
    if hit is not None:
        s |= {"hit@1": hit, "recall@1": hit, "ndcg@1": hit, "rr": rr}
    return s


RIGHT = scored(False, False, True, 0.5, hit=1.0, rr=1.0, cited=(2, 2, 1), evidence=(2, 1), latency=10)
MISSED = scored(False, True, False, 0.0, hit=0.0, rr=0.5, cited=(0, 0, 0), evidence=(1, 0), latency=20)
ABSTAINED = scored(True, True, latency=30)
INVENTED = scored(True, False, cited=(1, 0, None), latency=40)


def test_aggregate_by_hand():
    metrics = aggregate([RIGHT, MISSED, ABSTAINED, INVENTED], ks=(1,))
    assert metrics == {
        "questions": 4,
        "answerable": 2,
        "unanswerable": 2,
        "hit@1": 0.5,
        "recall@1": 0.5,
        "ndcg@1": 0.5,
        "mrr": 0.75,  # (1 + 0.5) / 2
        "accuracy": 0.5,
        "token_f1": 0.25,
        "citation_validity": 0.6667,  # 2 valid of 3 citations, the invented answer's included
        "evidence_recall": 0.3333,  # 1 of 2 + 0 of 1
        "citation_precision": 0.5,  # 1 of the answerable questions' 2 citations
        "abstention_precision": 0.5,  # 2 abstentions, 1 of them on an unanswerable question
        "abstention_recall": 0.5,
        "answered_should_abstain": 1,
        "abstained_should_answer": 1,
        # numpy's linear percentiles of 10, 20, 30, 40: p50 = 25; p95 at position 2.85 = 30 + 0.85 * 10.
        "latency_ms_p50": 25.0,
        "latency_ms_p95": 38.5,
        "latency_ms_max": 40.0,
    }


def test_every_question_unanswerable():
    metrics = aggregate([ABSTAINED, INVENTED], ks=(1,))
    for name in ("hit@1", "mrr", "accuracy", "token_f1", "evidence_recall", "citation_precision"):
        assert metrics[name] is None, name
    assert metrics["abstention_precision"] == 1.0 and metrics["abstention_recall"] == 0.5
    assert metrics["citation_validity"] == 0.0 and metrics["answered_should_abstain"] == 1


def test_no_citations_anywhere_leaves_validity_undefined():
    assert aggregate([ABSTAINED, MISSED], ks=(1,))["citation_validity"] is None


def test_by_tag_groups_questions():
    metrics = aggregate_by_tag([RIGHT, MISSED, ABSTAINED], [["fact"], ["fact", "quote"], []], ks=(1,))
    assert metrics["questions"] == 3 and set(metrics["by_tag"]) == {"fact", "quote"}
    assert metrics["by_tag"]["fact"]["accuracy"] == 0.5 and metrics["by_tag"]["quote"]["accuracy"] == 0.0
    assert [outcome(s) for s in (RIGHT, MISSED, ABSTAINED, INVENTED)] == ["correct", "missed", "abstained", "invented"]
