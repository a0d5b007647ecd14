"""Two writers at once: two `qa ingest` runs on one QA_HOME, one of them sometimes killed (SIGKILL),
with a service in a third process asking questions all along.

    .venv/bin/python benchmarks/two_writers.py [--trials 20] [--articles 20] [--kill-share 0.5]
                                               [--in-rows-share 0] [--seed N]

Each trial starts from a store holding a few base articles, starts a reader process (a QAService
asking about the last article of each half, over and over), then two `qa ingest` runs at once, of
the two halves of a slice of the Wikinews collection (`--articles` each). In a share of the trials
one of them is killed at a random moment (the one holding the write lock then, so the kill lands
in its write session, though often before its first row: parsing and embedding take most of it),
and then run again. With `--in-rows-share`, that share of the kills waits instead until the holder's
journal (`ingest.unfinished`) names the articles whose rows it is writing, and lands 0-150 ms later,
meant to fall between its first rows and its commit. Each kill is printed with whether it fell inside the write
session (the next writer said it checked the articles the killed one had begun). A trial passes when

- both halves end up ingested and `qa check` finds nothing unreadable, damaged or stale;
- the counts (articles, chunks, sentences) equal a clean reference (base, then both halves, one by one);
- the reader never failed, and it found each half's last article within 1 s of the end of the
  ingest that wrote it (every question asked after that end found it too).

Prints each trial and then passes/N.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QA = Path(sys.executable).with_name("qa")
WIKINEWS = ROOT.parent / "shared" / "corpus" / "wikinews" / "articles.jsonl"
sys.path.insert(0, str(Path(__file__).resolve().parent))
import crash_trials  # noqa: E402  (the runner of `qa` both benchmarks use)
from crash_trials import qa_env  # noqa: E402
WITHIN = 1.0  # seconds after an ingest's end by which the reader must answer about its articles


def qa(home: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """`qa ARGS` over `home`, offline (crash_trials.py's runner, with room for a whole ingest)."""
    return crash_trials.qa(home, *args, timeout=timeout)


def counts(home: Path) -> dict:
    done = qa(home, "stats", "--json")
    stats = json.loads(done.stdout)
    return {k: stats[k] for k in ("articles", "chunks", "sentences")}


# -- the reader process ------------------------------------------------------------------------


def reader(home: Path, probes: Path, log: Path, stop: Path) -> None:
    """Ask each probe question in turn until `stop` exists; one JSON line per answer in `log`:
    when it was asked and answered (time.time()), which probe, whether its article was found, or the error."""
    sys.path.insert(0, str(ROOT))
    from qa.service import QAService
    from qa.settings import Settings

    service = QAService(Settings(home=home))
    asks = json.loads(probes.read_text())
    service.warm_up()
    with log.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"ready": time.time()}) + "\n")
        out.flush()
        while not stop.exists():
            for name, probe in asks.items():
                asked = time.time()
                entry = {"probe": name, "asked": asked}
                try:
                    answer = service.ask(probe["question"])
                    found = {c.article_id for c in answer.citations} | {p.article_id for p in answer.passages}
                    entry |= {"found": probe["article_id"] in found, "writing": service.writing_elsewhere()}
                except Exception as exc:  # the trial fails on any error
                    entry |= {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
                entry["answered"] = time.time()
                out.write(json.dumps(entry) + "\n")
                out.flush()
            time.sleep(0.02)


# -- trials ------------------------------------------------------------------------------------


def slices(corpus: Path, per_half: int, base: int, folder: Path) -> tuple[Path, Path, Path, dict]:
    """base.jsonl, a.jsonl, b.jsonl from the first articles of the corpus, and the probes: each
    half's last article, asked by its title."""
    lines = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    need = base + 2 * per_half
    if len(lines) < need:
        raise SystemExit(f"{corpus} has {len(lines)} articles; {need} are needed")
    parts = {"base": lines[:base], "a": lines[base : base + per_half], "b": lines[base + per_half : need]}
    paths = {}
    for name, part in parts.items():
        paths[name] = folder / f"{name}.jsonl"
        paths[name].write_text("\n".join(part) + "\n", encoding="utf-8")
    probes = {}
    for name in ("a", "b"):
        last = json.loads(parts[name][-1])
        probes[name] = {"question": last["title"], "article_id": str(last["id"])}
    return paths["base"], paths["a"], paths["b"], probes


def run_trial(work: Path, base_home: Path, halves: dict[str, Path], probes_path: Path,
              kill: tuple[str, float, float | None] | None):
    """`kill`: (the run to kill if none holds the lock, at seconds, None or a delay after rows begin)."""
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base_home, home)
    log, stop = work / "reader.jsonl", work / "stop"
    log.unlink(missing_ok=True)
    stop.unlink(missing_ok=True)
    reading = subprocess.Popen(
        [sys.executable, __file__, "--reader", str(home), str(probes_path), str(log), str(stop)],
        env=qa_env(home), stdout=subprocess.DEVNULL, stderr=open(work / "reader.err", "w"),
    )
    deadline = time.time() + 300
    while not (log.exists() and log.read_text().strip()):
        if reading.poll() is not None or time.time() > deadline:
            raise SystemExit(f"the reader did not start: {(work / 'reader.err').read_text()[-2000:]}")
        time.sleep(0.2)
    started = time.time()
    runs = {
        name: subprocess.Popen([str(QA), "ingest", str(path)], env=qa_env(home), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for name, path in halves.items()
    }
    ends: dict[str, float] = {}
    killed = None
    rows_seen: float | None = None  # when the journal first named articles being written (in-rows kills)
    while len(ends) < len(runs):
        now = time.time()
        for name, run in runs.items():
            if name not in ends and run.poll() is not None:
                ends[name] = now
        if kill and killed is None and kill[2] is not None and rows_seen is None and writing_rows(home):
            rows_seen = now
        due = kill[2] is None and now - started >= kill[1] if kill else False
        due = due or (kill is not None and rows_seen is not None and now >= rows_seen + kill[2])
        if kill and killed is None and due:
            # The run that holds the write lock now (mid-write), else the one drawn.
            target = holder(home, runs) or kill[0]
            if runs[target].poll() is None:
                runs[target].send_signal(signal.SIGKILL)
                killed = target
        time.sleep(0.01)
    outcome = {name: run.returncode for name, run in runs.items()}
    said = {name: run.stderr.read() for name, run in runs.items()}
    errors = {name: said[name][-500:] for name, run in runs.items() if run.returncode not in (0, -9)}
    rerun = None
    if killed is not None:
        again = subprocess.run([str(QA), "ingest", str(halves[killed])], env=qa_env(home), capture_output=True, text=True)
        ends[killed] = time.time()
        # "the previous write (pid …) did not finish; checked the N articles it was writing": the kill
        # landed inside its write session (it held the write lock; N articles had rows written), and the
        # next writer (the other run, waiting for the lock, or the rerun) checked those and mended what
        # was damaged.
        recovered = re.search(r"did not finish; checked the (\d+) articles",
                              again.stderr + "".join(text for name, text in said.items() if name != killed))
        rerun = {"code": again.returncode, "stderr": again.stderr[-600:], "stdout": again.stdout.strip()[-200:],
                 "recovered": int(recovered.group(1)) if recovered else None}
    time.sleep(WITHIN + 0.5)
    stop.touch()
    reading.wait(timeout=120)
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    checked = qa(home, "check", "--json")
    found = json.loads(checked.stdout) if checked.stdout.strip().startswith("{") else {}
    return {
        "home": home, "ends": ends, "outcome": outcome, "killed": killed, "rerun": rerun, "errors": errors,
        "entries": [e for e in entries if "probe" in e], "check_code": checked.returncode, "check": found,
        "check_err": checked.stderr[-500:],
    }


def writing_rows(home: Path) -> bool:
    """Whether a write session's journal names articles: their rows are being written (not yet committed
    when the session is still open). Its first line is the session's header."""
    try:
        return len((home / "ingest.unfinished").read_text(encoding="utf-8").splitlines()) > 1
    except OSError:
        return False


def holder(home: Path, runs: dict[str, subprocess.Popen]) -> str | None:
    """Which of the runs holds the write lock, as its record beside the lock says."""
    try:
        pid = json.loads((home / "write.lock.holder").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None
    return next((name for name, run in runs.items() if run.pid == pid), None)


def verdict(result: dict, reference: dict, home: Path) -> tuple[list[str], dict]:
    problems, seen = [], {}
    for name, code in result["outcome"].items():
        if code != 0 and name != result["killed"]:
            problems.append(f"ingest {name} exited {code}: {result['errors'].get(name, '')}")
    if result["rerun"] and result["rerun"]["code"] != 0:
        problems.append(f"the rerun failed: {result['rerun']['stderr']}")
    check = result["check"]
    if result["check_code"] != 0 or not check:
        problems.append(f"qa check exited {result['check_code']}: {result['check_err'] or str(check)[:300]}")
    elif check.get("stale_rows"):
        problems.append(f"{check['stale_rows']} stale rows left")
    now = counts(home)
    if now != reference:
        problems.append(f"counts {now} != clean {reference}")
    failures = [e for e in result["entries"] if "error" in e]
    if failures:
        problems.append(f"{len(failures)} questions failed, e.g. {failures[0]['error']}")
    for name, end in result["ends"].items():
        mine = [e for e in result["entries"] if e["probe"] == name and "error" not in e]
        first = next((e for e in mine if e["found"]), None)
        lost = [e for e in mine if e["asked"] > end and not e["found"]]
        seen[name] = None if first is None else round(first["answered"] - end, 3)
        if first is None or first["answered"] > end + WITHIN:
            problems.append(f"half {name}: its last article found {seen[name]} s after its ingest ended")
        if lost:
            problems.append(f"half {name}: {len(lost)} questions asked after its ingest ended missed it")
    return problems, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--articles", type=int, default=20, help="articles in each half")
    parser.add_argument("--base", type=int, default=4, help="articles stored before each trial")
    parser.add_argument("--kill-share", type=float, default=0.5, help="share of the trials with a kill")
    parser.add_argument("--in-rows-share", type=float, default=0.0,
                        help="share of the kills timed to land while rows are written (see above)")
    parser.add_argument("--corpus", type=Path, default=WIKINEWS)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--reader", nargs=4, metavar=("HOME", "PROBES", "LOG", "STOP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        reader(*(Path(p) for p in args.reader))
        return
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="qa-two-writers-") as tmp:
        work = Path(tmp)
        base, a, b, probes = slices(args.corpus, args.articles, args.base, work)
        probes_path = work / "probes.json"
        probes_path.write_text(json.dumps(probes))
        base_home = work / "base-home"
        started = time.monotonic()
        for part in (base,):
            done = qa(base_home, "ingest", str(part))
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
        reference_home = work / "reference"
        shutil.copytree(base_home, reference_home)
        clean = time.monotonic()
        for part in (a, b):
            if qa(reference_home, "ingest", str(part)).returncode != 0:
                raise SystemExit("the clean reference ingest failed")
        clean = time.monotonic() - clean
        reference = counts(reference_home)
        print(
            f"seed {seed}; {args.corpus}: base {args.base} + halves of {args.articles} articles; "
            f"clean reference {reference} (both halves one by one: {clean:.0f} s)",
            flush=True,
        )
        passes = kills = inside = 0
        for trial in range(1, args.trials + 1):
            kill = None
            if rng.random() < args.kill_share:
                kill = (rng.choice(["a", "b"]), rng.uniform(0.1, 0.9) * clean,
                        rng.uniform(0.0, 0.15) if rng.random() < args.in_rows_share else None)
            began = time.monotonic()
            result = run_trial(work, base_home, {"a": a, "b": b}, probes_path, kill)
            problems, seen = verdict(result, reference, result["home"])
            passes += not problems
            asked = len(result["entries"])
            killed = (
                (f"killed {result['killed']} {kill[2]:.3f} s after its rows began "
                 if kill[2] is not None else f"killed {result['killed']} at {kill[1]:.1f} s ")
                + (f"inside its write session (the next writer checked the {result['rerun']['recovered']} articles it had begun writing)"
                   if result["rerun"]["recovered"] is not None else "outside a write")
                + f", rerun: {result['rerun']['stdout'].splitlines()[-1] if result['rerun']['stdout'] else '?'}"
                if result["killed"] else ("kill drawn but the run had ended" if kill else "no kill")
            )
            kills += bool(result["killed"])
            inside += bool(result["killed"]) and result["rerun"]["recovered"] is not None
            print(
                f"trial {trial}: {killed}; {asked} questions asked beside; found after the end: {seen}; "
                f"{time.monotonic() - began:.0f} s -> {'PASS' if not problems else 'FAIL: ' + '; '.join(problems)}",
                flush=True,
            )
    print(f"{passes}/{args.trials} trials passed; {kills} runs killed, {inside} of them inside their write session")
    sys.exit(0 if passes == args.trials else 1)


if __name__ == "__main__":
    main()
