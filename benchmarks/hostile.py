"""Hostile questions against a real `qa serve` (issue 24, "Nothing stalls"): what each costs the server,
and what they do to everyone else's answers.

Starts `qa serve` over the sample corpus (a fresh index in a temporary folder), then:

1. **alone**: HOSTILE generated hostile questions of up to 2,000 characters (runs of spaces and tabs,
   nested quotation marks, long runs of capitalised words, every question form the reader knows),
   asked one at a time through `/ask`; the CPU time of each is the server's (all its threads and
   children, from /proc) before and after it. An answer and a refusal (`QA_QUESTION_BUDGET`, too long,
   no words) both count as handled.
2. **together**: the same hostile questions (the first MIXED of them) from HOSTILE_CLIENTS clients while
   CLIENTS clients ask the normal questions of eval/sets/sample.jsonl (QUESTIONS each); the normal
   clients' latency, beside a baseline of the normal clients alone (a fifth as many questions).

    .venv/bin/python benchmarks/hostile.py [--hostile 1000] [--clients 20] [--questions 25]
    .venv/bin/python benchmarks/hostile.py --code /tmp/qa-head --hostile 100   # the old code (see --code)

The clients share one TLS context (concurrent_clients.connect: gradio_client otherwise loads the CA bundle twice a
question, on the server's cores, which cost the clients more CPU than the server's answers); `--stock-clients`
measures with gradio_client as it is.

`--code DIR` runs the server from that tree (PYTHONPATH), to put the old code's figures beside the new:
`git archive HEAD | tar -x -C /tmp/qa-head` makes one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from concurrent_clients import CORPUS, QA, QUESTIONS, connect, env, percentile, start_server  # noqa: E402

MAX_CHARS = 2000
_TICK = os.sysconf("SC_CLK_TCK")

# --- hostile questions (the shapes of tests/test_hostile.py, drawn with `random`) -----------------

WHITE = [" ", "\t", "\n", "\u00a0", " \t", "\r\n"]
QUOTES = ['"', "“", "”", "‘", "’", "'", "«", "»"]
RUN_UNITS = [
    "Peskov ", "Xi Jinping ", "Abc ", "A ", "AB ", "Bank of the ", "Court of ", "O'", "A-", "a-", "X", "x",
    ", ", "? ", "?", "the ", "of ", "about ", "to Reuters ", "in the Guardian ", "said ", "say ", "told ",
    "this decision ", "not yet named ", "cause is still ", "20 March ", "2023-03-20 ", "March 2023 ", "1 ",
    "what did ", "according to ", "who ", "he ", "it ", "his ", "-", "'s ", "“", '"', "(", "[",
]
WORDS = ["Peskov", "Xi", "Putin", "Moscow", "Ukraine", "peace plan", "China", "Wang Wenbin", "Kremlin",
         "the visit", "Danilov", "sanctions", "war", "spokesman", "the prime minister"]
FORMS = [
    "What did {} say{}", "What did {} say about {}?", "What did {} say{}.", "What did {} tell {}",
    "What did {} say to {} in {}?", "How did {} describe {}?", "What did {} warn could be {}?",
    "According to {}, {}", "Who {}?", "Who said {}", "When did {} {}?", "Where did {} {}",
    "How many {} did {} {}?", "Which {} did {} {}?", "In {}, who {}?", "What is the name of {}?",
    "Why did {} {}?", "{}", "{} {}?",
]


def fragment(rng: random.Random) -> str:
    kind = rng.choice(["white", "white", "quotes", "run", "run", "nested", "word"])
    if kind == "white":
        return rng.choice(WHITE) * rng.randint(1, 2000)
    if kind == "quotes":
        return "".join(rng.choice(QUOTES) for _ in range(rng.randint(1, 400)))
    if kind == "run":
        return rng.choice(RUN_UNITS) * rng.randint(1, 1000)
    if kind == "nested":
        depth, marks, word = rng.randint(1, 300), rng.sample(QUOTES, rng.randint(1, 4)), rng.choice(WORDS)
        return "".join(marks[i % len(marks)] + word + " " for i in range(depth)) + "".join(
            marks[-1 - i % len(marks)] for i in range(depth)
        )
    return rng.choice(WORDS)


def hostile_question(rng: random.Random) -> str:
    """A question form with its slots filled by hostile fragments, cut to fit 2,000 characters while
    keeping the form's own end ("…<1,979 spaces>." stays a question that ends in ".")."""
    form = rng.choice(FORMS)
    slots = form.count("{}")
    room = (MAX_CHARS - len(form.replace("{}", ""))) // slots
    parts = ["".join(fragment(rng) for _ in range(rng.randint(1, 4)))[:room] for _ in range(slots)]
    return form.format(*parts)


