"""Ingest into a real embedded Chroma with the real model: incremental, updates, prune, bad input, crashes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.store import ChromaStore, StoreError


def row_versions(store: ChromaStore, role: str) -> set[str]:
    collection = getattr(store, f"_{role}")
    return {m["version"] for m in collection.get(include=["metadatas"])["metadatas"]}


def test_second_ingest_of_the_same_files_adds_nothing(service, corpus):
    first = service.ingest([corpus])
    assert (len(first.added), first.failed) == (1, 0)
    counts = service.stats()
    assert counts["articles"] == 1 and counts["chunks"] > 5 and counts["sentences"] > counts["chunks"]
    again = service.ingest([corpus])
    assert (again.added, again.updated, len(again.unchanged)) == ([], [], 1)
    assert again.summary() == "added 0, updated 0, unchanged 1, failed 0"
    assert service.stats() == counts


def test_changed_article_replaces_its_rows(service, corpus):
    path = next(corpus.iterdir())
    service.ingest([corpus])
    (article_id,) = service.store.versions(None)
    old_version = service.store.versions([article_id])[article_id]
    path.write_text(path.read_text() + "\n\nPeskov later said the talks went well.\n")
    report = service.ingest([corpus])
    assert report.updated == [article_id]
    new_version = service.store.versions([article_id])[article_id]
    assert new_version != old_version
    assert row_versions(service.store, "chunks") == {new_version}
    assert row_versions(service.store, "sentences") == {new_version}
    assert service.articles([article_id])[0].text.endswith("Peskov later said the talks went well.")


def test_prune_drops_articles_whose_files_are_gone_under_the_given_paths(service, corpus, tmp_path):
    (corpus / "second.md").write_text("# Second\n\nA second article about Moscow.\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "third.txt").write_text("A third article, ingested from elsewhere.\n")
    service.ingest([corpus, elsewhere])
    ids = set(service.store.article_paths())
    assert len(ids) == 3
    (corpus / "second.md").unlink()
    without_prune = service.ingest([corpus])
    assert without_prune.pruned == [] and service.stats()["articles"] == 3
    report = service.ingest([corpus], prune=True)
    assert len(report.pruned) == 1 and report.pruned[0].startswith("second-")
    assert report.summary().endswith("pruned 1")
    remaining = service.store.article_paths()
    assert sorted(p.rsplit("/", 1)[-1] for p in remaining.values()) == ["third.txt", "xi-moscow-2023-03-20.txt"]
    assert all(m["article_id"] in remaining for m in service.store._chunks.get(include=["metadatas"])["metadatas"])


def test_bad_input_is_reported_and_nothing_stored_is_lost(service, corpus):
    path = next(corpus.iterdir())
    service.ingest([corpus])
    (article,) = service.articles(list(service.store.versions(None)))
    counts = service.stats()
    path.write_bytes(b"\x00\x01binary now")
    (corpus / "feed.jsonl").write_text(
        json.dumps({"id": "ok", "title": "Fine", "text": "A fine line."}) + "\n{broken\n"
    )
    report = service.ingest([corpus], prune=True)
    assert report.failed == 2
    assert report.errors[0] == f"{corpus / 'feed.jsonl'}:2: invalid JSON (Expecting property name enclosed in double quotes at column 2)"
    assert report.errors[1].startswith(f"{path}: binary file")
    assert report.added == ["ok"] and report.pruned == []
    (kept,) = service.articles([article.id])
    assert kept.text == article.text
    assert service.stats()["chunks"] > counts["chunks"]  # the good article went in beside it


def test_rows_of_an_interrupted_write_are_invisible_and_swept(service, corpus):
    service.ingest([corpus])
    store = service.store
    (article_id,) = store.versions(None)
    good = store._chunks.get(include=["metadatas", "documents", "embeddings"], limit=1)
    # What a crash between "write new rows" and "commit the article record" leaves behind.
    stale_meta = dict(good["metadatas"][0], version="crashed")
    store._chunks.upsert(
        ids=["stale-chunk"], embeddings=np.asarray(good["embeddings"]), documents=["stale"], metadatas=[stale_meta]
    )
    vector = np.asarray(good["embeddings"][0])
    assert "stale-chunk" not in [p.chunk_id for p in store.search_chunks(vector, k=50)]
    assert store.get_chunks(["stale-chunk"]) == []
    assert store.sweep() == 1
    assert store._chunks.get(ids=["stale-chunk"])["ids"] == []
    assert store.versions([article_id])[article_id] != "crashed"


def test_index_refuses_a_different_embedding_model(service, corpus):
    service.ingest([corpus])
    with pytest.raises(StoreError, match="all-MiniLM-L6-v2.*some/other-model"):
        service.store.bind_model("some/other-model", 768)


def test_prune_keeps_the_articles_of_a_file_that_cannot_be_read_now(service, corpus):
    import os

    path = next(corpus.iterdir())
    service.ingest([corpus])
    path.unlink()
    os.mkfifo(path)  # the file is there, but it is no article file any more
    report = service.ingest([corpus], prune=True)
    assert report.pruned == [] and service.stats()["articles"] == 1
    assert any(path.name in e for e in report.errors)
