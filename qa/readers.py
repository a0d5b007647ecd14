"""Readers: from retrieved passages to an answer made of cited article sentences, or an abstention."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from index.store import ChromaStore
from index.terms import FRAME_WORDS, TermAnalyzer
from qa.types import Citation, Passage, Sentence

NO_ANSWER = "The articles don't say."
_WORD = re.compile(r"\w+")
_CAPITALISED = re.compile(r"\b[A-Z][\w-]*")


def _initialisms(text: str) -> set[str]:
    """"International Criminal Court" also names "icc"."""
    found = set()
    for run in re.findall(r"(?:\b[A-Z]\w+(?:\s+(?:of|the|and)\s+|\s+)?)+", text):
        initials = "".join(w[0] for w in re.findall(r"\b[A-Z]\w*", run)).lower()
        found.update(initials[a:b] for a in range(len(initials)) for b in range(a + 2, len(initials) + 1))
    return found


# People and places a question names; an answer that names none of them answers another question.
_NAMED = {"PERSON", "GPE", "LOC"}


@dataclass(frozen=True)
class ScoredSentence:
    sentence: Sentence
    passage: Passage
    similarity: float  # cosine of sentence and question vectors
    coverage: float  # share of the question's content words the sentence contains
    support: float  # what selection and abstention look at


class ExtractiveReader:
    """The offline answerer: picks the sentences that best answer the question, each with its citation.

    A sentence's support mixes meaning (embedding similarity to the question) with evidence that it
    is about the same things (the question's content words it contains). When no sentence reaches
    `threshold` the reader abstains rather than offer the nearest unrelated sentence.
    """

    def __init__(
        self, store: ChromaStore, threshold: float, max_sentences: int, nlp=None, coverage_weight: float = 0.5
    ):
        """`nlp`: a spaCy pipeline with entities, to find the people and places a question names."""
        self.store = store
        self._nlp = nlp
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.coverage_weight = coverage_weight
        self._analyzer = TermAnalyzer(drop=FRAME_WORDS)

    def content_terms(self, text: str) -> set[str]:
        return set(self._analyzer.terms(text))

    def named(self, question: str) -> list[str]:
        if self._nlp is None:
            return []
        return [e.text for e in self._nlp(question).ents if e.label_ in _NAMED]

    def score(self, question: str, query_vector: np.ndarray, passages: list[Passage]) -> list[ScoredSentence]:
        """Every sentence of the passages, scored, best first."""
        owner: dict[str, Passage] = {}
        for passage in passages:
            for sentence_id in passage.sentence_ids:
                owner.setdefault(sentence_id, passage)
        sentences, vectors = self.store.get_sentences(list(owner))
        if not sentences:
            return []
        similarity = vectors @ np.asarray(query_vector, dtype=np.float32)
        terms = self.content_terms(question)
        scored = []
        for sentence, sim in zip(sentences, similarity.tolist()):
            coverage = len(terms & self.content_terms(sentence.text)) / len(terms) if terms else sim
            support = (1 - self.coverage_weight) * sim + self.coverage_weight * coverage
            scored.append(ScoredSentence(sentence, owner[sentence.id], sim, coverage, support))
        scored.sort(key=lambda s: s.support, reverse=True)
        return scored

    def read(
        self, question: str, query_vector: np.ndarray, passages: list[Passage], must_mention: set[str] | None = None
    ) -> tuple[str, list[Citation]]:
        """The answer text with `[n]` markers and its citations; no citations means it abstained.

        `must_mention`: words of a name, one of which each answer sentence must contain.
        """
        scored = self.score(question, query_vector, passages)
        if must_mention:
            scored = [s for s in scored if must_mention & set(_WORD.findall(s.sentence.text.lower()))]
        chosen = self.choose(scored)
        # A person or place the question names must be in the answer: "When did Xi last visit
        # Washington?" is not answered by a sentence about Xi's visit to Moscow, however close it is.
        said = " ".join(s.sentence.text for s in chosen)
        words = set(_WORD.findall(said.lower())) | _initialisms(said)
        if any(not (set(_WORD.findall(name.lower())) & words) for name in self.named(question)):
            chosen = []
        rank = {p.article_id: i for i, p in reversed(list(enumerate(passages)))}
        chosen.sort(key=lambda s: (rank[s.sentence.article_id], s.sentence.start))
        return self.cite([(s.sentence, s.passage) for s in chosen])

    def choose(self, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        """The best sentence and its close runners-up, or none when even the best is too weak."""
        if not scored or scored[0].support < self.threshold:
            return []
        best = scored[0].support
        # Close runners-up add to the answer; a long tail of weak sentences would only dilute it.
        return [s for s in scored if s.support >= max(self.threshold, 0.8 * best)][: self.max_sentences]

    @staticmethod
    def cite(sentences: list[tuple[Sentence, Passage]]) -> tuple[str, list[Citation]]:
        """Each sentence verbatim, followed by its citation marker; NO_ANSWER for none."""
        if not sentences:
            return NO_ANSWER, []
        citations, parts = [], []
        for n, (s, p) in enumerate(sentences, start=1):
            citations.append(Citation(n, s.article_id, p.title, p.published, p.source, p.url, s.start, s.end, s.text))
            parts.append(f"{' '.join(s.text.split())} [{n}]")
        return " ".join(parts), citations
