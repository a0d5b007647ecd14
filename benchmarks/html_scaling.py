"""How the HTML loader's time grows with hostile page shapes (issue 24).

    .venv/bin/python benchmarks/html_scaling.py [--base-kb 25] [--old-timeout 120] [--big-mb 19] [--old-rev REV]
                                               [--no-old] [--no-big] [--no-served] [--shapes nested-blocks ...]

Per shape, a page at 1x and at 10x the size is loaded with `index.loaders.load_file`, each in a
child process of its own (the time is the loader's, measured in the child: the best of 3 runs, or
of 1 when a run takes over 5 s; peak memory is the child's). The same pages go through the loader
of `git show OLD_REV:index/loaders.py` ("old", the quadratic one before issue 24) beside it, given at
most --old-timeout seconds each. Then each shape at --big-mb megabytes, new loader only.

Then ("served") each big page is uploaded to a real `qa serve` (over the sample corpus, in a temporary
QA_HOME) through its `/add_files` API, as the screen's Add button sends it, while another client asks
the normal questions of eval/sets/sample.jsonl one after another through `/ask` until the upload's
report comes back: the upload's time (upload, worker process, parse, embed, write) and outcome, and the
latency of every question asked meanwhile, beside a baseline of the same questions before it, and the
server's resident memory before and after (the worker's is its own, and goes with it).
Target: 10x the size takes at most 12x the time, and a 19 MB page is parsed or refused in 60 s, and
questions asked meanwhile are answered in <= 1 s.
Shapes:

- nested-blocks: unclosed `<div><span><table><tr><td>` (every cell opens inside the last)
- deep-inline:   one paragraph of unclosed `<b>` nested as deep as the page is long
- deep-div:      unclosed `<div>` nesting
- paragraphs:    flat `<p>…</p>` paragraphs (2,000 at 1x, 20,000 at 10x)

Prints wall and CPU seconds (on a shared machine, CPU time is the steadier figure); asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OLD_REV = "903078f2d77ec692e24356867686d843d180e24a"  # the last commit with the quadratic HTML loader

SHAPES = {
    "nested-blocks": ("<html><body>", "<div><span><table><tr><td>w{i} ", "</body></html>"),
    "deep-inline": ("<html><body><p>", "<b>w{i} ", "</p></body></html>"),
    "deep-div": ("<html><body>", "<div>w{i} ", "</body></html>"),
    "paragraphs": (
        "<html><body><article>",
        "<p>Paragraph {i} has a few words in it.</p>\n",
        "</article></body></html>",
    ),
}

CHILD = r"""
import json, resource, sys, time, importlib.util
from pathlib import Path
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "new":
    from index.loaders import load_file
else:
    spec = importlib.util.spec_from_file_location("index._old_loaders", sys.argv[2])
    module = importlib.util.module_from_spec(spec)
    sys.modules["index._old_loaders"] = module
    spec.loader.exec_module(module)
    load_file = module.load_file