# --- the server -------------------------------------------------------------------------------------


def start_hostile_server(home: Path, code: Path | None) -> tuple[subprocess.Popen, str]:
    """The server of concurrent_clients.py, running the code in `code` when given (another tree)."""
    return start_server(home, **({"PYTHONPATH": str(code)} if code else {}))


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (user + system, with reaped children's)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    family, total = {pid}, 0.0
    changed = True
    while changed:
        grown = family | {p for p, parent in parents.items() if parent in family}
        changed, family = grown != family, grown
    for member in family:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / _TICK  # utime, stime, cutime, cstime
    return total


def ask(client, question: str) -> tuple[str, float]:
    """('answered' | 'refused' | 'error: …', wall seconds)."""
    began = time.perf_counter()
    try:
        client.predict(question, api_name="/ask")
        outcome = "answered"
    except Exception as exc:  # gradio_client raises AppError for gr.Error: the server refused it in one line
        text = str(exc)
        outcome = "refused" if type(exc).__name__ == "AppError" else f"error: {type(exc).__name__}: {text[:160]}"
    return outcome, time.perf_counter() - began


def alone(url: str, pid: int, questions: list[str], stock: bool = False) -> dict:
    client = connect(url, stock)
    cpu, wall, outcomes, worst = [], [], {}, (0.0, "")
    for question in questions:
        before = cpu_seconds(pid)
        outcome, took = ask(client, question)
        used = cpu_seconds(pid) - before
        cpu.append(used)
        wall.append(took)
        outcomes[outcome.split(":")[0]] = outcomes.get(outcome.split(":")[0], 0) + 1
        worst = max(worst, (used, question))
    return {"cpu": cpu, "wall": wall, "outcomes": outcomes, "worst": worst}


def together(url: str, hostile: list[str], normal: list[str], clients: int, per_client: int,
             hostile_clients: int, pid: int, stock: bool = False) -> dict:
    normal_clients = [connect(url, stock) for _ in range(clients)]
    hostile_connected = [connect(url, stock) for _ in range(hostile_clients)]
    latencies: list[float] = []
    later: list[float] = []  # the clients' questions after their first (a new session's first question costs more)
    hostile_wall: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    queue = list(hostile)
    start = threading.Barrier(clients + hostile_clients)

    def normal_work(i: int, client) -> None:
        start.wait()
        for j in range(per_client):
            outcome, took = ask(client, normal[(i * per_client + j) % len(normal)])
            with lock:
                if outcome == "answered":
                    latencies.append(took)
                    if j:
                        later.append(took)
                else:
                    errors.append(outcome)

    def hostile_work(client) -> None:
        start.wait()
        while True:
            with lock:
                if not queue:
                    return
                question = queue.pop()
            outcome, took = ask(client, question)
            with lock:
                hostile_wall.append(took)
                if outcome.startswith("error"):
                    errors.append(outcome)

    threads = [threading.Thread(target=normal_work, args=(i, c)) for i, c in enumerate(normal_clients)]
    threads += [threading.Thread(target=hostile_work, args=(c,)) for c in hostile_connected]
    began, server, client = time.perf_counter(), cpu_seconds(pid), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # CPU seconds of the server, and of these clients (on the same cores), per question asked.
    asked = len(latencies) + len(hostile_wall) + len(errors)
    cpu = {"server": (cpu_seconds(pid) - server) / asked, "clients": (time.process_time() - client) / asked}
    return {"normal": latencies, "later": later, "hostile_wall": hostile_wall, "errors": errors,
            "wall": time.perf_counter() - began, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hostile", type=int, default=1000, help="hostile questions")
    parser.add_argument("--clients", type=int, default=20, help="clients asking normal questions")
    parser.add_argument("--questions", type=int, default=25, help="normal questions per client")
    parser.add_argument("--hostile-clients", type=int, default=2, help="clients sharing the hostile questions")
    parser.add_argument("--mixed", type=int, help="hostile questions asked among the normal clients (default: all)")
    parser.add_argument("--code", type=Path, help="run the server from this tree (default: this one)")
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--skip-together", action="store_true", help="only the per-question CPU, alone")
    parser.add_argument("--skip-alone", action="store_true", help="only the normal clients, with and without them")
    parser.add_argument("--stock-clients", action="store_true",
                        help="gradio_client's own TLS setup: one CA bundle load a call, on the server's cores (see connect)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    hostile = [hostile_question(rng) for _ in range(args.hostile)]
    normal = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    code = args.code.resolve() if args.code else None
    extra = {"PYTHONPATH": str(code)} if code else {}
    with tempfile.TemporaryDirectory(prefix="qa-hostile-") as folder:
        home = Path(folder)
        subprocess.run([str(QA), "ingest", str(CORPUS)], env=env(home, **extra), check=True, capture_output=True)
        process, url = start_hostile_server(home, code)
        try:
            warm = connect(url, args.stock_clients)
            for question in normal[:3]:
                ask(warm, question)
            began = time.perf_counter()
            solo = None if args.skip_alone else alone(url, process.pid, hostile, args.stock_clients)
            solo_wall = time.perf_counter() - began
            mixed = baseline = None
            if not args.skip_together:
                baseline = together(url, [], normal, args.clients, max(1, args.questions // 5), 0, process.pid,
                                    args.stock_clients)
                mixed_hostile = hostile[: args.mixed] if args.mixed is not None else hostile
                mixed = together(url, mixed_hostile, normal, args.clients, args.questions, args.hostile_clients,
                                 process.pid, args.stock_clients)
        finally:
            process.terminate()
            process.wait(timeout=30)

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"code: {code or 'this tree'}; {len(hostile)} hostile questions (up to {MAX_CHARS:,} characters, seed "
          f"{args.seed}); {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min) at the end; clients: "
          f"{'gradio_client as is' if args.stock_clients else 'one shared TLS context'}")
    if solo is not None:
        cpu = solo["cpu"]
        print(f"alone ({solo_wall:.0f} s): outcomes {solo['outcomes']}")
        print(f"  server CPU per hostile question: max {max(cpu):.3f} s, p95 {percentile(cpu, 0.95):.3f} s, "
              f"median {statistics.median(cpu):.3f} s; over 1 s: {sum(c > 1 for c in cpu)}")
        print(f"  wall per hostile question: max {max(solo['wall']):.3f} s, p95 {percentile(solo['wall'], 0.95):.3f} s")
        print(f"  worst: {solo['worst'][0]:.3f} s for {solo['worst'][1][:80]!r}… ({len(solo['worst'][1])} characters)")
    if mixed is not None and baseline is not None:
        for label, run in (("normal clients alone", baseline), ("normal clients with the hostile ones", mixed)):
            lat = run["normal"]
            print(f"{label} ({args.clients} clients, {len(lat)} answers, {run['wall']:.0f} s): "
                  f"p50 {statistics.median(lat):.3f} s, p95 {percentile(lat, 0.95):.3f} s, max {max(lat):.3f} s, "
                  f"errors {len(run['errors'])}")
            if run["later"]:
                print(f"  after each client's first question: p95 {percentile(run['later'], 0.95):.3f} s; CPU a question "
                      f"asked (hostile ones too): server {run['cpu']['server'] * 1000:.0f} ms, the clients "
                      f"{run['cpu']['clients'] * 1000:.0f} ms")
        hw = mixed["hostile_wall"]
        if hw:
            print(f"  {len(hw)} hostile questions meanwhile ({args.hostile_clients} clients): wall p95 "
                  f"{percentile(hw, 0.95):.3f} s, max {max(hw):.3f} s")
        for example in sorted(set(mixed["errors"]))[:3]:
            print(f"  error: {example}")


if __name__ == "__main__":
    main()
