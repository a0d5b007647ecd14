"""Two writers, a reader beside a writer, and a collection past SQLite's 32,766 variables.

Writers and readers are real, separate `qa` processes on one QA_HOME (benchmarks/two_writers.py
runs the same with the Wikinews collection, with kills). What must hold: a second `qa ingest` waits
for the first (and says who holds the lock), both complete and `qa check` finds nothing wrong; a
service running in another process answers about an article added beside it at its next question,
within 1 s of the ingest's end, and never fails meanwhile; a killed writer releases the lock and the
next ingest checks what it was writing.
"""

from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import pytest
from conftest import QA, cli_env
from test_storage import probe, qa, write_articles

from index.store import ChromaStore
from qa.service import QAService
from qa.settings import Settings

ZEPPELIN = """Title: Zeppelin lands in Lisbon
Date: 2023-05-02
Source: Harbour Wire

The airship Graf Aurora landed at the Lisbon harbour on Tuesday after a flight of 31 hours.

Harbour master Odile Varga said the zeppelin would stay moored at pier nine until Friday.
"""


def start(home, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(QA), *args], env=cli_env(home, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_two_concurrent_ingests_both_complete_and_check_finds_nothing(tmp_path):
    home = tmp_path / "home"
    first = write_articles(tmp_path / "first", 10, seed=1)[0].parent
    second = tmp_path / "second"
    for path in write_articles(tmp_path / "second-raw", 10, seed=2):
        second.mkdir(exist_ok=True)
        path.rename(second / path.name.replace("report", "other"))  # other ids than the first folder's
    runs = [start(home, "ingest", str(first)), start(home, "ingest", str(second))]
    outs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outs):
        assert run.returncode == 0, err[-3000:]
        assert out.strip().splitlines()[-1] == "added 10, updated 0, unchanged 0, failed 0"
    state = probe(home)
    assert state["stats"]["articles"] == 20 and not any(state["stale"].values())
    assert state["raw"] == {"chunks": state["stats"]["chunks"], "sentences": state["stats"]["sentences"]}
    # One of them waited for the other, and said who held the lock.
    waited = [err for _, err in outs if "waiting for another writer" in err]
    assert len(waited) == 1 and "pid " in waited[0] and "ingest" in waited[0]
    checked = qa(home, "check", "--json")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    found = json.loads(checked.stdout)
    assert found["articles"] == 20 and not found["damaged"] and found["stale_rows"] == 0
    assert not any(found["unreadable"].values())


def test_an_article_added_by_another_process_is_answered_at_the_next_question(splitter, tmp_path):
    home = tmp_path / "home"
    # The embedder `qa serve` runs (ONNX): the session's torch one takes seconds a question on a loaded machine.
    service = QAService(Settings(home=home), splitter=splitter)
    service.ingest([write_articles(tmp_path / "old", 6)[0].parent])
    question = "Where did the airship Graf Aurora land?"
    assert service.ask(question).abstained
    writing_elsewhere = getattr(service, "writing_elsewhere", lambda: None)  # asserted last
    assert not writing_elsewhere()
    new = tmp_path / "new"
    new.mkdir()
    (new / "zeppelin.txt").write_text(ZEPPELIN)
    writer = start(home, "ingest", str(new))
    seen_writing, asked = False, 0
    while writer.poll() is None:
        seen_writing |= bool(writing_elsewhere())
        answer = service.ask(question)  # never fails while the other process writes
        asked += 1
        time.sleep(0.05)
    ended = time.monotonic()
    assert writer.returncode == 0, writer.stderr.read()[-3000:]
    answer = service.ask(question)
    took = time.monotonic() - ended
    assert not answer.abstained and "Lisbon" in answer.answer, answer.answer
    assert took <= 1.0, f"{took:.2f} s after the ingest ended"
    # Its statements too ("What did X say?" reads sentences by speaker, with their embeddings).
    said = service.ask("What did Odile Varga say?")
    assert not said.abstained and "pier nine" in said.answer
    assert seen_writing and asked > 0  # the screen could say "updating…" meanwhile
    assert not writing_elsewhere()


