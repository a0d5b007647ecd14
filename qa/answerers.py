"""What can answer a question now: the answerer picker's choices (issue 26).

`discover(settings)` lists, in this order:

1. the extractive answerer, "extractive (offline)": always there, no model;
2. each GGUF file in `settings.models_dir` (`QA_MODELS_DIR`, default `./models`) whose header passes the
   same check a load makes (`qa.llamacpp.check_gguf`: magic, version 2 or 3, an architecture, and for the
   pinned Qwen models their architecture, name and byte size), with that metadata: run in this process
   by the `llamacpp` backend. Files that fail the check, or all of them when llama-cpp-python is not
   installed, are listed apart (`Discovery.skipped`) with the reason, so the screen can say why a file
   in the folder is not offered;
3. each model of an Ollama server, when one answers at `ollama_url` (default http://127.0.0.1:11434, its own
   default address) within `timeout` seconds (`GET /api/tags`). No server, a refused connection, a slow
   or garbled reply: no Ollama answerer, and the reason in `Discovery.ollama_problem`.

Nothing is loaded and no model is asked anything: only headers are read (a few MB of each file) and one
HTTP request is made, so the list is cheap enough to build when the screen opens. The SHA-256 of a
pinned model is not computed here (a gigabyte takes seconds): `python -m qa.llamacpp check FILE` does it.

`Answerer.settings(base)` gives the Settings that answer with that choice, so the picker needs no knowledge
of the backends: `QAService(answerer.settings(settings))`.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from qa.llamacpp import LlamaCppError, check_gguf, pinned_for
from qa.settings import Settings

OLLAMA_URL = "http://127.0.0.1:11434"
OLLAMA_TIMEOUT = 0.5  # seconds: a local server answers /api/tags in milliseconds; the picker must not wait
EXTRACTIVE_LABEL = "extractive (offline)"

Backend = Literal["extractive", "llamacpp", "ollama"]


@dataclass(frozen=True)
class GGUFInfo:
    """A GGUF file's checked header: what the picker shows beside its name."""

    path: Path
    size: int                       # bytes
    version: int                    # GGUF version (2 or 3)
    architecture: str               # general.architecture, e.g. "qwen2", "llama"
    name: str | None                # general.name, if the file has one
    parameters: str | None          # general.size_label (e.g. "1.5B"), if the file has one
    quantization: int | None        # general.file_type (llama.cpp's ftype number), if the file has one
    context_length: int | None      # {architecture}.context_length, if the file has one
    chat_template: bool             # tokenizer.chat_template present: the llamacpp backend needs it to chat
    pinned: str | None              # the pinned model it is (qa.llamacpp.PINNED), checked; None for any other


@dataclass(frozen=True)
class OllamaModel:
    name: str                       # what `--llm-model` takes, e.g. "qwen2.5:1.5b"
    size: int | None                # bytes, as the server reports them
    parameters: str | None          # details.parameter_size, e.g. "1.5B"
    quantization: str | None        # details.quantization_level, e.g. "Q4_K_M"


@dataclass(frozen=True)
class Answerer:
    """One choice of the picker."""

    label: str                      # shown in the picker, unique in a Discovery
    backend: Backend
    gguf: GGUFInfo | None = None    # llamacpp: the file
    ollama: OllamaModel | None = None
    base_url: str | None = None     # ollama: the server

    def settings(self, base: Settings) -> Settings:
        """`base` with this answerer chosen (the index, filters and limits unchanged)."""
        chosen: dict = {"backend": self.backend}
        if self.backend == "llamacpp":
            chosen["llm_gguf"] = self.gguf.path
        elif self.backend == "ollama":
            chosen |= {"llm_model": self.ollama.name, "llm_base_url": self.base_url}
        return base.model_copy(update=chosen)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


