"""How fast "What did X say?" and `qa people` answer, over a collection's speakers, beside another tree.

    .venv/bin/python benchmarks/who_said_what_latency.py --home runs/home-wikinews [--old /tmp/qa-old]
        [--speakers 40] [--repeats 3] [--rounds 2] [--cold 5]

    git archive HEAD | tar -x -C /tmp/qa-old     # the committed code, to compare the working tree with

The home is copied to a temporary folder first (answering may write `people.json` there), so the one
given is only read. Each measurement runs in a child process of its own, the trees alternated `--rounds`
times (old, new, old, new …) so that both meet the same load; a child imports `qa` from its tree
(PYTHONPATH). In a child: the service is built and warmed (models, the people directory), then:

- "What did X say?" for `--speakers` speakers of `people()`: the most quoted half of them and the rest
  spread over the list. Each question's first asking in the process (nothing of it read before: what
  a question about someone new costs), then `--repeats` more (the same question again);
- `QAService.people()`, warm, 30 times;
- each call's wall time and the process's CPU time (`time.process_time`: Chroma's threads included), which
  the machine's load changes far less; of that CPU time, the garbage collector's (`gc.callbacks`), and how
  many full collections (generation 2) fell in the call: a frequent speaker's answer makes enough objects to
  set one off, and one walks the whole heap (printed for the most quoted speaker's first asking per worker);
- each answer's JSON (`Answer.to_dict()` without its timings), hashed: the parent says whether every
  answer of the new tree is the old tree's, word for word;
- the warm-up's time per worker (the first worker of a tree may build what it keeps in the home, such as
  `statements.sqlite3`; later workers and the new processes find it made).

Then, as new processes (`--cold` runs each, trees alternated): `qa people --json` and `qa ask --json
"What did X say?"` for the most quoted speaker, start to exit.

Printed: p50 / p95 / max per tree and the ratio old / new (> 1: the new tree is faster).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
       "TOKENIZERS_PARALLELISM": "false", "GRADIO_ANALYTICS_ENABLED": "False"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def digest(answer) -> str:
    data = answer.to_dict()
    data.pop("timings_ms", None)
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def chosen_speakers(people: list[dict], n: int) -> list[str]:
    """The most quoted half of `n`, then the rest spread evenly over the remaining list."""
    top = [p["name"] for p in people[: n // 2]]
    rest = people[n // 2 :]
    step = max(1, len(rest) // max(1, n - len(top)))
    return top + [p["name"] for p in rest[::step]][: n - len(top)]


def worker(home: str, speakers: int, repeats: int) -> dict:
    from qa.service import QAService
    from qa.settings import Settings

    service = QAService(Settings(home=Path(home)))
    started = time.perf_counter()
    service.warm_up()
    service.people()
    warm_up = time.perf_counter() - started
    names = chosen_speakers(service.people(), speakers)
    kinds = ("first", "again", "people")
    times: dict[str, list[float]] = {f"{k}{m}": [] for k in kinds for m in ("_ms", "_cpu_ms", "_gc_ms", "_full_gc")}
    hashes, sizes = {}, {}
    collecting = {"cpu": 0.0, "full": 0, "started": 0.0}

    def collected(phase: str, info: dict) -> None:
        """The garbage collector's CPU time and full collections (generation 2), summed."""
        if phase == "start":
            collecting["started"] = time.process_time()
        else:
            collecting["cpu"] += time.process_time() - collecting["started"]
            collecting["full"] += info["generation"] == 2

    gc.callbacks.append(collected)

    def timed(key: str, call):
        """`call()`, its wall time and its CPU time (the process's, Chroma's threads included: what the
        machine's load does not change) added to `times`; of that CPU time, the garbage collector's, and its
        full collections."""
        collecting.update(cpu=0.0, full=0)
        wall, cpu = time.perf_counter(), time.process_time()
        out = call()
        times[f"{key}_ms"].append((time.perf_counter() - wall) * 1000)
        times[f"{key}_cpu_ms"].append((time.process_time() - cpu) * 1000)
        times[f"{key}_gc_ms"].append(collecting["cpu"] * 1000)
        times[f"{key}_full_gc"].append(collecting["full"])
        return out

    for name in names:
        question = f"What did {name} say?"
        answer = timed("first", lambda: service.ask(question))
        hashes[question] = digest(answer)
        found = answer.to_dict()
        sizes[question] = sum(len(g["items"]) for g in found.get("statements") or [])
        for _ in range(repeats):
            timed("again", lambda: service.ask(question))
    for _ in range(30):
        listed = timed("people", service.people)
    hashes["people()"] = hashlib.sha1(json.dumps(listed, sort_keys=True).encode()).hexdigest()
    return {"code": __import__("qa").__file__, "warm_up_s": warm_up, **times, "hashes": hashes,
            "statements": sizes, "names": names}


