"""The learned reader's cost beside the rules reader's, in one process on one index (issue 22's
latency target: warm p50 <= 50 ms, p95 <= 100 ms per question).

    .venv/bin/python benchmarks/reader_latency.py --home runs/home-wikinews [--set eval/sets/wikinews-dev.jsonl] [--rounds 2]
    .venv/bin/python benchmarks/reader_latency.py --home runs/home-wikinews --kept-rows

Both readers answer every question of the set through `QAService.ask` (retrieval included) over
the same index, warm (models loaded, one question asked first), the two alternating question by
question, so that a busy machine slows both alike. Prints p50, p95 and max per reader and their
ratio (learned / rules). The machine's load average is printed too: read the times with it.

With --kept-rows, the learned reader with the rows a question reads by id kept in memory
(`QA_KEPT_SENTENCES`, the default) against the same reader reading every row from Chroma
(`QA_KEPT_SENTENCES=0`), alternating the same way; the ratio is kept / read.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.sets import load_set  # noqa: E402
from qa.service import QAService  # noqa: E402
from qa.settings import Settings  # noqa: E402

READERS = ("rules", "learned")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="QA_HOME of an index (e.g. the Wikinews collection)")
    parser.add_argument("--set", type=Path, default=Path("eval/sets/wikinews-dev.jsonl"))
    parser.add_argument("--rounds", type=int, default=1, help="times each question is asked per reader")
    parser.add_argument("--kept-rows", action="store_true", help="the learned reader with and without kept rows")
    args = parser.parse_args(argv)

    if args.kept_rows:
        services = {
            "read": QAService(Settings(home=args.home, reader="learned", kept_sentences=0)),
            "kept": QAService(Settings(home=args.home, reader="learned")),
        }
    else:
        services = {reader: QAService(Settings(home=args.home, reader=reader)) for reader in READERS}
    names = tuple(services)
    questions = [q.question for q in load_set(args.set)]
    for service in services.values():
        service.ask(questions[0])  # warm: models, indexes, the reader's model file
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for n, question in enumerate(questions):
            for reader in names if n % 2 else names[::-1]:  # neither always first
                service = services[reader]
                started = time.perf_counter()
                service.ask(question)
                times[reader].append((time.perf_counter() - started) * 1000)
    load = os.getloadavg()
    print(f"{len(questions)} questions x {args.rounds} of {args.set} on {args.home}; load average {load[0]:.1f}")
    print(f"{'reader':10s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
    summary = {}
    for reader in names:
        values = times[reader]
        summary[reader] = (statistics.median(values), percentile(values, 0.95), max(values))
        print(f"{reader:10s} {summary[reader][0]:8.1f} {summary[reader][1]:8.1f} {summary[reader][2]:8.1f}")
    ratio = [b / a for b, a in zip(summary[names[1]], summary[names[0]])]
    print(f"{'ratio':10s} {ratio[0]:8.2f} {ratio[1]:8.2f} {ratio[2]:8.2f}   ({names[1]} / {names[0]})")


if __name__ == "__main__":
    main()
