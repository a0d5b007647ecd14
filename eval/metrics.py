"""Scores of one answer against its question, and their aggregates over a run.

Everything here is a pure function of plain data (the question, the answer as `qa ask --json`
prints it, passage and article texts), so each metric can be checked by hand.

What counts as evidence: a question's `evidence` quotes, each needed; where a question lists no
evidence, any one of its acceptable answers stands in for it (one unit). Texts are compared
case-, quote- and white-space-insensitively.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter

import numpy as np

from eval.sets import EvalQuestion

KS = (1, 3, 5, 10)

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "\u00a0": " "})
_CITATION_MARK = re.compile(r"\s*\[\d+\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation + "‘’“”")


def normalize(text: str) -> str:
    """Case-, quote- and white-space-insensitive form used to compare texts."""
    text = text.translate(_QUOTES).lower()
    return re.sub(r"\s+", " ", text).strip()


def answer_text(answer: dict) -> str:
    """The answer without its `[n]` citation markers."""
    return _CITATION_MARK.sub("", answer["answer"]).strip()


# -- answers ---------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    """SQuAD's normalisation: lower case, no punctuation, no articles."""
    return _ARTICLES.sub(" ", normalize(text).translate(_PUNCTUATION)).split()


def token_f1(prediction: str, truth: str) -> float:
    """Harmonic mean of token precision and recall (SQuAD); two empty texts agree."""
    predicted, expected = _tokens(prediction), _tokens(truth)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def score_answer(question: EvalQuestion, answer: dict) -> dict:
    """correct: the answer contains an acceptable answer; f1: token F1 against the best one.

    Both are None for a question the articles do not answer (abstention is scored instead), and
    an abstention on an answerable question is wrong with F1 0.
    """
    scores = {"should_abstain": not question.answerable, "abstained": bool(answer["abstained"])}
    if not question.answerable:
        return scores | {"correct": None, "f1": None}
    if answer["abstained"]:
        return scores | {"correct": False, "f1": 0.0}
    said = answer_text(answer)
    return scores | {
        "correct": any(normalize(a) in normalize(said) for a in question.answers),
        "f1": round(max(token_f1(said, a) for a in question.answers), 4),
    }


def supported_text(answer: dict) -> str:
    """The answer without its unsupported sentences: what a reader can take as checked.

    A chat model's unsupported sentences stay in its answer, flagged; extractive answers have none.
    """
    sentences = answer.get("sentences") or []
    if not any(s.get("unsupported") for s in sentences):
        return answer_text(answer)
    return " ".join(s["text"] for s in sentences if not s.get("unsupported"))


SUPPORT_KINDS = ("model", "attached", "extractive", "unsupported")


def score_support(question: EvalQuestion, answer: dict) -> dict:
    """How each sentence of the answer is backed, and accuracy counting only the supported ones.

    sentences_<kind>: how many sentences the chat model cited itself (`cited_by: "model"`), had a
    citation attached by the check (`"attached"`), came from the extractive reader (no `cited_by`),
    or were left unsupported. supported_correct: `correct`, on the supported sentences alone.
    """
    sentences = answer.get("sentences") or []
    kinds = [
        "unsupported" if s.get("unsupported") else s.get("cited_by") or "extractive" for s in sentences
    ]
    scores = {f"sentences_{kind}": kinds.count(kind) for kind in SUPPORT_KINDS}
    if not question.answerable:
        return scores | {"supported_correct": None}
    said = "" if answer["abstained"] else supported_text(answer)
    return scores | {"supported_correct": bool(said) and any(normalize(a) in normalize(said) for a in question.answers)}


# -- retrieval -------------------------------------------------------------------------------


def evidence_units(question: EvalQuestion) -> list[list[str]]:
    """What an answer must show: each evidence quote, or else one of the answers (alternatives)."""
    if not question.answerable:
        return []
    if question.evidence:
        return [[quote] for quote in question.evidence]
    return [list(question.answers)]


def holds(unit: list[str], text: str) -> bool:
    folded = normalize(text)
    return any(normalize(alternative) in folded for alternative in unit)


def relevant(question: EvalQuestion, text: str) -> bool:
    """A passage is relevant when it contains a whole evidence unit."""
    return any(holds(unit, text) for unit in evidence_units(question))


def score_retrieval(question: EvalQuestion, ranked: list[str], total_relevant: int, ks=KS) -> dict:
    """hit@k, recall@k (share of evidence units inside the top k), reciprocal rank and nDCG@k.

    `ranked` are passage texts best first; `total_relevant` is how many passages of the whole index
    are relevant, which nDCG's ideal ranking needs. Empty for unanswerable questions.
    """
    if not question.answerable:
        return {}
    units = evidence_units(question)
    is_relevant = [relevant(question, text) for text in ranked]
    first = next((rank for rank, r in enumerate(is_relevant, start=1) if r), None)
    scores: dict[str, float] = {"rr": 1 / first if first else 0.0}
    for k in ks:
        top = ranked[:k]
        gains = is_relevant[:k]
        ideal = min(k, max(total_relevant, sum(gains)))
        dcg = sum(1 / math.log2(rank + 1) for rank, r in enumerate(gains, start=1) if r)
        idcg = sum(1 / math.log2(rank + 1) for rank in range(1, ideal + 1))
        scores[f"hit@{k}"] = float(any(gains))
        scores[f"recall@{k}"] = sum(any(holds(u, t) for t in top) for u in units) / len(units)
        scores[f"ndcg@{k}"] = dcg / idcg if idcg else 0.0
    return {name: round(value, 4) for name, value in scores.items()}


# -- citations -------------------------------------------------------------------------------


