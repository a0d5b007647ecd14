"""What a neural yes/no judge adds to the learned reader on the dev split, against what it costs
(issue 22, part 3; qa/judges.py).

Every dev question is described as the learned reader sees it (eval.train_reader.describe_set, the
ranker qa/models/reader.json). A question whose best ranker probability lies in a wide band
(`--wide`, 0.02–0.7) has its top `--top` (5) candidates judged by each `--gguf` model, one pair at a
time in rank order, so that the judge's seconds for the top k are the sum of the first k pairs. The
judge's p(yes) and seconds are cached per (model, question, sentence) in OUT/pyes-MODEL.jsonl:
a rerun, or `report`, judges nothing twice. Questions are taken in a seeded shuffle; a model stopped
early (`--limit`, or killed) is reported on the questions before its first unjudged one.

The policy (qa.judges.JudgePolicy: k, the band [low, high), and a logistic regression over the
ranker's and the judge's logits on the judged candidates) is chosen to answer most questions right
(ties: fewer judged), by 5-fold cross-validation grouped by article: each fold is decided by the
policy chosen on the other four, and the figures of "reader + judge" are those out-of-fold ones.
The policy chosen on all of dev is printed for the setting. As in eval.train_reader.choose, the
questions the statement reader answers are left out. The test split is refused.

    nice -n 10 .venv/bin/python benchmarks/judge_gain.py run --home runs/home-wikinews \\
        --gguf models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf --threads 1
    .venv/bin/python benchmarks/judge_gain.py report --home runs/home-wikinews   # from the caches alone
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from eval.sets import load_set  # noqa: E402
from eval.train_reader import describe_set, outcome  # noqa: E402
from qa.judges import JudgePolicy, SentenceJudge, combine, features, to_judge  # noqa: E402
from qa.rankers import SentenceRanker  # noqa: E402
from qa.service import QAService  # noqa: E402
from qa.settings import Settings  # noqa: E402

LOWS = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.2)
HIGHS = (0.15, 0.2, 0.3, 0.4, 0.5, 0.7)


def _cache_path(out: Path, gguf: Path) -> Path:
    return out / f"pyes-{gguf.stem}.jsonl"


def read_cache(path: Path) -> dict[tuple[str, str], dict]:
    cache = {}
    if path.exists():
        for line in path.open(encoding="utf-8"):
            row = json.loads(line)
            cache[(row["question"], row["sentence"])] = row
    return cache


def questions(service: QAService, set_path: Path, ranker: SentenceRanker, seed: int) -> list[dict]:
    """The dev questions the ranker decides, described, with its probabilities, in a seeded shuffle."""
    described = describe_set(service, load_set(set_path))
    # Cross-validation groups by article, read from the set itself (older EvalQuestions lack article_id).
    records = [json.loads(line) for line in set_path.open(encoding="utf-8") if line.strip()]
    article = {r["id"]: r.get("article_id") or r["id"] for r in records}
    for d in described:
        d["group"] = article.get(d["question"].id, d["question"].id)
    # Shuffled before the statement reader's are left out, so that the order is the same whatever it reads.
    random.Random(seed).shuffle(described)
    described = [d for d in described if not d["statements"]]
    for d in described:
        d["p"] = ranker.probabilities(d["x"]).tolist()
        d["order"] = sorted(range(len(d["p"])), key=lambda i: d["p"][i], reverse=True)
    return described


def in_wide(d: dict, wide: tuple[float, float]) -> bool:
    return bool(d["p"]) and wide[0] <= d["p"][d["order"][0]] < wide[1]


def judge_all(items: list[dict], gguf: Path, out: Path, top: int, wide: tuple[float, float], threads: int,
              limit: int | None) -> None:
    """Judge the top candidates of every question in the wide band, one pair a call (timed), into the cache."""
    path = _cache_path(out, gguf)
    cache = read_cache(path)
    judge = SentenceJudge(gguf, n_threads=threads)
    judge.judge("Warm-up?", ["Warm-up sentence."])  # loads the model; not timed
    done = 0
    with path.open("a", encoding="utf-8") as f:
        for n, d in enumerate(items[:limit] if limit else items):
            if not in_wide(d, wide):
                continue
            question = d["question"].question
            for rank, i in enumerate(d["order"][:top]):
                sentence = d["texts"][i]
                if (question, sentence) in cache:
                    continue
                started = time.perf_counter()
                [p] = judge.judge(question, [sentence])
                row = {"question": question, "sentence": sentence, "rank": rank, "p_yes": round(p, 5),
                       "seconds": round(time.perf_counter() - started, 3), "load": round(os.getloadavg()[0], 2)}
                cache[(question, sentence)] = row
                f.write(json.dumps(row) + "\n")
                f.flush()
            done += 1
            print(f"{gguf.stem}: {n + 1}/{len(items)} questions, {done} judged", file=sys.stderr, flush=True)


def covered(items: list[dict], cache: dict, top: int, wide: tuple[float, float]) -> list[dict]:
    """The questions before the first in-band one whose top candidates are not all judged; each with
    the judge's p(yes) and seconds for its top candidates."""
    out = []
    for d in items:
        if in_wide(d, wide):
            rows = [cache.get((d["question"].question, d["texts"][i])) for i in d["order"][:top]]
            if any(r is None for r in rows):
                break
            d = d | {"q": [r["p_yes"] for r in rows], "s": [r["seconds"] for r in rows]}
        else:
            d = d | {"q": [], "s": []}
        out.append(d)
    return out


