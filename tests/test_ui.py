"""The chat screen, served for real by `qa serve` and used through gradio_client and plain HTTP.
(tests/test_browser.py drives the same screen in Chromium.)"""

from __future__ import annotations

import html
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import QA, SAMPLE, cli_env, river_post_service, running_chat

from index.uploads import UploadArea, UploadError, safe_name
from qa.types import Answer, AnswerSentence, Article, Citation, Filters, ShortAnswer, parse_filter_date
from ui.render import (
    answer_message,
    article_html,
    citation_cards,
    escape_markdown,
    failure_markdown,
    link_url,
    missing_article_html,
    parse_cite_ref,
)


def client(url, **kwargs):
    from gradio_client import Client

    return Client(url, verbose=False, **kwargs)


def content(message: dict) -> str:
    """A chat message's text (Gradio 6 sends content as a list of typed parts)."""
    parts = message["content"]
    return parts if isinstance(parts, str) else "".join(p.get("text", "") for p in parts)


def call_http(url: str, api_name: str, data: list) -> tuple[str, object]:
    """A raw HTTP call of a Gradio endpoint, as curl would make it: POST the inputs, then read the event
    stream; (the last event's name, its data)."""
    request = urllib.request.Request(
        f"{url}gradio_api/call/{api_name}",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    event_id = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
    stream = urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event_id}", timeout=300).read().decode()
    event, payload = "", None
    for line in stream.splitlines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            raw = line.removeprefix("data:").strip()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw
    return event, payload


def run_qa(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(QA), *args], env=cli_env(home, **env), capture_output=True, text=True, timeout=120)


def test_page_is_served_on_loopback(chat_server):
    assert chat_server.startswith("http://127.0.0.1:")
    page = urllib.request.urlopen(chat_server, timeout=10).read().decode()
    assert "qa — answers from the articles" in page


def test_ask_endpoint_returns_the_cli_json(chat_server):
    answer = client(chat_server).predict("What did Peskov say?", api_name="/ask")
    assert list(answer)[:4] == ["question", "rewritten_question", "answer", "abstained"]
    assert any("detailed explanation" in c["quote"] for c in answer["citations"])


def test_a_question_does_not_make_the_server_summarise_its_event_log(chat_server):
    """Gradio's queue summarises its log of up to 10,000 events with pandas after every event, for a /monitoring page
    the screen does not use (2 ms a question on a new server, 10 ms on one that has answered 10,000): `qa serve` has it
    done once every ui.app.ANALYTICS_EVERY events, so a question leaves the summary as it was."""

    def summary() -> dict:
        return json.loads(urllib.request.urlopen(f"{chat_server}monitoring/summary", timeout=10).read())

    before = summary()
    answer = client(chat_server).predict("What did Peskov say?", api_name="/ask")
    assert answer["citations"]
    assert summary() == before


def test_ask_endpoint_takes_the_filters(chat_server):
    c = client(chat_server)
    elsewhere = c.predict("What did Peskov say?", "Reuters", "", "", api_name="/ask")
    assert elsewhere["abstained"] and elsewhere["citations"] == []
    dated = c.predict("What did Peskov say?", "ITV News", "2023-03-20", "2023-03-20", api_name="/ask")
    assert not dated["abstained"]
    with pytest.raises(Exception, match="not a date"):
        c.predict("What did Peskov say?", "", "last week", "", api_name="/ask")
    # A year or a month means all of it; a word or a bare number is not a date.
    assert not c.predict("What did Peskov say?", "", "2023", "2023-03", api_name="/ask")["abstained"]
    for loose in ("1", "May", "Monday", "2023-02-30"):
        with pytest.raises(Exception, match=f"'{loose}' is not a date: use YYYY-MM-DD, YYYY-MM or YYYY"):
            c.predict("What did Peskov say?", "", loose, "", api_name="/ask")
    with pytest.raises(Exception, match="since 2023-04-01 is after until 2023-03-31"):
        c.predict("What did Peskov say?", "", "2023-04", "2023-03", api_name="/ask")


def test_a_filter_that_excludes_every_article_says_so(chat_server):
    c = client(chat_server)
    typo = c.predict("What did Peskov say?", "Reutres", "", "", api_name="/ask")
    assert typo["abstained"]
    assert typo["answer"] == "No stored article is from 'Reutres', so there is nothing to answer from."
    later = c.predict("What did Peskov say?", "", "2030", "", api_name="/ask")
    assert later["answer"].startswith("No stored article was published on or after 2030-01-01")
    both = c.predict("What did Peskov say?", "ITV News", "2023-04-01", "2023-04-30", api_name="/ask")
    assert both["answer"].startswith("No stored article was published between 2023-04-01 and 2023-04-30")
    # A report of 20 March tells of the 21st ("scheduled for Tuesday"): that sentence is within 21-31 March.
    told = c.predict("What did Peskov say?", "ITV News", "2023-03-21", "2023-03-31", api_name="/ask")
    assert not told["abstained"] and [x["quote"] for x in told["citations"]] == [
        "Broader talks involving officials from both countries on a range of subjects are scheduled for Tuesday, "
        "according to Peskov."
    ]
    # The chat shows the same sentence, streamed like any answer.
    _, messages, cards, _ = c.predict("What did Peskov say?", [], "extractive", [], "2030", "", api_name="/chat")
    assert "No stored article was published on or after 2030" in content(messages[-1]) and "No passage" in cards


