"""The BM25 index changed in place: every state equals a full rebuild, saved deltas replay, leftovers go."""

from __future__ import annotations

import json

import pytest

import index.lexical as lexical
from index.lexical import BM25Index, fingerprint
from qa.types import Filters, Passage

WORDS = "harbour crane zeppelin Lisbon Porto summit Geneva budget minister river bridge storm".split()


def passage(article: str, n: int, text: str, source: str = "Wire", published: str | None = "2023-03-01") -> Passage:
    return Passage(article, f"{article}:v1:c{n}", 0, len(text), 0.0, text, article, published, source)


def article(name: str, seed: int, source: str = "Wire", published: str | None = "2023-03-01") -> list[Passage]:
    """Three chunks of varied words, so document frequencies and lengths differ between articles."""
    return [
        passage(name, n, " ".join(WORDS[(seed * 3 + n * 5 + i * i) % len(WORDS)] for i in range(4 + seed % 5 + n)),
                source, published)
        for n in range(3)
    ]


QUERIES = ["zeppelin", "harbour crane", "Geneva summit budget", "storm over the river bridge", "Porto"]


def results(index: BM25Index, filters: Filters | None = None) -> list[list[tuple[str, float]]]:
    return [[(c, round(s, 5)) for c, s in index.search(q, 50, filters)] for q in QUERIES]


def rebuilt(tmp_path, passages: list[Passage]) -> BM25Index:
    fresh = BM25Index(tmp_path / "rebuilt")
    fresh.build(passages, "x")
    return fresh


def test_changes_in_place_score_as_a_full_rebuild_and_survive_a_reload(tmp_path):
    articles = {f"a{i}": article(f"a{i}", i) for i in range(6)}
    index = BM25Index(tmp_path / "bm25")
    index.build([p for name in ("a0", "a1", "a2") for p in articles[name]], "one")
    index.apply(remove=["a1"], add=articles["a3"] + articles["a4"], versions={}, store_fingerprint="two")
    index.apply(remove=["a0"], add=articles["a5"], versions={"a2": "v1"}, store_fingerprint="three")

    live = [p for name in ("a2", "a3", "a4", "a5") for p in articles[name]]
    assert len(index) == len(live)
    expected = rebuilt(tmp_path, live)
    assert results(index) == results(expected)
    assert any(results(index))  # the queries do find something
    assert results(index, Filters(("Wire",), "2023-01-01")) == results(expected, Filters(("Wire",), "2023-01-01"))

    # Saved as a main segment and two deltas; a new process replays them.
    manifest = json.loads((tmp_path / "bm25" / "manifest.json").read_text())
    assert len(manifest["deltas"]) == 2 and manifest["fingerprint"] == "three"
    reopened = BM25Index(tmp_path / "bm25")
    assert reopened.load() and reopened.fingerprint == "three" and reopened.versions == {"a2": "v1"}
    assert results(reopened) == results(expected)


def test_deltas_are_merged_into_a_new_main_segment(tmp_path, monkeypatch):
    monkeypatch.setattr(lexical, "MERGE_MIN_DOCS", 2)
    articles = {f"a{i}": article(f"a{i}", i) for i in range(4)}
    index = BM25Index(tmp_path / "bm25")
    index.build(articles["a0"] + articles["a1"], "one")
    old_main = json.loads((tmp_path / "bm25" / "manifest.json").read_text())["main"]
    index.apply(remove=["a0"], add=articles["a2"] + articles["a3"], versions={}, store_fingerprint="two")

    manifest = json.loads((tmp_path / "bm25" / "manifest.json").read_text())
    assert manifest["deltas"] == [] and manifest["main"] != old_main
    assert sorted(p.name for p in (tmp_path / "bm25").iterdir()) == sorted(["manifest.json", manifest["main"]])
    live = articles["a1"] + articles["a2"] + articles["a3"]
    assert results(index) == results(rebuilt(tmp_path, live))
    reopened = BM25Index(tmp_path / "bm25")
    assert reopened.load() and results(reopened) == results(index)


def test_a_write_cut_short_leaves_the_saved_index_as_it_was(tmp_path):
    index = BM25Index(tmp_path / "bm25")
    index.build(article("a0", 0), "one")
    before = results(index)
    # A delta written but never named by the manifest (the process died in between) is ignored.
    (tmp_path / "bm25" / "delta-orphan.json").write_text('{"remove": ["a0"], "chunks": [], "terms": []}')
    reopened = BM25Index(tmp_path / "bm25")
    assert reopened.load() and results(reopened) == before
    reopened.apply(remove=[], add=article("a1", 1), versions={}, store_fingerprint="two")
    assert not (tmp_path / "bm25" / "delta-orphan.json").exists()


def test_an_old_or_unreadable_index_is_not_loaded(tmp_path):
    folder = tmp_path / "bm25"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"fingerprint": "x", "chunks": []}))  # bm25s format
    assert BM25Index(folder).load() is False
    (folder / "manifest.json").write_text("{not json")
    assert BM25Index(folder).load() is False


def test_sync_applies_only_what_changed_in_the_store(service, two_articles, tmp_path):
    folder = two_articles
    service.ingest([folder])
    saved = service.settings.lexical_path
    main = json.loads((saved / "manifest.json").read_text())["main"]

    (folder / "c.txt").write_text("Title: C\n\nThe zeppelin left Porto on Friday.\n")
    service.ingest([folder])
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["main"] == main and len(manifest["deltas"]) == 1  # added as a delta, nothing rebuilt
    assert manifest["fingerprint"] == fingerprint(service.store.versions(None))
    assert len(service.lexical.search("zeppelin", 5)) == 2
    expected = BM25Index(tmp_path / "rebuilt")
    expected.build(list(service.all_passages()), "x")
    assert sorted(service.lexical.search("zeppelin Porto harbour", 5)) == sorted(
        expected.search("zeppelin Porto harbour", 5)
    )

    # Told what changed, it reads only those articles' versions, and ends at the same fingerprint.
    gone = [a for a, path in service.store.article_paths().items() if path.endswith("a.txt")]
    service.store.delete_articles(gone)
    assert service.lexical.sync(service.store, changed=gone) is True
    assert service.lexical.fingerprint == fingerprint(service.store.versions(None))
    assert [c for c, _ in service.lexical.search("zeppelin", 5)] == [
        p.chunk_id for p in service.all_passages() if "zeppelin" in p.text
    ]
    assert service.lexical.sync(service.store, changed=gone) is False  # nothing left to do
    assert service.lexical.sync(service.store) is False  # and a full comparison agrees


@pytest.mark.parametrize("filters", [Filters(("Daily",)), Filters(since="2023-03-05"), Filters(until="2023-03-05")])
def test_filters_match_filters_allows(tmp_path, filters):
    passages = (
        article("a0", 0, "Wire", "2023-03-01") + article("a1", 1, "Daily", "2023-03-10") + article("a2", 2, "Daily", None)
    )
    index = rebuilt(tmp_path, passages)
    allowed = {p.chunk_id for p in passages if filters.allows(p.source, p.published)}
    found = {c for q in QUERIES for c, _ in index.search(q, 50, filters)}
    assert found and found <= allowed
