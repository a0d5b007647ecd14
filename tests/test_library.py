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


# -- a selection the chat asks about, and re-ingest (issue 25) -----------------------------------------


def test_a_selection_of_articles_is_all_a_question_is_answered_from(library):
    sample = next(a["id"] for a in library.list_articles() if a["source"] == "ITV News")
    both = library.ask("What did Peskov say?")
    assert {c.article_id for c in both.citations} == {sample}
    # Chosen: the River Post reports only. Neither Chroma's where nor the BM25 mask lets the sample through.
    chosen = Filters.build(article_ids=["ferry", "dam"])
    assert chosen and not chosen.allows("ITV News", "2023-03-20", sample) and chosen.allows("River Post", None, "dam")
    assert not chosen.allows("River Post", None)  # an article that is not named is never let through
    assert {p.article_id for p in library.retrieve("Peskov Putin Xi Moscow", k=10, filters=chosen)} <= {"ferry", "dam"}
    assert {p.article_id for p in library.retrieve("Kherson ferry Dnipro", k=10, filters=chosen)} == {"ferry", "dam"}
    assert library.lexical.search("Peskov", 10, chosen) == []
    assert library.lexical.search("ferry", 10, Filters(article_ids=("dam",))) == []
    assert library.ask("What did Peskov say?", filters=chosen).abstained
    assert library.ask("What happened in Moscow?", filters=chosen).citations == []  # a briefing too
    answer = library.ask("When did the Kherson ferry resume its crossings?", filters=chosen)
    assert {c.article_id for c in answer.citations} == {"ferry"}
    # With the other filters: both must hold.
    assert library.list_articles(Filters.build(sources=["River Post"], since="2023", article_ids=["ferry", "dam"])) == [
        a for a in library.list_articles() if a["id"] == "ferry"
    ]
    said = library.ask("When did the Kherson ferry resume?", filters=Filters.build(since="2024", article_ids=["ferry"]))
    assert said.answer == "No chosen article is published on or after 2024-01-01, so there is nothing to answer from."
    gone = library.ask("When did the Kherson ferry resume?", filters=Filters.build(article_ids=["nope", "gone"]))
    assert gone.abstained and gone.answer == "None of the 2 chosen articles is stored, so there is nothing to answer from."


def test_a_selection_holding_the_speaker_answers_with_their_statements_grouped(library):
    sample = next(a["id"] for a in library.list_articles() if a["source"] == "ITV News")
    everywhere = library.ask("What did Peskov say?")
    chosen = library.ask("What did Peskov say?", filters=Filters(article_ids=(sample, "ferry")))
    # The statement reader's grouped answer, as without a selection, not a retrieval of sentences.
    assert chosen.statements and chosen.statements == everywhere.statements
    assert [c.quote for c in chosen.citations] == [c.quote for c in everywhere.citations]
    # Who is quoted, within the selection only.
    assert any("Peskov" in p["name"] for p in library.people(Filters(article_ids=(sample,))))
    assert library.people(Filters(article_ids=("ferry", "dam"))) == []


def test_the_selection_line_says_what_is_asked(library):
    from qa.suggestions import selection_line

    chosen = library.list_articles(Filters(article_ids=("ferry", "dam", "gone")))
    assert selection_line(chosen, 3) == (
        "Asking 2 articles: Kherson ferry resumes (2023-04-03) and Fenwick dam inspected (2022-11-05)"
        " (1 of the 3 chosen are no longer stored)"
    )


