"""Answers on the sample article: cited to exact spans, and abstaining when the article is silent."""

from __future__ import annotations

import pytest

from qa.readers import NO_ANSWER


@pytest.fixture
def sample_service(service, corpus):
    service.ingest([corpus])
    return service


def assert_citations_exact(service, answer):
    articles = {a.id: a for a in service.articles([c.article_id for c in answer.citations])}
    for c in answer.citations:
        assert c.quote == articles[c.article_id].text[c.start : c.end]
        assert f"[{c.n}]" in answer.answer
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_what_did_peskov_say_cites_the_detailed_explanation(sample_service):
    answer = sample_service.ask("What did Peskov say?")
    assert not answer.abstained
    assert any("detailed explanation" in c.quote for c in answer.citations)
    assert all("Peskov" in c.quote for c in answer.citations)
    assert_citations_exact(sample_service, answer)
    assert answer.citations[0].published == "2023-03-20"
    assert answer.passages == sorted(answer.passages, key=lambda p: p.score, reverse=True)
    # Answered from Peskov's statements: what was read is those sentences.
    assert [p.text for p in answer.passages] == [c.quote for c in answer.citations]
    assert set(answer.timings_ms) == {"retrieve", "answer", "total"}


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Who welcomed China's peace plan?", "The Kremlin has welcomed China’s peace plan"),
        ("What did Medvedev say about the ICC's arrest warrant?", "“monstrous consequences”"),
        ("How does Putin describe Xi's visit?", "“landmark event”"),
    ],
)
def test_answers_quote_the_sentence_that_holds_the_fact(sample_service, question, expected):
    answer = sample_service.ask(question)
    assert not answer.abstained
    assert any(expected in c.quote for c in answer.citations)
    assert_citations_exact(sample_service, answer)


@pytest.mark.parametrize(
    "question",
    ["What is the population of Moscow?", "What did Peskov say about oil prices?", "Who won the 2019 Wimbledon final?"],
)
def test_abstains_when_the_article_does_not_say(sample_service, question):
    answer = sample_service.ask(question)
    assert answer.abstained
    assert answer.answer == NO_ANSWER
    assert answer.citations == []
    assert answer.passages  # what was looked at is still shown


def test_empty_index_abstains(service):
    answer = service.ask("What did Peskov say?")
    assert answer.abstained and answer.passages == []


def test_empty_question_is_refused(service):
    with pytest.raises(ValueError, match="empty"):
        service.ask("   ")


def test_retriever_serves_langchain_documents(sample_service):
    documents = sample_service.retriever.invoke("Who welcomed China's peace plan?")
    assert len(documents) == sample_service.settings.top_k
    top = documents[0]
    article = sample_service.articles([top.metadata["article_id"]])[0]
    assert article.text[top.metadata["start"] : top.metadata["end"]] == top.page_content
    assert "welcomed China’s peace plan" in " ".join(d.page_content for d in documents[:2])
