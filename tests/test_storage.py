"""Storage faults on real disks: a write killed at each step, a read-only QA_HOME, a full disk.

Each fault must end in one line naming the cause and the folder, and the next plain run must
leave the store exactly as a clean ingest would. Kills happen in a separate `qa` process (the
`QA_TEST_CRASH_AT` hook in index/store.py ends it with os._exit at the chosen step, as kill -9
would); the store is then inspected by `benchmarks/crash_trials.py --probe` in a fresh process,
so this process never holds open a store another process writes. Read-only and full disks are
real tmpfs mounts (tests run as root); where mounting is not permitted those tests are skipped.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import QA, ROOT, SAMPLE, cli_env

from index.store import StoreError
from qa.settings import Settings

PROBE = ROOT / "benchmarks" / "crash_trials.py"

TOWNS = ["Aldergate", "Brookmere", "Calder Vale", "Dunmore", "Eastwick", "Fenwick", "Glenrose", "Harrowby"]
PEOPLE = ["Mara Quill", "Tobias Renn", "Ines Halloway", "Piet Vandermeer", "Sora Ikeda", "Lena Brask"]
THINGS = ["bridges", "schools", "bus lines", "clinics", "parks", "water mains", "libraries", "ferries"]


def write_articles(folder: Path, count: int, seed: int = 0, revision: str = "") -> list[Path]:
    """`count` small, distinct news articles as .txt files (dated, sourced, with quoted speakers)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        town, person, other = rng.choice(TOWNS), rng.choice(PEOPLE), rng.choice(PEOPLE)
        things = rng.sample(THINGS, 3)
        sentences = [
            f"The council of {town} approved a budget of {rng.randint(20, 900)} million euros on Monday.",
            f"Mayor {person} said the money would repair {rng.randint(2, 60)} {things[0]} before winter.",
            f"Critics warned that the plan left out the {rng.choice(['north', 'river', 'old', 'harbour'])} district.",
            f"{other} told reporters that {rng.randint(100, 9000)} families still wait for new {things[1]}.",
            f"The vote passed by {rng.randint(11, 30)} to {rng.randint(1, 10)} after {rng.randint(2, 9)} hours.",
            f"Work on the {things[2]} is due to start in {rng.choice(['March', 'May', 'June', 'October'])}.",
        ]
        rng.shuffle(sentences)
        body = " ".join(sentences[:3]) + "\n\n" + " ".join(sentences[3:]) + (f"\n\n{revision}" if revision else "")
        path = folder / f"report-{i:03d}.txt"
        path.write_text(f"Title: {town} report {i}\nDate: 2023-04-{i % 28 + 1:02d}\nSource: Test Wire\n\n{body}\n")
        paths.append(path)
    return paths


