"""Readers: from retrieved passages to an answer made of cited article sentences, or an abstention."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import Stemmer
from spacy.lang.en.stop_words import STOP_WORDS

from index.store import ChromaStore
from qa.types import Citation, Passage, Sentence

NO_ANSWER = "The articles don't say."

# Words that frame a question rather than name what it is about: "What did Peskov say?" is about Peskov.
_FRAME_WORDS = {
    *("say", "said", "says", "tell", "told", "tells", "according", "mention", "mentioned"),
    *("warn", "warned", "warns", "add", "added", "write", "wrote", "writes", "think", "thought"),
}
_WORD = re.compile(r"[\w]+(?:['’]\w+)?")


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

    def __init__(self, store: ChromaStore, threshold: float, max_sentences: int, coverage_weight: float = 0.5):
        self.store = store
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.coverage_weight = coverage_weight
        self._stemmer = Stemmer.Stemmer("english")

    def content_terms(self, text: str) -> set[str]:
        words = [w.lower().replace("’", "'") for w in _WORD.findall(text)]
        words = [w[:-2] if w.endswith("'s") else w for w in words]
        kept = [w for w in words if w not in STOP_WORDS and w not in _FRAME_WORDS]
        return set(self._stemmer.stemWords(kept))

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

    def read(self, question: str, query_vector: np.ndarray, passages: list[Passage]) -> tuple[str, list[Citation]]:
        """The answer text with `[n]` markers and its citations; no citations means it abstained."""
        scored = self.score(question, query_vector, passages)
        if not scored or scored[0].support < self.threshold:
            return NO_ANSWER, []
        best = scored[0].support
        # Close runners-up add to the answer; a long tail of weak sentences would only dilute it.
        chosen = [s for s in scored if s.support >= max(self.threshold, 0.8 * best)][: self.max_sentences]
        rank = {p.article_id: i for i, p in reversed(list(enumerate(passages)))}
        chosen.sort(key=lambda s: (rank[s.sentence.article_id], s.sentence.start))
        citations, parts = [], []
        for n, item in enumerate(chosen, start=1):
            s, p = item.sentence, item.passage
            citations.append(Citation(n, s.article_id, p.title, p.published, p.source, p.url, s.start, s.end, s.text))
            parts.append(f"{' '.join(s.text.split())} [{n}]")
        return " ".join(parts), citations
