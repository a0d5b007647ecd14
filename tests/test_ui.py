"""The chat screen, served for real by `qa serve` and used through gradio_client and plain HTTP."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest
from conftest import QA, SAMPLE, cli_env, free_port, wait_for_http

from qa.types import Answer, Citation
from ui.app import citations_html


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, splitter):
    from qa.service import QAService
    from qa.settings import Settings

    home = tmp_path_factory.mktemp("ui") / "home"
    QAService(Settings(home=home), embedder=embedder, splitter=splitter).ingest([SAMPLE])
    port = free_port()
    log_path = home / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(QA), "serve", "--port", str(port)], env=cli_env(home), stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    wait_for_http(url, process, log_path, seconds=180)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_page_is_served_on_loopback(server):
    assert server.startswith("http://127.0.0.1:")
    page = urllib.request.urlopen(server, timeout=10).read().decode()
    assert "qa — answers from the articles" in page


def test_ask_endpoint_returns_the_cli_json(server):
    from gradio_client import Client

    answer = Client(server, verbose=False).predict("What did Peskov say?", api_name="/ask")
    assert list(answer)[:4] == ["question", "rewritten_question", "answer", "abstained"]
    assert any("detailed explanation" in c["quote"] for c in answer["citations"])


def test_chat_keeps_history_and_shows_cited_passages(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    box, messages, cited = client.predict("What did Peskov say?", [], api_name="/chat")
    assert box == ""
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert "[1]" in str(messages[1]["content"])
    assert "detailed explanation" in cited and "characters" in cited
    _, messages, cited = client.predict("What is the population of Moscow?", messages, api_name="/chat")
    assert len(messages) == 4
    assert "No passage of the articles answers" in cited


def test_citation_cards_escape_article_text():
    hostile = "<img src=x onerror=alert(1)> and <script>alert(2)</script>"
    answer = Answer(
        question="q",
        answer="a [1]",
        abstained=False,
        citations=[Citation(1, "id", "<b>title</b>", "2023-03-20", "<i>src</i>", None, 0, len(hostile), hostile)],
    )
    html = citations_html(answer)
    assert "<img" not in html and "<script" not in html and "<b>title" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_evaluate_tab_runs_a_bundled_set_and_reports(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    summary, retrieval, quality, by_tag, plots, worst = client.predict("sample.jsonl", None, api_name="/evaluate")
    assert "54 questions" in summary and "| 5   | " in retrieval and "| MRR" in retrieval
    assert "| answers    | accuracy" in quality and "| follow-up" in by_tag
    assert [p["caption"] for p in plots] == ["Retrieval by k", "What happened to each question", "Answer latency"]
    assert all(open(p["image"], "rb").read(8) == b"\x89PNG\r\n\x1a\n" for p in plots)
    assert worst.startswith("### Worst failures")

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "Q?", "answers": []}\n{"id": "b"}\n')
    with pytest.raises(Exception, match=r"bad.jsonl:2: missing field 'question'"):
        client.predict("sample.jsonl", handle_file(str(bad)), api_name="/evaluate")
