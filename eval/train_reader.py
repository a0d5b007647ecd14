"""Trains the offline reader's sentence ranker (qa/rankers.py) from labelled questions.

    python -m eval.train_reader --home DIR --corpus articles.jsonl \
        --train eval/sets/wikinews-train.jsonl --dev eval/sets/wikinews-dev.jsonl --out qa/models/reader.json

Every question is retrieved against the index in DIR (the corpus is ingested first when it is
empty), and every sentence of its passages described by the reader's features. A sentence is a
positive example when it is one of the question's evidence sentences; an unanswerable question
gives only negatives. First the answer-type classifier (qa/classifiers.py) is fitted on the train
questions, since the ranker's features use it. Then a logistic regression (scikit-learn: its
probabilities are calibrated by construction, and its weights can be read) is fitted on train; the
abstention threshold and the share of the best probability at which a further sentence joins the
answer are chosen on dev, to maximise the share of questions answered right or rightly abstained.
Two inputs of the ranker are themselves learned from train, out of fold for the ranker's own rows:
the form-word scorer (qa/classifiers.py) and the question encoder (eval/train_question_encoder.py),
saved beside the ranker as form_words.json and question_encoder.safetensors.
Grouped 5-fold cross-validation by article over train and dev is recorded beside (`cv_*`).
The test split is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from eval.metrics import normalize
from eval.sets import EvalQuestion, load_set
from eval.train_question_encoder import save as save_question_encoder
from qa.classifiers import (
    KINDS,
    NONE,
    AnswerTypeClassifier,
    FormWordScorer,
    form_word_pairs,
    kind_of,
    question_forms,
    question_terms,
    sentence_words,
)
from qa.rankers import FEATURES, select
from qa.service import QAService
from qa.settings import Settings

_WORD = re.compile(r"\w+")


def is_evidence(sentence: str, question: EvalQuestion) -> bool:
    """The sentence is (part of) one of the question's evidence quotes, or holds one; for a question
    with answers but no evidence, it holds an answer."""
    said = normalize(sentence)
    if question.evidence:
        for quote in map(normalize, question.evidence):
            if said in quote or quote in said:
                return True
            words, quoted = set(_WORD.findall(said)), set(_WORD.findall(quote))
            if words and len(words & quoted) >= 0.8 * len(words) and len(words & quoted) >= 0.5 * len(quoted):
                return True
        return False
    return bool(question.answers) and any(normalize(a) in said for a in question.answers)


def answer_kind(question: EvalQuestion, nlp) -> str | None:
    """The kind of answer a labelled question has (qa.classifiers.KINDS): the kind of the entity spaCy
    finds over an answer in an evidence sentence, NONE when the answer there is no entity; None when
    no answer is found in the evidence (a paraphrase) or the question has none."""
    for evidence in question.evidence:
        doc = nlp(evidence)
        lower = evidence.lower()
        for answer in question.answers:
            at = lower.find(answer.lower())
            if at < 0:
                continue
            end = at + len(answer)
            overlap = [(min(end, e.end_char) - max(at, e.start_char), e.label_) for e in doc.ents]
            overlap = [(n, label) for n, label in overlap if n > 0]
            return kind_of(max(overlap)[1]) if overlap else NONE
    return None


def train_answer_types(service: QAService, questions: list[EvalQuestion]) -> tuple[AnswerTypeClassifier, dict]:
    """The answer-type classifier (qa/classifiers.py) fitted on the questions whose answer kind is
    known. Its inputs and C=0.3 were chosen on dev: terms alone told 58% of dev kinds right, terms,
    analysis labels and the embedding 64% (spaCy's small NER labels the answers, with its errors)."""
    from index.splitters import load_pipeline
    from qa.questions import analyse

    nlp = load_pipeline(service.settings.spacy_model, exclude=["lemmatizer"])
    labelled = [(q.question, kind) for q in questions if q.answerable and (kind := answer_kind(q, nlp)) is not None]
    terms = [question_terms(text, analyse(text).answer_labels) for text, _ in labelled]
    counts = Counter(t for row in terms for t in set(row))
    vocabulary = sorted(t for t, n in counts.items() if n >= 2)  # a term seen once generalises nothing
    index = {t: i for i, t in enumerate(vocabulary)}
    x = np.zeros((len(labelled), len(vocabulary)))
    for row, found in enumerate(terms):
        x[row, [index[t] for t in set(found) if t in index]] = 1.0
    x = np.hstack([x, np.asarray(service.embedder.encode([text for text, _ in labelled]), dtype=np.float64)])
    y = np.asarray([KINDS.index(kind) for _, kind in labelled])
    model = LogisticRegression(C=0.3, max_iter=5000).fit(x, y)
    # Kinds no training answer has keep a weight row of zeros and a low intercept.
    weights = np.zeros((len(KINDS), x.shape[1]))
    intercepts = np.full(len(KINDS), -10.0)
    weights[model.classes_] = model.coef_
    intercepts[model.classes_] = model.intercept_
    record = {
        "kinds": list(KINDS),
        "vocabulary": vocabulary,
        "weights": weights.round(5).tolist(),
        "intercepts": intercepts.round(5).tolist(),
        "train_questions": len(labelled),
        "train_kinds": dict(Counter(kind for _, kind in labelled).most_common()),
    }
    classifier = AnswerTypeClassifier(
        {t: i for i, t in enumerate(vocabulary)}, weights, intercepts, KINDS, {}
    )
    return classifier, record


def describe_set(
    service: QAService, questions: list[EvalQuestion], answer_types: AnswerTypeClassifier | None = None
) -> list[dict]:
    """Per question: its candidates' features, texts and labels, and whether the statement reader
    (not this ranker) answers it."""
    from qa.questions import analyse
    from qa.quotes import asked_speaker, parse_speaker_question
    from qa.readers import LearnedReader

    # Described as the learned reader sees them, whichever reader the settings choose. The form-word
    # and tuned-similarity columns are filled in afterwards, out of fold (with_form_words,
    # with_tuned_similarity): meanwhile the installed embedder stands in for the question encoder.
    reader = LearnedReader(
        service.store,
        service.settings.abstain_threshold,
        service.settings.max_answer_sentences,
        answer_types=answer_types,
        form_words=FormWordScorer.untrained(),
        question_encoder=service.embedder,
    )
    described = []
    for q in questions:
        text = service.rewriter.rewrite(q.question, q.history) or q.question if q.history else q.question
        retrieval = service.retriever.retrieve(text)
        # As the service reads it: "What did X say about Y?" over X's statements and the retrieved passages.
        statements, statements_answer = service.speaker_reading(text)
        passages = statements.beside(retrieval.passages) if statements is not None else retrieval.passages
        speaker = asked_speaker(parse_speaker_question(text), statements)
        rows = reader.describe(text, retrieval.query_vector, passages, analyse(text), speaker)
        described.append(
            {
                "question": q,
                "text": text,
                "texts": [s.text for s, *_ in rows],
                "ids": [s.id for s, *_ in rows],
                "x": np.asarray([row for *_, row in rows], dtype=np.float64).reshape(-1, len(FEATURES)),
                "y": np.asarray([is_evidence(s.text, q) for s, *_ in rows], dtype=np.int64),
                "statements": statements_answer,
            }
        )
    return described


FORM_WORDS_C = 0.3  # chosen by grouped 5-fold cross-validation over train and dev (0.1: the same within 0.002)
FORM_WORDS_COMMON_SHARE = 0.05  # a sentence word must be among the candidates of this share of the questions
FORM_WORDS_MIN_QUESTIONS = 5  # a pair seen in fewer questions generalises little and makes the file large (2: CV right 0.004 higher at 0.09, 2.5 times the pairs)
_FORM_COLUMN = FEATURES.index("form_words")


def fit_form_words(train: list[dict]) -> FormWordScorer:
    """The form-word scorer (qa/classifiers.py) fitted on the candidates of these questions, over the
    pairs seen in at least FORM_WORDS_MIN_QUESTIONS questions."""
    # One pass: each candidate's pairs, and in how many questions each pair and each sentence word is seen.
    pairs: list[list[str]] = []
    seen: Counter = Counter()
    common: Counter = Counter()
    for d in train:
        forms = question_forms(d["text"])
        words = [sentence_words(t) for t in d["texts"]]
        rows = [form_word_pairs(forms, w) for w in words]
        pairs += rows
        seen.update({p for row in rows for p in row})
        common.update(set().union(*words))
    y = np.concatenate([d["y"] for d in train if len(d["y"])])
    # A sentence word must be common to many stories' candidates: a cue ("because", "metres"), not a topic's name.
    least = FORM_WORDS_COMMON_SHARE * len(train)
    kept = {p for p, n in seen.items() if n >= FORM_WORDS_MIN_QUESTIONS and common[p.split("|", 1)[1]] >= least}
    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform([{p: 1.0 for p in row if p in kept} for row in pairs]).tocsr()
    x.indices, x.indptr = x.indices.astype(np.int32), x.indptr.astype(np.int32)  # liblinear takes 32-bit indexes only
    model = LogisticRegression(C=FORM_WORDS_C, solver="liblinear", max_iter=5000).fit(x, y)
    weights = {
        name: round(float(w), 4) for name, w in zip(vectorizer.get_feature_names_out(), model.coef_[0]) if abs(w) >= 5e-3
    }
    return FormWordScorer(weights, round(float(model.intercept_[0]), 4), {"C": FORM_WORDS_C, "pairs": len(weights)})


def _with_column(d: dict, values: list[float]) -> dict:
    x = d["x"].copy()
    if len(x):
        x[:, _FORM_COLUMN] = values
    return d | {"x": x}


def with_form_words(train: list[dict], others: list[list[dict]], folds: int = 5):
    """The train questions with their form-word column scored out of fold (grouped by article, so that
    the ranker weighs the scorer as it does on articles it never saw), the other sets scored by the
    scorer fitted on all of train, and that scorer."""
    groups = [d["question"].article_id or d["question"].id for d in train]
    scored: list[dict | None] = [None] * len(train)
    for fit_at, score_at in GroupKFold(folds).split(train, groups=groups):
        scorer = fit_form_words([train[i] for i in fit_at])
        for i in score_at:
            scored[i] = _with_column(train[i], scorer.scores(train[i]["text"], train[i]["texts"]))
    scorer = fit_form_words(train)
    rescored = [[_with_column(d, scorer.scores(d["text"], d["texts"])) for d in ds] for ds in others]
    return scored, rescored, scorer


_TUNED_COLUMNS = FEATURES.index("tuned_similarity"), FEATURES.index("tuned_similarity_gap")


def _with_tuned(d: dict, vectors: np.ndarray, question_vector: np.ndarray) -> dict:
    x = d["x"].copy()
    if len(x):
        tuned = vectors @ question_vector
        x[:, _TUNED_COLUMNS[0]] = tuned
        x[:, _TUNED_COLUMNS[1]] = tuned - tuned.max()
    return d | {"x": x}


def with_tuned_similarity(store, train: list[dict], others: list[list[dict]], folds: int = 5):
    """The train questions with their tuned-similarity columns from question encoders fitted without
    their article (grouped by article, as the form words), the other sets' from the encoder fitted on
    all of train, and that encoder's layers (rounded to float16, as saved and as the reader loads them)."""
    from eval import train_question_encoder as encoder

    def candidate_vectors(d: dict) -> np.ndarray:
        if not d["ids"]:
            return np.zeros((0, 0), dtype=np.float32)
        fetched, vectors = store.get_sentences(d["ids"])
        at = {s.id: i for i, s in enumerate(fetched)}
        return np.asarray([vectors[at[i]] for i in d["ids"]], dtype=np.float32)

    vectors = {id(d): candidate_vectors(d) for ds in [train, *others] for d in ds}
    examples = [encoder.EncoderExample(d["text"], vectors[id(d)], d["y"].astype(bool)) for d in train]

    def fitted(at: list[int]) -> dict[str, np.ndarray]:
        layers = encoder.fit([examples[i] for i in at])
        return {name: value.astype(np.float16).astype(np.float32) for name, value in layers.items()}

    def scored(ds: list[dict], layers: dict[str, np.ndarray]) -> list[dict]:
        questions = encoder.encode(layers, [d["text"] for d in ds]) if ds else []
        return [_with_tuned(d, vectors[id(d)], q) for d, q in zip(ds, questions)]

    groups = [d["question"].article_id or d["question"].id for d in train]
    out: list[dict | None] = [None] * len(train)
    for fold, (fit_at, score_at) in enumerate(GroupKFold(folds).split(train, groups=groups), 1):
        print(f"question encoder, fold {fold} of {folds} …", flush=True)
        for i, d in zip(score_at, scored([train[i] for i in score_at], fitted(list(fit_at)))):
            out[i] = d
    print("question encoder, on all of train …", flush=True)
    layers = fitted(list(range(len(train))))
    return out, [scored(ds, layers) for ds in others], layers


# Pairwise products of the standardised features are shrunk harder than the features themselves: they
# enter scaled by PAIR_SCALE, so their L2 penalty is 1 / PAIR_SCALE**2 times the features' (chosen by grouped
# 5-fold cross-validation over train and dev; docs/reader.md, stop 21).
PAIR_SCALE = 0.05
_PAIRS = np.triu_indices(len(FEATURES), 1)


def with_pairs(z: np.ndarray) -> np.ndarray:
    """The standardised features and, after them, their pairwise products (scaled by PAIR_SCALE)."""
    return np.hstack([z, PAIR_SCALE * (z[:, _PAIRS[0]] * z[:, _PAIRS[1]])])


def fit(train: list[dict]) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    """A logistic regression over the standardised features and their pairwise products, classes as
    they come: its probabilities are then calibrated by construction. (Classes weighted to balance
    answered nearly every question, abstaining on 19% of the unanswerable ones against 47%, at the same
    accuracy in grouped 5-fold cross-validation over train and dev.)"""
    x = np.vstack([d["x"] for d in train])
    y = np.concatenate([d["y"] for d in train])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=5000).fit(with_pairs((x - mean) / scale), y)
    return mean, scale, model


