"""Classifiers learned from labelled questions: what kind of answer a question asks for, and how the
question's form goes with a sentence's words (FormWordScorer, below).

"What was the name of the fan …?", "At what depth …?", "What was the price of a ticket …?" ask for
a person, a quantity, a sum of money: an answer without one is a near miss, however close its
words. Which kind is asked is learned from the labelled Wikinews train split (`make train-reader`,
eval/train_reader.py): each question's answer is found in its evidence sentence and labelled by the
entity spaCy finds there (none: a descriptive answer). A multinomial logistic regression over the
question's words and word pairs gives a probability for each kind; the reader's ranker weighs a
candidate sentence by how likely the kinds it holds are (qa/rankers.py). The weights are a small
JSON file, like the ranker's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.rankers import read_model

DEFAULT_ANSWER_TYPES = Path(__file__).parent / "models" / "answer_types.json"

# The kinds of answer, as groups of spaCy's entity labels; NONE: the answer is no entity ("why", "how").
ANSWER_KINDS: dict[str, frozenset[str]] = {
    "PERSON": frozenset({"PERSON"}),
    "ORGANISATION": frozenset({"ORG", "NORP"}),
    "PLACE": frozenset({"GPE", "LOC", "FAC"}),
    "TIME": frozenset({"DATE", "TIME"}),
    "NUMBER": frozenset({"CARDINAL", "QUANTITY", "ORDINAL"}),
    "MONEY": frozenset({"MONEY"}),
    "PERCENT": frozenset({"PERCENT"}),
    "NAMED_THING": frozenset({"EVENT", "WORK_OF_ART", "LAW", "PRODUCT", "LANGUAGE"}),
}
NONE = "NONE"
KINDS: tuple[str, ...] = (*ANSWER_KINDS, NONE)
_WORD = re.compile(r"\w+")


def kind_of(label: str) -> str:
    """The answer kind of one spaCy entity label."""
    return next((kind for kind, labels in ANSWER_KINDS.items() if label in labels), NONE)


def question_terms(question: str, labels: Iterable[str] = ()) -> list[str]:
    """What the classifier reads of a question: its lower-case words, its adjacent word pairs, its
    first three words marked as such ("what was the" reads differently from a "what" later on), and
    the entity labels the question analysis expects (qa/questions.py: "Which city" -> GPE)."""
    words = _WORD.findall(question.lower())
    pairs = [f"{a} {b}" for a, b in zip(words, words[1:])]
    return words + pairs + [f"^{w}" for w in words[:3]] + [f"label:{label}" for label in sorted(labels)]


@dataclass(frozen=True)
class AnswerTypeClassifier:
    """p(kind | question) = softmax(W · [x, v] + b): x the binary presence of each vocabulary term, v the
    question's embedding (its meaning: "cost" reads like "price", which no list of head nouns holds)."""

    vocabulary: dict[str, int]
    weights: np.ndarray  # kinds × (terms + embedding dimensions)
    intercepts: np.ndarray  # kinds
    kinds: tuple[str, ...]
    meta: dict

    @classmethod
    def load(cls, path: Path = DEFAULT_ANSWER_TYPES) -> AnswerTypeClassifier:
        model = read_model(path, "answer-type")
        kinds = tuple(model["kinds"])
        if kinds != KINDS:
            raise RuntimeError(f"the answer-type model {path} has other kinds than this version: `make train-reader`")
        return cls(
            {term: i for i, term in enumerate(model["vocabulary"])},
            np.asarray(model["weights"], dtype=np.float64),
            np.asarray(model["intercepts"], dtype=np.float64),
            kinds,
            {k: v for k, v in model.items() if k not in {"vocabulary", "weights", "intercepts", "kinds"}},
        )

    def probabilities(self, question: str, labels: Iterable[str], vector: np.ndarray) -> dict[str, float]:
        """Each kind's probability for this question (`labels`: the entity labels its analysis expects;
        `vector`: its embedding, as retrieval made it)."""
        present = {self.vocabulary[t] for t in question_terms(question, labels) if t in self.vocabulary}
        vector = np.asarray(vector, dtype=np.float64)
        logits = self.intercepts + self.weights[:, sorted(present)].sum(axis=1)
        logits = logits + self.weights[:, len(self.vocabulary) :] @ vector
        exp = np.exp(logits - logits.max())
        return dict(zip(self.kinds, (exp / exp.sum()).tolist()))


# A proper name the small NER model left unlabelled ("Tadej Pogacar": index/attribution.py) may be
# a person's, an organisation's or a thing's.
UNLABELLED_NAME = "NAME"
_NAMED_KINDS = frozenset({"PERSON", "ORGANISATION", "NAMED_THING"})


def held_probability(asked: dict[str, float], labels: Iterable[str]) -> float:
    """How likely it is that a sentence holding entities of these labels holds the kind asked for."""
    held = set()
    for label in labels:
        held |= _NAMED_KINDS if label == UNLABELLED_NAME else {kind_of(label)}
    return sum(asked.get(kind, 0.0) for kind in held - {NONE})


DEFAULT_FORM_WORDS = Path(__file__).parent / "models" / "form_words.json"
_ASKING = frozenset({"who", "whom", "whose", "what", "which", "when", "where", "why", "how"})


def question_forms(question: str) -> list[str]:
    """The form a question asks in: its first question word, alone and with the word after it
    ("how", "how many"; "what", "what year"); "none" for a question without one ("Name the …")."""
    words = _WORD.findall(question.lower())
    for at, word in enumerate(words):
        if word in _ASKING:
            return [word, f"{word} {words[at + 1]}" if at + 1 < len(words) else word]
    return ["none"]


def sentence_words(sentence: str) -> set[str]:
    """A sentence's distinct lower-case words, every number as NUM ("1,200" and "12" answer alike)."""
    return {"NUM" if word.isdigit() else word for word in _WORD.findall(sentence.lower())}


def form_word_pairs(forms: list[str], words: set[str]) -> list[str]:
    return [f"{form}|{word}" for form in forms for word in words]


@dataclass(frozen=True)
class FormWordScorer:
    """How a question's form goes with the words of a sentence, learned: "why" with "because", "how
    deep" with "metres", "how many" with a number, "who" with "minister". A logistic regression over
    the (form, word) pairs of the labelled train questions' candidates, the evidence sentences its
    positives; its logit is one of the ranker's features (`form_words`, qa/rankers.py), fitted out of
    fold so that the ranker learns how far to trust it on questions it never saw (eval/train_reader.py).
    The pairs are what the answer-type classifier and the word overlaps cannot see: the question's
    words and the answer's are different words."""

    weights: dict[str, float]
    intercept: float
    meta: dict

    @classmethod
    def load(cls, path: Path = DEFAULT_FORM_WORDS) -> FormWordScorer:
        model = read_model(path, "form-word")
        return cls(dict(model["weights"]), float(model["intercept"]), {k: v for k, v in model.items() if k != "weights"})

    @classmethod
    def untrained(cls) -> FormWordScorer:
        """Scores every sentence alike: what training describes with, before the scorer exists."""
        return cls({}, 0.0, {})

    def scores(self, question: str, sentences: Iterable[str]) -> list[float]:
        forms = question_forms(question)
        weight = self.weights.get
        return [
            self.intercept + sum(weight(pair, 0.0) for pair in form_word_pairs(forms, sentence_words(text)))
            for text in sentences
        ]
