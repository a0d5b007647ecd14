"""The library of stored articles: `QAService.list_articles` / `qa list`, and `QAService.delete_articles` /
`qa delete` (records, rows, BM25 entries and the uploaded file), seen by other processes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import QA, SAMPLE, cli_env

from qa.types import Filters


def run_qa(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(QA), *args], env=cli_env(home), capture_output=True, text=True, timeout=300)


@pytest.fixture
def library(service, tmp_path):
    """The sample article, and two dated articles of another source in one JSONL feed."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        json.dumps({"id": "ferry", "title": "Kherson ferry resumes", "published": "2023-04-03", "source": "River Post",
                    "text": "The Kherson ferry resumed its crossings of the Dnipro on Monday, the harbour office said."})
        + "\n"
        + json.dumps({"id": "dam", "title": "Fenwick dam inspected", "published": "2022-11-05", "source": "River Post",
                      "text": "Engineers inspected the Fenwick dam on Saturday and found its spillway sound."})
        + "\n"
    )
    report = service.ingest([SAMPLE, feed])
    assert len(report.added) == 3, report.errors
    return service


def test_the_list_holds_every_article_newest_first_with_its_people_and_chunks(library):
    listed = library.list_articles()
    # Newest first: the ferry (2023-04-03), the sample (2023-03-20), the dam (2022-11-05).
    assert [a["published"] for a in listed] == ["2023-04-03", "2023-03-20", "2022-11-05"]
    assert [listed[0]["id"], listed[2]["id"]] == ["ferry", "dam"]
    sample = next(a for a in listed if a["source"] == "ITV News")
    assert sample["title"] and sample["chunks"] > 1 and sample["sentences"] > sample["chunks"]
    assert any("Peskov" in name for name in sample["people"])  # the people it quotes, from `qa people`'s index
    ferry = next(a for a in listed if a["id"] == "ferry")
    assert ferry == ferry | {"title": "Kherson ferry resumes", "source": "River Post", "published": "2023-04-03",
                             "chunks": 1, "people": [], "uploaded": False}
    # Everyone `qa people` lists is quoted by some listed article.
    quoted = {name for a in listed for name in a["people"]}
    assert {p["name"] for p in library.people()} == quoted


def test_the_list_filters_by_source_date_and_title_words(library):
    def ids(**kwargs) -> list[str]:
        search = kwargs.pop("search", "")
        return [a["id"] for a in library.list_articles(Filters.build(**kwargs), search)]

    assert ids(sources=["River Post"]) == ["ferry", "dam"]
    assert ids(since="2023-04") == ["ferry"]
    assert ids(until="2022") == ["dam"]
    assert ids(sources=["River Post"], since="2023-03", until="2023-03") == []
    assert ids(search="FERRY kherson") == ["ferry"]  # every word, any case
    assert ids(search="ferry dam") == []
    assert ids(search="fenwick", sources=["Reuters"]) == []


def test_qa_list_prints_the_same_list_as_the_service(library):
    home = library.settings.home
    done = run_qa(home, "list", "--json", "--source", "River Post")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == library.list_articles(Filters(("River Post",)))
    done = run_qa(home, "list", "kherson")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ferry  2023-04-03  River Post  Kherson ferry resumes  (1 chunk)")
    assert lines[-1] == "1 article that the filters and search allow"
    bad = run_qa(home, "list", "--since", "May")
    assert bad.returncode == 2 and "'May' is not a date" in bad.stderr


