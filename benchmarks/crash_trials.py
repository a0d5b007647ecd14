"""Crash trials: `qa ingest` killed with SIGKILL at a random moment, then run again, then checked.

    .venv/bin/python benchmarks/crash_trials.py [--trials 5] [--mode both] [--corpus ARTICLES.jsonl] [--seed N]
    make crash-trials                       # the same, 5 trials
    .venv/bin/python benchmarks/crash_trials.py --probe HOME   # print one store's state as JSON (tests use it)

A trial passes when, after the kill and one plain rerun, the store holds exactly what a clean
ingest gives (the same articles, chunks and sentences), no row of a stale version or of an
uncommitted article is left, every stored chunk and sentence is its article's text at its
offsets, and `qa ask` worked between the kill and the rerun (the BM25 index may be missing or stale
then). `first` kills a first ingest into an empty store; `changed` kills the re-ingest of every
article, each changed by one sentence, over a clean store of the originals. Each kill time is
drawn uniformly over 5-85% of a clean run's length, so model loading, writes and the BM25 build
can all be hit. Prints each trial and then passes/N.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QA = Path(sys.executable).with_name("qa")
RGB = ROOT.parent / "shared" / "benchmarks" / "rgb-en-fact" / "articles.jsonl"
QUESTION = "Where was Super Bowl LV played?"


def probe(home: Path, collection: str = "qa") -> dict:
    """The state of the embedded store in `home`, read straight from Chroma: what `qa stats` says,
    the raw row counts, rows no live article version owns, and rows whose text is not the article's
    text at their offsets."""
    from index.store import ChromaStore, _pages
    from qa.settings import Settings

    store = ChromaStore(Settings(home=home, collection=collection))
    versions = store.versions(None)
    texts = {a.id: a.text for a in store.get_articles(list(versions))}
    raw, stale, misquoted = {}, {}, {}
    for role in ("chunks", "sentences"):
        rows = [
            row  # in pages: embedded Chroma refuses a `get` of more than 32,766 rows
            for got in _pages(getattr(store, f"_{role}"), include=["metadatas", "documents"])
            for row in zip(got["metadatas"], got["documents"])
        ]
        raw[role] = len(rows)
        live = [(m, d) for m, d in rows if versions.get(m["article_id"]) == m["version"]]
        stale[role] = raw[role] - len(live)
        misquoted[role] = sum(texts[m["article_id"]][m["start"] : m["end"]] != d for m, d in live)
    return {"stats": store.stats(), "raw": raw, "stale": stale, "misquoted": misquoted, "texts": texts}


def misquoted_citations(answer: dict, texts: dict[str, str]) -> int:
    """Citations of a `qa ask --json` answer whose quote is not the stored article's text at its offsets."""
    return sum(texts.get(c["article_id"], "")[c["start"] : c["end"]] != c["quote"] for c in answer["citations"])


def qa_env(home: Path) -> dict[str, str]:
    offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    return dict(os.environ, QA_HOME=str(home), **offline)


def qa(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(QA), *args], env=qa_env(home), capture_output=True, text=True, timeout=timeout)


def probe_in_child(home: Path) -> dict:
    """`probe` in a fresh process: this one must not hold the store open while `qa` writes to it."""
    done = subprocess.run(
        [sys.executable, __file__, "--probe", str(home)], capture_output=True, text=True, timeout=600, check=True
    )
    return json.loads(done.stdout)


def changed_copy(corpus: Path, folder: Path) -> Path:
    """The corpus with one sentence added to every article's text (a JSONL file)."""
    out = folder / "changed.jsonl"
    with corpus.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            if line.strip():
                article = json.loads(line)
                article["text"] = article["text"].rstrip() + "\n\nThis passage was revised for a crash trial."
                dst.write(json.dumps(article) + "\n")
    return out