def test_re_ingest_reads_the_chosen_articles_again_from_their_file(service, tmp_path):
    folder = tmp_path / "desk"
    folder.mkdir()
    note = folder / "harbour.txt"
    note.write_text("Title: Harbour reopens\nDate: 2023-04-10\n\nThe harbour of Izmail reopened on Monday.\n")
    feed = folder / "feed.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "ferry", "title": "Ferry", "text": "The ferry sailed at dawn."},
        {"id": "dam", "title": "Dam", "text": "The dam was inspected."},
    ]))
    service.ingest([folder])
    pasted = service.add_text("Pasted note", "A note pasted by hand about the harbour.", "2023-04-11").added[0]
    harbour = next(a["id"] for a in service.list_articles(search="harbour reopens"))

    same = service.reingest_articles([harbour, "ferry"])
    assert sorted(same.unchanged) == sorted([harbour, "ferry"]) and not same.updated and not same.errors

    note.write_text("Title: Harbour reopens\nDate: 2023-04-10\n\nThe harbour of Izmail reopened on Monday after repairs.\n")
    feed.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "ferry", "title": "Ferry", "text": "The ferry sailed at noon."},
        {"id": "dam", "title": "Dam", "text": "The dam was inspected twice."},
    ]))
    done = service.reingest_articles([harbour, "ferry"])
    assert sorted(done.updated) == sorted([harbour, "ferry"]) and not done.errors
    texts = {a.id: a.text for a in service.articles([harbour, "ferry", "dam"])}
    assert "after repairs" in texts[harbour] and "at noon" in texts["ferry"]
    assert texts["dam"] == "The dam was inspected."  # not chosen: not read again
    # The next question sees it (BM25 and Chroma both).
    assert service.lexical.search("repairs", 5) and service.retrieve("repairs", k=1)[0].article_id == harbour

    kept = service.reingest_articles([pasted])  # no file: kept as stored, said why
    assert not kept.updated and kept.errors == [f"{pasted}: no file to read it from (pasted text); kept as stored"]
    note.unlink()
    lost = service.reingest_articles([harbour])
    assert not lost.updated and "cannot read it again" in lost.errors[0] and "kept as stored" in lost.errors[0]
    assert "after repairs" in service.articles([harbour])[0].text
    forced = service.reingest_articles([harbour, pasted, "ferry"], force=True)  # rewritten from the stored text
    assert sorted(forced.updated) == sorted([harbour, pasted, "ferry"]) and not forced.errors
    assert service.check()["damaged"] == {}
    with pytest.raises(ValueError, match="no article with id nope; nothing re-ingested"):
        service.reingest_articles(["nope", "ferry"])


def test_qa_reingest_and_qa_ask_article_on_the_command_line(tmp_path):
    home = tmp_path / "home"
    note = tmp_path / "harbour.txt"
    note.write_text("Title: Harbour reopens\nDate: 2023-04-10\n\nThe harbour of Izmail reopened on Monday.\n")
    assert run_qa(home, "ingest", str(SAMPLE), str(note)).returncode == 0
    listed = json.loads(run_qa(home, "list", "--json").stdout)
    harbour = next(a["id"] for a in listed if a["title"] == "Harbour reopens")
    sample = next(a["id"] for a in listed if a["source"] == "ITV News")

    asked = run_qa(home, "ask", "--article", harbour, "What did Peskov say?")
    assert asked.returncode == 0 and asked.stderr.startswith("Asking 1 article: Harbour reopens (2023-04-10)")
    assert "The articles don't say." in asked.stdout
    both = json.loads(run_qa(home, "ask", "--json", "--article", harbour, "--article", sample, "What did Peskov say?").stdout)
    assert {c["article_id"] for c in both["citations"]} == {sample}
    # The Library's "Ask about these" with nothing chosen: the articles its search lists.
    matching = run_qa(home, "ask", "--matching", "harbour", "What did Peskov say?")
    assert matching.stderr.startswith("Asking 1 article: Harbour reopens") and "The articles don't say." in matching.stdout
    none = run_qa(home, "ask", "--matching", "zebra crossing", "What did Peskov say?")
    assert none.returncode == 1 and "no stored article matches 'zebra crossing'" in none.stderr

    unchanged = run_qa(home, "reingest", harbour)
    assert unchanged.returncode == 0 and f"unchanged {harbour}: Harbour reopens (2023-04-10)" in unchanged.stdout
    note.write_text("Title: Harbour reopens\nDate: 2023-04-10\n\nThe harbour of Izmail reopened on Tuesday.\n")
    updated = run_qa(home, "reingest", "--json", harbour)
    assert updated.returncode == 0 and json.loads(updated.stdout)["updated"] == [harbour]
    answer = json.loads(run_qa(home, "ask", "--json", "--article", harbour, "When did the harbour of Izmail reopen?").stdout)
    assert "Tuesday" in answer["citations"][0]["quote"]
    refused = run_qa(home, "reingest", "nope")
    assert refused.returncode == 1 and "no article with id nope" in refused.stderr
