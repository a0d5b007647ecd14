"""The BM25 index over the stored chunks, kept in step with Chroma and saved next to it.

Why not a library: bm25s (used before) cannot add to an index, so every ingest re-read every
chunk from Chroma and re-tokenised it: seconds at 10,000 chunks, a minute at 100,000, to add
one article. This index keeps each chunk's term counts, so a change costs what changed:

- a main segment, term-major (for each term, the chunks holding it and how often), saved as
  .npy files that load memory-mapped (a cold start reads none of it until a question needs it);
- deltas: the chunks added since, and the articles removed, each saved as one small file;
- document frequencies, lengths and the live-chunk mask in memory, so scores are exactly those
  of a full rebuild at every moment (BM25 as Lucene and bm25s compute it, k1 1.5, b 0.75).
  Deltas are merged into a new main segment once they (and removed chunks) pass a tenth of the chunks.

Crash safety: `manifest.json` (replaced in one rename, last) names the main segment and the
deltas, and records the store's fingerprint (every article's id and version) and the version
indexed of each article. Files it does not name are leftovers and are removed. When the store
changed without the index (a crash between the two writes, another writer), `sync` sees the
fingerprint differ and applies the difference, article by article; questions never rebuild it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.terms import TermAnalyzer
from qa.types import Filters, Passage, day_number

if TYPE_CHECKING:
    from index.store import ChromaStore

K1, B = 1.5, 0.75  # BM25's usual constants (Lucene's and bm25s' defaults)
FORMAT = 2  # 1 was the bm25s folder: it is rebuilt from the store once
MERGE_FRACTION = 0.1  # deltas are merged into the main segment past this share of the chunks
MERGE_MIN_DOCS = 1000  # (and past this many chunks added or removed since: small indexes keep their deltas)
FULL_REBUILD_FRACTION = 0.25  # a sync that changes more articles than this re-reads the whole store


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
    article_id: str = ""


@dataclass
class _Counts:
    """Doc-major term counts of some chunks: entry e is (doc[e], term[e], tf[e])."""

    doc: np.ndarray  # int64, local doc index
    term: np.ndarray  # int64
    tf: np.ndarray  # float32

    @staticmethod
    def empty() -> _Counts:
        return _Counts(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))


class BM25Index:
    def __init__(self, folder: Path, analyzer: TermAnalyzer | None = None):
        self.folder = folder
        self.analyzer = analyzer or TermAnalyzer()
        # Searches and changes in one process take turns (the screen answers on several threads);
        # processes sharing the folder take turns to change it (`sync` holds `<folder>.lock`).
        self._mutex = threading.RLock()
        self._disk_stamp: tuple | None = None  # the saved manifest this index is (after load or save)
        self.fingerprint: str | None = None
        self.versions: dict[str, str] = {}  # article id -> version indexed
        self._reset()

    def _reset(self) -> None:
        self._vocab: dict[str, int] = {}
        self._terms: list[str] = []
        self._chunks: list[ChunkInfo] = []  # every doc, main segment first, then the deltas' docs
        self._alive = np.zeros(0, bool)
        self._lengths = np.zeros(0, np.float32)
        self._df = np.zeros(0, np.int64)
        # Main segment, term-major: the docs of term t are _docs[_ptr[t]:_ptr[t + 1]].
        self._ptr = np.zeros(1, np.int64)
        self._docs = np.zeros(0, np.int64)
        self._tfs = np.zeros(0, np.float32)
        self._main_docs = 0
        self._main_name: str | None = None
        self._delta = _Counts.empty()  # docs >= _main_docs, doc-major, doc numbers global
        self._delta_files: list[str] = []
        self._by_article: dict[str, list[int]] = {}
        self._sources: dict[str, int] = {}
        self._source_codes = np.zeros(0, np.int64)
        self._days = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self._alive.sum())

    # -- building and changing -----------------------------------------------------------------

    def build(self, passages: Iterable[Passage], store_fingerprint: str, versions: dict[str, str] | None = None) -> None:
        """Index these chunks as a new main segment and save it (replacing any saved index)."""
        self._reset()
        counts = self._append(list(passages))
        self._write_main(counts)
        self.versions = dict(versions or {})
        self.fingerprint = store_fingerprint
        self._write_manifest()

    def sync(self, store: ChromaStore, changed: Iterable[str] | None = None) -> bool:
        """Make the index match the store (from memory, from disk, or by applying what changed);
        True when it changed. What changed is found by comparing the article versions the index
        recorded with the store's: only those articles' chunks are read and tokenised.

        `changed`: the ids of the articles a writer just added, updated or removed. Then only their
        versions are read from the store (not every article's: a scan of the whole collection per
        added article). Without it (a new process, after a crash) every version is compared.

        Another process (a writer, or a server that synced first) may have saved a newer index in
        the folder: it is loaded first, so what this one saves includes it."""
        with self._mutex, self._disk_lock():
            if self.fingerprint is not None and self._disk_changed() and not self.load():
                self._reset()
                self.fingerprint, self.versions = None, {}
            return self._sync(store, changed)

    @contextmanager
    def _disk_lock(self):
        from filelock import FileLock

        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.folder) + ".lock")
            lock.acquire()
        except OSError:  # a read-only home: nothing is saved there anyway
            lock = None
        try:
            yield
        finally:
            if lock is not None:
                lock.release()

    def _stamp(self) -> tuple | None:
        try:
            info = (self.folder / "manifest.json").stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _disk_changed(self) -> bool:
        return self._stamp() != self._disk_stamp

    def _sync(self, store: ChromaStore, changed: Iterable[str] | None = None) -> bool:
        if changed is not None and (self.fingerprint is not None or self.load()):
            return self._sync_changed(store, sorted(set(changed)))
        versions = store.versions(None)
        current = fingerprint(versions)
        if self.fingerprint == current:
            return False
        if self.fingerprint is None and self.load() and self.fingerprint == current:
            return False
        if self.fingerprint is None:
            self.build(store.all_chunks(), current, versions)
            return True
        stale = {a for a, v in self.versions.items() if versions.get(a) != v}
        fresh = {a for a, v in versions.items() if self.versions.get(a) != v}
        if len(stale | fresh) > max(50, FULL_REBUILD_FRACTION * len(versions)):
            self.build(store.all_chunks(), current, versions)
            return True
        self.apply(remove=stale, add=store.chunks_of(sorted(fresh)), versions=versions, store_fingerprint=current)
        return True

    def _sync_changed(self, store: ChromaStore, ids: list[str]) -> bool:
        now = store.versions(ids)  # absent: removed
        stale = [a for a in ids if a in self.versions and self.versions[a] != now.get(a)]
        fresh = [a for a in ids if a in now and self.versions.get(a) != now[a]]
        if not stale and not fresh:
            return False
        versions = {a: v for a, v in self.versions.items() if a not in stale} | {a: now[a] for a in fresh}
        self.apply(remove=stale, add=store.chunks_of(fresh), versions=versions, store_fingerprint=fingerprint(versions))
        return True

    def apply(
        self, remove: Iterable[str], add: list[Passage], versions: dict[str, str], store_fingerprint: str
    ) -> None:
        """Drop the chunks of the articles `remove`, index `add`, and save that as one delta."""
        removed = sorted(set(remove))
        self._remove_articles(removed)
        first = len(self._chunks)
        counts = self._append(add)
        self._delta = _concat(self._delta, counts)
        name = f"delta-{uuid.uuid4().hex[:12]}.json"
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {
            "remove": removed,
            "chunks": [[c.chunk_id, c.article_id, c.source, c.published] for c in self._chunks[first:]],
            "terms": _doc_terms(counts, self._terms, first, len(self._chunks) - first),
        }
        _write_atomic(self.folder / name, json.dumps(record))
        self._delta_files.append(name)
        self.versions = dict(versions)
        self.fingerprint = store_fingerprint
        outside_main = (len(self._chunks) - self._main_docs) + (len(self._chunks) - len(self))
        if outside_main > max(MERGE_MIN_DOCS, MERGE_FRACTION * len(self._chunks)):
            self._merge()
        self._write_manifest()

    def _append(self, passages: list[Passage]) -> _Counts:
        """Tokenise these chunks and add them as new docs; returns their entries (global doc numbers)."""
        per_doc = [Counter(self.analyzer.terms(p.text)) for p in passages]
        infos = [ChunkInfo(p.chunk_id, p.source, p.published, p.article_id) for p in passages]
        return self._add_term_counts(per_doc, infos)

    def _add_term_counts(self, per_doc: list[Mapping[str, int]], infos: list[ChunkInfo]) -> _Counts:
        """Add docs given as term -> count, one mapping a doc; returns their entries (global doc numbers)."""
        docs, terms, tfs = [], [], []
        start = len(self._chunks)
        for offset, doc_terms in enumerate(per_doc):
            for word, n in doc_terms.items():
                term = self._vocab.get(word)
                if term is None:
                    term = self._vocab[word] = len(self._terms)
                    self._terms.append(word)
                docs.append(start + offset)
                terms.append(term)
                tfs.append(n)
        counts = _Counts(np.array(docs, np.int64), np.array(terms, np.int64), np.array(tfs, np.float32))
        lengths = np.array([sum(t.values()) for t in per_doc], np.float32)
        self._add_docs(infos, lengths, np.bincount(counts.term, minlength=len(self._terms)))
        return counts

    def _add_docs(self, infos: list[ChunkInfo], lengths: np.ndarray, df: np.ndarray) -> None:
        """Register new docs; `df`: for each term, in how many of them it occurs."""
        start = len(self._chunks)
        self._chunks.extend(infos)
        self._alive = np.concatenate([self._alive, np.ones(len(infos), bool)])
        self._lengths = np.concatenate([self._lengths, lengths])
        self._df = np.concatenate([self._df, np.zeros(len(self._terms) - len(self._df), np.int64)])
        self._df[: len(df)] += df
        for i, info in enumerate(infos, start=start):
            self._by_article.setdefault(info.article_id, []).append(i)
        codes = [self._sources.setdefault(c.source, len(self._sources)) if c.source else -1 for c in infos]
        self._source_codes = np.concatenate([self._source_codes, np.array(codes, np.int64)])
        days = [day_number(c.published) or 0 for c in infos]
        self._days = np.concatenate([self._days, np.array(days, np.int64)])

    def _remove_articles(self, article_ids: list[str]) -> None:
        gone = [d for a in article_ids for d in self._by_article.pop(a, ()) if self._alive[d]]
        if not gone:
            return
        self._alive[gone] = False
        gone_set = np.zeros(len(self._chunks), bool)
        gone_set[gone] = True
        # The terms of the main segment's entries of those docs: the term whose range holds the entry.
        entries = np.flatnonzero(gone_set[self._docs])
        main_terms = np.searchsorted(self._ptr, entries, side="right") - 1
        delta_terms = self._delta.term[gone_set[self._delta.doc]]
        self._df -= np.bincount(np.concatenate([main_terms, delta_terms]), minlength=len(self._df))

    def _merge(self) -> None:
        """Fold the deltas into a new main segment: live docs only, renumbered."""
        main = _Counts(self._docs, np.repeat(np.arange(len(self._ptr) - 1), np.diff(self._ptr)), self._tfs)
        every = _concat(main, self._delta)
        keep = np.flatnonzero(self._alive)
        renumber = np.full(len(self._chunks), -1, np.int64)
        renumber[keep] = np.arange(len(keep))
        live = self._alive[every.doc]
        counts = _Counts(renumber[every.doc[live]], every.term[live], every.tf[live])
        infos = [self._chunks[i] for i in keep]
        lengths = self._lengths[keep]
        vocab, terms = self._vocab, self._terms
        self._reset()
        self._vocab, self._terms = vocab, terms
        self._add_docs(infos, lengths, np.bincount(counts.term, minlength=len(self._terms)))
        self._write_main(counts)

    # -- saving and loading ----------------------------------------------------------------------

    def _write_main(self, counts: _Counts) -> None:
        """Make `counts` (all docs, numbered from 0) the main segment, and write it to a new folder."""
        order = np.lexsort((counts.doc, counts.term))
        self._docs, self._tfs = counts.doc[order], counts.tf[order]
        self._ptr = np.zeros(len(self._terms) + 1, np.int64)
        np.cumsum(np.bincount(counts.term, minlength=len(self._terms)), out=self._ptr[1:])
        self._main_docs = len(self._chunks)
        self._delta, self._delta_files = _Counts.empty(), []
        self._main_name = f"main-{uuid.uuid4().hex[:12]}"
        staging = self.folder / (self._main_name + ".tmp")
        staging.mkdir(parents=True)
        for name, array in (("ptr", self._ptr), ("docs", self._docs), ("tfs", self._tfs), ("lengths", self._lengths)):
            np.save(staging / f"{name}.npy", array)
        meta = {
            "terms": self._terms,
            "chunks": [[c.chunk_id, c.article_id, c.source, c.published] for c in self._chunks],
        }
        (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        os.replace(staging, self.folder / self._main_name)

    def _write_manifest(self) -> None:
        manifest = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "versions": self.versions,
            "main": self._main_name,
            "deltas": self._delta_files,
        }
        _write_atomic(self.folder / "manifest.json", json.dumps(manifest))
        self._disk_stamp = self._stamp()
        # Anything the manifest does not name is a leftover: an old segment, a crashed write.
        named = {"manifest.json", self._main_name, *self._delta_files}
        for path in self.folder.iterdir():
            if path.name not in named:
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)

    def load(self) -> bool:
        """Read the saved index; False when there is none or it cannot be read (then it is rebuilt)."""
        try:
            manifest = json.loads((self.folder / "manifest.json").read_text(encoding="utf-8"))
            if manifest.get("format") != FORMAT:
                return False
            main = self.folder / manifest["main"]
            meta = json.loads((main / "meta.json").read_text(encoding="utf-8"))
            arrays = {n: np.load(main / f"{n}.npy", mmap_mode="r") for n in ("ptr", "docs", "tfs", "lengths")}
            deltas = [json.loads((self.folder / d).read_text(encoding="utf-8")) for d in manifest["deltas"]]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        self._reset()
        self._terms = list(meta["terms"])
        self._vocab = {t: i for i, t in enumerate(self._terms)}
        self._ptr, self._docs, self._tfs = arrays["ptr"], arrays["docs"], arrays["tfs"]
        infos = [ChunkInfo(c, s, p, a) for c, a, s, p in meta["chunks"]]
        # Each (term, doc) pair is one entry of the main segment: a term's df is the size of its range.
        self._add_docs(infos, np.asarray(arrays["lengths"], np.float32), np.diff(self._ptr))
        self._main_docs, self._main_name = len(infos), manifest["main"]
        for name, delta in zip(manifest["deltas"], deltas):
            self._replay(delta)
            self._delta_files.append(name)
        self.versions, self.fingerprint = manifest["versions"], manifest["fingerprint"]
        self._disk_stamp = self._stamp()
        return True

    def _replay(self, delta: dict) -> None:
        self._remove_articles(delta["remove"])
        infos = [ChunkInfo(c, s, p, a) for c, a, s, p in delta["chunks"]]
        counts = self._add_term_counts(delta["terms"], infos)
        self._delta = _concat(self._delta, counts)

    # -- searching -------------------------------------------------------------------------------

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the k best chunks with a score above 0 that pass the filters."""
        with self._mutex:
            return self._search(query, k, filters)

    def _search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        live = len(self)
        terms = [self._vocab[t] for t in dict.fromkeys(self.analyzer.terms(query)) if t in self._vocab]
        if not live or not terms:
            return []
        average = float(self._lengths[self._alive].sum()) / live
        norm = K1 * (1 - B + B * self._lengths / max(average, 1e-9))
        scores = np.zeros(len(self._chunks), np.float32)
        for term in terms:
            df = int(self._df[term])
            if df <= 0:
                continue
            idf = math.log(1 + (live - df + 0.5) / (df + 0.5))
            if term < len(self._ptr) - 1:
                docs = np.asarray(self._docs[self._ptr[term] : self._ptr[term + 1]])
                tf = np.asarray(self._tfs[self._ptr[term] : self._ptr[term + 1]])
                scores[docs] += idf * tf / (tf + norm[docs])
            if len(self._delta.term):
                at = np.flatnonzero(self._delta.term == term)
                docs, tf = self._delta.doc[at], self._delta.tf[at]
                scores[docs] += idf * tf / (tf + norm[docs])
        scores[~self._alive] = 0
        if filters:
            scores[~self._allowed(filters)] = 0
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        # Ties by chunk id: the order does not depend on where a chunk sits (main segment or delta).
        found = [(self._chunks[d].chunk_id, float(scores[d])) for d in best.tolist() if scores[d] > 0]
        return sorted(found, key=lambda hit: (-hit[1], hit[0]))

    def _allowed(self, filters: Filters) -> np.ndarray:
        """The chunks the filters let through (the rule of Filters.allows, on every chunk at once)."""
        mask = np.ones(len(self._chunks), bool)
        if filters.article_ids:
            chosen = np.zeros(len(self._chunks), bool)
            for article_id in filters.article_ids:
                chosen[self._by_article.get(article_id, [])] = True
            mask &= chosen
        if filters.sources:
            codes = [self._sources[s] for s in filters.sources if s in self._sources]
            mask &= np.isin(self._source_codes, codes)
        if filters.since_day:
            mask &= (self._days > 0) & (self._days >= filters.since_day)
        if filters.until_day:
            mask &= (self._days > 0) & (self._days <= filters.until_day)
        return mask


def _concat(a: _Counts, b: _Counts) -> _Counts:
    return _Counts(np.concatenate([a.doc, b.doc]), np.concatenate([a.term, b.term]), np.concatenate([a.tf, b.tf]))


def _doc_terms(counts: _Counts, terms: list[str], first: int, n: int) -> list[dict[str, int]]:
    """Per doc (first .. first+n-1), its terms and counts, as a delta file stores them."""
    out: list[dict[str, int]] = [{} for _ in range(n)]
    for doc, term, tf in zip(counts.doc.tolist(), counts.term.tolist(), counts.tf.tolist()):
        out[doc - first][terms[term]] = int(tf)
    return out


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