def probabilities(d: dict, mean, scale, model) -> list[float]:
    if not len(d["x"]):
        return []
    return model.predict_proba(with_pairs((d["x"] - mean) / scale))[:, 1].tolist()


def model_record(mean: np.ndarray, scale: np.ndarray, model: LogisticRegression) -> dict:
    """The fitted ranker as qa.rankers.SentenceRanker reads it: the features' weights, and each pair's
    weight on the product as the ranker computes it (unscaled), named by its two features, largest first."""
    main = model.coef_[0][: len(FEATURES)]
    pairs = PAIR_SCALE * model.coef_[0][len(FEATURES) :]
    named = [[FEATURES[i], FEATURES[j], round(float(w), 6)] for i, j, w in zip(*_PAIRS, pairs) if abs(w) >= 1e-6]
    return {
        "features": list(FEATURES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": main.round(6).tolist(),
        "intercept": round(float(model.intercept_[0]), 6),
        "pair_weights": sorted(named, key=lambda pair: -abs(pair[2])),
        "pair_scale": PAIR_SCALE,
        "standardised_weights": {name: round(float(w), 4) for name, w in zip(FEATURES, main)},
    }


def outcome(d: dict, p: list[float], threshold: float, ratio: float, limit: int) -> tuple[bool, bool]:
    """(answered, right) for one question under these choices."""
    chosen = select(p, threshold, ratio, limit)
    q = d["question"]
    if not chosen:
        return False, not q.answerable
    said = normalize(" ".join(d["texts"][i] for i in chosen))
    return True, q.answerable and any(normalize(a) in said for a in q.answers)


def choose(dev: list[dict], mean, scale, model, limit: int) -> dict:
    """The threshold and runner-up ratio that answer most dev questions right (ties: the higher
    threshold), over the questions this ranker decides (not the statement reader's)."""
    decided = [d for d in dev if not d["statements"]]
    probs = [probabilities(d, mean, scale, model) for d in decided]
    best = None
    for ratio in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        for threshold in np.round(np.arange(0.02, 0.96, 0.01), 2):
            results = [outcome(d, p, threshold, ratio, limit) for d, p in zip(decided, probs)]
            right = sum(r for _, r in results)
            answered = [r for a, r in results if a]
            key = (right, threshold)
            if best is None or key > best[0]:
                best = (key, float(threshold), ratio, right, len(answered), sum(answered))
    _, threshold, ratio, right, answered, answered_right = best
    # The trade-off a stricter threshold buys: the share of answered questions that are right.
    curve = []
    for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        results = [outcome(d, p, t, ratio, limit) for d, p in zip(decided, probs)]
        shown = [r for a, r in results if a]
        curve.append({"threshold": t, "answered": len(shown), "right": sum(shown)})
    return {
        "threshold": threshold,
        "runner_up_ratio": ratio,
        "dev_questions": len(decided),
        "dev_right": right,
        "dev_answered": answered,
        "dev_answered_right": answered_right,
        "dev_precision_by_threshold": curve,
    }


def asks_speaker(d: dict) -> bool:
    return bool(len(d["x"])) and d["x"][0, FEATURES.index("speaker_asked")] > 0


def cross_validate(described: list[dict], threshold: float, ratio: float, limit: int, folds: int = 5) -> dict:
    """Grouped k-fold cross-validation over the described questions, by article (a question without
    one is its own group): how the whole fit does on articles it never saw. Every question counts,
    also those the statement reader answers (scored by the ranker). "What did X say …?" questions
    are also counted apart: dev holds no unanswerable one, train does."""
    groups = [d["question"].article_id or d["question"].id for d in described]
    unseen: list[list[float]] = [[] for _ in described]
    for train_at, test_at in GroupKFold(folds).split(described, groups=groups):
        # The form-word scorer too is fitted on the fold's train part alone (nested, out of fold).
        fold_train, (fold_test,), _ = with_form_words([described[i] for i in train_at], [[described[i] for i in test_at]])
        mean, scale, model = fit(fold_train)
        for i, d in zip(test_at, fold_test):
            unseen[i] = probabilities(d, mean, scale, model)
    speakers = [i for i, d in enumerate(described) if asks_speaker(d)]
    results = [(d["question"], outcome(d, p, threshold, ratio, limit)) for d, p in zip(described, unseen)]
    answerable = [right for q, (_, right) in results if q.answerable]
    abstained = [not answered for q, (answered, _) in results if not q.answerable]
    of_speakers = [results[i] for i in speakers]
    return {
        "cv_folds": folds,
        "cv_questions": len(results),
        "cv_right": round(sum(right for _, (_, right) in results) / len(results), 4),
        "cv_answerable_right": round(sum(answerable) / max(len(answerable), 1), 4),
        "cv_unanswerable_abstained": round(sum(abstained) / max(len(abstained), 1), 4),
        "cv_speaker_questions": len(of_speakers),
        "cv_speaker_right": round(sum(right for _, (_, right) in of_speakers) / max(len(of_speakers), 1), 4),
        "cv_speaker_unanswerable_abstained": round(
            sum(not a for q, (a, _) in of_speakers if not q.answerable)
            / max(sum(not q.answerable for q, _ in of_speakers), 1),
            4,
        ),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="QA_HOME of the index to retrieve from")
    parser.add_argument("--corpus", type=Path, help="ingested into --home first when the index is empty")
    parser.add_argument("--train", type=Path, nargs="+", required=True)
    parser.add_argument("--dev", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, default=Path("qa/models/reader.json"))
    args = parser.parse_args(argv)

    service = QAService(Settings(home=args.home))
    if args.corpus and service.stats()["articles"] == 0:
        service.ingest([args.corpus], progress=True)
    train_q = [q for path in args.train for q in load_set(path)]
    dev_q = [q for path in args.dev for q in load_set(path)]
    answer_types, answer_types_record = train_answer_types(service, train_q)
    answer_types_record |= {"trained_on": [str(p) for p in args.train], "trained": _now()}
    print(f"answer kinds of the train questions: {answer_types_record['train_kinds']}", flush=True)
    print(f"describing {len(train_q)} train and {len(dev_q)} dev questions …", flush=True)
    train = describe_set(service, train_q, answer_types)
    dev = describe_set(service, dev_q, answer_types)
    train, (dev,), question_layers = with_tuned_similarity(service.store, train, [dev])
    # What cross-validation scores: every question with the scorer fitted without it (nested in each fold).
    described = train + dev
    train, (dev,), form_words = with_form_words(train, [dev])
    mean, scale, model = fit(train)
    chosen = choose(dev, mean, scale, model, service.settings.max_answer_sentences)
    chosen |= cross_validate(
        described, chosen["threshold"], chosen["runner_up_ratio"], service.settings.max_answer_sentences
    )
    digest = hashlib.sha256()
    for path in args.train:
        digest.update(path.read_bytes())
    record = {
        **model_record(mean, scale, model),
        **chosen,
        "trained_on": [str(p) for p in args.train],
        "train_sha256": digest.hexdigest(),
        "train_questions": len(train_q),
        "train_sentences": int(sum(len(d["y"]) for d in train)),
        "train_positives": int(sum(d["y"].sum() for d in train)),
        "dev_sets": [str(p) for p in args.dev],
        "trained": _now(),
        "scikit_learn": sklearn.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    # Beside the ranker, whose features it feeds (qa/classifiers.py).
    (args.out.parent / "answer_types.json").write_text(json.dumps(answer_types_record) + "\n", encoding="utf-8")
    form_words_record = {
        "weights": dict(sorted(form_words.weights.items())),
        "intercept": form_words.intercept,
        **form_words.meta,
        "trained_on": [str(p) for p in args.train],
        "train_sha256": digest.hexdigest(),
        "trained": _now(),
    }
    (args.out.parent / "form_words.json").write_text(json.dumps(form_words_record) + "\n", encoding="utf-8")
    save_question_encoder(
        question_layers,
        args.out.parent / "question_encoder.safetensors",
        {"trained_on": [str(p) for p in args.train], "train_sha256": digest.hexdigest(), "trained": _now()},
    )
    print(json.dumps({k: v for k, v in record.items() if k not in {"mean", "scale", "weights", "features", "pair_weights"}}, indent=1))


if __name__ == "__main__":
    main()
