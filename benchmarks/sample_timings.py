"""Ingest and answer timings on the sample corpus, in one process (model loading reported apart).

    .venv/bin/python benchmarks/sample_timings.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from qa.service import QAService
from qa.settings import Settings

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
QUESTIONS = [
    "What did Peskov say?",
    "Who welcomed China's peace plan?",
    "What did Medvedev say about the ICC's arrest warrant?",
    "How long is Xi's visit to Moscow?",
    "What is the population of Moscow?",
]


def clock(fn):
    started = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="times each question is asked")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        service = QAService(Settings(home=Path(home)))
        _, load_ms = clock(lambda: (service.embedder, service.splitter, service.store))
        report, first_ms = clock(lambda: service.ingest([CORPUS], progress=False))
        counts = service.stats()
        again, again_ms = clock(lambda: service.ingest([CORPUS], progress=False))
        print(f"models and store loaded        {load_ms:8.0f} ms")
        print(
            f"first ingest ({report.summary()}; {counts['chunks']} chunks, {counts['sentences']} sentences) "
            f"{first_ms:8.0f} ms"
        )
        print(f"re-ingest, unchanged ({again.summary()}) {again_ms:8.0f} ms")
        service.ask(QUESTIONS[0])  # first query warms the index
        totals = []
        for question in QUESTIONS:
            runs = [service.ask(question).timings_ms for _ in range(args.repeat)]
            totals += [r["total"] for r in runs]
            print(
                f"ask {question!r:58} median total {statistics.median(r['total'] for r in runs):6.1f} ms "
                f"(retrieve {statistics.median(r['retrieve'] for r in runs):5.1f}, "
                f"answer {statistics.median(r['answer'] for r in runs):5.1f})"
            )
        totals.sort()
        print(
            f"all answers: median {statistics.median(totals):.1f} ms, "
            f"p95 {totals[int(0.95 * (len(totals) - 1))]:.1f} ms over {len(totals)}"
        )


if __name__ == "__main__":
    main()