def test_a_killed_writer_releases_the_lock_and_the_next_ingest_checks_what_it_was_writing(tmp_path):
    home = tmp_path / "home"
    folder = write_articles(tmp_path / "articles", 5)[0].parent
    crashed = qa(home, "ingest", str(folder), QA_TEST_CRASH_AT="after-rows")
    assert crashed.returncode == 137
    assert (home / "ingest.unfinished").exists()
    started = time.monotonic()
    rerun = qa(home, "ingest", str(folder))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert time.monotonic() - started < 120  # it did not wait for the dead holder
    assert "did not finish; checked the 5 articles it was writing" in rerun.stderr
    assert not (home / "ingest.unfinished").exists()
    checked = qa(home, "check", "--json")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert json.loads(checked.stdout)["articles"] == 5


def test_check_finds_damage_and_repair_rewrites_it_from_the_stored_text(service, tmp_path):
    service.ingest([write_articles(tmp_path / "articles", 4)[0].parent])
    store = service.store
    clean = service.stats()
    assert service.check()["damaged"] == {}
    first, second = sorted(store.versions(None))[:2]
    # A row whose text is not its article's at its offsets, and a row lost (counts disagree).
    row = store._sentences.get(where={"article_id": first}, limit=1, include=["metadatas"])
    moved = dict(row["metadatas"][0], start=row["metadatas"][0]["start"] + 1)
    store._sentences.update(ids=row["ids"], metadatas=[moved])
    lost = store._chunks.get(where={"article_id": second}, limit=1, include=[])["ids"]
    store._chunks.delete(ids=lost)
    found = service.check()
    assert set(found["damaged"]) == {first, second}
    mended = service.check(repair=True)
    assert sorted(mended["repaired"]) == sorted([first, second])
    assert mended["damaged"] == {} and service.stats() | {"last_updated": None} == clean | {"last_updated": None}


# -- paging: more rows than SQLite takes variables ---------------------------------------------


