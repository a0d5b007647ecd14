"""Rankers: the learned model that says how likely a sentence is to answer a question.

The offline reader (qa/readers.py) describes every candidate sentence by the signals in FEATURES;
this model, a logistic regression over those signals and their pairwise products, trained on the
labelled Wikinews set (`make train-reader`, eval/train_reader.py), turns them into a calibrated
probability. The reader answers with the best sentence when its probability reaches the model's
threshold (chosen on the dev split) and abstains otherwise. The weights are a JSON file, so they can
be read and diffed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_MODEL = Path(__file__).parent / "models" / "reader.json"
# The top layers of the question encoder whose cosines are `tuned_similarity` (eval/train_question_encoder.py).
DEFAULT_QUESTION_ENCODER = Path(__file__).parent / "models" / "question_encoder.safetensors"

# The signals of a (question, sentence) pair, in the order of the model's weights. Each is computed
# in LearnedReader.describe, for every sentence of the retrieved passages; a question-wide signal
# (the same for every candidate) moves the probability, and so the decision to abstain.
FEATURES: tuple[str, ...] = (
    "similarity",  # cosine of the sentence's and the question's embeddings
    "similarity_gap",  # similarity minus the best candidate's
    "coverage",  # share of the question's content words in the sentence, its people and (half) the sentence before
    "coverage_gap",  # coverage minus the best candidate's
    "own_coverage",  # share of the question's content words in the sentence's own words
    "title_coverage",  # share of the question's content words in its report's title
    "rare_coverage",  # coverage weighted by how few candidates hold each word (an idf over the candidates)
    "pair_coverage",  # share of the question's adjacent content-word pairs the sentence holds in order
    "passage_coverage",  # share of the question's content words in the sentence's passage and title
    "similarity_rank",  # 1 / (1 + rank of its similarity among the candidates)
    "passage_rank",  # 1 / (1 + rank of its passage in retrieval)
    "lead",  # 1 / (1 + position of the sentence in its article)
    "typed",  # the question asks for a person, place, time or number
    "type_match",  # ... and the sentence holds one the question does not name
    "date_asked",  # the question names a month or year
    "key_head_asked",  # "Which court …?"
    "quotation",  # the sentence holds a quotation mark
    "asks_back",  # the sentence is itself a question (an interviewer's, a headline's)
    "speaker_named",  # a speaker of the sentence is a person the question names
    "hedged",  # may, might, reportedly, allegedly, unclear …
    "negated",  # not, no, never …
    "leans_back",  # opens with "He", "It", "This": needs the sentence before
    "words",  # log of its number of words
    "question_terms",  # log of the question's number of content words
    "window_coverage",  # share of the question's content words in the sentence, its neighbours and the title
    "focus_coverage",  # share of the question's content words its report's title lacks that the sentence holds
    "novelty",  # share of the sentence's content words the question does not use: what it adds
    "asks_person",  # the question's answer type, one flag each …
    "asks_time",
    "asks_place",
    "asks_number",
    "asks_cause",
    "holds_person",  # … and what the sentence holds that the question does not name, one flag each
    "holds_time",
    "holds_place",
    "holds_number",
    "names_missing",  # share of the names the question gives that neither the sentence, its lead-in nor title names
    "some_name_missing",  # ... at least one
    "dates_missing",  # share of the months or years the question names that neither fit the report nor the sentence
    "number_missing",  # "How many …?" and the sentence holds no number
    "key_head_missing",  # "Which court …?" and the sentence does not say "court"
    "previous_similarity",  # the sentence before's similarity to the question (0 for the first)
    "next_similarity",  # the sentence after's (0 for the last)
    "entity_asked",  # the probability that the answer is an entity (qa/classifiers.py: learned from the question)
    "kind_held",  # the probability that the sentence holds the kind asked for, in an entity the question does not name
    "kind_missing",  # entity_asked minus kind_held: an entity is asked for and the sentence lacks it
    "speaker_asked",  # the question asks what someone said ("What did X say …?", "According to X …")
    "speaker_quoted",  # ... and the articles attribute statements to X
    "names_speaker",  # the sentence names X, in its words or the people it refers to
    "reports_speaker",  # ... and may hold X's words: X speaks it, or it is an unattributed quotation
    "statement_on_topic",  # the sentence is a statement of X's the statement reader finds on the topic
    "form_words",  # how the question's form ("how deep", "why") goes with the sentence's words, learned (qa/classifiers.py)
    "tuned_similarity",  # cosine of the sentence's stored vector and the question's by the tuned question encoder
    "tuned_similarity_gap",  # ... minus the best candidate's
)


def read_model(path: Path, what: str) -> dict:
    """A model file `make train-reader` writes (JSON), or an error saying how to rebuild it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read the {what} model {path}: {exc} (rebuild it with `make train-reader`)") from exc

@dataclass(frozen=True)
class SentenceRanker:
    """A logistic regression over standardised FEATURES z = (x - mean) / scale and their pairwise
    products: p = sigmoid(w · z + z · U · z + b), U strictly upper triangular (a pair's weight once).
    A pair lets one signal change what another means: the form-word cue counts more in a sentence that
    holds a time or a person; a sentence that may hold X's words counts less when it lacks a name the
    question gives. The model file names each pair; a file without pairs is a linear model."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    threshold: float  # the least probability of the best sentence for an answer
    runner_up_ratio: float  # a further sentence joins the answer at this share of the best's probability
    meta: dict
    pair_weights: np.ndarray | None = None  # U, features x features

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL) -> SentenceRanker:
        model = read_model(path, "reader")
        features = tuple(model["features"])
        if features != FEATURES:
            raise RuntimeError(
                f"the reader model {path} was trained on other features than this version computes: "
                "rebuild it with `make train-reader`"
            )
        at = {name: i for i, name in enumerate(features)}
        pairs = np.zeros((len(features), len(features)))
        for first, second, weight in model.get("pair_weights", []):
            pairs[min(at[first], at[second]), max(at[first], at[second])] = weight
        return cls(
            features,
            np.asarray(model["mean"], dtype=np.float64),
            np.asarray(model["scale"], dtype=np.float64),
            np.asarray(model["weights"], dtype=np.float64),
            float(model["intercept"]),
            float(model["threshold"]),
            float(model["runner_up_ratio"]),
            {k: v for k, v in model.items() if k not in _WEIGHT_KEYS},
            pairs if pairs.any() else None,
        )

    def probabilities(self, rows: Sequence[Sequence[float]]) -> np.ndarray:
        if not len(rows):
            return np.zeros(0)
        z = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        logit = z @ self.weights + self.intercept
        if self.pair_weights is not None:
            logit += ((z @ self.pair_weights) * z).sum(axis=1)
        return 1.0 / (1.0 + np.exp(-logit))


_WEIGHT_KEYS = frozenset({"features", "mean", "scale", "weights", "intercept", "pair_weights"})


def select(probabilities: Sequence[float], threshold: float, ratio: float, limit: int) -> list[int]:
    """The indexes (best first) of the sentences an answer is made of: the best when it reaches the
    threshold, and those with at least `ratio` of its probability; none means abstain. Shared by the
    reader and its training. The threshold decides whether to answer, not what joins the answer: on
    another collection every probability may be lower (grouped 5-fold cross-validation over train and
    dev: 0.746 of questions right, against 0.697 when the threshold also bounded the runners-up)."""
    order = sorted(range(len(probabilities)), key=lambda i: probabilities[i], reverse=True)
    if not order or probabilities[order[0]] < threshold:
        return []
    floor = ratio * probabilities[order[0]]
    return [i for i in order if probabilities[i] >= floor][:limit]
