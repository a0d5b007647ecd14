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
    [
        "What is the population of Moscow?",
        pytest.param(
            "What did Peskov say about oil prices?",
            marks=pytest.mark.xfail(strict=True, reason="a known miss of the learned reader (docs/reader.md)"),
        ),
        "Who won the 2019 Wimbledon final?",
    ],
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


@pytest.mark.parametrize("question", [".", "[", "\x00", "?!"])
def test_a_question_without_a_word_is_refused_not_answered_with_punctuation(sample_service, question):
    with pytest.raises(ValueError, match="no words"):
        sample_service.ask(question)


def test_no_answer_cites_a_span_without_a_word(sample_service):
    for question in ("What did Peskov say?", "Who welcomed China's peace plan?", "[click] the article"):
        answer = sample_service.ask(question)
        assert all(any(ch.isalnum() for ch in c.quote) for c in answer.citations)


def test_retriever_serves_langchain_documents(sample_service):
    documents = sample_service.retriever.invoke("Who welcomed China's peace plan?")
    assert len(documents) == sample_service.settings.top_k
    top = documents[0]
    article = sample_service.articles([top.metadata["article_id"]])[0]
    assert article.text[top.metadata["start"] : top.metadata["end"]] == top.page_content
    assert "welcomed China’s peace plan" in " ".join(d.page_content for d in documents[:2])


def test_the_answer_streams_sentence_by_sentence(sample_service):
    *pieces, answer = sample_service.ask_stream("What did Peskov say?")
    assert "".join(pieces) == answer.answer
    assert len(pieces) == len(answer.citations) == 2 and pieces[0].endswith("[1] ")


def test_only_configured_backends_answer(sample_service):
    from qa.settings import Settings

    assert sample_service.settings.backends == ["extractive"]
    assert Settings(backend="openai", llm_model="m").backends == ["extractive", "openai"]
    with pytest.raises(ValueError, match="the ollama backend is not configured"):
        sample_service.ask("What did Peskov say?", backend="ollama")
    assert sample_service.ask("What did Peskov say?", backend="extractive").backend == "extractive"


def test_copy_as_markdown_holds_the_answer_and_its_sources(sample_service):
    answer = sample_service.ask("What did Peskov say?")
    first = answer.citations[0]
    markdown = answer.to_markdown({a.id: a for a in sample_service.articles([first.article_id])})
    assert markdown.startswith("**What did Peskov say?**\n\n")
    # Plain words, as on the screen: the title once, then each citation's paragraph and quote; no offsets.
    assert "\n\nSources:\n\n- [President Xi Jinping makes first Moscow visit since war began in Ukraine](https://" in markdown
    assert ") — ITV News, 2023-03-20\n" in markdown
    assert f"  - [{first.n}] paragraph 3: “{first.quote}”" in markdown and "characters" not in markdown


def test_paragraph_around_a_span():
    from qa.types import Article

    article = Article("a", "t", "First paragraph.\n\nSecond one. It has two sentences.\nThird.")
    second = article.text.index("It has")
    span = article.paragraph_around(second, second + 6)
    assert article.text[span.start : span.end] == "Second one. It has two sentences."
    last = article.paragraph_around(len(article.text) - 3, len(article.text))
    assert article.text[last.start : last.end] == "Third."


def test_pasted_text_is_one_article_per_title_and_date(service):
    text = "The Mariupol theatre will be rebuilt by 2026, the city council said."
    assert service.add_text("Theatre plans", text, "23 March 2023", "City Desk").added
    assert service.add_text("Theatre plans", text + " Work starts in May.", "2023-03-23").updated
    assert service.add_text("", "An untitled note about the harbour.").added
    stored = sorted(service.store.versions(None))
    assert len(stored) == 2 and stored[1].startswith("pasted-theatre-plans-")
    assert service.sources() == ["pasted"]  # the update gave no source
    assert service.stats()["last_updated"] is not None
    with pytest.raises(ValueError, match="not a date"):
        service.add_text("Bad", text, "someday")