def add_tiny_articles(store: ChromaStore, n: int) -> None:
    """`n` one-sentence articles (records and sentence rows, no chunks) with made-up 8-dimensional
    vectors, added straight to the collections: the cheapest store with that many rows."""
    rng = np.random.default_rng(0)
    now = time.time_ns()
    for begin in range(0, n, 5000):
        ids = range(begin, min(n, begin + 5000))
        texts = [f"Mara Quill said item {i} is ready." for i in ids]
        vectors = rng.normal(size=(len(texts), 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        shared = {"version": "v1", "published": "2023-04-01", "published_day": 20230401, "source": "Wire"}
        store._articles.upsert(
            ids=[f"a{i}" for i in ids],
            embeddings=vectors,
            documents=texts,
            metadatas=[shared | {"title": f"Item {i}", "chunks": 0, "sentences": 1, "indexed_ns": now} for i in ids],
        )
        store._sentences.upsert(
            ids=[f"a{i}:v1:s0" for i in ids],
            embeddings=vectors,
            documents=texts,
            metadatas=[
                shared | {"article_id": f"a{i}", "index": 0, "start": 0, "end": len(t), "chunk_id": f"a{i}:v1:c0",
                          "speakers": ["Mara Quill"], "speaker_keys": ["mara", "quill"]}
                for i, t in zip(ids, texts)
            ],
        )


def test_more_rows_than_sqlite_variables_are_read_in_pages(tmp_path):
    n = 33_000  # Chroma binds each id a `get` returns: SQLite refuses more than 32,766
    store = ChromaStore(Settings(home=tmp_path / "home"))
    add_tiny_articles(store, n)
    assert store.stats()["articles"] == n
    # The second read catches up on the records stamped lately: all of them.
    assert store.stats() | {"last_updated": None} == {"articles": n, "chunks": 0, "sentences": n, "last_updated": None}
    assert len(store.versions(None)) == n
    assert len(store.sentences_by_speaker(["quill"])) == n
    assert store.sweep() == 0
    found = store.check()
    assert found["articles"] == n and found["sentences"] == n and found["damaged"] == {}


# -- a running server beside a `qa ingest` (issues 24 and 25) ------------------------------------

# The target: a server running beside an ingest answers about the new articles within 1 s of the
# ingest's end. The figure is measured from the moment the ingest process exits (taken by a thread
# blocked on it, so it is exact) to the moment the server's answer that holds the new article
# arrives. The question in flight when the ingest ends cannot see it, so up to two questions' round
# trips fall in that second; TOLERANCE is for a shared 2-core machine, where one HTTP question can
# take a few tenths of a second more than on a quiet one. The measured figure is in the failure
# message (and benchmarks/two_writers.py prints it for 20 trials, without tolerance).
WITHIN_S = 1.0
TOLERANCE_S = 0.5


def test_a_running_server_answers_about_an_article_another_process_ingests(tmp_path):
    """`qa serve` (one process) and `qa ingest` of a new article (another) on one QA_HOME: every question
    the server is asked meanwhile is answered, and it answers about the new article at its next question,
    within 1 s of the ingest's end, without a restart."""
    import threading

    from conftest import SAMPLE, running_chat
    from gradio_client import Client

    home = tmp_path / "home"
    seeded = qa(home, "ingest", str(SAMPLE))
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    new = tmp_path / "new"
    new.mkdir()
    (new / "zeppelin.txt").write_text(ZEPPELIN)
    question = "Where did the airship Graf Aurora land?"

    def asked(client) -> dict:
        entry = {"asked": time.monotonic()}
        try:
            answer = client.predict(question, api_name="/ask")
            entry["found"] = any(c["title"] == "Zeppelin lands in Lisbon" for c in answer["citations"])
            entry["lisbon"] = "Lisbon" in answer["answer"]
        except Exception as exc:  # the test fails on any error: the server must never fail meanwhile
            entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["answered"] = time.monotonic()
        return entry

    with running_chat(home) as url:
        client = Client(url, verbose=False)
        before = asked(client)
        assert "error" not in before and not before["found"], before
        writer = start(home, "ingest", str(new))
        ended: dict[str, float] = {}

        said: dict[str, str] = {}

        def wait_for_the_writer() -> None:
            said["out"], said["err"] = writer.communicate()  # reads its pipes, so it never blocks on them
            ended["at"] = time.monotonic()

        watcher = threading.Thread(target=wait_for_the_writer)
        watcher.start()
        log = []
        deadline = time.monotonic() + 300
        # Ask over and over while the other process writes, and on after it ends until a question asked
        # after its end has been answered (or well past the target, to report the figure).
        while time.monotonic() < deadline:
            log.append(asked(client))
            if "at" in ended and (log[-1]["asked"] >= ended["at"] or time.monotonic() > ended["at"] + 30):
                break
        watcher.join(timeout=60)
        assert writer.returncode == 0, said.get("err", "")[-3000:]
        assert said["out"].strip().splitlines()[-1] == "added 1, updated 0, unchanged 0, failed 0", said["out"]

    end = ended["at"]
    failures = [e for e in log if "error" in e]
    assert not failures, f"{len(failures)} of {len(log)} questions failed beside the ingest, e.g. {failures[0]}"
    during = [e for e in log if e["asked"] < end]
    after = [e for e in log if e["asked"] >= end]
    assert during, "no question was asked while the other process was ingesting"
    assert after and all(e["found"] and e["lisbon"] for e in after), after
    first = next(e for e in log if e["found"])
    took = first["answered"] - end
    print(f"answered about the new article {took:+.2f} s after the ingest ended")  # shown with -s
    assert took <= WITHIN_S + TOLERANCE_S, (
        f"the server answered about the new article {took:.2f} s after the ingest ended "
        f"(target {WITHIN_S} s; {len(during)} questions asked during the ingest)"
    )
