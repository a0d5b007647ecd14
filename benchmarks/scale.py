"""`make bench-scale`: qa at 10,000 and 100,000 chunks, built from the real Wikinews articles.

    .venv/bin/python benchmarks/scale.py [--sizes 10000 100000] [--questions 40] [--out runs/scale] [--keep] [--reuse]
    .venv/bin/python benchmarks/scale.py --articles 50000 [--out runs/scale] [--reuse]
    .venv/bin/python benchmarks/scale.py --grow HOME [--grow-to 100000]   # a copy of such a home, grown in place

`--articles N` measures something else: N small generated articles (five sentences, quoted speakers)
in one JSONL file, ingested by `qa ingest` for real; then "What did X say?" for the speaker quoted
most as a new process (cold), every question form warm in one process (`worker_article_questions`:
a fact question, "What did X say?" for the most quoted and a rare speaker, "… about Y", a "What
happened with X?" briefing, a date said in words, a question under --source/--since/--until
filters; each asked twice, its answer state and time), and the unchanged re-ingest (each step in
its own process: wall time and peak resident memory). Embedded Chroma refuses a `get` of more than
32,766 rows, so this is the size that proves the store reads in pages. It takes a while (47 minutes
of ingest on a quiet machine at 50,000): a make target, not CI. With `--reuse`, an ingest kept
under OUT (its `articles-N.json` and `articles-N/`) is asked again without ingesting; an older
corpus with no rare speaker gets two reports quoting one (a step of its own, timed).

`--keep` leaves the built indexes under OUT; `--reuse` then measures them again without rebuilding
(the copies and the BM25 build are the slow part: 16 minutes at 100,000 chunks).

The articles are ingested once for real (the seed). Each size is then made of copies of the seed's
rows, read back from Chroma: every copy gets new article, chunk and sentence ids, a publication
date moved by a few weeks, and its vectors plus small Gaussian noise (renormalised), so building
100,000 chunks takes minutes on 2 cores instead of hours of embedding. BM25 is then built over
all of it as `qa` builds it. Measured per size (each in its own process): extractive answers end
to end (p50, p95), `qa serve`'s resident memory, adding one new article (BM25 included), and
the size of Chroma's folder. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench import CORPORA, ENV, PYTHON, pct, qa_command, run_child  # noqa: E402

NOISE = 0.01  # per component, before renormalising: a copy's vector stays at cosine ~0.98 of its original
SHIFT_DAYS = 17  # copy j is dated j * SHIFT_DAYS later


def log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def seed(home: Path) -> None:
    """The Wikinews articles, ingested by qa as a user would."""
    if (home / "seeded").exists():
        return
    shutil.rmtree(home, ignore_errors=True)
    wall, _ = run_child(qa_command("ingest", "--home", str(home), str(CORPORA["wikinews"])), dict(os.environ) | ENV)
    log(f"seed: Wikinews ingested in {wall:.0f} s")
    (home / "seeded").touch()


def _shift(date: str | None, days: int) -> str | None:
    if not date:
        return date
    return (dt.date.fromisoformat(date) + dt.timedelta(days=days)).isoformat()


_SEED_CLIENTS: dict = {}


def build(seed_home: Path, home: Path, target_chunks: int, collection: str = "qa") -> dict:
    """A copy of the seed's Chroma grown to `target_chunks` chunks with re-identified copies."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    # A fresh Chroma, not a copy of the seed's folder: adding to a copied folder grew one HNSW
    # file (link_lists.bin) by gigabytes a minute with Chroma 1.5.9. Same names and metadata.
    settings = ChromaSettings(anonymized_telemetry=False)
    source = _SEED_CLIENTS.get(seed_home) or chromadb.PersistentClient(path=str(seed_home / "chroma"), settings=settings)
    _SEED_CLIENTS[seed_home] = source  # Chroma refuses a second client on one folder in one process
    client = chromadb.PersistentClient(path=str(home / "chroma"), settings=settings)
    cols, rows = {}, {}
    for role in ("articles", "chunks", "sentences"):
        seed_col = source.get_collection(f"{collection}_{role}")
        rows[role] = _read_all(seed_col)
        cols[role] = client.create_collection(
            f"{collection}_{role}", metadata=seed_col.metadata, embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
        )
    by_article: dict[str, dict[str, list[int]]] = {}
    for role in ("chunks", "sentences"):
        for i, meta in enumerate(rows[role]["metadatas"]):
            by_article.setdefault(meta["article_id"], {}).setdefault(role, []).append(i)
    articles = rows["articles"]
    rng = np.random.default_rng(0)
    batch = max(1, client.get_max_batch_size())
    total = 0
    copy = -1  # copy 0 is the seed itself
    pending: dict[str, list] = {role: [] for role in cols}

    def flush(force: bool = False) -> None:
        for role, items in pending.items():
            while items and (force or len(items) >= batch):
                part, items[:] = items[:batch], items[batch:]
                ids, vecs, docs, metas = zip(*part)
                cols[role].add(ids=list(ids), embeddings=np.stack(vecs), documents=list(docs), metadatas=list(metas))

    def noisy(vector) -> np.ndarray:
        if copy == 0:
            return np.asarray(vector, dtype=np.float32)
        v = np.asarray(vector, dtype=np.float32) + rng.normal(0, NOISE, len(vector)).astype(np.float32)
        return v / np.linalg.norm(v)

    seed_chunks = max(1, sum(len(roles.get("chunks", [])) for roles in by_article.values()))
    max_copies = -(-target_chunks // seed_chunks) + 1  # a guard: each copy adds the seed's chunks
    while total < target_chunks:
        copy += 1
        if copy > max_copies:
            raise RuntimeError(f"{copy} copies made and still {total} < {target_chunks} chunks: the seed is wrong")
        log(f"copy {copy}: {total:,} chunks so far")
        days = copy * SHIFT_DAYS
        for a, article_id in enumerate(articles["ids"]):
            if total >= target_chunks:
                break
            new_id = f"{article_id}~{copy}" if copy else article_id
            meta = dict(articles["metadatas"][a])
            version = meta.get("version", "")

            def renamed(value: str) -> str:
                return value.replace(f"{article_id}:{version}:", f"{new_id}:{version}:")

            def row_meta(m: dict) -> dict:
                m = dict(m, article_id=new_id)
                if copy:  # a re-identified copy is its own article, not a near-duplicate
                    m.pop("duplicate_of", None)
                if m.get("published"):
                    m["published"] = _shift(m["published"], days)
                    m["published_day"] = int(m["published"].replace("-", ""))
                for key in ("chunk_id", "sentence_ids"):
                    if key in m:
                        m[key] = ",".join(renamed(x) for x in m[key].split(","))
                return m

            for role in ("chunks", "sentences"):
                for i in by_article.get(article_id, {}).get(role, []):
                    r = rows[role]
                    pending[role].append(
                        (renamed(r["ids"][i]), noisy(r["embeddings"][i]), r["documents"][i], row_meta(r["metadatas"][i]))
                    )
            meta = row_meta(meta)
            meta.pop("path", None)
            pending["articles"].append((new_id, noisy(articles["embeddings"][a]), articles["documents"][a], meta))
            total += len(by_article.get(article_id, {}).get("chunks", []))
            flush()
    flush(force=True)
    unreadable = {role: len(r["unreadable"]) for role, r in rows.items() if r["unreadable"]}
    return {role: col.count() for role, col in cols.items()} | {"copies": copy, "unreadable_seed_rows": unreadable}


def grow(home: Path, target_chunks: int, page: int = 1000) -> dict:
    """A home (an ingested one, such as `--articles 50000`'s) grown in place to `target_chunks` chunks:
    re-identified copies of its articles (id `ID~j`, dated j * SHIFT_DAYS later, vectors with small
    noise), each with its chunks and sentences, written straight into Chroma page by page. The copies
    keep their originals' `indexed_ns`, so they add nothing to the store's catch-up window. The next
    `qa` process finds the new articles (statements.sqlite3, people.json and BM25 follow the store)."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    from index.store import _pages

    client = chromadb.PersistentClient(path=str(home / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    cols = {role: client.get_collection(f"qa_{role}") for role in ("articles", "chunks", "sentences")}
    rng = np.random.default_rng(0)
    have = cols["chunks"].count()
    ids = {role: [i for got in _pages(col, include=[]) for i in got["ids"]] for role, col in cols.items()}
    originals = [i for i in ids["articles"] if "~" not in i]
    chunks_of: dict[str, int] = {}
    for got in _pages(cols["articles"], include=["metadatas"]):
        for i, m in zip(got["ids"], got["metadatas"]):
            chunks_of[i] = int(m.get("chunks") or 0)
    copy, added = 0, 0
    while have + added < target_chunks:
        copy += 1
        if copy > 1000:
            raise RuntimeError("the home has no chunks to copy")
        chosen, n = set(), 0
        for a in originals:
            if have + added + n >= target_chunks:
                break
            if f"{a}~{copy}" in chunks_of:
                continue  # grown before
            chosen.add(a)
            n += chunks_of.get(a, 0)
        log(f"grow copy {copy}: {len(chosen):,} articles, {n:,} chunks")
        for role in ("articles", "chunks", "sentences"):
            wanted = [i for i in ids[role] if (i if role == "articles" else i.split(":", 1)[0]) in chosen]
            for start in range(0, len(wanted), page):
                got = cols[role].get(ids=wanted[start : start + page], include=["metadatas", "documents", "embeddings"])
                new_ids, vecs, metas = [], [], []
                for i, m, v in zip(got["ids"], got["metadatas"], got["embeddings"]):
                    article_id = m.get("article_id", i)
                    new_id = f"{article_id}~{copy}"
                    m = dict(m)
                    m.pop("duplicate_of", None)
                    m.pop("path", None)
                    if role != "articles":
                        m["article_id"] = new_id
                    for key in ("chunk_id", "sentence_ids"):
                        if key in m:
                            m[key] = ",".join(new_id + x[len(article_id):] for x in m[key].split(","))
                    if m.get("published"):
                        m["published"] = _shift(m["published"], copy * SHIFT_DAYS)
                        m["published_day"] = int(m["published"].replace("-", ""))
                    v = np.asarray(v, dtype=np.float32) + rng.normal(0, NOISE, len(v)).astype(np.float32)
                    new_ids.append(new_id if role == "articles" else new_id + i[len(article_id):])
                    vecs.append(v / np.linalg.norm(v))
                    metas.append(m)
                cols[role].add(ids=new_ids, embeddings=np.stack(vecs), documents=got["documents"], metadatas=metas)
            log(f"grow copy {copy}: {role} written")
        added += n
    return {role: col.count() for role, col in cols.items()}


def _read_all(collection, page: int = 1000) -> dict[str, list]:
    """Every row of a collection with its vector. Ids first, then vectors by id in pages: Chroma 1.5.9
    fails some gets of embeddings by offset ("Error getting embedding"); a page that fails is
    read row by row and rows that still fail are left out (counted in `unreadable`)."""
    from index.store import _pages

    ids = [i for got in _pages(collection, include=[]) for i in got["ids"]]  # in pages: at most 32,766 a get
    out: dict[str, list] = {"ids": [], "metadatas": [], "documents": [], "embeddings": [], "unreadable": []}

    def read(part: list[str]) -> None:
        try:
            got = collection.get(ids=part, include=["metadatas", "documents", "embeddings"])
        except Exception:
            if len(part) == 1:
                out["unreadable"].append(part[0])
                return
            for one in part:
                read([one])
            return
        for key in ("ids", "metadatas", "documents", "embeddings"):
            out[key].extend(got[key])

    for start in range(0, len(ids), page):
        read(ids[start : start + page])
    return out


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- workers ------------------------------------------------------------------------------------


def worker_bm25(home: str) -> dict:
    """Build the BM25 index over everything (what the first question after such a bulk load does)."""
    from qa.service import QAService
    from qa.settings import Settings

    service = QAService(Settings(home=Path(home)))
    started = time.perf_counter()
    service.lexical.sync(service.store)
    return {"bm25_build_s": time.perf_counter() - started, "bm25_chunks": len(service.lexical)}


def worker_queries(home: str, n: str) -> dict:
    from qa.service import QAService
    from qa.settings import Settings

    import bench

    service = QAService(Settings(home=Path(home)))
    started = time.perf_counter()
    service.warm_up()
    warm_up = time.perf_counter() - started
    questions = bench.questions_for("wikinews", CORPORA["wikinews"], int(n))
    questions += ["What did Bush say?", "What did the police say?", "Who won the election?"]
    service.ask(questions[0])
    times, retrieve = [], []
    for question in questions:
        started = time.perf_counter()
        answer = service.ask(question)
        times.append((time.perf_counter() - started) * 1000)
        retrieve.append(answer.timings_ms.get("retrieve", 0.0))
    added = worker_add(service)
    # A second one: what each later paste costs, once the splitter and the duplicate finder are loaded.
    again = worker_add(service)
    return {"warm_up_s": warm_up, "query_ms": times, "retrieve_ms": retrieve} | added | {
        "add_next_s": again["add_one_s"], "add_next_timings": again["add_one_timings"]}


def worker_add(service) -> dict:
    """One new article added to the warm service, as the chat screen's paste does (BM25 included)."""
    from qa.types import Article

    text = (
        "The harbour authority of Porto announced on Monday that the new container terminal will open in May. "
        "\"We expect the first ships within weeks,\" said Maria Costa, the authority's director. "
        "The terminal cost 120 million euros and doubles the port's capacity.\n\n"
        "Local fishermen said they feared the traffic would disturb the river mouth."
    )
    # A new id each run, so that a reused index (--reuse) gets a new article too, not an unchanged one.
    new_id = f"scale-added-article-{uuid.uuid4().hex[:8]}"
    article = Article(id=new_id, title="Porto opens a container terminal", text=text,
                      published="2026-11-27", source="Scale bench", content_hash=new_id)
    started = time.perf_counter()
    report = service.ingest_articles([article], progress=False)
    added = time.perf_counter() - started
    timings = getattr(report, "timings", None) or {}
    return {"add_one_s": added, "add_one_report": report.summary(), "add_one_timings": timings}


# -- the parent ---------------------------------------------------------------------------------


def serve_rss(home: Path, env: dict, questions: list[str]) -> dict:
    """`qa serve` started, warmed, asked a few questions through its API: peak and current RSS."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_file = (home / "serve.log").open("w")
    process = subprocess.Popen(qa_command("serve", "--home", str(home), "--port", str(port)), env=env,
                               stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"qa serve did not start: {(home / 'serve.log').read_text()[-2000:]}")
                time.sleep(1)
        started_rss = _status(process.pid)
        try:
            from gradio_client import Client

            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            for question in questions:
                client.predict(question, "", "", "", api_name="/ask")
        except Exception as exc:  # the RSS after start-up is still worth reporting
            log(f"asking through the API failed: {exc}")
        return {"serve_rss_start_mb": started_rss["VmRSS"], "serve_rss_mb": _status(process.pid)["VmRSS"],
                "serve_peak_rss_mb": _status(process.pid)["VmHWM"]}
    finally:
        process.terminate()
        process.wait(timeout=60)


def _status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process and its children, in MB."""
    out = {"VmRSS": 0.0, "VmHWM": 0.0}
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            key = line.split(":")[0]
            if key in out:
                out[key] += int(line.split()[1]) / 1024
    return out


# -- N small articles, ingested for real -----------------------------------------------------------

TOWNS = ["Aldergate", "Brookmere", "Calder Vale", "Dunmore", "Eastwick", "Fenwick", "Glenrose", "Harrowby",
         "Ivybridge", "Juniper Bay", "Kestrel Point", "Larkhill"]
PEOPLE = ["Mara Quill", "Tobias Renn", "Ines Halloway", "Piet Vandermeer", "Sora Ikeda", "Lena Brask",
          "Oskar Telford", "Nadia Ferrante", "Ruben Achterberg", "Wen Liao"]
THINGS = ["bridges", "schools", "bus lines", "clinics", "parks", "water mains", "libraries", "ferries", "depots"]


# Quoted in a handful of reports only ("What did X say?" for a rare speaker): report i's second person
# is RARE[k] when i % RARE_EVERY == RARE_AT + k. Drawing nothing from the random generator, so every
# other report is the one the earlier runs ingested.
RARE = ["Edda Marlowe", "Caspar Voss"]
RARE_EVERY, RARE_AT = 2500, 1234


def small_articles(path: Path, n: int, seed: int = 7) -> dict:
    """`n` distinct small articles (five sentences: a council decision, two quoted people) as JSONL.
    Returns what the questions need: the person quoted most (the first of PEOPLE is drawn twice as
    often as the others), a rare one, and one report's town, number and figures (a fact question)."""
    import random

    rng = random.Random(seed)
    weights = [2] + [1] * (len(PEOPLE) - 1)
    quoted: dict[str, int] = {}
    sample: dict = {}
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            town = rng.choice(TOWNS)
            mayor, other = rng.choices(PEOPLE, weights)[0], rng.choices(PEOPLE, weights)[0]
            if 0 <= i % RARE_EVERY - RARE_AT < len(RARE):
                other = RARE[i % RARE_EVERY - RARE_AT]
            things = rng.sample(THINGS, 3)
            for person in (mayor, other):
                quoted[person] = quoted.get(person, 0) + 1
            budget, repaired, families = rng.randint(20, 900), rng.randint(2, 60), rng.randint(100, 9000)
            text = (
                f"The council of {town} approved a budget of {budget} million euros on day {i}.\n\n"
                f"Mayor {mayor} said the money would repair {repaired} {things[0]} before winter. "
                f"{other} told reporters that {families} families still wait for new {things[1]}. "
                f"The vote passed by {rng.randint(11, 30)} to {rng.randint(1, 10)} after {rng.randint(2, 9)} hours. "
                f"Work on the {things[2]} is due to start in report {i}."
            )
            day = dt.date(2020, 1, 1) + dt.timedelta(days=i % 1500)
            if i == n // 2:
                sample = {"i": i, "town": town, "budget": budget, "published": day.isoformat(), "mayor": mayor}
            out.write(json.dumps({"id": f"small-{i:06d}", "title": f"{town} council report {i}", "text": text,
                                  "published": day.isoformat(), "source": "Scale Wire"}) + "\n")
    rare = min((p for p in quoted if p in RARE), key=quoted.get, default=min(quoted, key=quoted.get))
    return {"speaker": max(quoted, key=quoted.get), "statements": quoted, "rare": rare, "sample": sample}


def corpus_facts(path: Path) -> dict:
    """What `small_articles` returns, read back from its JSONL (an ingest kept from an earlier run, whose
    corpus may be an older draw: without RARE, the least quoted person is the rare one)."""
    import re

    names = PEOPLE + RARE
    quoted = dict.fromkeys(names, 0)
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        text = json.loads(line)["text"]
        for name in names:
            quoted[name] += text.count(name)
    quoted = {k: v for k, v in quoted.items() if v}
    middle = json.loads(lines[len(lines) // 2])
    found = re.search(r"^The council of (?P<town>.+?) approved a budget of (?P<budget>\d+) million euros on day "
                      r"(?P<i>\d+)\.\n\nMayor (?P<mayor>.+?) said", middle["text"])
    sample = {"i": int(found["i"]), "town": found["town"], "budget": int(found["budget"]),
              "published": middle["published"], "mayor": found["mayor"]}
    rare = min((p for p in quoted if p in RARE), key=quoted.get, default=min(quoted, key=quoted.get))
    return {"speaker": max(quoted, key=quoted.get), "statements": quoted, "rare": rare, "sample": sample}


def article_questions(corpus: dict) -> list[dict]:
    """The questions asked of the N generated articles: one of each form (label, question, filters)."""
    most, rare, sample = corpus["speaker"], corpus["rare"], corpus["sample"]
    month = sample["published"][:7]
    return [
        {"form": "fact", "question": f"What budget did the council of {sample['town']} approve on day {sample['i']}?",
         "expect": f"{sample['budget']} million euros"},
        {"form": "what did X say (most quoted)", "question": f"What did {most} say?"},
        {"form": "what did X say (rare)", "question": f"What did {rare} say?"},
        {"form": "what did X say about Y", "question": f"What did {most} say about bridges?"},
        {"form": "what happened with X (briefing)", "question": f"What happened with the council of {sample['town']}?"},
        {"form": "what did X say, date said in words", "question": f"What did {most} say in {_month_words(month)}?"},
        {"form": "fact, filtered (--source, --since, --until)",
         "question": f"How many families still wait, according to {sample['mayor']}?",
         "filters": {"sources": ["Scale Wire"], "since": month + "-01", "until": month + "-28"}},
    ]


def _month_words(month: str) -> str:
    return dt.date.fromisoformat(month + "-01").strftime("%B %Y")


def worker_article_questions(home: str, questions_json: str, rounds: str = "2") -> dict:
    """Every question of `article_questions`, warm in one process: each one's answer state and time
    (round 1 is each question's first asking; later rounds ask them all again), and `people()`."""
    from qa.service import QAService
    from qa.settings import Settings
    from qa.types import Filters

    questions = json.loads(questions_json)
    service = QAService(Settings(home=Path(home)))
    started = time.perf_counter()
    service.warm_up()
    warm_up = time.perf_counter() - started
    out: list[dict] = []
    for round_ in range(int(rounds)):
        for q in questions:
            filters = Filters.build(**q["filters"]) if q.get("filters") else None
            started, cpu = time.perf_counter(), time.process_time()
            try:
                answer = service.ask(q["question"], filters=filters)
                error = None
            except Exception as exc:  # a question that fails is a finding, not the end of the run
                answer, error = None, f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - started
            # CPU too (Chroma's threads included): the machine's load changes it far less than the wall time.
            row = {"round": round_ + 1, **q, "s": seconds, "cpu_s": time.process_time() - cpu, "error": error}
            if answer is not None:
                text = answer.answer or ""
                row |= {"abstained": answer.abstained, "citations": len(answer.citations),
                        "statement_groups": len(answer.statements or []),
                        "statements_shown": sum(len(g.get("items", [])) for g in answer.statements or []),
                        "more": answer.more, "timeline": len((answer.timeline or {}).get("entries", []))
                        if isinstance(answer.timeline, dict) else (len(answer.timeline) if answer.timeline else 0),
                        "answer_head": text[:160], "timings_ms": answer.timings_ms}
                if q.get("expect"):
                    row["expected_found"] = q["expect"] in text
            out.append(row)
            log(f"  round {round_ + 1} {q['form']}: {seconds:.2f} s, "
                f"{'error ' + error if error else 'abstained' if answer.abstained else f'{len(answer.citations)} citations'}")
    started, cpu = time.perf_counter(), time.process_time()
    people = service.people()
    people_s = time.perf_counter() - started
    return {"warm_up_s": warm_up, "questions": out, "people_s": people_s, "people_cpu_s": time.process_time() - cpu,
            "people": len(people)}


def measured(argv: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak resident MB of one child process, and what it printed."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = child.communicate()
    wall = time.perf_counter() - started
    import resource

    # The largest child so far: each measurement grows the figure only if its child is larger.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak, subprocess.CompletedProcess(argv, child.returncode, out, err)


def articles_run(out: Path, n: int, env: dict, reuse: bool = False) -> dict:
    """Generate and ingest N articles (or, with `reuse`, keep an earlier run's ingest and its figures),
    then: the cold first question, every question form warm in one process, the unchanged re-ingest."""
    out.mkdir(parents=True, exist_ok=True)
    home = out / f"articles-{n}"
    corpus = home / "articles.jsonl"
    saved = out / f"articles-{n}.json"
    kept = json.loads(saved.read_text()) if reuse and saved.exists() else None
    if kept and kept.get("ingest", {}).get("exit") == 0 and (home / "chroma").exists() and corpus.exists():
        result = {k: kept[k] for k in ("articles", "speaker", "corpus", "ingest") if k in kept}
        result["ingest_reused"] = True
        steps = []
        if "corpus" not in result:  # an earlier run's, from before the questions: read its corpus back
            result["corpus"] = corpus_facts(corpus)
            result["speaker"] = result["corpus"]["speaker"]
        if result["corpus"]["rare"] not in RARE:
            # An older draw quotes no one rarely: two reports quoting RARE[0] are added (a step of its own).
            extra = home / "rare.jsonl"
            extra.write_text("".join(json.dumps({
                "id": f"small-rare-{k}", "title": f"Harbour report {k}", "published": f"2021-0{k + 3}-15",
                "source": "Scale Wire", "text": f"The harbour of Larkhill reopened on day {k}.\n\n"
                f"{RARE[0]} told reporters that {k + 3} ferries would sail again in spring."}) + "\n" for k in range(2)))
            result["corpus"]["rare"] = RARE[0]
            steps.append(("add-rare", qa_command("ingest", "--home", str(home), str(extra))))
        log(f"{n} articles: reusing the ingest of {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        generated = small_articles(corpus, n)
        result = {"articles": n, "speaker": generated["speaker"], "corpus": generated}
        steps = [("ingest", qa_command("ingest", "--home", str(home), str(corpus)))]
    questions = article_questions(result["corpus"])
    result["questions"] = questions
    steps += [
        ("ask", qa_command("ask", "--json", "--home", str(home), questions[1]["question"])),  # cold: a new process
        ("questions", worker("article-questions", str(home), json.dumps(questions))),
        ("reingest", qa_command("ingest", "--home", str(home), str(corpus))),
        ("stats", qa_command("stats", "--json", "--home", str(home))),
    ]
    for name, argv in steps:
        # Peak memory per step: RUSAGE_CHILDREN keeps the largest child's, so run each step in a
        # child of its own (this process's children are measured one at a time, largest so far).
        wrapper = [str(PYTHON), "-c", _PEAK_OF_CHILD, *argv]
        wall, _, done = measured(wrapper, env)
        lines = done.stdout.strip().splitlines()
        peak = json.loads(lines[-1])["peak_mb"] if lines else None
        printed = "\n".join(lines[:-1])
        log(f"{n} articles: {name} {wall:.0f} s, peak {peak} MB, exit {done.returncode}: {printed[-200:]!r}")
        result[name] = {"s": wall, "peak_mb": peak, "exit": done.returncode, "stderr": done.stderr[-600:]}
        if name == "ask" and done.returncode == 0:
            answer = json.loads(printed)
            result[name] |= {"abstained": answer["abstained"], "citations": len(answer["citations"]),
                             "statement_groups": len(answer.get("statements") or []),
                             "more": answer.get("more"), "timings_ms": answer.get("timings_ms")}
        elif name == "questions" and done.returncode == 0:
            result[name] |= json.loads(lines[-2])
        elif name == "stats" and done.returncode == 0:
            result[name] |= json.loads(printed)
        else:
            result[name]["summary"] = printed.splitlines()[-1] if printed else ""
        saved.write_text(json.dumps(result, indent=2))  # what a run has reached, even if a later step hangs
    result["reingest_share"] = result["reingest"]["s"] / result["ingest"]["s"]
    saved.write_text(json.dumps(result, indent=2))
    return result


# Runs the command given as its arguments, then prints its peak resident memory as the last line.
_PEAK_OF_CHILD = (
    "import json, resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
    "print(json.dumps({'peak_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}), flush=True); "
    "sys.exit(done.returncode)"
)


def articles_table(result: dict) -> str:
    from tabulate import tabulate

    rows = [
        (f"qa ingest of {result['articles']:,} articles" + (" (an earlier run's)" if result.get("ingest_reused") else ""),
         result["ingest"]),
        (f"What did {result['speaker']} say?, cold process (`qa ask --json`)", result["ask"]),
        ("unchanged re-ingest", result["reingest"]),
    ] + ([("2 more articles quoting a rare speaker (`qa ingest`)", result["add-rare"])] if "add-rare" in result else [])
    text = tabulate(
        [(label, f"{r['s']:.1f}", f"{r['peak_mb']:.0f}" if r.get("peak_mb") else "—", r["exit"]) for label, r in rows],
        headers=("", "seconds", "peak MB", "exit"), tablefmt="github",
    ) + f"\n\nre-ingest / ingest: {result['reingest_share']:.1%}"
    asked = result.get("questions")
    if isinstance(asked, dict) and asked.get("questions"):
        lines = []
        for q in asked["questions"]:
            more = q.get("more") if isinstance(q.get("more"), dict) else {}
            state = (f"error: {q['error']}" if q.get("error") else "abstained" if q["abstained"] else
                     f"answered, {q['citations']} citations"
                     + (f", {q['statement_groups']} reports in the JSON, {more['statements']} more statements than "
                        f"shown" if more.get("statements") is not None and q["statement_groups"] else "")
                     + (f", a timeline of {q['timeline']} reports" if q.get("timeline") else "")
                     + (f", expected figure {'found' if q.get('expected_found') else 'NOT found'}" if "expected_found" in q else ""))
            lines.append((q["round"], q["form"], q["question"] + (f" {q['filters']}" if q.get("filters") else ""),
                          f"{q['s'] * 1000:.0f}", state))
        text += "\n\nWarm, one process (models loaded first: {:.1f} s; peak {:.0f} MB):\n\n".format(
            asked["warm_up_s"], result["questions"].get("peak_mb") or 0)
        text += tabulate(lines, headers=("round", "form", "question", "ms", "answer"), tablefmt="github")
        text += f"\n\n`people()`: {asked['people']} people in {asked['people_s'] * 1000:.0f} ms"
    return text


def worker(kind: str, *args: str) -> list[str]:
    return [str(PYTHON), str(Path(__file__).resolve()), "--worker", kind, *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "scale")
    parser.add_argument("--keep", action="store_true", help="keep the built indexes under OUT")
    parser.add_argument("--reuse", action="store_true", help="measure indexes a --keep run left, without rebuilding")
    parser.add_argument("--articles", type=int, help="measure N small generated articles ingested for real instead")
    parser.add_argument("--grow", type=Path, metavar="HOME",
                        help="grow this home in place to --grow-to chunks with copies of its articles, then stop")
    parser.add_argument("--grow-to", type=int, default=100_000)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.grow:
        started = time.perf_counter()
        counts = grow(args.grow, args.grow_to)
        log(f"grown to {counts} in {time.perf_counter() - started:.0f} s")
        return
    if args.worker:
        kind, *rest = args.worker
        result = {"bm25": worker_bm25, "queries": worker_queries,
                  "article-questions": worker_article_questions}[kind](*rest)
        print(json.dumps(result), flush=True)
        return
    env = dict(os.environ) | ENV
    if args.articles:
        result = articles_run(args.out, args.articles, env, reuse=args.reuse)
        print(articles_table(result))
        (args.out / f"articles-{args.articles}.md").write_text(articles_table(result) + "\n")
        failed = any(result[step]["exit"] != 0 for step in ("ingest", "ask", "questions", "reingest"))
        unanswered = [q for q in result["questions"].get("questions", []) if q.get("error") or q.get("abstained")]
        sys.exit(1 if failed or unanswered or result["ask"].get("abstained", True) else 0)
    args.out.mkdir(parents=True, exist_ok=True)
    seed_home = args.out / "seed"
    seed(seed_home)
    # Sizes measured earlier (another --sizes run) stay in the table.
    saved = args.out / "results.json"
    results = {int(k): v for k, v in json.loads(saved.read_text()).items()} if saved.exists() else {}
    for size in args.sizes:
        home = args.out / f"index-{size}"
        if args.reuse and (home / "built.json").exists():
            kept = json.loads((home / "built.json").read_text())
            counts, built, bm25 = kept["counts"], kept["build_s"], kept["bm25"]
            log(f"{size}: reusing {home} ({counts})")
        else:
            started = time.perf_counter()
            counts = build(seed_home, home, size)
            built = time.perf_counter() - started
            log(f"{size}: built {counts} in {built:.0f} s")
            _, bm25 = run_child(worker("bm25", str(home)), env)
            log(f"{size}: BM25 built in {bm25['bm25_build_s']:.1f} s")
            (home / "built.json").write_text(json.dumps({"counts": counts, "build_s": built, "bm25": bm25}))
        _, queries = run_child(worker("queries", str(home), str(args.questions)), env)
        log(f"{size}: queries p50 {statistics.median(queries['query_ms']):.0f} ms; added one in {queries['add_one_s']:.2f} s")
        serve = serve_rss(home, env, ["What did Bush say?", "Who won the election?", "What happened in Iraq?"])
        results[size] = {
            "counts": counts,
            "build_s": built,
            **bm25,
            "query_p50_ms": statistics.median(queries["query_ms"]),
            "query_p95_ms": pct(queries["query_ms"], 0.95),
            "retrieve_p50_ms": statistics.median(queries["retrieve_ms"]),
            "retrieve_p95_ms": pct(queries["retrieve_ms"], 0.95),
            "questions": len(queries["query_ms"]),
            "warm_up_s": queries["warm_up_s"],
            "add_one_s": queries["add_one_s"],
            "add_one_timings": queries["add_one_timings"],
            "add_next_s": queries.get("add_next_s"),
            "add_next_timings": queries.get("add_next_timings"),
            **serve,
            "chroma_mb": du(home / "chroma") / 1e6,
            "bm25_mb": du(home / "bm25") / 1e6,
            "query_ms": queries["query_ms"],
        }
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
        if not (args.keep or args.reuse):
            shutil.rmtree(home, ignore_errors=True)
    print(table(results))
    (args.out / "table.md").write_text(table(results) + "\n")
    plot(results, args.out / "latency.png")
    print(f"written: {args.out / 'table.md'}, {args.out / 'results.json'}, {args.out / 'latency.png'}")


def table(results: dict) -> str:
    from tabulate import tabulate

    rows = [
        ("articles / chunks / sentences", lambda r: f"{r['counts']['articles']:,} / {r['counts']['chunks']:,} / "
                                                    f"{r['counts']['sentences']:,}"),
        ("answer p50, ms (extractive, end to end)", lambda r: f"{r['query_p50_ms']:.0f}"),
        ("answer p95, ms", lambda r: f"{r['query_p95_ms']:.0f}"),
        ("  of which retrieval p50 / p95, ms", lambda r: f"{r['retrieve_p50_ms']:.0f} / {r['retrieve_p95_ms']:.0f}"),
        ("qa serve RSS after start / after 3 answers, MB",
         lambda r: f"{r['serve_rss_start_mb']:.0f} / {r['serve_rss_mb']:.0f}"),
        ("add one article (warm, BM25 included), s", lambda r: f"{r['add_one_s']:.2f}"),
        ("  the next article added, s", lambda r: f"{r['add_next_s']:.2f}" if r.get("add_next_s") is not None else "—"),
        ("BM25 full build, s", lambda r: f"{r['bm25_build_s']:.1f}"),
        ("Chroma on disk, MB", lambda r: f"{r['chroma_mb']:.0f}"),
        ("BM25 on disk, MB", lambda r: f"{r['bm25_mb']:.0f}"),
        ("building the copies, s", lambda r: f"{r['build_s']:.0f}"),
    ]
    sizes = sorted(results, key=int)
    return tabulate([(label, *(f(results[s]) for s in sizes)) for label, f in rows],
                    headers=("", *(f"{int(s):,} chunks" for s in sizes)), tablefmt="github")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results, key=int)
    x = [results[s]["counts"]["chunks"] for s in sizes]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for key, label, style in (("query_p50_ms", "p50", "o-"), ("query_p95_ms", "p95", "s--")):
        ax.plot(x, [results[s][key] for s in sizes], style, label=f"answer {label}")
    ax.axhline(150, color="grey", linewidth=0.8, linestyle=":", label="p95 target (150 ms)")
    ax.set_xscale("log")
    ax.set_xlabel("chunks in the index (log scale)")
    ax.set_ylabel("ms, extractive answer end to end")
    ax.set_title("qa answer latency against index size")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
