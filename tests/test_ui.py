"""The chat screen, served for real by `qa serve` and used through gradio_client and plain HTTP.
(tests/test_browser.py drives the same screen in Chromium.)"""

from __future__ import annotations

import html
import urllib.request
from pathlib import Path

import pytest
from conftest import SAMPLE, running_chat

from index.uploads import UploadArea, UploadError, safe_name
from qa.types import Answer, AnswerSentence, Article, Citation
from ui.render import answer_message, article_html, citation_cards, escape_markdown, parse_cite_ref


def client(url, **kwargs):
    from gradio_client import Client

    return Client(url, verbose=False, **kwargs)


def content(message: dict) -> str:
    """A chat message's text (Gradio 6 sends content as a list of typed parts)."""
    parts = message["content"]
    return parts if isinstance(parts, str) else "".join(p.get("text", "") for p in parts)


def test_page_is_served_on_loopback(chat_server):
    assert chat_server.startswith("http://127.0.0.1:")
    page = urllib.request.urlopen(chat_server, timeout=10).read().decode()
    assert "qa — answers from the articles" in page


def test_ask_endpoint_returns_the_cli_json(chat_server):
    answer = client(chat_server).predict("What did Peskov say?", api_name="/ask")
    assert list(answer)[:4] == ["question", "rewritten_question", "answer", "abstained"]
    assert any("detailed explanation" in c["quote"] for c in answer["citations"])


def test_ask_endpoint_takes_the_filters(chat_server):
    c = client(chat_server)
    elsewhere = c.predict("What did Peskov say?", "Reuters", "", "", api_name="/ask")
    assert elsewhere["abstained"] and elsewhere["citations"] == []
    dated = c.predict("What did Peskov say?", SAMPLE.name, "2023-03-20", "2023-03-20", api_name="/ask")
    assert not dated["abstained"]
    with pytest.raises(Exception, match="not a date"):
        c.predict("What did Peskov say?", "", "last week", "", api_name="/ask")


def test_chat_streams_cites_and_rewrites_follow_ups(chat_server):
    c = client(chat_server)
    job = c.submit("What did Peskov say?", [], "extractive", [], "", "", api_name="/chat")
    job.result()
    updates = job.outputs()
    box, messages, cards, _ = updates[-1]
    assert box == "" and [m["role"] for m in messages] == ["user", "assistant"]
    # Streamed: the chat was updated before the answer was complete (one update per sentence).
    assert len(updates) >= 3 and content(updates[0][1][-1]).endswith("▍")
    final = content(messages[1])
    assert "[\\[1\\]](#qa-cite=" in final and "detailed explanation" in final
    assert "class='qa-card'" in cards and "<mark>" in cards and "characters 535–753" in cards

    # The same client session keeps the turns: a follow-up is rewritten, and the rewrite is shown.
    _, messages, cards, _ = c.predict(
        "When are the broader talks he mentioned?", messages, "extractive", [], "", "", api_name="/chat"
    )
    assert len(messages) == 4
    assert "asked as:" in content(messages[2]) and "Peskov" in content(messages[2])
    assert "Tuesday" in content(messages[3])

    _, messages, cards, _ = c.predict(
        "What is the population of Moscow?", messages, "extractive", [], "", "", api_name="/chat"
    )
    assert "No passage of the articles answers" in cards


def test_chat_offers_only_the_configured_backends(chat_server):
    with pytest.raises(Exception, match=r"'openai'.* is not in the list of choices: \['extractive'\]"):
        client(chat_server).predict("What did Peskov say?", [], "openai", [], "", "", api_name="/chat")


def test_opening_a_citation_marks_its_span_in_the_article(chat_server):
    c = client(chat_server)
    citation = c.predict("What did Peskov say?", api_name="/ask")["citations"][0]
    ref = f"#qa-cite={citation['article_id']}%7C{citation['start']}%7C{citation['end']}@123"
    article = c.predict(ref, api_name="/open")
    assert f"<mark id='qa-highlight'>{html.escape(citation['quote'])}</mark>" in article