# The best of up to 3 runs (only 1 when a run takes over 5 s): the machine is shared.
times, cpu = [], []
while len(times) < 3 and sum(times) < 5:
    start, start_cpu = time.perf_counter(), time.process_time()
    loaded = load_file(Path(sys.argv[3]))
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
seconds = min(times)
print(json.dumps({"seconds": seconds, "cpu": min(cpu), "articles": len(loaded.articles),
                  "chars": sum(len(a.text) for a in loaded.articles),
                  "errors": [str(e) for e in loaded.errors],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def page(shape: str, size: int, paragraphs: int | None = None) -> str:
    head, unit, tail = SHAPES[shape]
    if paragraphs is not None:
        return head + "".join(unit.format(i=i) for i in range(paragraphs)) + tail
    out, total, i = [head], len(head) + len(tail), 0
    while total < size:
        piece = unit.format(i=i)
        out.append(piece)
        total += len(piece)
        i += 1
    return "".join(out) + tail


def run(code: str, path: Path, timeout: float) -> dict | None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT), code, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        error = done.stderr.strip().splitlines()[-1:]
        return {"seconds": float("nan"), "cpu": float("nan"), "errors": error, "peak_mb": 0}
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_mb(pid: int) -> float:
    """The resident memory of one process (not its children: the upload's worker is one), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def served(shapes: list[str], big_mb: float, tmp_path: Path) -> None:
    """Each shape's big page uploaded to a running `qa serve` while another client asks questions."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from concurrent_clients import CORPUS, QA, QUESTIONS, env, percentile, start_server
    from gradio_client import Client, handle_file

    normal = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run([str(QA), "ingest", str(CORPUS)], env=env(home), check=True, capture_output=True)
    process, url = start_server(home)

    def ask_one(client, question: str) -> tuple[float, str | None]:
        began = time.perf_counter()
        try:
            client.predict(question, api_name="/ask")
            return time.perf_counter() - began, None
        except Exception as exc:  # counted and shown
            return time.perf_counter() - began, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"

    def summary(lat: list[float]) -> str:
        if not lat:
            return "no answers"
        return (f"{len(lat)} answers: p50 {statistics.median(lat):.3f} s, p95 {percentile(lat, 0.95):.3f} s, "
                f"max {max(lat):.3f} s, over 1 s: {sum(t > 1 for t in lat)}")

    try:
        asker = Client(url, verbose=False)
        for question in normal[:3]:
            ask_one(asker, question)  # warm
        baseline = [ask_one(asker, q)[0] for q in normal * 2]
        print()
        print(f"served: `qa serve` over the sample corpus; questions alone: {summary(baseline)}")
        print()
        print(f"| shape | {big_mb:g} MB upload to `qa serve`: wall | upload's report | questions asked meanwhile "
              "| errors | server RSS before, after |")
        print("|---|---|---|---|---|---|")
        for shape in shapes:
            size = int(big_mb * 1_000_000)
            if shape == "paragraphs":
                text = page(shape, 0, size // len(SHAPES[shape][1].format(i=500_000)))
            else:
                text = page(shape, size)
            path = tmp_path / f"{shape}-served.html"
            path.write_text(text)
            del text
            uploader = Client(url, verbose=False)
            done: dict = {}
            rss_before = rss_mb(process.pid)

            def upload() -> None:
                began = time.perf_counter()
                try:
                    report = uploader.predict([handle_file(str(path))], api_name="/add_files")
                    done["report"] = " ".join(str(report[0]).split())
                except Exception as exc:  # a refusal comes back as an error: its message is the outcome
                    done["report"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                done["seconds"] = time.perf_counter() - began

            adding = threading.Thread(target=upload)
            adding.start()
            meanwhile, errors, i = [], [], 0
            while adding.is_alive():
                took, error = ask_one(asker, normal[i % len(normal)])
                i += 1  # every question here was asked while the upload was being added
                if error:
                    errors.append(error)
                else:
                    meanwhile.append(took)
            adding.join()
            report = done["report"].replace(str(path), path.name).replace("\\", "")
            print(f"| {shape} | {done['seconds']:.1f} s | {report[:150]} | {summary(meanwhile)} | "
                  f"{len(errors)}{': ' + errors[0] if errors else ''} | {rss_before:.0f} MB, {rss_mb(process.pid):.0f} MB |",
                  flush=True)
            path.unlink()
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"(load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}; "
          f"{os.cpu_count()} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-kb", type=float, default=25, help="size of the 1x page (default 25 KB)")
    parser.add_argument("--old-timeout", type=float, default=120)
    parser.add_argument("--big-mb", type=float, default=19)
    parser.add_argument("--old-rev", default=OLD_REV, help="the commit whose loader is 'old' (default: before the fix)")
    parser.add_argument("--no-old", action="store_true", help="skip the old loader")
    parser.add_argument("--no-big", action="store_true", help="skip the big pages")
    parser.add_argument("--no-served", action="store_true", help="skip the big pages uploaded to a running server")
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="html-scaling-") as tmp:
        tmp_path = Path(tmp)
        old = None
        if not args.no_old:
            old = tmp_path / "old_loaders.py"
            shown = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{args.old_rev}:index/loaders.py"], capture_output=True, text=True
            )
            if shown.returncode != 0 or "el.find(_BLOCKS)" not in shown.stdout:
                print(f"({args.old_rev}:index/loaders.py is not the old loader: old column skipped)")
                old = None
            else:
                old.write_text(shown.stdout)

        def fmt(result: dict | None, timeout: float) -> str:
            if result is None:
                return f"> {timeout:.0f} s"
            refused = " (refused)" if result.get("errors") else ""
            return f"{result['seconds']:.3f} s ({result['cpu']:.3f} cpu){refused}"

        print(f"| shape | 1x size | new 1x | new 10x | new ratio | old 1x | old 10x | old ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for shape in args.shapes:
            base = int(args.base_kb * 1000)
            if shape == "paragraphs":
                pages = [page(shape, 0, 2_000), page(shape, 0, 20_000)]
            else:
                pages = [page(shape, base), page(shape, base * 10)]
            paths = []
            for n, text in enumerate(pages):
                path = tmp_path / f"{shape}-{n}.html"
                path.write_text(text)
                paths.append(path)
            new = [run("new", p, 600) for p in paths]
            olds: list[dict | None] = [None, None]
            if old is not None:
                olds[0] = run(str(old), paths[0], args.old_timeout)
                olds[1] = run(str(old), paths[1], args.old_timeout) if olds[0] is not None else None

            def ratio(pair: list[dict | None]) -> str:
                if pair[0] is None or pair[1] is None:
                    return "-"
                return f"{pair[1]['seconds'] / pair[0]['seconds']:.1f}x ({pair[1]['cpu'] / pair[0]['cpu']:.1f}x cpu)"

            size = f"{len(pages[0].encode()) / 1000:.0f} KB"
            old_cells = [fmt(o, args.old_timeout) if old is not None else "-" for o in olds]
            print(f"| {shape} | {size} | {fmt(new[0], 600)} | {fmt(new[1], 600)} | {ratio(new)} | "
                  f"{old_cells[0]} | {old_cells[1]} | {ratio(olds) if old is not None else '-'} |")
            for path in paths:
                path.unlink()

        if not args.no_big:
            print()
            print(f"| shape | {args.big_mb:g} MB page: new loader, wall (cpu) | peak memory | result |")
            print("|---|---|---|---|")
            for shape in args.shapes:
                size = int(args.big_mb * 1_000_000)
                if shape == "paragraphs":
                    unit_len = len(SHAPES[shape][1].format(i=500_000))
                    text = page(shape, 0, size // unit_len)
                else:
                    text = page(shape, size)
                path = tmp_path / f"{shape}-big.html"
                path.write_text(text)
                del text
                result = run("new", path, 600)
                if result is None:
                    print(f"| {shape} | > 600 s | - | - |")
                else:
                    text = f"{result['chars']:,} characters of text"
                    outcome = "; ".join(result["errors"]) if result["errors"] else text
                    outcome = outcome.replace(str(path), path.name)
                    took = f"{result['seconds']:.1f} s ({result['cpu']:.1f} cpu)"
                    print(f"| {shape} | {took} | {result['peak_mb']:.0f} MB | {outcome[:110]} |")
                path.unlink()

        if not args.no_served:
            served(args.shapes, args.big_mb, tmp_path)


if __name__ == "__main__":
    main()