def test_the_raw_http_api_needs_only_the_question(chat_server):
    event, data = call_http(chat_server, "ask", ["What did Peskov say?"])
    assert event == "complete", data
    assert any("detailed explanation" in c["quote"] for c in data[0]["citations"])
    event, data = call_http(chat_server, "ask", ["What did Peskov say?", None, "2023-03"])
    assert event == "complete" and data[0]["citations"], data
    # A bad input is one clear message, not Python reprs of the components.
    event, data = call_http(chat_server, "ask", ["What did Peskov say?", "", "May"])
    assert event == "error" and "not a date" in json.dumps(data) and "Textbox(" not in json.dumps(data)


def test_questions_have_a_length_limit_in_the_api_and_the_chat(chat_server):
    c = client(chat_server)
    with pytest.raises(Exception, match="the question is 2,001 characters long; the limit is 2,000"):
        c.predict("Why " * 500 + "?", api_name="/ask")
    with pytest.raises(Exception, match="characters long"):
        c.predict("x" * 1_000_000, [], "extractive", [], "", "", api_name="/chat")
    config = json.loads(urllib.request.urlopen(chat_server + "config", timeout=10).read())
    box = next(x for x in config["components"] if x.get("props", {}).get("label") == "Question")
    assert box["props"]["max_length"] == 2000


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
    assert "class='qa-card'" in cards and "<mark>" in cards
    # Plain words: the span is in the link, not in what people read ("paragraph 3", not "characters 535–753").
    assert "characters" not in cards and "characters" not in final and "Exact quote, paragraph 3" in cards
    assert "%7C535%7C753" in cards and "%7C535%7C753" in final

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
    with pytest.raises(Exception, match=r"'openai'.* is not in the list of choices: \['extractive'"):
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
    wrong = tmp_path / "slides.odt"
    wrong.write_bytes(b"%PDF-1.4")
    c = client(chat_server)
    added, stats, _ = c.predict([handle_file(str(p)) for p in (good, empty, wrong)], api_name="/add_files")
    assert added.startswith("**added 1, updated 0, unchanged 0, failed 2**")
    assert "empty\\.txt\\: empty file" in added
    assert "slides\\.odt\\: unsupported file type" in added  # the screen takes article files only
    assert "tmp" not in added and "gradio" not in added  # errors name the file, not where the server keeps it
    assert "articles" in stats and "last updated" in stats
    answer = c.predict("When did the Kherson ferry resume service?", "River Post", "", "", api_name="/ask")
    assert answer["citations"][0]["title"] == "Kherson ferry"


def test_pasted_text_becomes_an_article(chat_server):
    c = client(chat_server)
    text = "The Mariupol theatre will be rebuilt by 2026, the city council said on Thursday."
    added, _, _ = c.predict("Theatre plans", "2023-03-23", "City Desk", text, api_name="/add_text")
    assert added.startswith("**added 1,") and "➕ added: Theatre plans (2023\\-03\\-23)" in added
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
    assert "| answers    | accuracy" in quality and "| follow\\-up" in by_tag  # tags are escaped
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


def upload_http(url: str, path: Path) -> tuple[int, str]:
    """POST one file to Gradio's upload route: (HTTP status, body: the server's path list, or its refusal)."""
    import httpx

    response = httpx.post(f"{url}gradio_api/upload", files={"files": (path.name, path.read_bytes())}, timeout=60)
    return response.status_code, response.text


def test_uploads_have_one_size_limit_and_leave_no_copies(tmp_path, embedder, splitter, monkeypatch):
    """A refused or failed upload leaves nothing behind: not in Gradio's temporary folder, not in the uploads area;
    Gradio and qa refuse sizes at the same byte count (QA_MAX_UPLOAD_MB is in units of 1,000,000 bytes)."""
    from qa.service import QAService
    from qa.settings import Settings

    home = tmp_path / "home"
    QAService(Settings(home=home), embedder=embedder, splitter=splitter).ingest([SAMPLE])
    monkeypatch.setenv("QA_MAX_UPLOAD_MB", "0.05")  # 50,000 bytes; Gradio's "0.05mb" was 52,428
    files = tmp_path / "files"
    files.mkdir()
    (files / "notes.exe").write_bytes(b"MZ" + b"\0" * 100)
    (files / "empty.txt").write_text("  \n")
    (files / "big.txt").write_text("word " * 10_200)  # 51,000 bytes: over qa's limit, under Gradio's old one
    (files / "fine.txt").write_text("Title: Ferry\nDate: 2023-03-22\n\nThe Kherson ferry resumed service on Monday.\n")
    with running_chat(home) as url:
        status, body = upload_http(url, files / "big.txt")
        assert status == 413 and "50000 bytes" in body
        uploaded = {}
        for name in ("notes.exe", "empty.txt", "fine.txt"):
            status, body = upload_http(url, files / name)
            assert status == 200, body
            uploaded[name] = json.loads(body)[0]
        assert all(Path(p).exists() for p in uploaded.values())  # Gradio's copies, on this machine
        data = [[{"path": p, "orig_name": n, "meta": {"_type": "gradio.FileData"}} for n, p in uploaded.items()]]
        event, result = call_http(url, "add_files", data)
        assert event == "complete", result
        added = result[0]
        assert added.startswith("**added 1, updated 0, unchanged 0, failed 2**")
        assert "notes\\.exe\\: unsupported file type" in added and "empty\\.txt\\: empty file" in added
        assert [p for p in uploaded.values() if Path(p).exists()] == []
        assert sorted(p.name for p in (home / "uploads").iterdir()) == ["fine.txt"]