@dataclass(frozen=True)
class Skipped:
    """A GGUF file in the models folder that cannot answer now, and why (one line)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Discovery:
    answerers: list[Answerer]
    skipped: list[Skipped] = field(default_factory=list)
    models_dir: Path | None = None
    ollama_url: str | None = None
    ollama_problem: str | None = None  # why no Ollama answerer is listed (None when the server answered)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def gguf_info(path: str | Path) -> GGUFInfo:
    """The checked header of one file; raises LlamaCppError as a load would (not GGUF, damaged, not the pinned
    model)."""
    path = Path(path)
    header = check_gguf(path)
    meta = header["metadata"]
    architecture = meta["general.architecture"]
    pinned = pinned_for(path, header)

    def scalar(key: str, kind: type):
        value = meta.get(key)
        return value if isinstance(value, kind) and not isinstance(value, bool) else None

    return GGUFInfo(
        path=path,
        size=header["size"],
        version=header["version"],
        architecture=str(architecture),
        name=scalar("general.name", str),
        parameters=scalar("general.size_label", str),
        quantization=scalar("general.file_type", int),
        context_length=scalar(f"{architecture}.context_length", int),
        chat_template=isinstance(meta.get("tokenizer.chat_template"), str),
        pinned=pinned.name if pinned else None,
    )


def gguf_files(models_dir: str | Path) -> tuple[list[GGUFInfo], list[Skipped]]:
    """Every `*.gguf` directly in `models_dir` (sorted by name), as checked headers or with the reason it is skipped.
    A missing folder holds nothing. Files still being built (`*.gguf.partial`) are not `*.gguf` and are not seen."""
    folder = Path(models_dir)
    if not folder.is_dir():
        return [], []
    found, skipped = [], []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".gguf"):
        if not path.is_file():  # a directory, a broken link, a pipe
            skipped.append(Skipped(path, "not a regular file"))
            continue
        try:
            info = gguf_info(path)
        except LlamaCppError as exc:
            skipped.append(Skipped(path, " ".join(str(exc).split())))
            continue
        if not info.chat_template:
            skipped.append(Skipped(path, f"{path.name} has no chat template (tokenizer.chat_template): "
                                         "it cannot be asked as a chat model"))
            continue
        found.append(info)
    return found, skipped


def ollama_models(url: str = OLLAMA_URL, timeout: float = OLLAMA_TIMEOUT) -> list[OllamaModel]:
    """The models of the Ollama server at `url` (`GET /api/tags`). Raises OSError when none answers in time,
    ValueError when what answers does not speak Ollama's API."""
    with urllib.request.urlopen(url.rstrip("/") + "/api/tags", timeout=timeout) as response:
        body = response.read(4 << 20)
    try:
        listed = json.loads(body)["models"]
        if not isinstance(listed, list):
            raise TypeError("models is not a list")
        models = []
        for m in listed:
            details = m.get("details") or {}
            name = m.get("name") or m.get("model")
            if not isinstance(name, str) or not name:
                raise TypeError("a model without a name")
            models.append(OllamaModel(
                name=name,
                size=m.get("size") if isinstance(m.get("size"), int) else None,
                parameters=details.get("parameter_size") if isinstance(details.get("parameter_size"), str) else None,
                quantization=(details.get("quantization_level")
                              if isinstance(details.get("quantization_level"), str) else None),
            ))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{url} answered /api/tags with something that is not Ollama's model list ({exc})") from exc
    return models


def _gguf_label(info: GGUFInfo) -> str:
    shown = info.name or info.path.stem
    return f"{shown} ({info.path.name}, in process)" if info.name else f"{info.path.name} (in process)"


def discover(settings: Settings | None = None, *, ollama_url: str | None = OLLAMA_URL,
             timeout: float = OLLAMA_TIMEOUT) -> Discovery:
    """What can answer now (see the module's docstring). `ollama_url=None` does not look for Ollama."""
    settings = settings or Settings()
    answerers = [Answerer(label=EXTRACTIVE_LABEL, backend="extractive")]
    infos, skipped = gguf_files(settings.models_dir)
    if infos and not llama_cpp_installed():
        skipped += [Skipped(i.path, "llama-cpp-python is not installed (make .venv/.llm-installed)") for i in infos]
        infos = []
    answerers += [Answerer(label=_gguf_label(i), backend="llamacpp", gguf=i) for i in infos]
    problem = None
    if ollama_url:
        try:
            models = ollama_models(ollama_url, timeout)
        except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            why = " ".join(str(reason).split()) or type(exc).__name__
            problem = f"no Ollama server answers at {ollama_url} ({why})"
        else:
            if not models:
                problem = f"the Ollama server at {ollama_url} has no models (ollama pull NAME)"
            answerers += [Answerer(label=f"{m.name} (Ollama)", backend="ollama", ollama=m, base_url=ollama_url)
                          for m in models]
    # Labels are what the picker returns: two files with one general.name are told apart by their file names,
    # which _gguf_label includes, so labels are unique unless Ollama has a model named like a label.
    seen: set[str] = set()
    unique = []
    for a in answerers:
        label, n = a.label, 2
        while label in seen:
            label, n = f"{a.label} #{n}", n + 1
        seen.add(label)
        unique.append(a if label == a.label else Answerer(label, a.backend, a.gguf, a.ollama, a.base_url))
    return Discovery(unique, skipped, Path(settings.models_dir), ollama_url, problem)


