"""`make bench`: qa against a naive LangChain pipeline, on the same machine, in one process tree.

    .venv/bin/python benchmarks/bench.py [--corpus rgb wikinews] [--questions 40] [--out runs/bench]

Every measurement is a child process of this one (so imports and model loading count, as they
do for a user), run one after another, never in parallel. The naive pipeline is
RecursiveCharacterTextSplitter(1000/200) + HuggingFaceEmbeddings(all-MiniLM-L6-v2) +
Chroma.from_documents, from the `bench` extra. See benchmarks/README.md for how each figure is made.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPORA = {
    "rgb": SHARED / "benchmarks" / "rgb-en-fact" / "articles.jsonl",
    "wikinews": SHARED / "corpus" / "wikinews" / "articles.jsonl",
}
RGB_QUESTIONS = SHARED / "benchmarks" / "rgb-en-fact" / "questions.jsonl"
PYTHON = ROOT / ".venv" / "bin" / "python"
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
       "TOKENIZERS_PARALLELISM": "false"}
NAIVE_SPLIT = {"chunk_size": 1000, "chunk_overlap": 200}  # the naive pipeline's RecursiveCharacterTextSplitter
STAGES = ("load", "split", "attribution", "embed", "write", "bm25")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def questions_for(corpus: str, path: Path, n: int) -> list[str]:
    """RGB's own questions; for Wikinews, questions made from article titles (What happened: …)."""
    if corpus == "rgb":
        lines = RGB_QUESTIONS.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["question"] for line in lines[:n]]
    titles = [json.loads(line)["title"] for line in path.read_text(encoding="utf-8").splitlines()]
    step = max(1, len(titles) // n)
    return [f"What happened: {t}?" for t in titles[::step][:n]]


# -- workers: each runs in its own process and prints one JSON line -----------------------------


def _timed(owner, name: str, clock: dict, key: str, count=None):
    """Replace owner.name by a wrapper adding its wall time to clock[key] (instrumentation only)."""
    original = getattr(owner, name, None)
    if original is None:  # not in this version of the code: its stage then comes from IngestReport.timings
        return

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            clock[key] = clock.get(key, 0.0) + time.perf_counter() - started
            if count is not None:
                clock[count] = clock.get(count, 0) + len(args[0])

    object.__setattr__(owner, name, wrapper)  # also on pydantic models (HuggingFaceEmbeddings)


def worker_qa_ingest(corpus: str, home: str) -> dict:
    from qa.service import QAService
    from qa.settings import Settings

    service = QAService(Settings(home=Path(home)))
    clock: dict = {}
    started = time.perf_counter()
    ingestor = service.ingestor  # store, embedder, spaCy pipelines and the BM25 index are built here
    clock["models"] = time.perf_counter() - started
    import index.ingest as ingest_module

    _timed(ingest_module, "load_file", clock, "load")
    _timed(service.splitter, "split", clock, "split")
    _timed(service.attributor, "speakers", clock, "attribution")  # before IngestReport.timings existed
    _timed(service.embedder, "encode", clock, "embed", count="texts")
    _timed(service.store, "write", clock, "write")
    _timed(service.lexical, "sync", clock, "bm25")
    started = time.perf_counter()
    report = ingestor.ingest_paths([Path(CORPORA[corpus])], progress=False)
    clock["ingest"] = time.perf_counter() - started
    reported = getattr(report, "timings", None) or {}
    stats = service.stats()
    return {
        "stages": {k: reported.get(k, clock.get(k, 0.0)) for k in STAGES},
        "stages_from": "IngestReport.timings" if reported else "instrumented",
        "models_s": clock["models"],
        "ingest_s": clock["ingest"],
        "texts": clock.get("texts", 0),
        "articles": len(report.added) + len(report.updated),
        "unchanged": len(report.unchanged),
        "errors": report.errors[:3],
        "chunks": stats["chunks"],
        "sentences": stats["sentences"],
        "rss_mb": peak_rss_mb(),
    }


def worker_qa_warm(corpus: str, home: str, n: str) -> dict:
    from qa.service import QAService
    from qa.settings import Settings

    service = QAService(Settings(home=Path(home)))
    questions = questions_for(corpus, CORPORA[corpus], int(n))
    service.ask(questions[0])  # loads what answering needs
    times = []
    for question in questions:
        started = time.perf_counter()
        service.ask(question)
        times.append((time.perf_counter() - started) * 1000)
    return {"warm_ms": times, "rss_mb": peak_rss_mb()}


def worker_naive_ingest(corpus: str, home: str) -> dict:
    clock: dict = {}
    started = time.perf_counter()
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from index.embedders import resolve_model_path

    model_path, _ = resolve_model_path(None)
    embeddings = HuggingFaceEmbeddings(model_name=str(model_path))
    clock["models"] = time.perf_counter() - started
    started = time.perf_counter()
    docs = []
    with open(CORPORA[corpus], encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            docs.append(Document(page_content=record["text"], metadata={"id": record["id"], "title": record["title"]}))
    clock["load"] = time.perf_counter() - started
    started = time.perf_counter()
    chunks = RecursiveCharacterTextSplitter(**NAIVE_SPLIT).split_documents(docs)
    clock["split"] = time.perf_counter() - started
    _timed(embeddings, "embed_documents", clock, "embed", count="texts")
    started = time.perf_counter()
    Chroma.from_documents(chunks, embeddings, persist_directory=home, collection_name="naive")
    clock["write"] = time.perf_counter() - started - clock["embed"]
    clock["ingest"] = clock["load"] + clock["split"] + clock["embed"] + clock["write"]
    return {
        "stages": {k: clock.get(k, 0.0) for k in STAGES},
        "models_s": clock["models"],
        "ingest_s": clock["ingest"],
        "texts": clock.get("texts", 0),
        "articles": len(docs),
        "chunks": len(chunks),
        "sentences": 0,
        "rss_mb": peak_rss_mb(),
    }


def _naive_chunks(corpus: str) -> list[str]:
    """The naive pipeline's chunk texts: its splitter over the corpus, as worker_naive_ingest makes them."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(**NAIVE_SPLIT)
    with open(CORPORA[corpus], encoding="utf-8") as lines:
        return [chunk for line in lines for chunk in splitter.split_text(json.loads(line)["text"])]


def worker_qa_embed_naive_chunks(corpus: str) -> dict:
    """qa's embedder on exactly the texts the naive pipeline embeds: the embedding step compared like
    for like, whatever else each side does (qa also embeds sentences, parses and attributes)."""
    from qa.service import QAService
    from qa.settings import Settings

    texts = _naive_chunks(corpus)
    embedder = QAService(Settings()).embedder
    embedder.encode(["warm-up"])  # the session, as the naive side's model, is loaded before its clock
    started = time.perf_counter()
    embedder.encode(texts)
    return {"embed_naive_chunks_s": time.perf_counter() - started, "texts": len(texts)}


def _naive_store(home: str):
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    from index.embedders import resolve_model_path

    model_path, _ = resolve_model_path(None)
    return Chroma(collection_name="naive", persist_directory=home,
                  embedding_function=HuggingFaceEmbeddings(model_name=str(model_path)))


def worker_naive_ask(corpus: str, home: str, question: str) -> dict:
    """The naive pipeline's answer: its top chunk, printed."""
    store = _naive_store(home)
    print(store.similarity_search(question, k=5)[0].page_content[:200], file=sys.stderr)
    return {"rss_mb": peak_rss_mb()}


def worker_naive_warm(corpus: str, home: str, n: str) -> dict:
    store = _naive_store(home)
    questions = questions_for(corpus, CORPORA[corpus], int(n))
    store.similarity_search(questions[0], k=5)
    times = []
    for question in questions:
        started = time.perf_counter()
        store.similarity_search(question, k=5)
        times.append((time.perf_counter() - started) * 1000)
    return {"warm_ms": times, "rss_mb": peak_rss_mb()}


WORKERS = {
    "qa-ingest": worker_qa_ingest,
    "qa-warm": worker_qa_warm,
    "naive-ingest": worker_naive_ingest,
    "naive-ask": worker_naive_ask,
    "qa-embed-naive-chunks": worker_qa_embed_naive_chunks,
    "naive-warm": worker_naive_warm,
}


# -- the parent: runs the children one by one and prints the table --------------------------------


def run_child(argv: list[str], env: dict) -> tuple[float, dict]:
    """Wall seconds of a whole child process (start to exit) and the JSON it printed last."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=env.get("PYTHONPATH") or ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0 and not done.stdout.strip().startswith("{"):
        raise RuntimeError(f"{' '.join(argv[:4])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
    try:
        return wall, json.loads(last)
    except ValueError:
        return wall, {"stdout": last}


def worker(kind: str, *args: str) -> list[str]:
    return [str(PYTHON), str(Path(__file__).resolve()), "--worker", kind, *args]


def qa_command(*args: str) -> list[str]:
    """The `qa` command as the console script runs it (but of the tree on PYTHONPATH, for --code)."""
    return [str(PYTHON), "-c", "import sys; from qa.cli import main; sys.argv[0] = 'qa'; main()", *args]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_corpus(corpus: str, scratch: Path, n_questions: int, cold_runs: int, env: dict) -> dict:
    qa_home, naive_home = scratch / f"qa-{corpus}", scratch / f"naive-{corpus}"
    out: dict = {"qa": {}, "naive": {}}
    say = lambda msg: print(f"[{corpus}] {msg}", file=sys.stderr, flush=True)  # noqa: E731

    say("naive ingest")
    wall, got = run_child(worker("naive-ingest", corpus, str(naive_home)), env)
    out["naive"] |= got | {"wall_s": wall}
    say(f"naive ingest {wall:.1f} s; qa ingest")
    wall, got = run_child(worker("qa-ingest", corpus, str(qa_home)), env)
    out["qa"] |= got | {"wall_s": wall}
    say(f"qa ingest {wall:.1f} s; unchanged re-ingest")
    wall, _ = run_child(qa_command("ingest", "--home", str(qa_home), str(CORPORA[corpus])), env)
    out["qa"]["reingest_s"] = wall
    _, got = run_child(worker("qa-embed-naive-chunks", corpus), env)
    out["qa"]["embed_naive_chunks_s"] = got["embed_naive_chunks_s"]
    out["naive"]["embed_naive_chunks_s"] = out["naive"]["stages"]["embed"]
    question = questions_for(corpus, CORPORA[corpus], 1)[0]
    colds = {"qa": [], "naive": []}
    for _ in range(cold_runs):  # alternated, so both see the same page cache and load
        wall, _ = run_child(qa_command("ask", "--home", str(qa_home), question), env)
        colds["qa"].append(wall)
        wall, got = run_child(worker("naive-ask", corpus, str(naive_home), question), env)
        colds["naive"].append(wall)
    for side in ("qa", "naive"):
        out[side]["cold_ask_s"] = statistics.median(colds[side])
    say("warm answers")
    for side in ("qa", "naive"):
        wall, got = run_child(worker(f"{side}-warm", corpus, str(side == "qa" and qa_home or naive_home),
                                     str(n_questions)), env)
        out[side]["warm_p50_ms"] = statistics.median(got["warm_ms"])
        out[side]["warm_p95_ms"] = pct(got["warm_ms"], 0.95)
        out[side]["serve_rss_mb"] = got["rss_mb"]
    return out


def table(corpus: str, result: dict) -> str:
    from tabulate import tabulate

    qa, naive = result["qa"], result["naive"]

    def rate(side: dict, key: str) -> float:
        return side.get(key, 0) / side["wall_s"] if side.get("wall_s") else 0.0

    qa["articles_s"], naive["articles_s"] = rate(qa, "articles"), rate(naive, "articles")
    qa["chunks_s"], naive["chunks_s"] = rate(qa, "chunks"), rate(naive, "chunks")
    qa["sentences_s"] = rate(qa, "sentences")
    rows = [
        ("ingest wall time (whole process), s", "wall_s", "lower"),
        ("  articles/s", "articles_s", "higher"),
        ("  texts embedded", "texts", None),
        ("  chunks", "chunks", None),
        ("  chunks/s", "chunks_s", "higher"),
        ("  sentences", "sentences", None),
        ("  sentences/s", "sentences_s", "higher"),
        ("  imports + model load, s", "models_s", "lower"),
        *[(f"  {stage}, s", f"stage:{stage}", "lower") for stage in STAGES],
        ("embedding the naive pipeline's chunks alone, s", "embed_naive_chunks_s", "lower"),
        ("unchanged re-ingest (whole process), s", "reingest_s", "lower"),
        ("cold ask, process start to answer, s", "cold_ask_s", "lower"),
        ("warm answer p50, ms", "warm_p50_ms", "lower"),
        ("warm answer p95, ms", "warm_p95_ms", "lower"),
        ("peak RSS ingest, MB", "rss_mb", "lower"),
        ("peak RSS answering, MB", "serve_rss_mb", "lower"),
    ]

    def value(side: dict, key: str):
        if key.startswith("stage:"):
            return side.get("stages", {}).get(key[6:])
        return side.get(key)

    lines = []
    for label, key, better in rows:
        a, b = value(qa, key), value(naive, key)
        ratio = ""
        if better and isinstance(a, (int, float)) and isinstance(b, (int, float)) and a and b:
            # Always "how many times better qa is": >1 means qa wins.
            ratio = f"{(a / b if better == 'higher' else b / a):.2f}×"
        lines.append((label, _fmt(a), _fmt(b), ratio))
    lines.append(("re-ingest / full ingest (qa)", f"{100 * qa['reingest_s'] / qa['wall_s']:.1f} %", "", ""))
    head = f"{corpus}: {qa.get('articles')} articles"
    return head + "\n" + tabulate(lines, headers=("", "qa", "naive LangChain", "qa better by"), tablefmt="github")


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}" if v < 1 else f"{v:.1f}" if v < 1000 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", choices=sorted(CORPORA), default=["rgb", "wikinews"])
    parser.add_argument("--questions", type=int, default=40, help="questions for the warm p50/p95")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold asks per side (median reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench", help="results.json and table.md go here")
    parser.add_argument(
        "--code", type=Path, help="measure the qa source tree in this folder (e.g. `git archive HEAD` unpacked)"
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        result = WORKERS[kind](*rest)
        print(json.dumps(result), flush=True)
        return
    env = dict(os.environ) | ENV
    if args.code:  # children import qa from there (PYTHONPATH comes before the editable install)
        env["PYTHONPATH"] = str(args.code.resolve())
    results, tables = {}, []
    scratch = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        for corpus in args.corpus:
            try:
                results[corpus] = bench_corpus(corpus, scratch, args.questions, args.cold_runs, env)
                tables.append(table(corpus, results[corpus]))
            except RuntimeError as exc:
                results[corpus] = {"error": str(exc)}
                tables.append(f"{corpus}: FAILED\n{exc}")
            print("\n" + tables[-1] + "\n", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / "table.md").write_text("\n\n".join(tables) + "\n")
    print(f"written: {args.out / 'table.md'}, {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