def probe(home: Path) -> dict:
    """The store in `home` as a fresh process reads it (see benchmarks/crash_trials.py)."""
    done = subprocess.run(
        [sys.executable, str(PROBE), "--probe", str(home)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def counts(stats: dict) -> dict:
    return {k: stats[k] for k in ("articles", "chunks", "sentences")}


def qa(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(QA), *args], env=cli_env(home, **env), capture_output=True, text=True, timeout=600)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The stderr of a command that failed cleanly: exit code 1, one `Error:` line, no traceback."""
    assert done.returncode == 1, (done.returncode, done.stderr[-3000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr[-3000:]
    return lines[0]


def stale_row(store, role: str, article_id: str, version: str) -> str:
    """Add one row to `role` for `article_id` under `version`, as an interrupted write leaves it."""
    collection = getattr(store, f"_{role}")
    model = collection.get(include=["metadatas", "embeddings"], limit=1)
    row_id = f"stale-{uuid.uuid4().hex[:8]}"
    meta = dict(model["metadatas"][0], article_id=article_id, version=version)
    collection.upsert(ids=[row_id], embeddings=np.asarray(model["embeddings"]), documents=["stale"], metadatas=[meta])
    return row_id


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    folder = tmp_path / "articles"
    write_articles(folder, 5)
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    return folder


# -- stale rows: counted out, swept by every ingest ------------------------------------------


def test_stats_count_live_rows_only_and_sweep_takes_the_articles_it_is_given(service, small_corpus):
    service.ingest([small_corpus])
    store = service.store
    clean = service.stats()
    raw = {role: getattr(store, f"_{role}").count() for role in ("chunks", "sentences")}
    assert counts(clean) == {"articles": 6, **raw}
    first, second = sorted(store.versions(None))[:2]
    # What a crash leaves: rows of an old version, and rows of an article whose record never came.
    for role in ("chunks", "sentences"):
        stale_row(store, role, first, "old-version")
        stale_row(store, role, "never-committed", "v1")
    assert store._chunks.count() == raw["chunks"] + 2
    assert service.stats() == clean
    # Records written before the counts were kept in them are counted from their live rows.
    store._articles.update(ids=[second], metadatas=[{"sentences": None, "chunks": None}])
    assert "sentences" not in store._articles.get(ids=[second])["metadatas"][0]
    assert service.stats() == clean
    assert store.sweep([second]) == 0
    assert store.sweep([first, "never-committed"]) == 4
    assert {role: getattr(store, f"_{role}").count() for role in ("chunks", "sentences")} == raw
    assert service.stats() == clean


def test_a_plain_ingest_sweeps_what_a_crash_left_of_unchanged_articles(service, small_corpus):
    service.ingest([small_corpus])
    store = service.store
    clean = service.stats()
    article_id = sorted(store.versions(None))[0]
    left = [stale_row(store, "chunks", article_id, "old-version"), stale_row(store, "sentences", article_id, "x")]
    report = service.ingest([small_corpus])
    assert (report.added, report.updated, len(report.unchanged)) == ([], [], 6)
    assert store._chunks.get(ids=left)["ids"] == [] and store._sentences.get(ids=left)["ids"] == []
    assert counts(service.stats()) == counts(clean) and store._chunks.count() == clean["chunks"]


# -- what the store keeps in memory of every article -----------------------------------------


def test_what_the_store_keeps_of_every_article_follows_every_write(service, small_corpus, tmp_path):
    """Ingest reads every article record once per process, then only what was written since
    (ChromaStore._article_facts): stats, sources, versions and signatures must still be what a
    fresh store reads, after this process's writes and after another writer's."""
    from index.store import ChromaStore

    def fresh() -> ChromaStore:
        return ChromaStore(service.settings)  # a second client of the same folder reads it all again

    service.ingest([small_corpus])
    store = service.store
    assert store.stats() == fresh().stats()  # read in full here
    # This process's own writes: an added article, an update, a delete.
    service.add_text("Harbour opens", "The harbour of Dunmore opened on Monday, the mayor said.", source="Paste Wire")
    write_articles(small_corpus, 5, revision="The council meets again next week.")
    service.ingest([small_corpus])
    store.delete_articles([i for i, path in store.article_paths().items() if path.endswith("report-000.txt")])
    reference = fresh()
    assert store.stats() == reference.stats()
    assert store.sources() == reference.sources() and "Paste Wire" in store.sources()
    assert store.versions(None) == reference.versions(None)
    assert store.signatures() == reference.signatures()
    assert store.known_roles() == reference.known_roles()
    # Another writer's: a record written (stamped) and one deleted behind this store's back.
    other = fresh()
    first, second = sorted(other.versions(None))[:2]
    record = other._articles.get(ids=[first], include=["metadatas", "embeddings", "documents"])
    meta = dict(record["metadatas"][0], source="Other Wire", indexed_ns=time.time_ns())
    other._articles.upsert(ids=["from-another-writer"], embeddings=np.asarray(record["embeddings"]),
                           documents=record["documents"], metadatas=[meta])
    assert "Other Wire" in store.sources()  # caught up by its stamp
    other._articles.delete(ids=[second])
    assert store.versions(None) == other.versions(None) and second not in store.versions(None)  # by the count


def test_sentences_read_by_id_are_kept_only_until_another_process_writes(service, small_corpus, tmp_path):
    """A question's candidate sentences are kept in memory (index.store.RowCache) for the store's
    generation: served again without a read while nothing was written, dropped when a `qa` writer in
    another process bumps the generation."""
    from index.store import ChromaStore

    service.ingest([small_corpus])
    store = service.store
    vector = np.asarray(service.embedder.embed_query("What did the harbour master say?"), dtype=np.float32)
    ids = [i for i, _, _ in store.search_sentences(vector, 5)]
    read, vectors = store.get_sentences(ids)
    assert [s.id for s in read] == ids and vectors.shape == (5, 384)
    # A raw Chroma delete bumps no generation (only qa's writers do): the kept rows are still served.
    ChromaStore(service.settings)._sentences.delete(ids=ids)
    kept, kept_vectors = store.get_sentences(ids)
    assert kept == read and np.array_equal(kept_vectors, vectors)
    # A real writer in another process: the generation moves, and the rows are read again (gone now).
    new = tmp_path / "new"
    write_articles(new, 1, seed=9)
    done = qa(service.settings.home, "ingest", str(new))
    assert done.returncode == 0, done.stderr[-3000:]
    assert store.get_sentences(ids)[0] == []


def test_copies_are_found_by_the_duplicate_finder_kept_between_ingests(service, small_corpus, tmp_path):
    from index.store import ChromaStore

    service.ingest([small_corpus])
    original = min(small_corpus.glob("report-*.txt"))
    copies = tmp_path / "copies"
    copies.mkdir()
    # One ingest after the other in one process: the second reuses the finder the first built,
    # and must know the first copy (which it took in itself) as well as the stored articles.
    for n in (1, 2):
        copy = copies / f"copy-{n}.txt"
        copy.write_text(original.read_text().replace("Source: Test Wire", f"Source: Copy Wire {n}"))
        assert len(service.ingest([copy]).added) == 1
    paths = {Path(path).name: article_id for article_id, path in service.store.article_paths().items()}
    signatures = service.store.signatures()
    assert signatures[paths["copy-1.txt"]][1] == signatures[paths["copy-2.txt"]][1] == paths[original.name]
    assert signatures == ChromaStore(service.settings).signatures()


# -- a write killed at each step ------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "crash_at"),
    [
        ("first", "after-rows"),  # new rows written, no article record yet: rows of uncommitted articles
        ("changed", "after-commit"),  # new records committed, old rows not yet deleted: the stale rows
    ],
)
def test_an_ingest_killed_mid_write_is_made_whole_by_the_next_plain_ingest(
    run, crash_at, make_service, tmp_path, small_corpus
):
    home = tmp_path / "home"
    if run == "changed":
        make_service(Settings(home=home)).ingest([small_corpus])  # the store before the change
        write_articles(small_corpus, 5, revision="The council meets again next week.")
    reference = make_service(Settings(home=tmp_path / "reference"))
    reference.ingest([small_corpus])  # what a clean ingest of the same files gives

    crashed = qa(home, "ingest", str(small_corpus), QA_TEST_CRASH_AT=crash_at)
    assert crashed.returncode == 137, crashed.stderr[-3000:]
    left = probe(home)
    assert sum(left["stale"].values()) > 0  # the kill did leave rows behind
    assert not any(left["misquoted"].values())
    # What `qa stats` says counts live rows only (the kill left more rows than that).
    stats = json.loads(qa(home, "stats", "--json").stdout)
    assert counts(stats) == counts(left["stats"])
    assert stats["chunks"] + stats["sentences"] < left["raw"]["chunks"] + left["raw"]["sentences"]
    # The BM25 index is missing (first run) or stale (changed run): asking still works, quoting exactly.
    asked = qa(home, "ask", "--json", "What did Peskov say?")
    assert asked.returncode == 0, asked.stderr[-3000:]
    answer = json.loads(asked.stdout)
    assert all(left["texts"][c["article_id"]][c["start"] : c["end"]] == c["quote"] for c in answer["citations"])
    assert answer["abstained"] == (run == "first")  # killed before any article was committed

    rerun = qa(home, "ingest", str(small_corpus))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    if run == "changed":  # every article was committed before the kill: all unchanged, yet swept
        assert rerun.stdout.strip().splitlines()[-1] == "added 0, updated 0, unchanged 6, failed 0"
    final = probe(home)
    assert counts(final["stats"]) == counts(reference.stats())
    assert final["raw"] == {"chunks": final["stats"]["chunks"], "sentences": final["stats"]["sentences"]}
    assert final["stale"] == {"chunks": 0, "sentences": 0} and final["misquoted"] == {"chunks": 0, "sentences": 0}


# -- read-only and full disks (real tmpfs mounts) ----------------------------------------------


@pytest.fixture
def mount_tmpfs(tmp_path):
    """mount(size_mb) -> a fresh tmpfs folder; unmounted afterwards. Skips where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(size_mb: int) -> Path:
        folder = tmp_path / f"mnt{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root, or a container allowing mount): {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True)


def test_a_read_only_home_answers_and_refuses_writes_in_one_line(make_service, mount_tmpfs, tmp_path, small_corpus):
    built = tmp_path / "built"
    service = make_service(Settings(home=built))
    service.ingest([small_corpus])
    clean = service.stats()
    expected = service.ask("What did Peskov say?")
    mount = mount_tmpfs(64)
    shutil.copytree(built, mount / "home")
    remount(mount, "ro")
    home = mount / "home"

    reader = make_service(Settings(home=home))
    assert counts(reader.stats()) == counts(clean)
    assert "read-only" in reader.location
    answer = reader.ask("What did Peskov say?")
    assert [c.quote for c in answer.citations] == [c.quote for c in expected.citations] != []
    (article,) = reader.articles([answer.citations[0].article_id])
    assert all(article.text[c.start : c.end] == c.quote for c in answer.citations if c.article_id == article.id)
    assert reader.ingest([small_corpus]).summary().startswith("added 0, updated 0, unchanged 6")
    (small_corpus / "report-000.txt").write_text("Title: Changed\n\nThe report was rewritten on Tuesday.\n")
    with pytest.raises(StoreError, match=f"the folder {home / 'chroma'} is read-only"):
        reader.ingest([small_corpus])

    line = one_line_error(qa(home, "ingest", str(small_corpus)))
    assert line.startswith(f"Error: the folder {home / 'chroma'} is read-only")
    stats = qa(home, "stats", "--json")
    assert stats.returncode == 0, stats.stderr[-3000:]
    assert counts(json.loads(stats.stdout)) == counts(clean)
    shown = qa(home, "article", "--json", article.id)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert json.loads(shown.stdout)[0]["text"] == article.text


def test_a_full_disk_is_named_in_one_line_and_the_next_run_recovers(make_service, mount_tmpfs, tmp_path, corpus):
    articles = tmp_path / "articles"
    write_articles(articles, 40, seed=2)
    reference = make_service(Settings(home=tmp_path / "reference"))
    reference.ingest([corpus, articles])
    mount = mount_tmpfs(2)  # room for the sample article, not for 40 more
    home = mount / "home"
    service = make_service(Settings(home=home))
    service.ingest([corpus])
    kept = service.stats()
    with pytest.raises(StoreError, match=rf"^the disk holding {mount / 'home' / 'chroma'} is full \(\d+\.\d MB free\)"):
        service.ingest([articles])
    assert service.stats()["articles"] >= kept["articles"] == 1  # what was stored before is kept
    # While the disk is full, a new command answers, or fails in one line naming the full disk.
    for command in (["stats"], ["ask", "What did Peskov say?"]):
        done = qa(home, *command)
        if done.returncode != 0:
            assert f"the disk holding {home / 'chroma'} is full" in one_line_error(done)
        else:
            assert "Traceback" not in done.stderr

    remount(mount, "size=200m")  # space freed
    rerun = qa(home, "ingest", str(corpus), str(articles))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    final = probe(home)
    assert counts(final["stats"]) == counts(reference.stats())
    assert final["stale"] == {"chunks": 0, "sentences": 0} and final["misquoted"] == {"chunks": 0, "sentences": 0}


def test_the_sentences_with_speakers_of_some_articles_are_read_with_their_texts(service, small_corpus):
    """What the statement file beside the store (qa/people.py) is made from: every sentence of the given
    articles that has speakers, with its metadata and text, as the store's other reads give them."""
    service.ingest([small_corpus])
    store = service.store
    facts = store.article_facts()
    some = sorted(facts)[:3]
    rows = store.sentences_with_speakers(some)
    assert rows and {m["article_id"] for _, m, _ in rows} <= set(some)
    assert sorted((m["article_id"], tuple(m["speakers"])) for _, m, _ in rows) == sorted(
        (a, s) for a, s in store.speaker_rows() if a in some)
    sentences, _ = store.get_sentences([i for i, _, _ in rows])
    assert [(s.id, s.text, s.speakers) for s in sentences] == [(i, d, tuple(m["speakers"])) for i, m, d in rows]