def child(tree: Path, argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ) | ENV | {"PYTHONPATH": str(tree)}
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tree)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:4]} in {tree} failed: {done.stderr[-2000:]}")
    return wall, done


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} {pct(values, 0.95):7.1f} {max(values):7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="a QA_HOME holding the collection (only read: it is copied)")
    parser.add_argument("--old", type=Path, help="another tree to compare with (git archive HEAD | tar -x -C DIR)")
    parser.add_argument("--speakers", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cold", type=int, default=5, help="new processes per tree (0: none)")
    parser.add_argument("--out", type=Path, help="write every figure measured here (JSON)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))))
        return
    if args.home is None:
        parser.error("--home is required")

    scratch = Path(tempfile.mkdtemp(prefix="qa-wsw-"))
    try:
        home = scratch / "home"
        shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("*.log", "runs"))
        trees = {"new": ROOT} | ({"old": args.old.resolve()} if args.old else {})
        order = [t for _ in range(args.rounds) for t in sorted(trees, reverse=True)]  # old, new, old, new …
        found: dict[str, list[dict]] = {t: [] for t in trees}
        for tree in order:
            argv = [str(PYTHON), str(Path(__file__).resolve()), "--worker", str(home), str(args.speakers), str(args.repeats)]
            _, done = child(trees[tree], argv)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            found[tree].append(result)
            print(f"[{time.strftime('%H:%M:%S')}] {tree}: {result['code']} load {os.getloadavg()[0]:.1f}",
                  file=sys.stderr, flush=True)
        cold: dict[str, dict[str, list[float]]] = {t: {"people": [], "ask": []} for t in trees}
        top = found["new"][0]["names"][0]
        qa = "import sys; from qa.cli import main; sys.argv[0] = 'qa'; main()"
        for _ in range(args.cold):
            for tree in sorted(trees, reverse=True):
                wall, _ = child(trees[tree], [str(PYTHON), "-c", qa, "people", "--json", "--home", str(home)])
                cold[tree]["people"].append(wall * 1000)
                wall, _ = child(trees[tree], [str(PYTHON), "-c", qa, "ask", "--json", "--home", str(home),
                                              f"What did {top} say?"])
                cold[tree]["ask"].append(wall * 1000)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    first = found["new"][0]
    sizes = sorted(first["statements"].values())
    print(f"\n{len(first['names'])} speakers of {args.home} (statements in an answer's JSON: "
          f"median {statistics.median(sizes):.0f}, max {max(sizes)}; most quoted: {top}); "
          f"{args.rounds} round(s) per tree, load average now {os.getloadavg()[0]:.1f}\n")
    rows = [
        ("What did X say?, first asking (ms)", "first_ms"),
        ("  the same, CPU (ms)", "first_cpu_ms"),
        ("  of which garbage collection, CPU (ms)", "first_gc_ms"),
        ("What did X say?, asked again (ms)", "again_ms"),
        ("  the same, CPU (ms)", "again_cpu_ms"),
        ("  of which garbage collection, CPU (ms)", "again_gc_ms"),
        ("QAService.people(), warm (ms)", "people_ms"),
        ("  the same, CPU (ms)", "people_cpu_ms"),
    ]
    header = f"{'':40} " + "  ".join(f"{t + ' p50':>7} {'p95':>7} {'max':>7}" for t in sorted(trees, reverse=True))
    print(header + ("   old/new p50, p95" if "old" in trees else ""))

    def line(label: str, values: dict[str, list[float]]) -> None:
        text = f"{label:40} " + "  ".join(summary(values[t]) for t in sorted(trees, reverse=True))
        if "old" in trees:
            text += (f"   {statistics.median(values['old']) / statistics.median(values['new']):.2f}, "
                     f"{pct(values['old'], 0.95) / pct(values['new'], 0.95):.2f}")
        print(text)

    for label, key in rows:
        line(label, {t: [v for r in found[t] for v in r[key]] for t in trees})
    if args.cold:
        line("`qa people --json`, new process (ms)", {t: cold[t]["people"] for t in trees})
        line(f"`qa ask --json` {top!r}, new process (ms)", {t: cold[t]["ask"] for t in trees})
    if args.out:
        args.out.write_text(json.dumps({"workers": found, "cold": cold}, indent=1))
    # The first worker of the new tree may build what it keeps beside the store (statements.sqlite3): once.
    print("service warm-up per worker (s): " + "; ".join(
        f"{t} " + ", ".join(f"{r['warm_up_s']:.1f}" for r in found[t]) for t in sorted(trees, reverse=True)))
    # The most quoted speaker's first asking in each worker: CPU, the collector's share, full collections.
    for t in sorted(trees, reverse=True):
        print(f"{top!r}, first asking, CPU per worker ({t}): " + "; ".join(
            f"{r['first_cpu_ms'][0]:.0f} ms (collector {r['first_gc_ms'][0]:.0f} ms, {r['first_full_gc'][0]} full)"
            for r in found[t]))
    worst = max(zip(first["first_ms"], first["names"]))
    print(f"\nslowest first asking (new, round 1): {worst[1]!r}, {worst[0]:.0f} ms, "
          f"{first['statements'][f'What did {worst[1]} say?']} statements")
    if "old" in trees:
        old, new = found["old"][0]["hashes"], first["hashes"]
        same = sum(old[q] == new.get(q) for q in old)
        print(f"answers identical to the old tree's: {same}/{len(old)}"
              + ("" if same == len(old) else f"; differ: {[q for q in old if old[q] != new.get(q)]}"))


if __name__ == "__main__":
    main()
