"""The `qa` console script, run as users run it: a real process, real files, a real index."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import QA, SAMPLE, cli_env


def qa(*args: str, home, check: bool = True, **env) -> subprocess.CompletedProcess:
    result = subprocess.run([str(QA), *args], env=cli_env(home, **env), capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"qa {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One index for the module: ingesting costs a model load per process."""
    home = tmp_path_factory.mktemp("cli") / "home"
    first = qa("ingest", str(SAMPLE), home=home)
    assert first.stdout.strip().endswith("added 1, updated 0, unchanged 0, failed 0")
    return home


def test_ask_json_has_the_public_shape_and_exact_quotes(home):
    answer = json.loads(qa("ask", "--json", "What did Peskov say?", home=home).stdout)
    public = ["question", "rewritten_question", "answer", "abstained", "citations", "passages", "timings_ms"]
    assert list(answer)[: len(public)] == public  # later fields come after these, never between
    assert answer["backend"] == "extractive" and [s["unsupported"] for s in answer["sentences"]] == [False, False]
    assert answer["question"] == "What did Peskov say?" and answer["rewritten_question"] is None
    assert answer["abstained"] is False
    citation_keys = ["n", "article_id", "title", "published", "source", "url", "start", "end", "quote"]
    assert all(list(c)[: len(citation_keys)] == citation_keys for c in answer["citations"])
    assert any("detailed explanation" in c["quote"] for c in answer["citations"])
    assert set(answer["passages"][0]) >= {"article_id", "chunk_id", "start", "end", "score", "text"}
    assert set(answer["timings_ms"]) == {"retrieve", "answer", "total"}

    ids = sorted({c["article_id"] for c in answer["citations"]})
    articles = json.loads(qa("article", *ids, "--json", home=home).stdout)
    assert [list(a) for a in articles] == [["id", "title", "published", "source", "url", "text"]]
    text = articles[0]["text"]
    for c in answer["citations"]:
        assert text[c["start"] : c["end"]] == c["quote"]
    for p in answer["passages"]:
        assert text[p["start"] : p["end"]] == p["text"]


def test_ask_plain_text_and_abstention(home):
    out = qa("ask", "What", "is", "the", "population", "of", "Moscow?", home=home).stdout
    assert out.strip() == "The articles don't say."


def test_ask_filters_by_source_and_date(home):
    dated = json.loads(qa("ask", "--json", "--since", "2023-03-01", "--until", "2023-03-31", "Peskov?", home=home).stdout)
    assert dated["abstained"] is False
    later = json.loads(qa("ask", "--json", "--since", "2024-01-01", "What did Peskov say?", home=home).stdout)
    assert later["abstained"] is True and later["passages"] == []
    elsewhere = json.loads(qa("ask", "--json", "--source", "Reuters", "What did Peskov say?", home=home).stdout)
    assert elsewhere["abstained"] is True
    bad = qa("ask", "--since", "2023-13-45", "Peskov?", home=home, check=False)
    assert bad.returncode == 2 and "'2023-13-45' is not a date" in bad.stderr


def test_stats_and_unknown_article(home):
    counts = json.loads(qa("stats", "--json", home=home).stdout)
    assert counts["articles"] == 1 and counts["chunks"] > 0
    missing = qa("article", "no-such-id", home=home, check=False)
    assert missing.returncode == 1 and "no article with id no-such-id" in missing.stderr


