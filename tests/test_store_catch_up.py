"""What the store keeps of every article (ChromaStore._article_facts) follows the writes without reading
every record again at each use (issue 24: `people()` took 10 s of CPU at 50,000 articles after a re-date
of every article, which stamps every record at once), and the rows of "What did X say?" are made as before."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
from conftest import cli_env
from test_storage import small_corpus, write_articles  # noqa: F401  (the fixture, and the articles it writes)


def _window_reads(monkeypatch) -> list[str]:
    """The ids of the article records the store's catch-up reads (its `where indexed_ns …` pages), from now on."""
    import index.store as store_module

    read: list[str] = []
    pages = store_module._pages

    def counted(collection, page=store_module.PAGE_ROWS, **query):
        for got in pages(collection, page, **query):
            if "indexed_ns" in str(query.get("where")):
                read.extend(got["ids"])
            yield got

    monkeypatch.setattr(store_module, "_pages", counted)
    return read


def test_the_catch_up_window_is_read_once_per_store_generation_and_still_catches_every_write(
    service, small_corpus, monkeypatch  # noqa: F811
):
    """Every record here is stamped within CATCH_UP_MARGIN_NS of the newest, as after a whole re-date. While
    no writer of QA_HOME writes (the store's generation holds), a use of the records reads none of them
    again; only records stamped after the newest seen. A write (a new generation) reads the window once:
    a record landing late, stamped before the newest seen, is still caught; a raw write stamped now is
    caught without one; a delete by the count. Each time the same as a fresh store reads."""
    from index.store import ChromaStore

    service.ingest([small_corpus])
    store = service.store
    stored = store.versions(None)  # the full read
    read = _window_reads(monkeypatch)
    for _ in range(5):
        assert store.versions(None) == stored
        store.sources(), store.article_facts(), store.known_roles()
    assert read == []  # was every record at each of these calls

    # A write of this process (a new generation): the window is read once, then not again.
    service.add_text("Harbour opens", "The harbour of Dunmore opened on Monday, the mayor said.", source="Paste Wire")
    assert "Paste Wire" in store.sources()
    read.clear()
    store.versions(None), store.sources()
    assert read == []

    # A writer of QA_HOME whose record lands late: stamped before the newest this store has seen.
    other = ChromaStore(service.settings)
    first = sorted(stored)[0]
    record = other._articles.get(ids=[first], include=["metadatas", "embeddings", "documents"])
    newest = max(m["indexed_ns"] for m in other._articles.get(include=["metadatas"])["metadatas"])
    late = dict(record["metadatas"][0], source="Late Wire", indexed_ns=newest - 10**9)
    with other.access.writing():
        other.access.changed()
        other._articles.upsert(ids=["landed-late"], embeddings=np.asarray(record["embeddings"]),
                               documents=record["documents"], metadatas=[late])
    assert "Late Wire" in store.sources() and "landed-late" in store.versions(None)
    # A raw write behind its back (no generation bumped), stamped now: caught by its stamp alone.
    now = dict(record["metadatas"][0], source="Other Wire", indexed_ns=time.time_ns())
    other._articles.upsert(ids=["from-another-writer"], embeddings=np.asarray(record["embeddings"]),
                           documents=record["documents"], metadatas=[now])
    assert "Other Wire" in store.sources()
    other._articles.delete(ids=[sorted(stored)[1]])
    assert store.versions(None) == ChromaStore(service.settings).versions(None)
    assert store.article_facts() == ChromaStore(service.settings).article_facts()


def test_people_after_every_article_is_restamped_reads_the_records_once(service, tmp_path, monkeypatch):
    """A write that stamps every record (a re-date of every article): the next `people()` reads the records of
    the window once, not at each of its uses of them, nor again at the next call."""
    folder = tmp_path / "reports"
    write_articles(folder, 6)
    service.ingest([folder])
    service.people()
    store = service.store
    ids = sorted(store.versions(None))
    restamp = (  # another process, as a writer of QA_HOME: under the write lock, the generation bumped
        "import sys, time\nfrom pathlib import Path\nfrom index.store import ChromaStore\nfrom qa.settings import Settings\n"
        "store = ChromaStore(Settings(home=Path(sys.argv[1])))\nids = sys.argv[2:]\n"
        "with store.access.writing():\n    store.access.changed()\n"
        "    store._articles.update(ids=ids, metadatas=[{'indexed_ns': time.time_ns()}] * len(ids))\n"
    )
    done = subprocess.run([sys.executable, "-c", restamp, str(service.settings.home), *ids], capture_output=True,
                          text=True, timeout=300, env=cli_env(service.settings.home))
    assert done.returncode == 0, done.stderr[-3000:]
    read = _window_reads(monkeypatch)
    before = service.people()
    assert len(read) <= len(ids)  # at most one read of the window (was one per use of the records: 3 here)
    read.clear()
    assert service.people() == before and store.versions(None) and read == []


def test_a_speakers_rows_are_made_as_a_passage_of_the_sentence_alone():
    """`statement` (the rows of "What did X say?", made without copying each row's metadata, its entities
    shared with other rows that have the same) is `_sentence` and `_passage` of the row's metadata with
    `sentence_ids` the sentence's own id."""
    from index.store import _passage, _sentence, statement
    from qa.types import Entity

    meta = {"article_id": "a1", "index": 2, "start": 10, "end": 40, "chunk_id": "a1:v:c0", "speakers": ["Mara Quill"],
            "speaker_keys": ["mara", "quill"], "mentions": ["Mara Quill"], "mention_keys": ["mara", "quill"],
            "entities": "PERSON,10,20;CARDINAL,31,33", "title": "T", "published": "2023-04-01", "source": "S",
            "version": "v", "sentence_ids": "a1:v:s0,a1:v:s1", "duplicate_of": "a0", "dates_first_day": 20230401,
            "dates_last_day": 20230402}
    sentence, passage = statement("a1:v:s2", meta, "Mara Quill said so, 12 times.")
    assert sentence == _sentence("a1:v:s2", meta, "Mara Quill said so, 12 times.")
    assert passage == _passage("a1:v:c0", meta | {"sentence_ids": "a1:v:s2"}, "Mara Quill said so, 12 times.", 0.0)
    assert passage.sentence_ids == ("a1:v:s2",) and passage.duplicate_of == "a0"
    assert sentence.entities == (Entity("PERSON", 10, 20), Entity("CARDINAL", 31, 33))
    assert sentence.dated == ("2023-04-01", "2023-04-02") and sentence.speaker_keys == ("mara", "quill")
    again, _ = statement("a1:v:s3", meta | {"entities": ""}, "x")
    assert again.entities == () and statement("a1:v:s2", meta, "Mara Quill said so, 12 times.")[0] == sentence
