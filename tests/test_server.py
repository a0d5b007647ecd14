"""Client/server mode: a real `chroma run` server, started here, used through `--chroma-host/--chroma-port`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import QA, SAMPLE, cli_env, free_port, wait_for_http

from index.store import ChromaStore, StoreError
from qa.settings import Settings

CHROMA = Path(sys.executable).with_name("chroma")


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    command = [str(CHROMA if CHROMA.exists() else shutil.which("chroma")), "run", "--path", str(data), "--port", str(port)]
    log = (data / "server.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    wait_for_http(f"http://localhost:{port}/api/v2/heartbeat", server, data / "server.log", seconds=60)
    yield port
    server.terminate()
    server.wait(timeout=30)
    log.close()


def test_ingest_and_ask_through_a_chroma_server(chroma_server, make_service, tmp_path, corpus):
    settings = Settings(home=tmp_path / "local", chroma_host="localhost", chroma_port=chroma_server, collection="srv")
    service = make_service(settings)
    assert service.store.location == f"Chroma server at localhost:{chroma_server}"
    assert len(service.ingest([corpus]).added) == 1
    assert len(service.ingest([corpus]).unchanged) == 1
    answer = service.ask("What did Peskov say?")
    assert any("detailed explanation" in c.quote for c in answer.citations)
    (article,) = service.articles([answer.citations[0].article_id])
    assert all(article.text[c.start : c.end] == c.quote for c in answer.citations)
    # The server holds the index; only the BM25 cache derived from it is local.
    assert not settings.chroma_path.exists()
    assert [p.name for p in (tmp_path / "local").iterdir()] == ["bm25"]


def test_cli_flags_reach_the_server(chroma_server, tmp_path):
    env = cli_env(tmp_path / "home")
    flags = ["--chroma-host", "localhost", "--chroma-port", str(chroma_server), "--collection", "cli"]
    ingest = subprocess.run([str(QA), "ingest", str(SAMPLE), *flags], env=env, capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr
    stats = subprocess.run([str(QA), "stats", "--json", *flags], env=env, capture_output=True, text=True, timeout=300)
    assert json.loads(stats.stdout)["articles"] == 1
    assert json.loads(stats.stdout)["store"] == f"Chroma server at localhost:{chroma_server}"


def test_unreachable_server_is_a_clear_error(tmp_path):
    port = free_port()  # nothing listens there
    with pytest.raises(StoreError, match=f"cannot reach the Chroma server at 127.0.0.1:{port}"):
        ChromaStore(Settings(home=tmp_path, chroma_host="127.0.0.1", chroma_port=port))