def test_bad_input_on_the_command_line_is_one_clear_line(tmp_path):
    home = tmp_path / "home"
    loose = run_qa(home, "ask", "--since", "May", "Who?")
    assert loose.returncode == 2 and "'May' is not a date (use YYYY-MM-DD, YYYY-MM or YYYY)" in loose.stderr
    backwards = run_qa(home, "ask", "--since", "2023-05", "--until", "2023-04", "Who?")
    assert backwards.returncode == 1
    assert backwards.stderr.strip() == "Error: since 2023-05-01 is after until 2023-04-30: no article can be in between"
    long = run_qa(home, "ask", "Why " * 600)
    assert long.returncode == 1
    assert long.stderr.strip() == (
        "Error: the question is 2,399 characters long; the limit is 2,000 (QA_MAX_QUESTION_CHARS)"
    )
    flag = run_qa(home, "serve", "--auth", "alice")
    assert flag.returncode == 1 and flag.stderr.strip() == "Error: invalid setting --auth: give it as USER:PASS"
    env = run_qa(home, "serve", QA_AUTH="alice")
    assert env.returncode == 1 and env.stderr.strip() == "Error: invalid setting QA_AUTH: give it as USER:PASS"


def test_filter_dates_take_days_months_and_years_only():
    assert parse_filter_date("2023") == "2023-01-01" and parse_filter_date("2023", "until") == "2023-12-31"
    assert parse_filter_date("2023-02", "until") == "2023-02-28"
    assert parse_filter_date("2024-02", "until") == "2024-02-29"
    assert parse_filter_date(" 2023-03-20 ", "until") == "2023-03-20" and parse_filter_date("") is None
    for loose in ("1", "May", "Monday", "20230320", "2023-3-20", "2023-13", "2023-02-29", "03/20/2023", "last week"):
        with pytest.raises(ValueError, match="is not a date: use YYYY-MM-DD, YYYY-MM or YYYY"):
            parse_filter_date(loose)
    assert Filters.build([" Reuters ", "", "Reuters"], "2023-03", "2023-03") == Filters(
        ("Reuters",), "2023-03-01", "2023-03-31"
    )
    with pytest.raises(ValueError, match="since 2023-03-21 is after until 2023-03-20"):
        Filters.build((), "2023-03-21", "2023-03-20")


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
    assert "\\*bold\\*" in message and "\\[link\\]\\(http\\:\\/\\/x\\)" in message
    assert escape_markdown("a_b <c>") == "a\\_b &lt;c&gt;"