def answerers(settings: Settings | None = None, **kwargs) -> list[Answerer]:
    """The picker's choices: `discover(...).answerers`."""
    return discover(settings, **kwargs).answerers


def _same_model(a: Answerer, settings: Settings) -> bool:
    """Whether `a` is the chat model the settings already configure (flags or environment)."""
    if a.backend != settings.backend:
        return False
    if a.backend == "llamacpp":
        return bool(settings.llm_gguf) and Path(a.gguf.path).resolve() == Path(settings.llm_gguf).resolve()
    return a.ollama.name == settings.llm_model and (a.base_url or "").rstrip("/") == (
        settings.llm_base_url or OLLAMA_URL).rstrip("/")


def _configured_label(settings: Settings) -> str:
    if settings.backend == "llamacpp":
        shown = Path(settings.llm_gguf).name if settings.llm_gguf else "no model file"
        return f"{shown} (in process, configured)"
    return f"{settings.llm_model or 'no model'} ({settings.backend}, configured)"


def picker(settings: Settings, found: Discovery) -> list[tuple[str, str]]:
    """The screen's answerer picker: (label shown, value) pairs, extractive first. The value is what the chat
    takes (and `chosen_settings` turns into settings): a backend's name for the extractive answerer and for
    the chat model the settings configure (`settings.backends`, what the picker offered before), the label
    for each other answerer `found` lists (a GGUF file, an Ollama model)."""
    choices = [(EXTRACTIVE_LABEL, "extractive")]
    if settings.backend != "extractive":
        choices.append((_configured_label(settings), settings.backend))
    taken = {value for _, value in choices}
    for a in found.answerers:
        if a.backend == "extractive" or _same_model(a, settings) or a.label in taken:
            continue
        choices.append((a.label, a.label))
        taken.add(a.label)
    return choices


def chosen_settings(choice: str, settings: Settings, found: Discovery) -> Settings:
    """The settings that answer with the picker's `choice` (a value of `picker(settings, found)`): a configured
    backend's name keeps `settings` with that backend; a discovered answerer's label gives its settings.
    ValueError for anything else."""
    if choice in settings.backends:
        return settings if choice == settings.backend else settings.model_copy(update={"backend": choice})
    for a in found.answerers:
        if a.label == choice and a.backend != "extractive":
            return a.settings(settings)
    offered = ", ".join(value for _, value in picker(settings, found))
    raise ValueError(f"no answerer {choice!r} is offered (offered: {offered})")


def describe(found: Discovery) -> list[str]:
    """`found` as lines of text: each choice with the flags that select it, then what was skipped and why."""
    lines = []
    for a in found.answerers:
        if a.gguf:
            g = a.gguf
            extra = ", ".join(x for x in (g.architecture, g.parameters, f"{g.size:,} bytes",
                                          f"pinned {g.pinned}" if g.pinned else None) if x)
            lines.append(f"{a.label}: --backend llamacpp --llm-gguf {g.path}  [{extra}]")
        elif a.ollama:
            lines.append(f"{a.label}: --backend ollama --llm-model {a.ollama.name} --llm-base-url {a.base_url}")
        else:
            lines.append(f"{a.label}: --backend extractive")
    lines += [f"skipped {s.path}: {s.reason}" for s in found.skipped]
    if found.ollama_problem:
        lines.append(found.ollama_problem)
    return lines


def main(argv: list[str] | None = None) -> int:
    """`python -m qa.answerers [--json]`: what `qa answerers` would print."""
    import argparse

    parser = argparse.ArgumentParser(description="List what can answer now: extractive, GGUF models, Ollama.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--models-dir", type=Path, help="folder of GGUF models [env QA_MODELS_DIR]")
    parser.add_argument("--ollama-url", default=OLLAMA_URL)
    parser.add_argument("--timeout", type=float, default=OLLAMA_TIMEOUT)
    args = parser.parse_args(argv)
    settings = Settings(**({"models_dir": args.models_dir} if args.models_dir else {}))
    found = discover(settings, ollama_url=args.ollama_url, timeout=args.timeout)
    print(json.dumps(found.to_dict(), indent=1, ensure_ascii=False) if args.json else "\n".join(describe(found)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
