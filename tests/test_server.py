"""Client/server mode: a real `chroma run` server, started here, used through `--chroma-host/--chroma-port`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import chromadb
import pytest
from conftest import QA, SAMPLE, cli_env, free_port, wait_for_http
from test_storage import one_line_error, write_articles

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
    # The server holds the index; locally only the BM25 cache derived from it, and the write lock and store
    # version every writer and reader of this server on this machine shares (README: "One writer at a time").
    assert not settings.chroma_path.exists()
    local = {p.name for p in (tmp_path / "local").iterdir()}
    assert "bm25" in local and not {name for name in local if "chroma" in name}
    assert local <= {"bm25", "generation", "write.lock", "write.lock.holder", "store.lock", "store.gate"}, local


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


# -- the server failing under us: killed, stopped, restarted ------------------------------------


class ChromaServer:
    """A `chroma run` of our own, to kill (SIGKILL), stop (SIGSTOP) and restart on the same data and port."""

    def __init__(self, data: Path):
        self.data, self.port, self.process = data, free_port(), None
        self.start()

    def start(self) -> None:
        chroma = str(CHROMA if CHROMA.exists() else shutil.which("chroma"))
        log_path = self.data.with_suffix(".log")
        with log_path.open("a") as log:
            command = [chroma, "run", "--path", str(self.data), "--port", str(self.port)]
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for_http(f"http://localhost:{self.port}/api/v2/heartbeat", self.process, log_path, seconds=60)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process does not die of SIGTERM until it runs
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def own_server(tmp_path):
    server = ChromaServer(tmp_path / "server-data")
    yield server
    server.close()


def server_settings(server: ChromaServer, home: Path, **more) -> Settings:
    return Settings(home=home, chroma_host="localhost", chroma_port=server.port, collection="faults", **more)


def server_flags(server: ChromaServer) -> list[str]:
    return ["--chroma-host", "localhost", "--chroma-port", str(server.port), "--collection", "faults"]


def within(seconds: float, call):
    """call(), failing the test (not hanging it) when it has not returned after `seconds`."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still waiting after {seconds} s: no timeout on the Chroma client"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_qa(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(QA), *args], env=cli_env(home, **env), capture_output=True, text=True, timeout=600)


def test_a_killed_server_is_one_line_and_once_restarted_nothing_is_lost(own_server, make_service, tmp_path, corpus):
    where = f"Chroma server at localhost:{own_server.port}"
    service = make_service(server_settings(own_server, tmp_path / "home"))
    service.ingest([corpus])
    before = service.stats()
    answer = service.ask("What did Peskov say?")
    assert answer.citations

    own_server.kill()
    lost = f"lost the connection to the {where} "
    with pytest.raises(StoreError, match=lost) as failure:
        service.ask("Who welcomed China's peace plan?")
    assert "\n" not in str(failure.value)
    (corpus / "more.txt").write_text("Title: More\n\nPeskov said more talks would follow in April.\n")
    with pytest.raises(StoreError, match=lost):
        service.ingest([corpus])
    # A new command cannot reach it either: one line, exit code 1, no traceback.
    for command in (["ask", "What did Peskov say?"], ["ingest", str(corpus)], ["stats"]):
        line = one_line_error(run_qa(tmp_path / "home", *command, *server_flags(own_server)))
        assert line.startswith(f"Error: cannot reach the {where}: ")

    own_server.start()  # the same data, the same port: the service in this process carries on
    assert service.stats() == before
    again = service.ask("What did Peskov say?")
    assert [c.quote for c in again.citations] == [c.quote for c in answer.citations]
    report = service.ingest([corpus])
    assert (len(report.added), len(report.unchanged)) == (1, 1)
    assert service.stats()["articles"] == 2


def test_a_server_killed_mid_ingest_is_one_line_and_a_rerun_completes(own_server, make_service, tmp_path):
    articles = tmp_path / "articles"
    write_articles(articles, 80, seed=3)  # three write batches: the kill comes while later ones are embedded
    flags = server_flags(own_server)
    ingest = subprocess.Popen(
        [str(QA), "ingest", str(articles), *flags],
        env=cli_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = chromadb.HttpClient(host="localhost", port=own_server.port)
    deadline = time.monotonic() + 300
    while not any(c.name == "faults_articles" and c.count() for c in client.list_collections()):
        assert ingest.poll() is None and time.monotonic() < deadline, "the ingest ended before writing anything"
        time.sleep(0.2)
    own_server.kill()  # the first batch is committed; the rest is still being embedded
    _, stderr = ingest.communicate(timeout=300)
    done = subprocess.CompletedProcess(ingest.args, ingest.returncode, "", stderr)
    line = one_line_error(done)
    assert line.startswith(f"Error: lost the connection to the Chroma server at localhost:{own_server.port} (")

    own_server.start()
    rerun = run_qa(tmp_path / "home", "ingest", str(articles), *flags)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    service = make_service(server_settings(own_server, tmp_path / "home"))
    stats = service.stats()
    assert stats["articles"] == 80
    raw = {role: getattr(service.store, f"_{role}").count() for role in ("chunks", "sentences")}
    assert raw == {"chunks": stats["chunks"], "sentences": stats["sentences"]}  # no row of an interrupted write


def test_a_stopped_server_times_out_in_one_line_and_answers_once_resumed(own_server, make_service, tmp_path, corpus):
    where = f"Chroma server at localhost:{own_server.port}"
    service = make_service(server_settings(own_server, tmp_path / "home", chroma_timeout=2))
    service.ingest([corpus])
    before = service.stats()

    os.kill(own_server.process.pid, signal.SIGSTOP)  # frozen: connections open, nothing answers
    with pytest.raises(StoreError, match=f"the {where} did not answer within 2 s \\(QA_CHROMA_TIMEOUT\\)"):
        within(60, service.stats)
    with pytest.raises(StoreError, match="did not answer within 2 s"):
        within(60, lambda: service.ask("What did Peskov say?"))
    for command in (["stats"], ["ask", "What did Peskov say?"]):
        done = run_qa(tmp_path / "home", *command, *server_flags(own_server), QA_CHROMA_TIMEOUT="2")
        assert one_line_error(done) == f"Error: cannot reach the {where}: no answer within 2 s (QA_CHROMA_TIMEOUT)"

    os.kill(own_server.process.pid, signal.SIGCONT)
    assert service.stats() == before
    assert service.ask("What did Peskov say?").citations
