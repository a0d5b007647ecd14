"""A chat model as a yes/no judge of (question, candidate sentence), through llama-cpp-python in this process
(issue 22, part 3): what it costs, and how well p(yes) tells evidence sentences from the others.

For each of `--questions` answerable questions of a labelled set (evenly spaced over the set), the article the
question is about is split into sentences (the index's spaCy splitter); its evidence sentences are the right
ones, its other sentences the wrong ones. Up to `--candidates` (10) a question are judged: every right one, and
wrong ones drawn at random (seeded) to fill the rest, shuffled. Each model is measured in two ways
(`qa.llamacpp.yes_probabilities`):

- `pairs`: one prompt a pair, the question first and the sentence last; llama.cpp keeps the KV cache of
  the shared prefix (system prompt and question), so a pair costs only its sentence and closing words;
- `list`: the question and all candidates numbered in one prompt, then "does sentence n answer?" for each,
  on top of that cached prefix.

Printed and written to OUT/summary.md: per model and way, the time per question (p50, p95) and per pair, the
AUC of p(yes) (right against wrong sentences, pooled), the mean AUC within a question, and how often the
top-scored candidate is a right one. OUT/scores.jsonl has every score.

    python benchmarks/judge.py --gguf models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \\
        --set eval/sets/wikinews-dev.jsonl --corpus ../shared/corpus/wikinews/articles.jsonl --out runs/judge
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from index.splitters import SentenceSplitter  # noqa: E402
from qa.llamacpp import default_threads, load, yes_probabilities  # noqa: E402
from qa.settings import Settings  # noqa: E402


def auc(right: list[float], wrong: list[float]) -> float | None:
    """The probability that a right sentence scores above a wrong one (ties count half)."""
    if not right or not wrong:
        return None
    r, w = np.asarray(right)[:, None], np.asarray(wrong)[None, :]
    return float(((r > w).sum() + 0.5 * (r == w).sum()) / (r.size * w.size))


def _normal(text: str) -> str:
    return " ".join(text.split())


def candidates(questions: list[dict], articles: dict[str, dict], n: int, seed: int) -> list[dict]:
    """Each question with its candidate sentences (text, right) — the questions whose evidence is found."""
    splitter = SentenceSplitter(Settings().spacy_model)
    rng = random.Random(seed)
    out = []
    for q in questions:
        article = articles.get(q["article_id"])
        if article is None:
            continue
        text = article["text"]
        spans = splitter.split([text])[0]
        normal = _normal(text)
        evidence = []
        for e in q.get("evidence", []):
            at = normal.find(_normal(e))
            if at >= 0:
                evidence.append((at, at + len(_normal(e))))
        if not evidence:
            continue
        sentences, right = [], []
        for span in spans:
            s = _normal(text[span.start : span.end])
            at = normal.find(s)
            sentences.append(s)
            right.append(at >= 0 and any(at < b and a < at + len(s) for a, b in evidence))
        pos = [i for i, r in enumerate(right) if r]
        neg = [i for i, r in enumerate(right) if not r]
        if not pos or not neg:
            continue
        chosen = pos[:n] + rng.sample(neg, min(len(neg), max(n - len(pos), 1)))
        rng.shuffle(chosen)
        out.append({"id": q["id"], "question": q["question"], "sentences": [sentences[i] for i in chosen],
                    "right": [right[i] for i in chosen]})
    return out


def measure(gguf: Path, items: list[dict], mode: str) -> tuple[dict, list[dict]]:
    times, right, wrong, aucs, top, rows = [], [], [], [], 0, []
    yes_probabilities("Warm-up?", ["Warm-up sentence."], gguf, mode=mode)  # not timed
    for item in items:
        started = time.perf_counter()
        scores = yes_probabilities(item["question"], item["sentences"], gguf, mode=mode)
        times.append(time.perf_counter() - started)
        r = [p for p, ok in zip(scores, item["right"]) if ok]
        w = [p for p, ok in zip(scores, item["right"]) if not ok]
        right += r
        wrong += w
        aucs.append(auc(r, w))
        top += item["right"][int(np.argmax(scores))]
        rows.append({"id": item["id"], "model": gguf.name, "mode": mode, "seconds": round(times[-1], 3),
                     "scores": [round(p, 4) for p in scores], "right": item["right"]})
    pairs = sum(len(i["sentences"]) for i in items)
    per10 = [t / len(i["sentences"]) * 10 for t, i in zip(times, items)]
    return {
        "model": gguf.name, "mode": mode, "questions": len(items), "pairs": pairs,
        "s_per_pair": round(sum(times) / pairs, 3),
        "s_per_question_p50": round(float(np.percentile(times, 50)), 2),
        "s_per_question_p95": round(float(np.percentile(times, 95)), 2),
        "s_per_10_candidates_p50": round(float(np.percentile(per10, 50)), 2),
        "auc": round(auc(right, wrong), 3),
        "auc_within_question": round(float(np.mean([a for a in aucs if a is not None])), 3),
        "top1_right": f"{top}/{len(items)}",
        "p_yes_right_median": round(float(np.median(right)), 3),
        "p_yes_wrong_median": round(float(np.median(wrong)), 3),
    }, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", type=Path, action="append", required=True, help="a model file (repeat)")
    parser.add_argument("--set", type=Path, required=True, help="a labelled set with article_id and evidence")
    parser.add_argument("--corpus", type=Path, required=True, help="the articles (JSONL: id, title, text)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--modes", default="pairs,list")
    parser.add_argument("--threads", type=int,
                        help="llama.cpp's threads (default: $QA_LLM_THREADS, else half the cores)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    if "test" in args.set.name:
        raise SystemExit("the test split is frozen: measure on dev")
    if args.threads:
        os.environ["QA_LLM_THREADS"] = str(args.threads)
    args.threads = default_threads()
    questions = [json.loads(line) for line in args.set.open(encoding="utf-8")]
    questions = [q for q in questions if q.get("answers") and q.get("evidence") and q.get("article_id")]
    step = max(len(questions) / args.questions, 1)
    questions = [questions[int(i * step)] for i in range(min(args.questions, len(questions)))]
    articles = {}
    with args.corpus.open(encoding="utf-8") as lines:
        for line in lines:
            a = json.loads(line)
            articles[a["id"]] = a
    items = candidates(questions, articles, args.candidates, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    results, rows = [], []
    for gguf in args.gguf:
        loaded = load(gguf)
        print(f"{gguf.name}: loaded in {loaded.seconds:.1f} s", file=sys.stderr)
        for mode in args.modes.split(","):
            result, scored = measure(gguf, items, mode)
            print(json.dumps(result), file=sys.stderr)
            results.append(result)
            rows += scored
    with (args.out / "scores.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    keys = list(results[0])
    table = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    table += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in results]
    summary = (
        f"# The yes/no judge on {args.set.name}\n\n{len(items)} questions, {sum(len(i['sentences']) for i in items)} "
        f"(question, sentence) pairs ({sum(sum(i['right']) for i in items)} right); {args.threads} threads.\n\n"
        + "\n".join(table) + "\n"
    )
    (args.out / "summary.md").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
