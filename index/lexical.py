"""The BM25 index over the stored chunks (bm25s), kept in step with Chroma and saved next to it.

bm25s cannot add to an index, so every ingest that changes the store rebuilds it from the
stored chunks (tens of thousands of chunks take seconds); questions never rebuild it. The
saved index records the store's fingerprint (every article's id and version): when the store
changed without it (a crash between the two writes, another writer), the mismatch is seen on
load and the index is rebuilt, so it cannot serve stale chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from index.store import ChromaStore
from index.terms import TermAnalyzer
from qa.types import Filters, Passage


def fingerprint(versions: dict[str, str]) -> str:
    """One hash of the store's state: which articles it holds, at which version."""
    digest = hashlib.sha256()
    for article_id in sorted(versions):
        digest.update(f"{article_id}\0{versions[article_id]}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ChunkInfo:
    """What filters need to know of a chunk without asking Chroma."""

    chunk_id: str
    source: str | None
    published: str | None  # YYYY-MM-DD


class BM25Index:
    def __init__(self, folder: Path, analyzer: TermAnalyzer | None = None):
        self.folder = folder
        self.analyzer = analyzer or TermAnalyzer()
        self.fingerprint: str | None = None
        self._bm25: bm25s.BM25 | None = None
        self._chunks: list[ChunkInfo] = []

    def __len__(self) -> int:
        return len(self._chunks)

    def build(self, passages: list[Passage], store_fingerprint: str) -> None:
        """Index these chunks and save the index, replacing the saved one in one rename."""
        self._chunks = [ChunkInfo(p.chunk_id, p.source, p.published) for p in passages]
        self._bm25 = None
        if passages:
            self._bm25 = bm25s.BM25()
            # An empty term list would make bm25s drop the document; a placeholder keeps rows aligned.
            corpus = [self.analyzer.terms(p.text) or ["\0"] for p in passages]
            self._bm25.index(corpus, show_progress=False)
        self.fingerprint = store_fingerprint
        self._save()

    def sync(self, store: ChromaStore) -> bool:
        """Make the index match the store (from memory, from disk, or rebuilt); True when rebuilt."""
        current = fingerprint(store.versions(None))
        if self.fingerprint == current or (self.load() and self.fingerprint == current):
            return False
        self.build(list(store.all_chunks()), current)
        return True

    def _save(self) -> None:
        staging = self.folder.with_name(self.folder.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(staging / "bm25"), show_progress=False)
        manifest = {"fingerprint": self.fingerprint, "chunks": [c.__dict__ for c in self._chunks]}
        (staging / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        old = self.folder.with_name(self.folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.folder.exists():
            os.replace(self.folder, old)
        os.replace(staging, self.folder)
        shutil.rmtree(old, ignore_errors=True)

    def load(self) -> bool:
        """Read the saved index; False when there is none or it cannot be read."""
        try:
            manifest = json.loads((self.folder / "manifest.json").read_text(encoding="utf-8"))
            chunks = [ChunkInfo(**c) for c in manifest["chunks"]]
            bm25 = bm25s.BM25.load(str(self.folder / "bm25"), show_progress=False) if chunks else None
        except (OSError, ValueError, KeyError, TypeError):
            return False
        self._chunks, self._bm25, self.fingerprint = chunks, bm25, manifest["fingerprint"]
        return True

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the k best chunks with a score above 0 that pass the filters."""
        terms = self.analyzer.terms(query)
        if self._bm25 is None or not terms:
            return []
        mask = None
        if filters:
            mask = np.array([filters.allows(c.source, c.published) for c in self._chunks], dtype=np.float32)
        k = min(k, len(self._chunks))
        docs, scores = self._bm25.retrieve([terms], k=k, show_progress=False, weight_mask=mask, n_threads=1)
        return [(self._chunks[d].chunk_id, float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]