def test_ingest_exits_non_zero_and_names_the_bad_file(home, tmp_path):
    (tmp_path / "good.txt").write_text("Title: Good\n\nA good article about the summit.\n")
    (tmp_path / "bad.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # an image named .txt
    result = qa("ingest", str(tmp_path), "--if-empty", home=home)
    assert "nothing ingested" in result.stdout  # the index already holds the sample
    result = qa("ingest", str(tmp_path), home=home, check=False)
    assert result.returncode == 1
    assert f"error: {tmp_path / 'bad.txt'}: binary file" in result.stderr
    assert result.stdout.strip().endswith("added 1, updated 0, unchanged 0, failed 1")


def test_eval_runs_a_set_writes_the_report_and_compares_runs(home, tmp_path):
    set_path = tmp_path / "set.jsonl"
    set_path.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"id": "q1", "question": "What did Peskov say?", "answers": ["detailed explanation"], "evidence": [],
                 "tags": ["quote"]},
                {"id": "q2", "question": "What is the population of Moscow?", "answers": [], "evidence": []},
            ]
        )
    )
    out = tmp_path / "run"
    result = qa("eval", str(set_path), "--out", str(out), home=home)
    assert "hit@5" in result.stdout and "abstention recall" in result.stdout and f"report: {out}" in result.stdout
    assert "evaluating" in result.stderr  # the progress bar
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in results] == ["q1", "q2"]
    assert results[0]["scores"]["correct"] is True and results[1]["abstained"] is True
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == 1.0 and metrics["abstention_recall"] == 1.0 and metrics["hit@5"] == 1.0
    assert metrics["by_tag"]["quote"]["questions"] == 1
    assert {"report.md", "retrieval_at_k.png", "latency.png", "run.json"} <= {p.name for p in out.iterdir()}

    again = tmp_path / "again"
    qa("eval", str(set_path), "--out", str(again), "--home", str(home), home=tmp_path / "unused")
    compared = qa("eval", "compare", str(out), str(again), home=home).stdout
    assert "A: run" in compared and "B: again" in compared and "No question changed outcome." in compared

    set_path.write_text('{"id": "q1", "question": "Fine?", "answers": []}\n{"id": "q2"}\n')
    bad = qa("eval", str(set_path), "--out", str(out), home=home, check=False)
    assert bad.returncode == 1 and f"{set_path}:2: missing field 'question'" in bad.stderr


def test_eval_reads_rgb_files_and_ingests_their_passages(tmp_path):
    rgb = tmp_path / "en_fact.json"
    rgb.write_text(
        json.dumps({"id": 7, "query": "Which company acquired Instagram?", "answer": ["Facebook"],
                    "positive": ["Facebook acquired the photo-sharing app Instagram in 2012 for $1 billion."],
                    "negative": ["Twitter bought the video app Vine in 2012."]})
        + "\n"
    )
    home = tmp_path / "rgb-home"
    # What is tested is RGB's format and its passages' ingest: the rules reader, whose answer here is known.
    result = qa("eval", "--format", "rgb", str(rgb), "--out", str(tmp_path / "run"), home=home, QA_READER="rules")
    assert "1 questions; ingesting their 2 passages" in result.stderr and "added 2" in result.stderr
    record = json.loads((tmp_path / "run" / "results.jsonl").read_text())
    assert record["id"] == "rgb-7" and record["scores"]["hit@1"] == 1.0 and record["scores"]["correct"] is True


def test_missing_model_names_what_to_install(tmp_path):
    result = qa("ask", "anything", home=tmp_path / "h", check=False, QA_EMBEDDING_MODEL=str(tmp_path / "nope"))
    assert result.returncode == 1
    assert f"embedding model directory {tmp_path / 'nope'} is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_as_markdown_and_stats_with_the_last_update(home):
    markdown = qa("ask", "--markdown", "What did Peskov say?", home=home).stdout
    assert markdown.startswith("**What did Peskov say?**") and "\nSources:\n\n1. " in markdown
    assert "last updated 20" in qa("stats", home=home).stdout


def test_add_reads_pasted_text_from_standard_input(tmp_path):
    home = tmp_path / "home"
    text = "The Kherson ferry resumed service across the Dnipro on Wednesday."
    result = subprocess.run(
        [str(QA), "add", "--title", "Kherson ferry", "--date", "2023-03-22", "--source", "River Post"],
        input=text, env=cli_env(home), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "added 1, updated 0, unchanged 0, failed 0"
    answer = json.loads(qa("ask", "--json", "--source", "River Post", "When did the Kherson ferry resume?", home=home).stdout)
    assert answer["citations"][0]["title"] == "Kherson ferry" and answer["citations"][0]["published"] == "2023-03-22"


def test_serve_refuses_an_auth_without_a_password(tmp_path):
    result = qa("serve", "--auth", "editor", home=tmp_path, check=False)
    assert result.returncode == 1 and "invalid setting --auth: give it as USER:PASS" in result.stderr