def test_delete_removes_the_rows_the_bm25_entries_and_the_uploaded_file(service, tmp_path):
    service.ingest([SAMPLE])
    upload = tmp_path / "lighthouse.txt"
    upload.write_text("Title: Lighthouse repainted\nDate: 2023-04-20\n\nThe Odesa lighthouse was repainted in April.\n")
    report = service.add_files([upload])
    assert len(report.added) == 1, report.errors
    (article_id,) = report.added
    kept = service.settings.uploads_path / "lighthouse.txt"
    assert kept.is_file()
    listed = {a["id"]: a for a in service.list_articles()}
    assert listed[article_id]["uploaded"] and not listed[next(i for i in listed if i != article_id)]["uploaded"]
    assert [p.article_id for p in service.retrieve("Odesa lighthouse repainted", k=1)] == [article_id]
    generation = (service.settings.home / "generation").read_text()
    indexed = len(service.lexical)  # BM25 documents (chunks) alive

    done = service.delete_articles([article_id])

    assert done["deleted"] == [{"id": article_id, "title": "Lighthouse repainted", "published": "2023-04-20",
                                "source": done["deleted"][0]["source"]}]
    assert done["files_removed"] == ["lighthouse.txt"] and not kept.exists()
    assert (service.settings.home / "generation").read_text() != generation  # other processes see a write
    assert service.articles([article_id]) == [] and service.store.chunks_of([article_id]) == []
    assert service.stats()["articles"] == 1
    assert article_id not in service.lexical.versions
    assert all(p.article_id != article_id for p in service.retrieve("Odesa lighthouse repainted", k=5))
    assert len(service.lexical) == indexed - 1  # its one chunk
    assert not (service.settings.home / "ingest.unfinished").exists()  # the write session ended cleanly


def test_an_upload_holding_several_articles_stays_until_its_last_article_goes(service, tmp_path):
    feed = tmp_path / "desk.jsonl"
    feed.write_text(
        json.dumps({"id": "one", "title": "One", "text": "The first note of the desk."}) + "\n"
        + json.dumps({"id": "two", "title": "Two", "text": "The second note of the desk."}) + "\n"
    )
    assert len(service.add_files([feed]).added) == 2
    kept = service.settings.uploads_path / "desk.jsonl"
    assert service.delete_articles(["one"])["files_removed"] == [] and kept.is_file()
    assert service.delete_articles(["two"])["files_removed"] == ["desk.jsonl"] and not kept.exists()


def test_a_file_ingested_from_elsewhere_is_never_removed(service, two_articles):
    service.ingest([two_articles])
    ids = [a["id"] for a in service.list_articles()]
    done = service.delete_articles(ids)
    assert done["files_removed"] == [] and sorted(p.name for p in two_articles.iterdir()) == ["a.txt", "b.txt"]
    assert service.list_articles() == [] and service.stats()["articles"] == 0


def test_an_unknown_id_deletes_nothing_and_says_which(service, two_articles):
    service.ingest([two_articles])
    ids = [a["id"] for a in service.list_articles()]
    with pytest.raises(ValueError, match="no article with id nope; nothing deleted"):
        service.delete_articles([ids[0], "nope"])
    with pytest.raises(ValueError, match="no article id given"):
        service.delete_articles([" "])
    assert [a["id"] for a in service.list_articles()] == ids
    assert not (service.settings.home / "ingest.unfinished").exists()
    done = run_qa(service.settings.home, "delete", ids[0], "nope")
    assert done.returncode == 1 and "Error: no article with id nope; nothing deleted" in done.stderr
    assert len(service.list_articles()) == 2


def test_qa_delete_in_another_process_is_seen_by_the_next_question(service, tmp_path):
    """A running service (a screen) answers from an article; `qa delete` removes it in another process;
    the service's next question and list no longer see it, and its BM25 index dropped it too."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": "ferry", "title": "Kherson ferry", "source": "River Post",
                                "text": "The Kherson ferry resumed its crossings of the Dnipro on Monday."}) + "\n")
    service.ingest([SAMPLE, feed])
    answer = service.ask("When did the Kherson ferry resume its crossings?")
    assert [c.article_id for c in answer.citations] == ["ferry"]

    done = run_qa(service.settings.home, "delete", "ferry")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["deleted ferry: Kherson ferry (undated)"]

    answer = service.ask("When did the Kherson ferry resume its crossings?")
    assert all(c.article_id != "ferry" for c in answer.citations)
    assert "ferry" not in service.lexical.versions
    assert [a["id"] for a in service.list_articles()] != [] and "ferry" not in {a["id"] for a in service.list_articles()}
    assert service.stats()["articles"] == 1
