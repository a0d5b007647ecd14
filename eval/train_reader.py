"""Trains the offline reader's sentence ranker (qa/rankers.py) from labelled questions.

    python -m eval.train_reader --home DIR --corpus articles.jsonl \
        --train eval/sets/wikinews-train.jsonl --dev eval/sets/wikinews-dev.jsonl --out qa/models/reader.json

Every question is retrieved against the index in DIR (the corpus is ingested first when it is
empty), and every sentence of its passages described by the reader's features. A sentence is a
positive example when it is one of the question's evidence sentences; an unanswerable question
gives only negatives. A logistic regression (scikit-learn: its probabilities are calibrated by
construction, and its weights can be read) is fitted on train; the abstention threshold and the
share of the best probability at which a second sentence joins the answer are chosen on dev, to
maximise the share of questions answered right or rightly abstained. The test split is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

from eval.metrics import normalize
from eval.sets import EvalQuestion, load_set
from qa.quotes import parse_speaker_question
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


def describe_set(service: QAService, questions: list[EvalQuestion]) -> list[dict]:
    """Per question: its candidates' features, texts and labels, and whether the statement reader
    (not this ranker) answers it."""
    from qa.questions import analyse
    from qa.readers import LearnedReader

    # Described as the learned reader sees them, whichever reader the settings choose.
    reader = LearnedReader(service.store, service.settings.abstain_threshold, service.settings.max_answer_sentences)
    described = []
    for q in questions:
        text = service.rewriter.rewrite(q.question, q.history) or q.question if q.history else q.question
        retrieval = service.retriever.retrieve(text)
        rows = reader.describe(text, retrieval.query_vector, retrieval.passages, analyse(text))
        asked = parse_speaker_question(text)
        described.append(
            {
                "question": q,
                "texts": [s.text for s, *_ in rows],
                "x": np.asarray([row for *_, row in rows], dtype=np.float64).reshape(-1, len(FEATURES)),
                "y": np.asarray([is_evidence(s.text, q) for s, *_ in rows], dtype=np.int64),
                "statements": bool(asked and service.statements.read(asked) is not None),
            }
        )
    return described


def fit(train: list[dict]) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    x = np.vstack([d["x"] for d in train])
    y = np.concatenate([d["y"] for d in train])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y)
    return mean, scale, model


def probabilities(d: dict, mean, scale, model) -> list[float]:
    if not len(d["x"]):
        return []
    return model.predict_proba((d["x"] - mean) / scale)[:, 1].tolist()


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
    for ratio in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
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
    print(f"describing {len(train_q)} train and {len(dev_q)} dev questions …", flush=True)
    train, dev = describe_set(service, train_q), describe_set(service, dev_q)
    mean, scale, model = fit(train)
    chosen = choose(dev, mean, scale, model, service.settings.max_answer_sentences)
    digest = hashlib.sha256()
    for path in args.train:
        digest.update(path.read_bytes())
    weights = {name: round(float(w), 4) for name, w in zip(FEATURES, model.coef_[0])}
    record = {
        "features": list(FEATURES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": model.coef_[0].round(6).tolist(),
        "intercept": round(float(model.intercept_[0]), 6),
        **chosen,
        "trained_on": [str(p) for p in args.train],
        "train_sha256": digest.hexdigest(),
        "train_questions": len(train_q),
        "train_sentences": int(sum(len(d["y"]) for d in train)),
        "train_positives": int(sum(d["y"].sum() for d in train)),
        "dev_sets": [str(p) for p in args.dev],
        "trained": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "scikit_learn": sklearn.__version__,
        "standardised_weights": weights,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in record.items() if k not in {"mean", "scale", "weights", "features"}}, indent=1))


if __name__ == "__main__":
    main()
