"""Judges: a chat model asked, for a (question, sentence) pair, "does this sentence answer the question?".

The learned ranker (qa/rankers.py) is fast but unsure near its threshold; a chat model's one-token Yes/No
(`qa.llamacpp.yes_probabilities`) is slow (tenths of a second to seconds a pair on this machine's one
thread). So the judge is asked only where the ranker is unsure: when the best probability of a question
lies in a band around the threshold, its top k candidates are judged, and each judged candidate's
probability becomes a small logistic regression over the ranker's logit and the judge's. `select` then
decides as before. The policy is off unless a judge model is set; its parameters were chosen by grouped
cross-validation on the dev split (benchmarks/judge_gain.py, docs/models.md), never on test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.llamacpp import load, yes_probabilities


@dataclass(frozen=True)
class SentenceJudge:
    """A GGUF chat model as a yes/no judge, loaded once per process (qa.llamacpp.load)."""

    model_path: Path
    n_threads: int | None = None  # None: $QA_LLM_THREADS, else half the cores
    n_ctx: int = 4096  # the chat backend's context too, so both share one loaded model

    def judge(self, question: str, sentences: list[str]) -> list[float]:
        """p(yes) for each sentence, one prompt a pair over the cached shared prefix (system and question)."""
        # Loaded here first so that the thread count holds: yes_probabilities loads with the default.
        load(self.model_path, self.n_ctx, self.n_threads)
        return yes_probabilities(question, sentences, self.model_path, mode="pairs", n_ctx=self.n_ctx)


@dataclass(frozen=True)
class JudgePolicy:
    """When the judge is asked, and how its answer is mixed in: for a question whose best ranker
    probability p lies in [low, high), the top k candidates are judged, and each becomes
    sigmoid(ranker_weight·logit(p) + judge_weight·logit(q) + bias), q the judge's p(yes).
    k = 0 is no judge."""

    k: int = 0
    low: float = 0.0
    high: float = 0.0
    ranker_weight: float = 1.0
    judge_weight: float = 0.0
    bias: float = 0.0


# What benchmarks/judge_gain.py chose on all 180 dev questions the ranker decides (qa/models/reader.json
# of 2026-12-07T06:13), for Qwen2.5-Coder-1.5B: out of fold it answered 133 right against the reader's 128,
# at 12 s a judged question on one busy thread. For the 0.5B model it chose nothing that held out of fold.
QWEN_1_5B_POLICY = JudgePolicy(k=5, low=0.1, high=0.4, ranker_weight=0.5659, judge_weight=1.3189, bias=-1.4304)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def features(ranker: float, judge: float) -> list[float]:
    """What the mixing regression reads: the two logits (shared with its fitting)."""
    return [_logit(ranker), _logit(judge)]


def to_judge(probabilities: Sequence[float], policy: JudgePolicy) -> list[int]:
    """The candidates to ask the judge about (best first): the top k when the best is in the band."""
    if policy.k <= 0 or not len(probabilities):
        return []
    order = sorted(range(len(probabilities)), key=lambda i: probabilities[i], reverse=True)
    if not policy.low <= probabilities[order[0]] < policy.high:
        return []
    return order[: policy.k]


def combine(probabilities: Sequence[float], judged: Mapping[int, float], policy: JudgePolicy) -> list[float]:
    """New probabilities for `select`: each judged candidate's mixed with the judge's p(yes). A question
    with nothing judged (outside the band, or the policy off) is returned as it came. A candidate the
    judge did not see is held at or below the least judged one: it must not win for not being seen."""
    out = [float(p) for p in probabilities]
    if not judged:
        return out
    for i, q in judged.items():
        r, j = features(out[i], q)
        out[i] = _sigmoid(policy.ranker_weight * r + policy.judge_weight * j + policy.bias)
    floor = min(out[i] for i in judged)
    return [p if i in judged else min(p, floor) for i, p in enumerate(out)]
