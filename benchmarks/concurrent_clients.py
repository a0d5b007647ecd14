"""Many API clients asking the chat screen at once: client-side latency with the screen's concurrency
against a baseline that answers one question at a time.

Starts `qa serve` over the sample corpus (a fresh index in a temporary folder) once per concurrency
setting (GRADIO_DEFAULT_CONCURRENCY_LIMIT, which the screen's question events follow), then runs
CLIENTS gradio_client clients at once, each asking QUESTIONS questions of eval/sets/sample.jsonl
through `/ask`, and prints errors, client p50/p95/max, wall time and throughput, side by side.

    .venv/bin/python benchmarks/concurrent_clients.py [--clients 20] [--questions 25] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / ".venv" / "bin" / "qa"
CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "eval" / "sets" / "sample.jsonl"


def env(home: Path, **extra: str) -> dict[str, str]:
    return dict(
        os.environ,
        QA_HOME=str(home),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        GRADIO_ANALYTICS_ENABLED="False",
        **extra,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, concurrency: int | None = None, **extra: str) -> tuple[subprocess.Popen, str]:
    """`qa serve` on a free port over `home` (with `concurrency` questions at once, and `extra`
    environment variables); returns once it answers."""
    port = free_port()
    log = (home / f"serve-{concurrency or 'default'}.log").open("w")
    if concurrency is not None:
        extra["GRADIO_DEFAULT_CONCURRENCY_LIMIT"] = str(concurrency)
    process = subprocess.Popen(
        [str(QA), "serve", "--port", str(port)],
        env=env(home, **extra),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                sys.exit(f"qa serve did not start; see {log.name}")
            time.sleep(0.5)


_TLS: list = []


def connect(url: str, stock: bool = False):
    """A gradio_client Client for `url`. For each question gradio_client opens two new httpx clients, and each
    loads certifi's CA bundle into a new SSL context, even for http://: about 80 ms of the client's CPU a
    question, more than the server spends answering it (50 ms). The benchmarks' clients run on the server's
    cores, so that would be measured as the server's slowness: they share one context, as a long-lived client
    does (certificates are still checked for https). `stock`: gradio_client's own way, one context a call."""
    from gradio_client import Client

    if stock:
        return Client(url, verbose=False)
    if not _TLS:
        import ssl

        import certifi

        _TLS.append(ssl.create_default_context(cafile=certifi.where()))
    return Client(url, verbose=False, ssl_verify=_TLS[0])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_clients(url: str, questions: list[str], clients: int, per_client: int, stock: bool = False) -> dict:
    connected = [connect(url, stock) for _ in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    server_ms: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def work(i: int, client) -> None:
        start.wait()
        for j in range(per_client):
            question = questions[(i * per_client + j) % len(questions)]
            began = time.perf_counter()
            try:
                answer = client.predict(question, api_name="/ask")
                took = time.perf_counter() - began
                with lock:
                    latencies.append(took)
                    server_ms.append(answer["timings_ms"].get("total", 0.0))
            except Exception as exc:  # counted and shown: this is what the benchmark is looking for
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(connected)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    return {
        "requests": clients * per_client,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "client_p50_s": statistics.median(latencies) if latencies else None,
        "client_p95_s": percentile(latencies, 0.95) if latencies else None,
        "client_max_s": max(latencies) if latencies else None,
        "server_p50_ms": statistics.median(server_ms) if server_ms else None,
        "wall_s": wall,
        "per_second": len(latencies) / wall,
    }


def main() -> None:
    from ui.app import ASK_CONCURRENCY

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--questions", type=int, default=25, help="questions per client")
    parser.add_argument("--concurrency", type=int, default=ASK_CONCURRENCY, help="the screen's setting to measure")
    parser.add_argument("--baseline", type=int, default=1, help="the concurrency to compare with")
    parser.add_argument("--stock-clients", action="store_true", help="gradio_client's own TLS setup (see connect)")
    args = parser.parse_args()

    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as folder:
        home = Path(folder)
        subprocess.run([str(QA), "ingest", str(CORPUS)], env=env(home), check=True, capture_output=True)
        results = {}
        for concurrency in (args.baseline, args.concurrency):
            process, url = start_server(home, concurrency)
            try:
                run_clients(url, questions, 2, 2)  # warm: first requests load lazily built parts
                results[concurrency] = run_clients(url, questions, args.clients, args.questions, args.stock_clients)
            finally:
                process.terminate()
                process.wait(timeout=30)

    base, new = results[args.baseline], results[args.concurrency]
    print(f"{args.clients} clients x {args.questions} questions through /ask, sample corpus, {os.cpu_count()} CPUs")
    print(f"{'':22}{'concurrency ' + str(args.baseline):>16}{'concurrency ' + str(args.concurrency):>16}{'ratio':>8}")
    for key, label in [
        ("errors", "errors"),
        ("client_p50_s", "client p50 (s)"),
        ("client_p95_s", "client p95 (s)"),
        ("client_max_s", "client max (s)"),
        ("server_p50_ms", "server p50 (ms)"),
        ("wall_s", "wall time (s)"),
        ("per_second", "answers per second"),
    ]:
        a, b = base[key], new[key]
        ratio = f"{b / a:.2f}" if isinstance(a, float) and a else ""
        fmt = (lambda v: str(v)) if key == "errors" else (lambda v: f"{v:.3f}" if v is not None else "–")
        print(f"{label:22}{fmt(a):>16}{fmt(b):>16}{ratio:>8}")
    for concurrency, result in results.items():
        for example in result["error_examples"]:
            print(f"error (concurrency {concurrency}): {example}")


if __name__ == "__main__":
    main()
