"""What a use of the article records costs once most of them were stamped at once (a re-date of every
article): `people()` and the store's other readers, beside another tree.

    .venv/bin/python benchmarks/who_said_what_people.py --home /tmp/exp/scale50k/articles-50000 --old /tmp/qa-old
        [--rounds 2] [--uses 5] [--restamp]

The home is copied first (answering may write there). `--restamp` stamps every record of the copy now, as a
re-date of every article does (under the write lock, the store's generation bumped). Each measurement is a
child process of its own, the trees alternated (old, new, old, new …); a child imports `qa` from its tree.
In a child: `QAService.people()` the first time (the store's full read of the records, the people
directory, the statements file), then `--uses` more uses of the records (`sources()`, `versions(None)`,
`article_facts()`: the store's catch-up each), then `people()` again: CPU (the process's, Chroma's threads
included) and wall time of each, and how many records the catch-up read (`where indexed_ns …`).
Printed: per tree, the median over rounds, and old / new.
"""

from __future__ import annotations

import argparse
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
       "TOKENIZERS_PARALLELISM": "false"}


def restamp(home: str) -> None:
    from index.store import ChromaStore, _pages
    from qa.settings import Settings

    store = ChromaStore(Settings(home=Path(home)))
    ids = [i for got in _pages(store._articles, include=[]) for i in got["ids"]]
    stamp = time.time_ns()
    with store.access.writing():
        store.access.changed()
        for start in range(0, len(ids), 1000):
            part = ids[start : start + 1000]
            store._articles.update(ids=part, metadatas=[{"indexed_ns": stamp}] * len(part))


def worker(home: str, uses: int) -> dict:
    import index.store as store_module
    from qa.service import QAService
    from qa.settings import Settings

    read = [0]
    pages = store_module._pages

    def counted(collection, page=store_module.PAGE_ROWS, **query):
        for got in pages(collection, page, **query):
            if "indexed_ns" in str(query.get("where")):
                read[0] += len(got["ids"])
            yield got

    store_module._pages = counted
    service = QAService(Settings(home=Path(home)))
    out: dict[str, float] = {}

    def timed(key: str, call) -> None:
        read[0] = 0
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        out[f"{key}_s"] = time.perf_counter() - wall
        out[f"{key}_cpu_s"] = time.process_time() - cpu
        out[f"{key}_records_read"] = read[0]

    timed("people_first", service.people)
    store = service.store
    timed("uses", lambda: [(store.sources(), store.versions(None), store.article_facts()) for _ in range(uses)])
    timed("people_again", service.people)
    out["articles"] = len(store.versions(None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="a QA_HOME (only read: it is copied)")
    parser.add_argument("--old", type=Path, help="another tree (git worktree add /tmp/qa-old HEAD)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--uses", type=int, default=5)
    parser.add_argument("--restamp", action="store_true", help="stamp every record of the copy now first")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--restamp-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.restamp_worker:
        restamp(args.restamp_worker)
        return
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]))))
        return
    if args.home is None:
        parser.error("--home is required")
    trees = {"new": ROOT} | ({"old": args.old.resolve()} if args.old else {})
    scratch = Path(tempfile.mkdtemp(prefix="qa-people-"))
    found: dict[str, list[dict]] = {t: [] for t in trees}
    try:
        home = scratch / "home"
        shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("*.log", "runs"))
        if args.restamp:
            subprocess.run([str(PYTHON), __file__, "--restamp-worker", str(home)], check=True,
                           env=dict(os.environ) | ENV | {"PYTHONPATH": str(ROOT)})
        for _ in range(args.rounds):
            for tree in sorted(trees, reverse=True):
                env = dict(os.environ) | ENV | {"PYTHONPATH": str(trees[tree])}
                done = subprocess.run([str(PYTHON), __file__, "--worker", str(home), str(args.uses)], env=env,
                                      capture_output=True, text=True, cwd=trees[tree])
                if done.returncode != 0:
                    raise RuntimeError(done.stderr[-3000:])
                found[tree].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"[{time.strftime('%H:%M:%S')}] {tree} load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    articles = found["new"][0]["articles"]
    print(f"\n{articles:,} articles ({args.home}{', every record restamped' if args.restamp else ''}); "
          f"median of {args.rounds} round(s); load average now {os.getloadavg()[0]:.1f}\n")
    names = sorted(trees, reverse=True)
    print(f"{'':44} " + "  ".join(f"{t:>12}" for t in names) + ("   old/new" if "old" in trees else ""))
    for label, key in (("people(), first call: CPU s", "people_first_cpu_s"), ("  wall s", "people_first_s"),
                       ("  records the catch-up read", "people_first_records_read"),
                       (f"{args.uses} x (sources, versions, article_facts): CPU s", "uses_cpu_s"),
                       ("  wall s", "uses_s"), ("  records the catch-up read", "uses_records_read"),
                       ("people(), again: CPU s", "people_again_cpu_s")):
        values = {t: statistics.median(r[key] for r in found[t]) for t in trees}
        text = f"{label:44} " + "  ".join(f"{values[t]:12.2f}" if "records" not in key else f"{values[t]:12,.0f}"
                                          for t in names)
        if "old" in trees and "records" not in key and values["new"] > 0:
            text += f"   {values['old'] / values['new']:.2f}"
        print(text)


if __name__ == "__main__":
    main()