def apply(d: dict, policy: JudgePolicy) -> tuple[list[float], float | None]:
    """The question's probabilities under the policy, and the judge's seconds (None: not judged)."""
    picked = to_judge(d["p"], policy)
    if not picked:
        return d["p"], None
    judged = {i: d["q"][rank] for rank, i in enumerate(picked)}
    return combine(d["p"], judged, policy), float(sum(d["s"][: len(picked)]))


def fit_policy(items: list[dict], k: int, low: float, high: float) -> JudgePolicy | None:
    """The mixing regression fitted on the judged candidates of the in-band questions."""
    x, y = [], []
    for d in items:
        for rank, i in enumerate(to_judge(d["p"], JudgePolicy(k, low, high))):
            x.append(features(d["p"][i], d["q"][rank]))
            y.append(int(d["y"][i]))
    if len(set(y)) < 2:
        return None
    model = LogisticRegression(C=1.0).fit(np.asarray(x), np.asarray(y))
    a, b = model.coef_[0]
    return JudgePolicy(k, low, high, round(float(a), 4), round(float(b), 4), round(float(model.intercept_[0]), 4))


def score(items: list[dict], policy: JudgePolicy, ranker: SentenceRanker, limit: int) -> list[dict]:
    rows = []
    for d in items:
        p, seconds = apply(d, policy)
        answered, right = outcome(d, p, ranker.threshold, ranker.runner_up_ratio, limit)
        rows.append({"answerable": d["question"].answerable, "answered": answered, "right": right,
                     "seconds": seconds})
    return rows


def choose(items: list[dict], top: int, ranker: SentenceRanker, limit: int) -> JudgePolicy:
    """The policy that answers most of `items` right; ties: fewer questions judged. The judge off
    (k = 0) is among the choices."""
    best_key, best = None, JudgePolicy()
    candidates = [JudgePolicy()] + [
        fit_policy(items, k, low, high) for k in range(1, top + 1) for low in LOWS for high in HIGHS if low < high
    ]
    for policy in candidates:
        if policy is None:
            continue
        rows = score(items, policy, ranker, limit)
        key = (sum(r["right"] for r in rows), -sum(r["seconds"] is not None for r in rows))
        if best_key is None or key > best_key:
            best_key, best = key, policy
    return best


def cross_validated(items: list[dict], top: int, ranker: SentenceRanker, limit: int, folds: int):
    """Out-of-fold rows: each fold decided by the policy chosen on the others (grouped by article)."""
    groups = [d["group"] for d in items]
    rows: list[dict | None] = [None] * len(items)
    chosen = []
    for train, held in GroupKFold(n_splits=folds).split(items, groups=groups):
        policy = choose([items[i] for i in train], top, ranker, limit)
        chosen.append(policy)
        for i, row in zip(held, score([items[i] for i in held], policy, ranker, limit)):
            rows[i] = row
    return rows, chosen


def summary(name: str, rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    judged = [r["seconds"] for r in rows if r["seconds"] is not None]
    added = [r["seconds"] or 0.0 for r in rows]

    def pct(values, q):
        return f"{np.percentile(values, q):.2f}" if values else "–"

    return {
        "reader": name,
        "questions": len(rows),
        "right": f"{sum(r['right'] for r in rows)} ({sum(r['right'] for r in rows) / len(rows):.3f})",
        "answerable right": f"{sum(r['right'] for r in answerable)}/{len(answerable)}",
        "unanswerable abstained": f"{sum(r['right'] for r in unanswerable)}/{len(unanswerable)}",
        "judged": f"{len(judged)} ({len(judged) / len(rows):.0%})",
        "judge s/judged q p50": pct(judged, 50),
        "judge s/judged q p95": pct(judged, 95),
        "added s/question p95": pct(added, 95),
        "added s/question mean": f"{np.mean(added):.2f}",
    }


def judge_auc(items: list[dict], k: int) -> str:
    """How well p(yes) orders the top-k candidates within a question (ties half), over questions with
    both an evidence sentence and another among them."""
    aucs = []
    for d in items:
        if not d["q"]:
            continue
        ys = [int(d["y"][i]) for i in d["order"][:k]]
        right = [q for q, y in zip(d["q"][:k], ys) if y]
        wrong = [q for q, y in zip(d["q"][:k], ys) if not y]
        if right and wrong:
            aucs.append(np.mean([(r > w) + 0.5 * (r == w) for r in right for w in wrong]))
    return f"{np.mean(aucs):.3f} over {len(aucs)} questions" if aucs else "–"


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    return "\n".join(lines + ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows])