def clean_ingest(home: Path, corpus: Path) -> float:
    started = time.monotonic()
    done = qa(home, "ingest", str(corpus))
    if done.returncode != 0:
        raise SystemExit(f"a clean ingest of {corpus} failed:\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def killed_then_rerun(home: Path, corpus: Path, kill_after: float) -> dict:
    """Ingest, SIGKILL after `kill_after` seconds, ask, ingest again; what was seen at each step."""
    process = subprocess.Popen(
        [str(QA), "ingest", str(corpus)], env=qa_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        process.wait(timeout=kill_after)
        killed = False  # it finished first
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed = True
    after_kill = probe_in_child(home)
    ask = qa(home, "ask", "--json", QUESTION)
    answer_ok = ask.returncode == 0
    misquoted_answer = misquoted_citations(json.loads(ask.stdout), after_kill["texts"]) if answer_ok else None
    rerun = qa(home, "ingest", str(corpus))
    final = probe_in_child(home)
    return {
        "killed": killed,
        "left_by_kill": after_kill["stale"],
        "ask_after_kill": "ok" if answer_ok else (ask.stderr.strip().splitlines() or ["?"])[-1],
        "misquoted_answer": misquoted_answer,
        "rerun": rerun.returncode,
        "rerun_summary": rerun.stdout.strip().splitlines()[-1] if rerun.stdout.strip() else rerun.stderr[-300:],
        "final": final,
    }


def verdict(result: dict, reference: dict) -> list[str]:
    """What is wrong with a trial's end state, compared with a clean ingest's; empty when it passed."""
    final, problems = result["final"], []
    counts = {k: final["stats"][k] for k in ("articles", "chunks", "sentences")}
    expected = {k: reference["stats"][k] for k in ("articles", "chunks", "sentences")}
    if counts != expected:
        problems.append(f"counts {counts} != clean {expected}")
    if final["raw"] != reference["raw"]:
        problems.append(f"raw rows {final['raw']} != clean {reference['raw']}")
    if any(final["stale"].values()):
        problems.append(f"stale rows left {final['stale']}")
    if any(final["misquoted"].values()):
        problems.append(f"rows not at their offsets {final['misquoted']}")
    if result["ask_after_kill"] != "ok":
        problems.append(f"qa ask after the kill failed: {result['ask_after_kill']}")
    if result["misquoted_answer"]:
        problems.append(f"{result['misquoted_answer']} citations of that answer misquoted")
    if result["rerun"] != 0:
        problems.append(f"the rerun exited {result['rerun']}: {result['rerun_summary']}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--mode", choices=["first", "changed", "both"], default="both", help="both: alternate")
    parser.add_argument("--corpus", type=Path, default=RGB, help="a JSONL file of articles (default: RGB's 969)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--probe", type=Path, metavar="HOME", help="only print the state of the store in HOME")
    args = parser.parse_args()
    if args.probe:
        state = probe(args.probe)
        print(json.dumps(state))
        return
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    modes = [args.mode] * args.trials if args.mode != "both" else ["first", "changed"] * args.trials
    modes = modes[: args.trials]
    with tempfile.TemporaryDirectory(prefix="qa-crash-trials-") as tmp:
        work = Path(tmp)
        changed = changed_copy(args.corpus, work)
        print(f"seed {seed}; corpus {args.corpus}; clean reference runs...", flush=True)
        seconds = {"first": clean_ingest(work / "ref-first", args.corpus)}
        references = {"first": probe_in_child(work / "ref-first")}
        if "changed" in modes:
            shutil.copytree(work / "ref-first", work / "ref-changed")
            seconds["changed"] = clean_ingest(work / "ref-changed", changed)
            references["changed"] = probe_in_child(work / "ref-changed")
        for mode, seconds_taken in seconds.items():
            counts = {k: references[mode]["stats"][k] for k in ("articles", "chunks", "sentences")}
            print(f"clean {mode} ingest: {seconds_taken:.0f} s, {counts}", flush=True)
        passes = 0
        for trial, mode in enumerate(modes, 1):
            home = work / f"trial-{trial}"
            if mode == "changed":
                shutil.copytree(work / "ref-first", home)
            kill_after = rng.uniform(0.05, 0.85) * seconds[mode]  # runs vary: keep most kills inside one
            result = killed_then_rerun(home, changed if mode == "changed" else args.corpus, kill_after)
            problems = verdict(result, references[mode])
            passes += not problems
            print(
                f"trial {trial} ({mode}): kill at {kill_after:.1f} s{'' if result['killed'] else ' (had finished)'}; "
                f"left by the kill: {result['left_by_kill']}; ask after it: {result['ask_after_kill']}; "
                f"rerun: {result['rerun_summary']} -> {'PASS' if not problems else 'FAIL: ' + '; '.join(problems)}",
                flush=True,
            )
            shutil.rmtree(home, ignore_errors=True)
    print(f"{passes}/{len(modes)} trials passed")
    sys.exit(0 if passes == len(modes) else 1)


if __name__ == "__main__":
    main()