def rendered(markdown: str) -> str:
    """Markdown as a CommonMark renderer (markdown-it, raw HTML allowed, as in Gradio) turns it into HTML."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(markdown)


# Each of these became markup, a live link, or a link to a wrong address on the screen.
HOSTILE_TEXTS = [
    "Fenwick dam [record](#qa-cite=%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D13%3E|1|2)",
    "see https://example.com/#qa-cite=abc|1|2 and www.example.org/x and mail desk@example.com",
    "<img src=x onerror=alert(1)> <script>alert(2)</script> &lt;b&gt; ![i](x) `code` *em* _em_ ~~s~~",
    "<https://example.com> [ref]: javascript:alert(1) $$x$$ \\*not\\* a|b|c",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_escaped_markdown_shows_the_text_as_it_is_and_links_nothing(text):
    escaped = escape_markdown(text)
    shown = rendered(escaped)
    assert "<a" not in shown and "<img" not in shown and "<script" not in shown and "<code" not in shown
    assert html.unescape(shown.removeprefix("<p>").removesuffix("</p>\n")) == text
    # What the renderer's own autolinker (GFM: https://, www., user@host) looks for is gone too.
    assert "://" not in escaped and "www." not in escaped and "@" not in escaped.replace("\\@", "")


def test_only_http_and_https_urls_become_links():
    assert link_url("https://example.com/a?b=1#c") == "https://example.com/a?b=1#c"
    assert link_url("HTTP://example.com") == "HTTP://example.com"
    refused = ["javascript:alert(1)", " javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:x"]
    refused += ["data:text/html,x", "vbscript:x", "file:///etc/passwd", "//example.com", "https://", "http://a b", ""]
    for bad in [*refused, None]:
        assert link_url(bad) is None, bad
    for url in ("javascript:window.__xss=1", "data:text/html,<script>x</script>"):
        page = article_html(Article("a", "t", "Some text.", url=url), 0, 4)
        assert "<a" not in page and "javascript" not in page and "data:" not in page
    page = article_html(Article("a", "t", "Some text.", url="https://example.com/?q='x'"), 0, 4)
    link = "<a href='https://example.com/?q=&#x27;x&#x27;' target='_blank' rel='noopener noreferrer'>original</a>"
    assert link in page


def test_an_unknown_article_id_is_shown_escaped(chat_server):
    shown = client(chat_server).predict("#qa-cite=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%7C1%7C2@1", api_name="/open")
    assert "<img" not in shown and "The article '&lt;img src=x onerror=alert(1)&gt;' is no longer stored." in shown
    assert missing_article_html("<b>'x'</b>") == (
        "<p class='qa-empty'>The article '&lt;b&gt;&#x27;x&#x27;&lt;/b&gt;' is no longer stored.</p>"
    )


def test_evaluate_failures_escape_markdown_as_well_as_html():
    link = "Fenwick dam [record](#qa-cite=%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D13%3E|1|2)"
    record = {
        "id": "`x` [id](javascript:alert(1))",
        "question": link,
        "history": [["<b>earlier</b>", "https://example.com/#qa-cite=a|1|2"]],
        "rewritten_question": "**loud**",
        "expected": {"answers": ["[a](http://x)"], "evidence": ["<img src=x onerror=alert(1)>"]},
        "answer": "The articles don't say.",
        "sentences": [{"text": "[s](javascript:alert(2))", "citations": [], "unsupported": True}],
        "citations": [{"n": 1, "title": link, "start": 1, "end": 2, "quote": "![img](x)"}],
        "scores": {"citations": 1, "citations_valid": 1, "outcome": "missed", "f1": 0.0, "evidence_cited": 0,
                   "evidence_units": 1, "abstained": True, "should_abstain": False},
    }
    shown = rendered(failure_markdown(record))
    assert "<a" not in shown and "<img" not in shown and "<b>" not in shown and "<strong>loud" not in shown
    assert "[record](#qa-cite=" in html.unescape(shown)  # shown as the text it is
    assert "characters 1–2" not in shown  # plain words: the quote, not its offsets (they stay in results.jsonl)


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
    assert message.startswith("The summit opened\\. [\\[1\\]](#qa-cite=")
    assert "⚠️ **Not supported by its sources:** It was a triumph\\. [\\[1\\]]" in message
    made_up = Answer(
        "q",
        "The articles don't say.",
        True,
        backend="openai",
        sentences=[AnswerSentence("Paris is the capital.", [], True)],
    )
    assert answer_message(made_up).endswith(
        "which the cited passages do not support:\n- ⚠️ ~~Paris is the capital\\.~~"
    )


def test_a_short_answer_is_shown_above_the_quotes_and_marked_in_its_card():
    text = "Intro line.\nKremlin spokesman Dmitry Peskov said Xi would visit <Moscow> on Monday.\nMore."
    start = text.index("Kremlin")
    end = text.index("\nMore")
    article = Article("a1", "Visit", text, published="2023-03-20", source="Wire")
    cited = Citation(1, "a1", "Visit", "2023-03-20", "Wire", None, start, end, text[start:end])
    answer = Answer("When?", text[start:end] + " [1]", False, [cited], sentences=[AnswerSentence(text[start:end], [1])])
    plain_message, plain_cards = answer_message(answer), citation_cards(answer, {"a1": article})
    assert "qa-short" not in plain_cards and not plain_message.startswith("**")  # no field: shown as before

    at = text.index("visit <Moscow>")
    answer.short_answer = ShortAnswer(text="visit <Moscow>", article_id="a1", start=at, end=at + len("visit <Moscow>"))
    message = answer_message(answer)
    assert message.startswith("**visit &lt;Moscow&gt;**\n") and message.index("**visit") < message.index("Kremlin")
    cards = citation_cards(answer, {"a1": article})
    marked = "<mark>Kremlin spokesman Dmitry Peskov said Xi would <mark class='qa-short'>visit &lt;Moscow&gt;</mark>"
    assert marked in cards
    # Without the article (only the quote), the same marks.
    assert "<mark class='qa-short'>visit &lt;Moscow&gt;</mark> on Monday.</mark>" in citation_cards(answer, {})
    # A span outside the cited sentence is not marked in it.
    answer.short_answer = ShortAnswer(text="Intro", article_id="a1", start=0, end=5)
    assert "qa-short" not in citation_cards(answer, {"a1": article}) and answer_message(answer) == plain_message
    answer.short_answer = None
    assert answer_message(answer) == plain_message and citation_cards(answer, {"a1": article}) == plain_cards


def test_an_ingest_waits_for_the_questions_in_flight_and_new_questions_wait_for_it():
    import threading

    from ui.app import SharedLock

    lock, order = SharedLock(), []

    def write():
        with lock.writing():
            order.append("ingest")

    def read():
        with lock.reading():
            order.append("second question")

    with lock.reading():
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=1)
        assert writer.is_alive()  # blocked by the question in flight
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=1)
        assert reader.is_alive()  # a new question waits behind the waiting ingest
        order.append("first question")
    writer.join(timeout=10)
    reader.join(timeout=10)
    assert order == ["first question", "ingest", "second question"]

    with lock.writing():  # one ingest at a time
        other = threading.Thread(target=write)
        other.start()
        other.join(timeout=1)
        assert other.is_alive()
        order.append("first ingest")
    other.join(timeout=10)
    assert order[-2:] == ["first ingest", "ingest"]


# -- uploads on the screen, and logins (issue 24) ---------------------------------------------------


def unescaped(markdown: str) -> str:
    """Markdown escaped by escape_markdown, read back as its text."""
    import re

    return html.unescape(re.sub(r"\\(.)", r"\1", markdown))


def test_an_upload_report_names_each_stored_file_and_each_warning(chat_server, tmp_path):
    from gradio_client import handle_file

    folder = tmp_path / "odd"
    folder.mkdir()
    renamed = folder / "new&name.txt"
    renamed.write_text("Title: Grain deal\nDate: 2023-03-24\n\nThe grain deal was extended for 60 days on Friday.\n")
    plain = folder / "dam-report.md"
    plain.write_text("---\ntitle: Dam report\ndate: 2023-03-24\n---\nThe Kakhovka dam report was published.\n")
    page = folder / "linked.html"
    page.write_text(
        '<html><head><title>Linked</title><link rel="canonical" href="javascript:alert(1)"></head>'
        "<body><p>The Odesa port handled more grain in March.</p></body></html>"
    )
    added, _, _ = client(chat_server).predict(
        [handle_file(str(p)) for p in (renamed, plain, page)], api_name="/add_files"
    )
    text = unescaped(added)
    assert text.startswith("**added 3, updated 0, unchanged 0, failed 0**"), text
    assert "✅ new&name.txt stored as new_name-244773ec.txt (renamed: its name had characters" in text
    assert text.count("new_name-244773ec.txt") == 1  # said once
    assert "✅ stored as dam-report.md" in text and "✅ stored as linked.html" in text
    # Each article added is named, with its date (or "undated").
    assert "➕ added: Grain deal (2023-03-24)" in text and "➕ added: Dam report (2023-03-24)" in text
    assert "➕ added: Linked (undated)" in text
    assert "⚠️ linked.html: url 'javascript:alert(1)' dropped: only http and https URLs are kept" in text
    answer = client(chat_server).predict("For how long was the grain deal extended?", api_name="/ask")
    assert answer["citations"] and answer["citations"][0]["title"] == "Grain deal"


def test_a_refused_upload_leaves_nothing_in_gradios_folder(tmp_path, embedder, splitter, monkeypatch):
    import httpx

    from qa.service import QAService
    from qa.settings import Settings

    home = tmp_path / "home"
    QAService(Settings(home=home), embedder=embedder, splitter=splitter).ingest([SAMPLE])
    gradio_folder = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(gradio_folder))
    with running_chat(home) as url:
        files = [("files", ("fine.txt", b"A fine file.\n")), ("files", ("..", b"Gradio refuses this name.\n"))]
        refused = httpx.post(f"{url}gradio_api/upload", files=files, timeout=60)
        assert refused.status_code == 400 and "Invalid file name" in refused.text
        # Gradio had written both files (one moved into a folder of its own) and tracked neither.
        assert [p for p in gradio_folder.rglob("*") if p.is_file()] == []
        status, body = upload_http(url, SAMPLE)  # a good upload is kept until it is added
        assert status == 200 and Path(json.loads(body)[0]).is_file()


def test_the_upload_folder_sweep_deletes_what_is_old_and_keeps_what_is_new(tmp_path):
    import os
    import time

    from ui.app import sweep_folder

    old_dir = tmp_path / "0f3a"
    old_dir.mkdir()
    old = old_dir / "old.txt"
    old.write_text("old")
    orphan = tmp_path / "tmpab12cd"
    orphan.write_text("left by a refused upload")
    new = tmp_path / "9c1e" / "new.txt"
    new.parent.mkdir()
    new.write_text("new")
    hour_ago = time.time() - 3600
    for path in (old, orphan, old_dir):
        os.utime(path, (hour_ago, hour_ago))
    # ctime cannot be set back: a file counts as old by its mtime when its ctime is old too
    assert sweep_folder(tmp_path, 300) == 0
    assert sweep_folder(tmp_path, -1) == 3
    assert list(tmp_path.iterdir()) == []


def test_failed_logins_slow_down_per_client(tmp_path, embedder, splitter):
    import time

    import httpx

    from qa.service import QAService
    from qa.settings import Settings

    home = tmp_path / "home"
    QAService(Settings(home=home), embedder=embedder, splitter=splitter).ingest([SAMPLE])
    with running_chat(home, "--auth", "editor:s3cret") as url:

        def login(password: str) -> tuple[int, float]:
            started = time.monotonic()
            response = httpx.post(f"{url}login", data={"username": "editor", "password": password}, timeout=120)
            return response.status_code, time.monotonic() - started

        statuses, took = zip(*(login("wrong") for _ in range(4)))
        assert statuses == (400, 400, 400, 400)
        # Waits of 0.5, 1 and 2 s after the first, second and third failures (a lower bound: load only adds).
        assert took[3] >= 2.0 and sum(took) >= 3.5
        status, _ = login("s3cret")  # the right password still works (after its wait), and resets the count
        assert status == 200
        assert login("wrong")[0] == 400
        answer = client(url, auth=("editor", "s3cret")).predict("What did Peskov say?", api_name="/ask")
        assert answer["citations"]


def test_login_throttle_doubles_the_wait_and_forgets_on_success():
    import asyncio

    from ui.app import LoginThrottle

    statuses = iter([400, 400, 400, 200, 400])

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": next(statuses), "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def ignore(message):
        pass

    throttle = LoginThrottle(app)
    throttle.FIRST_DELAY_S = 0.01
    scope = {"type": "http", "method": "POST", "path": "/login", "client": ("10.0.0.1", 5000)}
    waits = []
    for _ in range(5):
        waits.append(throttle.delay("10.0.0.1"))
        asyncio.run(throttle(scope, None, ignore))
    assert waits == [0.0, 0.01, 0.02, 0.04, 0.0]  # the success at the 4th attempt forgot the failures
    assert throttle.delay("10.0.0.2") == 0.0  # another client is not slowed


def test_questions_are_answered_while_an_upload_is_parsed_and_embedded(tmp_path, embedder, splitter):
    """The upload is ingested in a worker process: the server answers meanwhile (it used to hold the index
    for the whole ingest: a question then waited 100 s), and sees the new article when it is done."""
    import threading
    import time

    from qa.service import QAService
    from qa.settings import Settings

    home = tmp_path / "home"
    QAService(Settings(home=home), embedder=embedder, splitter=splitter).ingest([SAMPLE])
    big = tmp_path / "lighthouse.html"
    nested = "<div><span><table><tr><td>" * 400_000  # 10.8 MB of unclosed nested cells: seconds to parse
    big.write_text(
        f"<html><head><title>Lighthouse</title></head><body>{nested}"
        "The Odesa lighthouse was repainted in April by the port authority.</body></html>"
    )
    with running_chat(home) as url:
        status, body = upload_http(url, big)
        assert status == 200, body
        data = [[{"path": json.loads(body)[0], "orig_name": big.name, "meta": {"_type": "gradio.FileData"}}]]
        done: dict = {}

        def add() -> None:
            done["result"] = call_http(url, "add_files", data)
            done["at"] = time.monotonic()

        adding = threading.Thread(target=add)
        adding.start()
        kept = home / "uploads" / big.name
        while not kept.exists() and adding.is_alive():  # kept in the uploads area: its ingest has begun
            time.sleep(0.05)
        answer = client(url).predict("What did Peskov say?", api_name="/ask")
        answered_at = time.monotonic()
        assert answer["citations"]
        adding.join(timeout=600)
        event, result = done["result"]
        assert event == "complete" and result[0].startswith("**added 1,"), result
        assert answered_at < done["at"]  # answered before the upload's ingest ended
        lighthouse = client(url).predict("When was the Odesa lighthouse repainted?", api_name="/ask")
        assert lighthouse["citations"] and lighthouse["citations"][0]["title"] == "Lighthouse"


# -- plain words, the Library, errors in their place (issue 25) --------------------------------------


def test_cards_and_source_lines_name_each_article_once_in_plain_words():
    text = "First paragraph.\n\nThe minister said the port reopens.\nShe said the ferry runs daily."
    port, ferry = text.index("The minister"), text.index("She said")
    a = Article("a", "Port news", text, published="2023-03-20", source="Wire")
    b = Article("b", "Other report", "The port reopened on Monday.", source="Post")
    cited = [
        Citation(1, "a", "Port news", "2023-03-20", "Wire", None, port, port + 34, text[port : port + 34]),
        Citation(2, "b", "Other report", None, "Post", None, 0, 28, b.text),
        Citation(3, "a", "Port news", "2023-03-20", "Wire", None, ferry, len(text), text[ferry:]),
    ]
    answer = Answer("q", "x", False, cited, sentences=[AnswerSentence(c.quote, [c.n]) for c in cited])
    cards = citation_cards(answer, {"a": a, "b": b})
    assert cards.count("Port news") == 1 and cards.count("Other report") == 1  # one title per article
    assert cards.count("class='qa-card'") == 3 and cards.count("class='qa-source'") == 2
    assert "[1]</b> Exact quote, paragraph 2" in cards and "[3]</b> Exact quote, paragraph 3" in cards
    assert "characters" not in cards and f"a%7C{port}%7C{port + 34}" in cards  # the span stays in the link
    message = answer_message(answer)
    sources = message.split("\n\n")[-1].splitlines()
    assert len(sources) == 2 and sources[0].startswith("- Port news — Wire, 2023\\-03\\-20 · [\\[1\\]](#qa-cite=a%7C")
    assert "[\\[3\\]](#qa-cite=a%7C" in sources[0] and sources[1].startswith("- Other report — Post · [\\[2\\]]")
    assert "characters" not in message


@pytest.fixture(scope="module")
def library_server(tmp_path_factory, embedder, splitter):
    """A screen of its own (the tests delete articles): the sample article and two River Post articles."""
    service, _ = river_post_service(tmp_path_factory.mktemp("library"), embedder, splitter)
    with running_chat(service.settings.home) as url:
        yield url, service.settings.home


def listed_ids(table: dict) -> list[str]:
    return [row[-1] for row in table["data"]]


def test_the_library_lists_filters_and_opens_what_qa_list_does(library_server):
    url, home = library_server
    c = client(url)
    table, summary = c.predict("", [], "", "", api_name="/list_articles")
    cli = json.loads(run_qa(home, "list", "--json").stdout)
    assert listed_ids(table) == [a["id"] for a in cli] and summary.startswith("3 articles.")
    assert table["headers"] == ["Date", "Title", "Source", "People quoted", "Chunks", "ID"]
    sample = next(row for row in table["data"] if row[-1] not in ("ferry", "dam"))
    quoted = next(a["people"] for a in cli if a["id"] == sample[-1])
    assert len(quoted) > 3 and sample[3] == ", ".join(quoted[:3]) + f" +{len(quoted) - 3}"  # the most quoted first
    table, summary = c.predict("FERRY", ["River Post"], "2023", "", api_name="/list_articles")
    assert listed_ids(table) == ["ferry"] and summary.startswith("1 of 3 articles match")
    cli = json.loads(run_qa(home, "list", "--json", "--source", "River Post", "--since", "2023", "FERRY").stdout)
    assert [a["id"] for a in cli] == ["ferry"]
    # A bad date is refused with one message naming the field's problem; nothing is listed.
    with pytest.raises(Exception, match="'May' is not a date: use YYYY-MM-DD, YYYY-MM or YYYY"):
        c.predict("", [], "May", "", api_name="/list_articles")
    with pytest.raises(Exception, match="2023-03-31 is before the “from” date, 2023-04-01"):
        c.predict("", [], "2023-04", "2023-03", api_name="/list_articles")
    shown, *_ = c.predict("dam", api_name="/library_open")
    assert "<h3>Fenwick dam inspected</h3>" in shown and "Engineers inspected the Fenwick dam" in shown
    assert "<mark" not in shown
    assert "is no longer stored" in c.predict("<b>gone</b>", api_name="/library_open")[0]


def test_a_bad_date_given_to_the_chat_api_is_one_clear_message(library_server):
    url, _ = library_server
    with pytest.raises(Exception, match="'last week' is not a date") as refused:
        client(url).predict("What did Peskov say?", [], "extractive", [], "last week", "", api_name="/chat")
    assert "Error(" not in str(refused.value) and "Textbox(" not in str(refused.value)


def test_deleting_from_the_library_is_what_qa_delete_does(library_server):
    url, home = library_server
    c = client(url)
    said, table, summary, chosen, stats, *_ = c.predict("dam", "", [], "", "", api_name="/delete_article")
    assert "Deleted **Fenwick dam inspected** (2022\\-11\\-05)" in said
    assert "dam" not in listed_ids(table) and summary.startswith("2 articles.") and chosen == ""
    assert stats.startswith("**2** articles")
    assert [a["id"] for a in json.loads(run_qa(home, "list", "--json").stdout)] == listed_ids(table)
    # The screen's next question no longer finds it; an unknown id is said beside the button, and deletes nothing.
    answer = c.predict("What did the engineers inspect on Saturday?", api_name="/ask")
    assert all(x["article_id"] != "dam" for x in answer["citations"])
    said, table, *_ = c.predict("dam", "", [], "", "", api_name="/delete_article")
    assert "no article with id dam; nothing deleted" in unescaped(said) and len(table["data"]) == 2
    # `qa delete` in another process: the screen's list and header follow.
    done = run_qa(home, "delete", "ferry")
    assert done.returncode == 0, done.stderr
    table, summary = c.predict("", [], "", "", api_name="/list_articles")
    assert listed_ids(table) == [a["id"] for a in json.loads(run_qa(home, "list", "--json").stdout)]
    assert "ferry" not in listed_ids(table) and summary.startswith("1 article.")


def test_the_answerer_picker_lists_extractive_and_each_gguf_model_in_the_models_folder(tmp_path):
    """The screen as `qa serve` builds it (no server, no model loaded): the picker offers what qa/answerers.py
    finds, and a GGUF choice answers with the in-process backend and that file."""
    from test_answerers import chat_gguf

    from qa.answerers import EXTRACTIVE_LABEL, llama_cpp_installed
    from qa.service import QAService
    from qa.settings import Settings
    from ui.app import build

    folder = tmp_path / "models"
    folder.mkdir()
    tiny = chat_gguf(folder / "tiny-chat.gguf", name="Tiny Chat 2M")  # a header-only GGUF with a chat template
    (folder / "notes.gguf").write_text("not a model")
    service = QAService(Settings(home=tmp_path / "home", models_dir=folder))
    app = build(service)
    (picker,) = [c for c in app.config["components"] if c["props"].get("elem_id") == "qa-answerer"]
    choices = [tuple(c) for c in picker["props"]["choices"]]
    assert choices[0] == (EXTRACTIVE_LABEL, "extractive") and picker["props"]["value"] == "extractive"
    if not llama_cpp_installed():  # make test does not install llama-cpp-python: no model can run
        assert choices == [(EXTRACTIVE_LABEL, "extractive")]
        return
    assert len(choices) == 2 and "notes.gguf" not in str(choices)  # not a GGUF file: not offered
    label, value = choices[1]
    assert "Tiny Chat 2M" in label and "tiny-chat.gguf" in label
    answering = service.answering_with(value)
    assert (answering.settings.backend, answering.settings.llm_gguf) == ("llamacpp", tiny)
    assert answering.settings.home == service.settings.home and answering.store is service.store
    assert answering.model_loads_first()  # nothing loaded yet: the screen says so at the first answer
    assert service.answering_with(value) is answering  # built once
    assert service.answering_with("extractive") is service and not service.model_loads_first()
    with pytest.raises(ValueError, match="no answerer 'openai' is offered"):
        service.answering_with("openai")


# -- the selection, re-ingest, evaluation scopes and the people quoted, through the API (issue 25) ------


@pytest.fixture(scope="module")
def selection_server(tmp_path_factory, embedder, splitter):
    """A screen over the sample article and the two River Post reports (a served QAService over the same home)."""
    service, feed = river_post_service(tmp_path_factory.mktemp("selection-ui"), embedder, splitter)
    with running_chat(service.settings.home) as url:
        yield url, service, feed


def test_the_api_asks_a_selection_lists_people_re_ingests_and_evaluates_on_a_scope(selection_server):
    url, service, feed = selection_server
    c = client(url)
    sample = next(a["id"] for a in service.list_articles() if a["source"] == "ITV News")
    # /ask with article ids: the same as `qa ask --article`.
    assert c.predict("What did Peskov say?", "", "", "", "ferry,dam", api_name="/ask")["abstained"]
    answer = c.predict("What did Peskov say?", "", "", "", f"{sample},dam", api_name="/ask")
    assert {x["article_id"] for x in answer["citations"]} == {sample}
    # /people: the list `qa people` prints (QAService.people).
    table, said = c.predict(api_name="/people")
    assert [row[0] for row in table["data"]] == [p["name"] for p in service.people()]
    assert [row[2] for row in table["data"]] == [p["statements"] for p in service.people()]
    people = service.people()
    persons = [p["name"] for p in people if p["person"]]
    # The same count of people as the first screen's line; bodies such as "Kremlin" are speakers, not people.
    assert "Dmitry Peskov" in persons and "Kremlin" not in persons and "Kremlin" in [p["name"] for p in people]
    assert service.overview()["line"].endswith(f"{len(persons)} people quoted")
    assert said.startswith(f"{len(people)} speakers are quoted ({len(persons)} of them people, the others bodies")
    # /reingest: QAService.reingest_articles, as `qa reingest`.
    said, *_ = c.predict(["ferry"], "", "", [], "", "", api_name="/reingest")
    assert said.startswith("**Re-ingested: 0 updated, 1 unchanged, 0 failed**") and "Kherson ferry resumes" in said
    feed.write_text(feed.read_text().replace("on Monday.", "on Monday, after a year."))
    said, *_ = c.predict([], "ferry", "", [], "", "", api_name="/reingest")  # none chosen: the open article
    assert said.startswith("**Re-ingested: 1 updated") and "updated: Kherson ferry resumes (2023\\-04\\-03)" in said
    assert c.predict("When did the Kherson ferry resume its crossings?", "", "", "", "ferry", api_name="/ask")["citations"][0][
        "quote"
    ].endswith("after a year.")
    with pytest.raises(Exception, match="Choose articles"):
        c.predict([], "", "", [], "", "", api_name="/reingest")
    # /evaluate on the set's own articles: nothing else is retrieved.
    summary, *_ = c.predict("sample.jsonl", None, "own-articles", api_name="/evaluate")
    assert "Evaluated on the 1 stored article that holds the set" in summary
    with pytest.raises(Exception, match="Choose articles in the Library"):
        c.predict("sample.jsonl", None, "selection", api_name="/evaluate")
    with pytest.raises(Exception, match="has no corpus of its own here"):
        c.predict("wikinews-heldout.jsonl", None, "own-index", api_name="/evaluate")


def test_the_selection_words_and_people_rows_are_escaped():
    from ui.render import people_rows, pick_choices, reingest_markdown, selection_markdown

    from qa.types import IngestReport

    assert selection_markdown("Asking 1 article: <b>[x](javascript:1)</b> (undated)") == (
        "**Asking 1 article\\: &lt;b&gt;\\[x\\]\\(javascript\\:1\\)&lt;\\/b&gt; \\(undated\\)**"
    )
    assert pick_choices([{"id": "a", "title": "", "published": None}]) == [("a (undated)", "a")]
    row = people_rows([{"name": "N", "roles": ["a", "b"], "statements": 2, "reports": 1, "first": None, "last": "2023"}])
    assert row == [["N", "a, b", 2, 1, "undated", "2023"]]
    said = reingest_markdown(IngestReport(updated=["x"], errors=["x: *bad*"]), {})
    assert "- 🔄 updated: x" in said and "- ❌ x\\: \\*bad\\*" in said