def test_adding_files_reports_each_refused_or_failed_file(chat_server, tmp_path):
    from gradio_client import handle_file

    good = tmp_path / "harbour-news.md"
    good.write_text(
        "---\ntitle: Kherson ferry\ndate: 2023-03-22\nsource: River Post\n---\n"
        "The Kherson ferry resumed service across the Dnipro on Wednesday.\n"
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    wrong = tmp_path / "slides.pdf"
    wrong.write_bytes(b"%PDF-1.4")
    c = client(chat_server)
    with pytest.raises(Exception, match="Invalid file type"):  # the screen takes article files only
        c.predict([handle_file(str(wrong))], api_name="/add_files")
    added, stats, _ = c.predict([handle_file(str(p)) for p in (good, empty)], api_name="/add_files")
    assert added.startswith("**added 1, updated 0, unchanged 0, failed 1**")
    assert "empty.txt: empty file" in added
    assert "/tmp" not in added  # errors name the file, not where the server keeps it
    assert "articles" in stats and "last updated" in stats
    answer = c.predict("When did the Kherson ferry resume service?", "River Post", "", "", api_name="/ask")
    assert answer["citations"][0]["title"] == "Kherson ferry"


def test_pasted_text_becomes_an_article(chat_server):
    c = client(chat_server)
    text = "The Mariupol theatre will be rebuilt by 2026, the city council said on Thursday."
    added, _, _ = c.predict("Theatre plans", "2023-03-23", "City Desk", text, api_name="/add_text")
    assert added.startswith("**added 1,")
    again, _, _ = c.predict("Theatre plans", "2023-03-23", "City Desk", text, api_name="/add_text")
    assert again.startswith("**added 0, updated 0, unchanged 1")
    answer = c.predict("When will the Mariupol theatre be rebuilt?", "City Desk", "", "", api_name="/ask")
    assert [x["title"] for x in answer["citations"]] == ["Theatre plans"]
    with pytest.raises(Exception, match="not a date"):
        c.predict("Theatre plans", "someday", "", text, api_name="/add_text")


def test_evaluate_tab_runs_a_bundled_set_and_reports(chat_server, tmp_path):
    from gradio_client import handle_file

    c = client(chat_server)
    summary, retrieval, quality, by_tag, plots, worst = c.predict("sample.jsonl", None, api_name="/evaluate")
    assert "54 questions" in summary and "| 5   | " in retrieval and "| MRR" in retrieval
    assert "| answers    | accuracy" in quality and "| follow-up" in by_tag
    assert [p["caption"] for p in plots] == ["Retrieval by k", "What happened to each question", "Answer latency"]
    assert all(Path(p["image"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots)
    assert worst.startswith("### Worst failures")

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "Q?", "answers": []}\n{"id": "b"}\n')
    with pytest.raises(Exception, match=r"bad.jsonl:2: missing field 'question'"):
        c.predict("sample.jsonl", handle_file(str(bad)), api_name="/evaluate")


def test_auth_protects_a_shared_screen(tmp_path, embedder, splitter):
    from qa.service import QAService
    from qa.settings import Settings

    home = tmp_path / "home"
    QAService(Settings(home=home), embedder=embedder, splitter=splitter).ingest([SAMPLE])
    with running_chat(home, "--auth", "editor:s3cret") as url:
        from gradio_client.exceptions import AuthenticationError

        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            client(url).predict("What did Peskov say?", api_name="/ask")
        with pytest.raises(ValueError, match="Could not login"):
            client(url, auth=("editor", "wrong")).predict("What did Peskov say?", api_name="/ask")
        answer = client(url, auth=("editor", "s3cret")).predict("What did Peskov say?", api_name="/ask")
        assert answer["citations"]


def test_upload_names_cannot_leave_the_upload_area(tmp_path):
    upload = tmp_path / "incoming.txt"
    upload.write_text("Some article text.")
    area = UploadArea(tmp_path / "uploads", max_bytes=1000)
    kept = area.keep(upload, name="../../../etc/cron.d/evil.txt")
    assert kept == (tmp_path / "uploads" / "evil.txt").resolve() and kept.read_text() == "Some article text."
    assert area.keep(upload, name="..\\..\\win.txt").name == "win.txt"
    assert safe_name("my report (final).md") == "my_report_final_.md"
    with pytest.raises(UploadError, match="notes.exe: unsupported file type"):
        area.keep(upload, name="notes.exe")
    with pytest.raises(UploadError, match="not a usable file name"):
        area.keep(upload, name="../..")
    big = tmp_path / "big.txt"
    big.write_text("x" * 2000)
    with pytest.raises(UploadError, match="big.txt: 0.0 MB is over the 0.001 MB upload limit"):
        area.keep(big)
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["evil.txt", "win.txt"]


HOSTILE = "<img src=x onerror=alert(1)> and <script>alert(2)</script> *bold* [link](http://x)"


def hostile_citation(**kwargs) -> Citation:
    fields = {
        "n": 1,
        "article_id": "a|b",
        "title": "<b>title</b>",
        "published": "2023-03-20",
        "source": "<i>src</i>",
        "url": None,
        "start": 0,
        "end": len(HOSTILE),
        "quote": HOSTILE,
    }
    return Citation(**(fields | kwargs))


def test_untrusted_text_is_escaped_everywhere_it_is_shown():
    article = Article("a|b", "<b>title</b>", HOSTILE + "\nMore text.", source="<i>src</i>")
    answer = Answer("q", HOSTILE + " [1]", False, [hostile_citation()], sentences=[AnswerSentence(HOSTILE, [1])])
    for shown in (citation_cards(answer, {"a|b": article}), article_html(article, 0, len(HOSTILE))):
        assert "<img" not in shown and "<script" not in shown and "<b>title" not in shown and "<i>src" not in shown
        assert "&lt;img src=x onerror=alert(1)&gt;" in shown
    message = answer_message(answer)
    assert "<img" not in message and "<script" not in message
    assert "\\*bold\\*" in message and "\\[link\\]\\(http://x\\)" in message
    assert escape_markdown("a_b <c>") == "a\\_b &lt;c&gt;"


def test_citation_links_carry_the_span_even_with_odd_ids():
    citation = hostile_citation(article_id="id|with #odd?chars", start=5, end=9)
    answer_text = answer_message(Answer("q", "x [1]", False, [citation], sentences=[AnswerSentence("x", [1])]))
    href = answer_text.split("](", 1)[1].split(")", 1)[0]
    assert parse_cite_ref(href + "@99") == ("id|with #odd?chars", 5, 9)
    with pytest.raises(ValueError):
        parse_cite_ref("#qa-cite=nonsense")


def test_unsupported_sentences_are_marked_in_the_chat():
    cited = hostile_citation(title="Summit", source="Wire", quote="The summit opened.", end=18)
    checked = Answer(
        "q",
        "The summit opened. [1] It was a triumph. [1]",
        False,
        [cited],
        backend="openai",
        sentences=[AnswerSentence("The summit opened.", [1]), AnswerSentence("It was a triumph.", [1], True)],
    )
    message = answer_message(checked)
    assert message.startswith("The summit opened. [\\[1\\]](#qa-cite=")
    assert "⚠️ **Not supported by its sources:** It was a triumph. [\\[1\\]]" in message
    made_up = Answer(
        "q",
        "The articles don't say.",
        True,
        backend="openai",
        sentences=[AnswerSentence("Paris is the capital.", [], True)],
    )
    assert answer_message(made_up).endswith("which the cited passages do not support:\n- ⚠️ ~~Paris is the capital.~~")
