"""Hybrid retrieval: BM25 kept in step with Chroma (ingest, update, prune, crash), names found, filters."""

from __future__ import annotations

import json

from index.lexical import BM25Index, fingerprint
from qa.types import Filters


def write_articles(path, *articles: dict):
    path.write_text("\n".join(json.dumps(a) for a in articles) + "\n", encoding="utf-8")
    return path


def chunk_texts(service, ids):
    return [p.text for p in service.store.get_chunks(ids)]


def test_peskov_finds_peskov(service, corpus):
    service.ingest([corpus])
    found = [chunk_id for chunk_id, _ in service.lexical.search("Peskov", 20)]
    holding = [p.chunk_id for p in service.all_passages() if "Peskov" in p.text]
    assert sorted(found) == sorted(holding) and holding
    passages = service.retrieve("What did Peskov say?", k=3)
    assert all("Peskov" in p.text for p in passages[:2])


def test_bm25_follows_ingest_update_and_prune(service, two_articles):
    folder = two_articles
    service.ingest([folder])
    assert chunk_texts(service, [c for c, _ in service.lexical.search("zeppelin", 5)]) == [
        "The zeppelin landed in Lisbon on Monday."
    ]

    (folder / "a.txt").write_text("Title: A\n\nThe airship landed in Porto on Tuesday.\n")
    service.ingest([folder])
    assert service.lexical.search("zeppelin", 5) == []
    assert chunk_texts(service, [c for c, _ in service.lexical.search("airship Porto", 5)]) == [
        "The airship landed in Porto on Tuesday."
    ]

    (folder / "a.txt").unlink()
    service.ingest([folder], prune=True)
    assert service.lexical.search("airship", 5) == []
    assert len(service.lexical) == 1

    # Saved next to the index: a new process loads it as it is, without rebuilding.
    reopened = BM25Index(service.settings.lexical_path)
    assert reopened.load() and reopened.fingerprint == fingerprint(service.store.versions(None))
    assert reopened.sync(service.store) is False
    assert [c for c, _ in reopened.search("harbour", 5)] == [c for c, _ in service.lexical.search("harbour", 5)]


def test_a_stale_bm25_index_is_rebuilt_on_start(make_service, settings, tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Title: A\n\nThe zeppelin landed in Lisbon on Monday.\n")
    (folder / "b.txt").write_text("Title: B\n\nThe zeppelin left Porto on Friday.\n")
    first = make_service(settings)
    first.ingest([folder])
    # The store changes behind the BM25 index's back, as after a crash between the two writes.
    first.store.delete_articles([a for a, path in first.store.article_paths().items() if path.endswith("a.txt")])
    stale = BM25Index(settings.lexical_path)  # the saved index still holds the deleted article
    stale.load()
    assert len(stale.search("zeppelin", 5)) == 2

    second = make_service(settings)
    passages = second.retrieve("zeppelin", k=5)
    assert [p.text for p in passages] == ["The zeppelin left Porto on Friday."]
    assert len(second.lexical.search("zeppelin", 5)) == 1


def test_filters_by_source_and_date(service, tmp_path):
    feed = write_articles(
        tmp_path / "feed.jsonl",
        {
            "id": "a1",
            "title": "One",
            "text": "The summit in Geneva opened on Monday.",
            "source": "Wire",
            "published": "2023-03-01",
        },
        {
            "id": "a2",
            "title": "Two",
            "text": "The summit in Geneva closed on Friday.",
            "source": "Daily",
            "published": "2023-03-10",
        },
        {"id": "a3", "title": "Three", "text": "The summit in Geneva was postponed.", "source": "Wire"},
    )
    service.ingest([feed])

    def articles(**filters):
        return sorted({p.article_id for p in service.retrieve("summit in Geneva", k=5, filters=Filters(**filters))})

    assert articles() == ["a1", "a2", "a3"]
    assert articles(sources=("Wire",)) == ["a1", "a3"]
    assert articles(sources=("Wire", "Daily")) == ["a1", "a2", "a3"]
    assert articles(since="2023-03-05") == ["a2"]  # undated articles drop out of a date filter
    assert articles(until="2023-03-05") == ["a1"]
    assert articles(sources=("Daily",), until="2023-03-05") == []
    answer = service.ask("When did the summit in Geneva close?", filters=Filters(sources=("Wire",)))
    assert all(c.article_id in {"a1", "a3"} for c in answer.citations)


WIRE_STORY = (
    "Leaders from twenty countries gathered in Geneva on Monday for a summit on water security. The host said "
    "the talks would last three days and end with a joint declaration on shared rivers. Delegates arrived under "
    "heavy rain, and the opening session started an hour late."
)


def test_near_duplicate_articles_are_cited_once_with_also_in(service, tmp_path):
    feed = write_articles(
        tmp_path / "feed.jsonl",
        {"id": "wire", "title": "Summit opens", "text": WIRE_STORY, "source": "Wire", "published": "2023-03-01"},
        # The same wire story in another outlet, with its own last sentence.
        {
            "id": "daily",
            "title": "Summit opens in Geneva",
            "source": "Daily",
            "published": "2023-03-02",
            "text": WIRE_STORY.replace("an hour late.", "an hour late, organisers said."),
        },
        {"id": "harbour", "title": "Harbour", "text": "The harbour of Odessa reopened on Monday.", "source": "Daily"},
    )
    service.ingest([feed])
    assert {i: c for i, (_, c, _) in service.store.signatures().items()} == {
        "wire": "wire",
        "daily": "wire",
        "harbour": "harbour",
    }
    answer = service.ask("Where did leaders gather for a summit on water security?")
    assert {c.article_id for c in answer.citations} == {"wire"}
    assert [copy["article_id"] for copy in answer.citations[0].also_in] == ["daily"]
    assert answer.citations[0].to_dict()["also_in"][0]["source"] == "Daily"
    assert "daily" not in {p.article_id for p in answer.passages}
    # A filter that allows only the copy still finds it.
    only_daily = service.retrieve("summit on water security", filters=Filters(sources=("Daily",)))
    assert "daily" in {p.article_id for p in only_daily}
    # The canonical article gone, its copy is answered from again.
    service.store.delete_articles(["wire"])
    assert "daily" in {p.article_id for p in service.retrieve("summit on water security")}


def test_a_year_in_the_question_ranks_the_passages_of_that_year_first(service, tmp_path):
    # Reports of the race from several years, alike in words: only their dates tell the asked one apart.
    winners = [
        (2017, "Chris Froome", "a fourth title for the Briton after a tense time trial in Marseille"),
        (2018, "Geraint Thomas", "the Welshman rode for his team leader until the Pyrenees"),
        (2019, "Egan Bernal", "a storm cut short the stage to Tignes and the Colombian took the lead"),
        (2020, "Tadej Pogacar", "the race was moved to September and the Slovenian overturned a deficit"),
        (2022, "Jonas Vingegaard", "the Dane dropped his rival on the Col du Granon in the Alps"),
    ]
    articles = [
        {
            "id": f"tour-{year}",
            "title": f"Tour report {n}",
            "published": f"{year}-07-25",
            "text": f"{winner} won the Tour de France in Paris on Sunday: {story}.",
        }
        for n, (year, winner, story) in enumerate(winners)
    ]
    service.ingest([write_articles(tmp_path / "tour.jsonl", *articles)])
    for year, *_ in winners:
        assert service.retrieve(f"Who won the Tour de France in {year}?", k=1)[0].article_id == f"tour-{year}"