def _cited_texts(citations: list[dict], articles: dict[str, str]) -> list[str]:
    """The cited spans, with neighbouring spans of one article (only white space between) joined."""
    texts: list[str] = []
    by_article: dict[str, list[dict]] = {}
    for c in citations:
        by_article.setdefault(c["article_id"], []).append(c)
    for article_id, cited in by_article.items():
        article = articles.get(article_id)
        if article is None:  # the article is gone: all we have is the quotes
            texts.extend(c["quote"] for c in cited)
            continue
        spans = sorted((c["start"], c["end"]) for c in cited)
        start, end = spans[0]
        for s, e in spans[1:]:
            if s <= end or not article[end:s].strip():
                end = max(end, e)
            else:
                texts.append(article[start:end])
                start, end = s, e
        texts.append(article[start:end])
    return texts


def score_citations(question: EvalQuestion, answer: dict, articles: dict[str, str]) -> dict:
    """Counts behind quote validity, evidence recall and citation precision.

    `articles` maps the cited article ids to their stored text. A citation is valid when its quote
    is exactly the article's text at its offsets; precise when its span holds an evidence unit (or
    lies inside an evidence quote). Precision and evidence are counted on answerable questions only.
    """
    citations = answer["citations"]
    scores = {
        "citations": len(citations),
        "citations_valid": sum(
            c["article_id"] in articles and articles[c["article_id"]][c["start"] : c["end"]] == c["quote"]
            for c in citations
        ),
    }
    if not question.answerable:
        return scores | {"citations_precise": None, "evidence_units": None, "evidence_cited": None}
    units = evidence_units(question)
    evidence = [normalize(quote) for quote in question.evidence]
    scores["citations_precise"] = sum(
        any(holds(u, c["quote"]) for u in units) or any(normalize(c["quote"]) in e for e in evidence) for c in citations
    )
    cited = _cited_texts(citations, articles)
    scores["evidence_units"] = len(units)
    scores["evidence_cited"] = sum(any(holds(u, text) for text in cited) for u in units)
    return scores


# -- outcome and aggregates ------------------------------------------------------------------

OUTCOMES = {  # the good outcomes first, so plots stack them first
    "correct": "correct",
    "abstained": "abstained rightly",
    "wrong": "wrong answer",
    "invented": "answered, but the articles do not answer it",
    "missed": "abstained, but the articles answer it",
}


def outcome(scores: dict) -> str:
    """One word for what happened to a question (a key of OUTCOMES)."""
    if scores["should_abstain"]:
        return "abstained" if scores["abstained"] else "invented"
    if scores["abstained"]:
        return "missed"
    return "correct" if scores["correct"] else "wrong"


def _share(part: float, whole: float) -> float | None:
    """A ratio, or None where it is undefined (nothing to count)."""
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def aggregate(scores: list[dict], ks=KS) -> dict:
    """The run's metrics from its per-question scores (see score_* for what each holds)."""
    answerable = [s for s in scores if not s["should_abstain"]]
    unanswerable = [s for s in scores if s["should_abstain"]]
    abstained = [s for s in scores if s["abstained"]]
    retrieved = [s for s in answerable if "rr" in s]
    metrics: dict = {"questions": len(scores), "answerable": len(answerable), "unanswerable": len(unanswerable)}
    for name in ("hit", "recall", "ndcg"):
        for k in ks:
            metrics[f"{name}@{k}"] = _mean([s[f"{name}@{k}"] for s in retrieved])
    metrics["mrr"] = _mean([s["rr"] for s in retrieved])
    metrics["accuracy"] = _share(sum(bool(s["correct"]) for s in answerable), len(answerable))
    metrics["token_f1"] = _mean([s["f1"] for s in answerable])
    if all("supported_correct" in s for s in scores):  # runs scored before it was added have none
        metrics["supported_accuracy"] = _share(sum(bool(s["supported_correct"]) for s in answerable), len(answerable))
        for kind in SUPPORT_KINDS:
            metrics[f"sentences_{kind}"] = sum(s[f"sentences_{kind}"] for s in scores)
    metrics["citation_validity"] = _share(
        sum(s["citations_valid"] for s in scores), sum(s["citations"] for s in scores)
    )
    metrics["evidence_recall"] = _share(
        sum(s["evidence_cited"] for s in answerable), sum(s["evidence_units"] for s in answerable)
    )
    metrics["citation_precision"] = _share(
        sum(s["citations_precise"] for s in answerable), sum(s["citations"] for s in answerable)
    )
    metrics["abstention_precision"] = _share(sum(s["should_abstain"] for s in abstained), len(abstained))
    metrics["abstention_recall"] = _share(sum(s["abstained"] for s in unanswerable), len(unanswerable))
    metrics["answered_should_abstain"] = sum(not s["abstained"] for s in unanswerable)
    metrics["abstained_should_answer"] = sum(s["abstained"] for s in answerable)
    latency = np.asarray([s["latency_ms"] for s in scores], dtype=float)
    for name, value in (("p50", 50), ("p95", 95), ("max", 100)):
        metrics[f"latency_ms_{name}"] = round(float(np.percentile(latency, value)), 1) if latency.size else None
    return metrics


def aggregate_by_tag(scores: list[dict], tags: list[list[str]], ks=KS) -> dict:
    """The overall metrics, plus the same for the questions of each tag under `by_tag`."""
    grouped: dict[str, list[dict]] = {}
    for s, question_tags in zip(scores, tags):
        for tag in question_tags:
            grouped.setdefault(tag, []).append(s)
    return aggregate(scores, ks) | {"by_tag": {tag: aggregate(grouped[tag], ks) for tag in sorted(grouped)}}