def report(items: list[dict], out: Path, top: int, wide: tuple[float, float], ranker: SentenceRanker,
           limit: int, folds: int) -> str:
    models = sorted(out.glob("pyes-*.jsonl"))
    alone = JudgePolicy()
    parts = [
        f"# What the yes/no judge adds to the learned reader (dev)\n",
        f"`benchmarks/judge_gain.py`: {len(items)} dev questions the ranker decides (the statement reader's are left "
        f"out, as in eval.train_reader.choose); threshold {ranker.threshold}, runner-up ratio "
        f"{ranker.runner_up_ratio} (qa/models/reader.json trained {ranker.meta.get('trained')}, on "
        f"{ranker.meta.get('train_questions')} questions, train SHA-256 {str(ranker.meta.get('train_sha256'))[:12]}…). The top {top} candidates of each question whose best probability is in "
        f"[{wide[0]}, {wide[1]}) are judged, one pair a call, 1 llama.cpp thread. \"reader + judge\" rows are "
        f"out-of-fold: {folds}-fold cross-validation grouped by article, each fold decided by the policy chosen on "
        f"the others. Seconds are the judge's alone (the reader's own time is not added).\n",
    ]
    full = {}
    for path in models:
        cache = read_cache(path)
        name = path.stem.removeprefix("pyes-")
        done = covered(items, cache, top, wide)
        if len(done) < folds * 2:
            parts.append(f"{name}: only {len(done)} questions judged, not reported.\n")
            continue
        rows, chosen = cross_validated(done, top, ranker, limit, folds)
        final = choose(done, top, ranker, limit)
        full[name] = (done, rows)
        loads = [r["load"] for r in cache.values()]
        lines = [summary("reader alone", score(done, alone, ranker, limit)),
                 summary(f"reader + judge {name} (cross-validated)", rows),
                 summary(f"reader + judge {name} (policy of all these, in-sample)", score(done, final, ranker, limit))]
        if name != next(iter(full)) and len(done) < len(items):
            # The same questions under the first model's out-of-fold decisions, to compare like with like.
            first_done, first_rows = next(iter(full.values()))
            index = {id(d["question"]): r for d, r in zip(first_done, first_rows)}
            same = [index[id(d["question"])] for d in done if id(d["question"]) in index]
            if len(same) == len(done):
                lines.insert(1, summary(f"reader + judge {next(iter(full))} (cross-validated over all dev)", same))
        parts += [
            f"## {name}: {len(done)} questions ({sum(bool(d['q']) for d in done)} in the wide band, judged)\n",
            table(lines) + "\n",
            f"- judge's AUC within a question, top {top}: {judge_auc(done, top)}; "
            f"load average while judging: median {np.median(loads):.2f}, max {max(loads):.2f}",
            f"- policies chosen in the folds: " + "; ".join(_policy(p) for p in chosen),
            f"- policy chosen on all {len(done)}: {_policy(final)}\n",
        ]
        (out / f"policy-{name}.json").write_text(json.dumps(asdict(final)) + "\n")
    return "\n".join(parts)


def _policy(p: JudgePolicy) -> str:
    if p.k == 0:
        return "off"
    return (f"k={p.k}, band [{p.low}, {p.high}), logit = {p.ranker_weight}·ranker + {p.judge_weight}·judge "
            f"{p.bias:+}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--home", type=Path, default=Path("runs/home-wikinews"))
    parser.add_argument("--set", type=Path, default=Path("eval/sets/wikinews-dev.jsonl"))
    parser.add_argument("--gguf", type=Path, action="append", default=[], help="a judge model (repeat)")
    parser.add_argument("--out", type=Path, default=Path("runs/judge"))
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--wide", type=float, nargs=2, default=(0.02, 0.7))
    parser.add_argument("--limit", type=int, help="judge only the first n questions of the shuffle")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args()
    if "test" in args.set.name:
        raise SystemExit("the test split is frozen: measure on dev")
    args.out.mkdir(parents=True, exist_ok=True)
    wide = tuple(args.wide)
    service = QAService(Settings(home=args.home))
    ranker = SentenceRanker.load()
    items = questions(service, args.set, ranker, args.seed)
    limit = service.settings.max_answer_sentences
    if args.command == "run":
        for gguf in args.gguf:
            judge_all(items, gguf, args.out, args.top, wide, args.threads, args.limit)
    text = report(items, args.out, args.top, wide, ranker, limit, args.folds)
    (args.out / "gain.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
