"""The Chroma store: articles, chunks and sentences, embedded or on a Chroma server.

Three collections share one id scheme. An article record (full text, metadata, and the
`version` its rows were written under) is the commit point of every change:
new rows are written first, then the article record, then stale rows are deleted.
A crash at any step leaves rows whose version is not the article's; readers skip
them and the next ingest of that article (or `qa ingest --prune`) removes them.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime as dt
import fcntl
import json
import errno
import functools
import os
import sys
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError

from index.dates import DATE_RULES, DateResolution, day_span, pack_dates, unpack_dates
from index.mentions import name_words
from qa.settings import Settings
from qa.types import Article, Chunk, Entity, Filters, Passage, Sentence, day_number

SCHEMA = 4  # 2: sentences carry their speakers; 3: articles their MinHash and duplicate_of; 4: resolved mentions, entities

# The article record fields kept in memory for every stored article (see ChromaStore._article_facts):
# what ingest (dedup, roles), prune, stats and the source list read of every article.
FACT_KEYS = (
    "version", "minhash", "duplicate_of", "published", "source", "path", "chunks", "sentences", "indexed_at",
    "dates_rules",  # the index/dates.py rules its relative dates were resolved by (absent: never resolved)
)
# Catching up re-reads the records stamped this long before the newest one seen: a writer whose
# commit landed after a later-stamped one, or whose clock is a little behind, is still caught.
CATCH_UP_MARGIN_NS = 300 * 10**9


class StoreError(RuntimeError):
    """The one store failure the CLI and the screen show: one line naming the cause and the folder or server."""


@dataclass
class ArticleRows:
    """Everything written for one article version."""

    article: Article
    version: str
    sentences: list[Sentence]
    sentence_vectors: np.ndarray
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    signature: list[int] = field(default_factory=list)  # MinHash (index/dedup.py)
    duplicate_of: str | None = None
    people: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> roles (index/attribution.py)
    dates: DateResolution | None = None  # its relative dates (index/dates.py); the sentences carry their days


def _clean(meta: dict) -> dict:
    """Chroma metadata holds no None."""
    return {k: v for k, v in meta.items() if v is not None}


def _row_meta(rows: ArticleRows) -> dict:
    """What every chunk and sentence row carries: its article, version, and the fields filters use."""
    a = rows.article
    return _clean(
        {
            "article_id": a.id,
            "version": rows.version,
            "title": a.title,
            "published": a.published,
            "published_day": day_number(a.published),
            "source": a.source,
            "url": a.url,
            "duplicate_of": rows.duplicate_of,
        }
    )


def where_clause(filters: Filters | None, by_article_id: bool = True) -> dict | None:
    """The Chroma `where` that keeps the rows of the articles the filters allow. `by_article_id`: the rows
    carry `article_id` (chunks, sentences); the articles' own records are chosen by their ids instead."""
    if not filters:
        return None
    clauses: list[dict] = []
    if filters.article_ids and by_article_id:
        clauses.append({"article_id": {"$in": list(filters.article_ids)}})
    if filters.sources:
        clauses.append({"source": {"$in": list(filters.sources)}})
    if filters.since_day or filters.until_day:
        clauses.append(_period_clause(filters.since_day, filters.until_day, by_article_id))
    return _all(clauses)


def _all(clauses: list[dict]) -> dict | None:
    return (clauses[0] if len(clauses) == 1 else {"$and": clauses}) if clauses else None


def _period_clause(since: int | None, until: int | None, rows: bool) -> dict:
    """Published within the period, or telling of it: a row whose relative dates' days all lie within it ("last
    month" in a report of 2019-05-02 is in April 2019); an article record (`rows` False: has_articles' gate)
    whose dates reach into it."""
    published = [{"published_day": {op: day}} for op, day in (("$gte", since), ("$lte", until)) if day]
    if rows:
        told = [{field: {op: day}} for field, op, day in
                (("dates_first_day", "$gte", since), ("dates_last_day", "$lte", until)) if day]
    else:
        told = [{field: {op: day}} for field, op, day in
                (("dates_last_day", "$gte", since), ("dates_first_day", "$lte", until)) if day]
    return {"$or": [_all(published), _all(told)]}


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class RowCache:
    """Rows read by id (a sentence with its vector, a chunk), kept for one generation of the store.

    A question reads its candidate sentences, their neighbours and their chunks by id, and the next
    question about the same story reads most of them again: each `get` cost about 8 ms. Rows are kept
    only while the generation is unchanged (ChromaStore._known_versions says when that is safe), at
    most `size` of them, the least recently used dropped first."""

    def __init__(self, size: int):
        self._rows: OrderedDict[str, object] = OrderedDict()
        self._generation: str | None = None
        self._size = size
        self._lock = threading.Lock()  # the chat screen answers several questions at once

    def found(self, generation: str | None, ids: Iterable[str]) -> dict[str, object]:
        """The kept rows of these ids (none for a generation it does not hold)."""
        with self._lock:
            if generation is None or generation != self._generation:
                return {}
            rows = {}
            for i in ids:
                if i in self._rows:
                    self._rows.move_to_end(i)
                    rows[i] = self._rows[i]
            return rows

    def keep(self, generation: str | None, rows: dict[str, object]) -> None:
        if generation is None or self._size <= 0:
            return
        with self._lock:
            if generation != self._generation:
                self._rows.clear()
                self._generation = generation
            self._rows.update(rows)
            for i in rows:
                self._rows.move_to_end(i)
            while len(self._rows) > self._size:
                self._rows.popitem(last=False)


# Embedded Chroma binds every id a `get` returns as one SQL variable, and SQLite takes at most 32,766:
# a `get` that can grow with the collection (a `where`, or no ids) goes in pages of at most this many rows.
PAGE_ROWS = 5000


def _pages(collection, page: int = PAGE_ROWS, **query) -> Iterator[dict]:
    """`collection.get(**query)` page by page (each a Chroma result with at least one id)."""
    offset = 0
    while True:
        got = collection.get(limit=page, offset=offset, **query)
        if not got["ids"]:
            return
        yield got
        if len(got["ids"]) < page:
            return
        offset += len(got["ids"])


# Rows read with their metadata or text cost Chroma 1.5 more than linear time in the rows of one `get`
# (measured on the Wikinews sentences: 1,000 rows' metadata 0.11 s, 5,000 rows' 3.5 s), so reads of many
# rows take their ids first (cheap) and then the rows in gets of this many.
ROWS_A_GET = 500


def _rows_by_ids(collection, ids: list[str], include: list[str], size: int | None = None) -> Iterator[dict]:
    """`collection.get(ids=…, include=…)` in gets of `size` (ROWS_A_GET) ids, each get's rows in the order of `ids`."""
    for part in _batches(ids, size or ROWS_A_GET):
        got = collection.get(ids=part, include=include)
        at = {i: n for n, i in enumerate(got["ids"])}
        order = [at[i] for i in part if i in at]
        yield {"ids": [got["ids"][n] for n in order]} | {key: [got[key][n] for n in order] for key in include}


# -- storage faults as one line ----------------------------------------------------------------

# Chroma's errors from the disk say what failed inside it ("Error in compaction: Failed to apply
# logs to the metadata segment"), not why: below this much free space, a failure is put down to a full disk.
LOW_DISK_BYTES = 64 * 1024 * 1024

# What a store call can fail with that is the storage's fault, not ours: Chroma's errors, the
# HTTP transport to a Chroma server (refused, reset, timed out), and the file system.
STORAGE_FAILURES = (ChromaError, httpx.TransportError, OSError)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _free_bytes(folder: Path) -> int | None:
    """Free space on the disk holding `folder` (or its nearest existing parent); None when unknown."""
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def explain_failure(exc: BaseException, location: str, folder: Path | None = None, timeout: float | None = None) -> str:
    """One line naming the cause of a storage failure and the folder or server it happened in."""
    detail = _one_line(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"the {location} did not answer within {timeout:g} s (QA_CHROMA_TIMEOUT): "
            "check that it is running and not stuck, then try again"
        )
    if isinstance(exc, httpx.TransportError):
        return f"lost the connection to the {location} ({detail}): check that it is running, then try again"
    code = getattr(exc, "errno", None)
    where = Path(getattr(exc, "filename", None) or folder or ".")
    if code == errno.EROFS or "readonly database" in str(exc) or "read-only file system" in str(exc).lower():
        return (
            f"the folder {folder or where} is read-only, and this needs to write to it "
            "(adding, updating or removing articles does): point QA_HOME or --home at a writable folder"
        )
    free = _free_bytes(folder or where)
    if code in (errno.ENOSPC, errno.EDQUOT) or (
        isinstance(exc, ChromaError) and folder is not None and free is not None and free < LOW_DISK_BYTES
    ):
        left = f" ({free / 1e6:.1f} MB free)" if free is not None else ""
        return (
            f"the disk holding {folder or where} is full{left}: free some space and run the command again; "
            f"what was stored before is kept [{detail}]"
        )
    if code == errno.EACCES:
        return f"no permission to write {where} ({detail}): point QA_HOME or --home at a folder you can write"
    return f"the {location} failed: {detail}"


class _Guarded:
    """A Chroma client or collection whose failures come out as one-line StoreErrors; for a store
    opened read-only, its writes are refused up front with the same line."""

    _WRITES = frozenset({"add", "upsert", "update", "delete", "modify"})

    def __init__(self, target, store: "ChromaStore"):
        self._target, self._store = target, store

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if not callable(value):
            return value
        store = self._store
        if name in self._WRITES and store.read_only_folder is not None:

            def refuse(*args, **kwargs):
                read_only = OSError(errno.EROFS, "read-only")
                raise StoreError(explain_failure(read_only, store.location, store.read_only_folder))

            return refuse

        @functools.wraps(value)
        def call(*args, **kwargs):
            try:
                return value(*args, **kwargs)
            except STORAGE_FAILURES as exc:
                raise store.failure(exc) from exc

        return call


def _crash_point(name: str) -> None:
    """Test hook: `QA_TEST_CRASH_AT=after-rows` or `after-commit` ends the process there, as `kill -9`
    would, so tests (tests/test_storage.py) can prove a write interrupted at that exact point is
    recovered from. Never set it outside tests."""
    if os.environ.get("QA_TEST_CRASH_AT") == name:
        os._exit(137)


# -- one writer at a time; every reader sees each finished write ---------------------------------


class StoreAccess:
    """Who may touch the store of one QA_HOME now, across processes and threads: any number of
    readers, or one writer (an OS lock, `flock`, on `QA_HOME/store.lock`: a killed holder releases it).

    Every write made under it bumps the store's generation (`QA_HOME/generation`: a counter, the
    writer's pid and a timestamp). A process that takes the lock and finds the generation changed
    by another process moves to a new `epoch`: its embedded Chroma client is reopened (Chroma keeps
    the HNSW index in memory: a client opened before another process wrote returns rows that are
    gone and fails with "Error finding id" on rows it has not seen), and the service reloads its
    BM25 index and caches. The generation can only change while no process reads, so this happens
    when a process's first reader takes the lock, before any of its threads reads.

    A writer about to wait closes `QA_HOME/store.gate` first, so a stream of questions cannot keep
    it out: new readers wait at the gate, those inside finish. Writers take it for one batch of
    articles (about a second), so a question waits at most that long. Writers of a whole ingest are
    one at a time by WriteLock; this lock keeps readers off the store while a batch is written.
    A read-only QA_HOME has no lock (it is read from a copy and cannot be written)."""

    _registry: dict[str, "StoreAccess"] = {}
    _registry_lock = threading.Lock()

    def __init__(self, home: Path | None):
        self.home = home
        self.enabled = False
        if home is not None:
            try:
                home.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(home / "store.lock", os.O_RDWR | os.O_CREAT, 0o644)
                self._gate = os.open(home / "store.gate", os.O_RDWR | os.O_CREAT, 0o644)
                self.enabled = True
            except OSError:
                pass
        self.epoch = 0  # bumped when another process's write is found
        self.generation_path = home / "generation" if home is not None else None
        self._seen: str | None = None  # the generation this process last saw (or wrote)
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None  # thread id
        self._taking = False  # a thread is taking the OS lock for this process
        self._writers_waiting = 0  # threads of this process waiting to write: new readers wait behind them
        self._local = threading.local()
        self.clients: dict[str, tuple[int, object]] = {}  # chroma folder -> (epoch, raw client)

    @classmethod
    def of(cls, home: Path | None) -> "StoreAccess":
        """The one StoreAccess of this QA_HOME in this process."""
        key = str(Path(home).resolve()) if home is not None else ""
        with cls._registry_lock:
            if key not in cls._registry:
                cls._registry[key] = cls(Path(key) if key else None)
            return cls._registry[key]

    # -- the generation --------------------------------------------------------------------

    def generation(self) -> str:
        if self.generation_path is None:
            return ""
        try:
            return self.generation_path.read_text(encoding="utf-8")
        except OSError:
            return ""

    def _bump(self) -> None:
        count = self.generation().split(" ", 1)[0]
        text = f"{int(count) + 1 if count.isdigit() else 1} {os.getpid()} {time.time_ns()}"
        temporary = self.generation_path.with_name(f"generation.{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.generation_path)
        self._seen = text

    @property
    def seen(self) -> str | None:
        """The generation this process last saw or wrote (None: no lock, nothing to follow)."""
        return self._seen if self.enabled else None

    def _taken(self) -> None:
        """The OS lock was just taken by this process: move to a new epoch if another process wrote."""
        now = self.generation()
        if self._seen is not None and now != self._seen:
            self.epoch += 1
        self._seen = now

    def changed(self) -> None:
        """Called by a write under `writing()` before it writes: the generation is bumped now (so a
        reader coming after a writer killed mid-write reopens too) and again when the write ends."""
        if not getattr(self._local, "changed", False) and self.enabled:
            self._bump()
        self._local.changed = True

    # -- the lock ----------------------------------------------------------------------------

    def holds_read(self) -> bool:
        return getattr(self._local, "reads", 0) > 0

    @contextlib.contextmanager
    def reading(self):
        me = threading.get_ident()
        local = self._local
        if not self.enabled or self._writer == me or getattr(local, "reads", 0):
            local.reads = getattr(local, "reads", 0) + 1
            try:
                yield
            finally:
                local.reads -= 1
            return
        with self._cond:
            while True:
                while self._writer is not None or self._taking or self._writers_waiting:
                    self._cond.wait()
                if self._readers == 0:
                    self._taking = first = True
                    break
                # Join the readers inside, unless a writer of another process waits at the gate.
                try:
                    fcntl.flock(self._gate, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    fcntl.flock(self._gate, fcntl.LOCK_UN)
                except BlockingIOError:
                    self._cond.wait(0.05)
                    continue
                self._readers += 1
                first = False
                break
        if first:
            try:
                fcntl.flock(self._gate, fcntl.LOCK_SH)  # waits while a writer waits or writes
                fcntl.flock(self._gate, fcntl.LOCK_UN)
                fcntl.flock(self._fd, fcntl.LOCK_SH)
                self._taken()
            except BaseException:
                with self._cond:
                    self._taking = False
                    self._cond.notify_all()
                raise
            with self._cond:
                self._taking = False
                self._readers += 1
                self._cond.notify_all()
        local.reads = 1
        try:
            yield
        finally:
            local.reads = 0
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self):
        me = threading.get_ident()
        local = self._local
        if not self.enabled or self._writer == me:
            yield
            return
        if getattr(local, "reads", 0):
            raise RuntimeError("a store write inside a read of the same thread (it would wait for itself)")
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers or self._taking:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = me
        try:
            fcntl.flock(self._gate, fcntl.LOCK_EX)  # new readers wait from now on
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # readers inside finish
            finally:
                fcntl.flock(self._gate, fcntl.LOCK_UN)
            self._taken()
        except BaseException:
            with self._cond:
                self._writer = None
                self._cond.notify_all()
            raise
        local.changed = False
        try:
            yield
        finally:
            try:
                if local.changed:
                    self._bump()
            finally:
                local.changed = False
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                with self._cond:
                    self._writer = None
                    self._cond.notify_all()

    # -- embedded clients --------------------------------------------------------------------

    def client(self, folder: Path, open_folder):
        """The embedded Chroma client of `folder` for this epoch: one per process, reopened (the old
        one stopped) when another process wrote."""
        key = str(folder)
        epoch, client = self.clients.get(key, (None, None))
        if client is not None and epoch == self.epoch:
            return client
        if client is not None:
            _stop_client(client)
        client = open_folder(folder)
        self.clients[key] = (self.epoch, client)
        return client


def _stop_client(client) -> None:
    """Stop an embedded Chroma client's system, so that the next client of its folder reads it afresh."""
    from chromadb.api.shared_system_client import SharedSystemClient

    identifier = getattr(client, "_identifier", None)
    with SharedSystemClient._refcount_lock:
        system = SharedSystemClient._identifier_to_system.pop(identifier, None)
        SharedSystemClient._identifier_to_refcount.pop(identifier, None)
    if system is not None:
        with contextlib.suppress(Exception):
            system.stop()


class WriteLock:
    """One writer at a time in a QA_HOME: `QA_HOME/write.lock` (filelock: an OS lock, so a killed
    holder releases it), and beside it `write.lock.holder`, who holds it (pid, command, since)."""

    _registry: dict[str, "WriteLock"] = {}
    _registry_lock = threading.Lock()

    @classmethod
    def of(cls, home: Path) -> "WriteLock":
        """The one WriteLock of this QA_HOME in this process."""
        key = str(Path(home).resolve())
        with cls._registry_lock:
            if key not in cls._registry:
                cls._registry[key] = cls(Path(key))
            return cls._registry[key]

    def __init__(self, home: Path):
        from filelock import FileLock

        with contextlib.suppress(OSError):
            home.mkdir(parents=True, exist_ok=True)
        self.path = home / "write.lock"
        self.holder_path = home / "write.lock.holder"
        self._lock = FileLock(str(self.path))
        self._depth = 0
        self._guard = threading.RLock()

    def holder(self) -> str:
        """Who holds the lock, as recorded: "pid N: COMMAND (since …)"; "" when unknown."""
        try:
            record = json.loads(self.holder_path.read_text(encoding="utf-8"))
            return f"pid {record['pid']}: {record['command']} (since {record['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            return ""

    def _holder_soon(self) -> str:
        """The holder, given a moment to record itself (it writes its record just after taking the lock)."""
        for _ in range(20):
            if found := self.holder():
                return found
            time.sleep(0.05)
        return "another process"

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock now (a cheap, non-blocking probe)."""
        if self._depth:
            return False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def hold(self, waiting=None):
        """Hold the lock (re-entrant in one process); `waiting(holder)` is called once when another holds it."""
        from filelock import Timeout

        with self._guard:
            locked = self._depth > 0
            if self._depth == 0:
                try:
                    try:
                        self._lock.acquire(timeout=0)
                    except Timeout:
                        if waiting is not None:
                            waiting(self._holder_soon())
                        self._lock.acquire()
                    locked = True
                except OSError:
                    pass  # a read-only QA_HOME: no lock can be taken, and no write can be made
                record = {
                    "pid": os.getpid(),
                    "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "?",
                    "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                }
                with contextlib.suppress(OSError):
                    self.holder_path.write_text(json.dumps(record), encoding="utf-8")
            if not locked:
                yield
                return
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    with contextlib.suppress(OSError):
                        self.holder_path.unlink()
                    self._lock.release()


def _reads(method):
    """A store method that reads: under the store's read lock (see StoreAccess)."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self.access.reading():
            return method(self, *args, **kwargs)

    return locked


def _writes(method):
    """A store method that writes: under the store's write lock (see StoreAccess)."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self.access.writing():
            return method(self, *args, **kwargs)

    return locked


class ChromaStore:
    def __init__(self, settings: Settings):
        self._folder: Path | None = None  # the embedded store's folder (None: a server)
        self._timeout: float | None = None
        self.read_only_folder: Path | None = None  # set when QA_HOME is read-only and a copy is read instead
        self._settings = settings
        # Set by an ingest: the ids of the articles each write touches are appended to this file first,
        # so that the next ingest can check them when this one dies (see QAService.ingest).
        self.journal: Path | None = None
        self.access = StoreAccess.of(settings.home)
        self._server = None
        if settings.chroma_host:
            self.location = f"Chroma server at {settings.chroma_host}:{settings.chroma_port}"
            self._timeout = settings.chroma_timeout
            self._server = self._connect(settings.chroma_host, settings.chroma_port)
        else:
            self.location = f"embedded Chroma in {settings.chroma_path}"
            self._folder = settings.chroma_path
        self._epoch: int | None = None
        self._facts: dict[str, dict] | None = None  # article id -> FACT_KEYS and parsed people; None: not read yet
        self._facts_stamp = 0  # the newest `indexed_ns` seen
        # The store generation (StoreAccess) as of the last read of the catch-up window: while it holds, no
        # writer of QA_HOME wrote since, and only records stamped after the newest seen are read (None:
        # never read, or a store with no generation to follow: the window is read every time).
        self._facts_window_of: str | None = None
        self._facts_lock = threading.Lock()  # the chat screen serves several requests at once
        # Article id -> its live version (None: absent), for the generation in `_versions_of`: every
        # search drops rows of stale versions, and reading them from Chroma each time cost a fifth of a
        # question (4 reads of 5 ms). Kept only where the generation covers every writer (see
        # `_known_versions`).
        self._versions: dict[str, str | None] = {}
        self._versions_of: str | None = None
        self._kept_sentences = RowCache(settings.kept_sentences)
        self._kept_chunks = RowCache(settings.kept_sentences // 5)
        with self.access.reading():
            self._collections()  # opened now: a store that cannot be opened fails here, in one line

    def _collections(self) -> tuple:
        """(articles, chunks, sentences) of this epoch: reopened after another process wrote."""
        if self._epoch != self.access.epoch or self._epoch is None:
            epoch = self.access.epoch
            if self._server is not None:
                client = self._server
            elif self.read_only_folder is not None or not self.access.enabled:
                client = getattr(self, "_raw_client", None) or self._open_folder(self._folder)
            else:
                client = self.access.client(self._folder, self._open_folder)
            self._raw_client = client
            self._client = _Guarded(client, self)
            self._max_batch = max(1, self._client.get_max_batch_size())
            settings = self._settings

            def open_collection(role: str):
                # embedding_function=None: vectors always come from our embedder; Chroma's default downloads one.
                return _Guarded(
                    self._client.get_or_create_collection(
                        f"{settings.collection}_{role}",
                        embedding_function=None,
                        configuration={"hnsw": {"space": "cosine"}},
                    ),
                    self,
                )

            self._open = tuple(open_collection(role) for role in ("articles", "chunks", "sentences"))
            self._epoch = epoch
        return self._open

    @property
    def epoch(self) -> int:
        """Bumped each time another process's write was found (the service reloads what it keeps then)."""
        return self.access.epoch

    @property
    def _articles(self):
        return self._collections()[0]

    @property
    def _chunks(self):
        return self._collections()[1]

    @property
    def _sentences(self):
        return self._collections()[2]

    def failure(self, exc: BaseException) -> StoreError:
        """The one-line StoreError for a storage failure of this store."""
        return StoreError(explain_failure(exc, self.location, self.read_only_folder or self._folder, self._timeout))

    def _connect(self, host: str, port: int):
        """An HTTP client of the Chroma server whose every request gives up after `chroma_timeout` seconds."""
        timeout = httpx.Timeout(self._timeout)
        try:
            # Chroma's HttpClient makes requests while it is built, with no timeout: ask first, with one.
            httpx.get(f"http://{host}:{port}/api/v2/heartbeat", timeout=timeout).raise_for_status()
            client = chromadb.HttpClient(host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False))
        except (httpx.HTTPError, ChromaError, ValueError) as exc:
            cause = (
                f"no answer within {self._timeout:g} s (QA_CHROMA_TIMEOUT)"
                if isinstance(exc, httpx.TimeoutException)
                else _one_line(exc)
            )
            raise StoreError(f"cannot reach the {self.location}: {cause}") from exc
        # Chroma 1.x builds its httpx session with timeout=None and has no setting for it (chromadb
        # 1.5.9, api/fastapi.py): a stopped server would hang every call, so set it on the session.
        session = getattr(getattr(client, "_server", None), "_session", None)
        if isinstance(session, httpx.Client):
            session.timeout = timeout
        return client

    def _open_folder(self, folder: Path):
        """The embedded Chroma in `folder`; a temporary copy of it when the folder is read-only."""
        settings = ChromaSettings(anonymized_telemetry=False)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.failure(exc) from exc
        database = folder / "chroma.sqlite3"
        if os.access(folder, os.W_OK) and (not database.exists() or os.access(database, os.W_OK)):
            try:
                return chromadb.PersistentClient(path=str(folder), settings=settings)
            except ChromaError as exc:
                if "readonly database" not in str(exc):
                    raise self.failure(exc) from exc
        # Chroma writes to its folder even to open it (and to read: queries compact its log), so a
        # read-only index is read from a copy; writes to it are refused (see _Guarded).
        copy = Path(tempfile.mkdtemp(prefix="qa-read-only-"))
        weakref.finalize(self, shutil.rmtree, copy, True)
        self.read_only_folder = folder
        try:
            shutil.copytree(folder, copy / "chroma")
            client = chromadb.PersistentClient(path=str(copy / "chroma"), settings=settings)
        except STORAGE_FAILURES as exc:
            raise StoreError(
                f"the folder {folder} is read-only, and reading it from a copy in {copy.parent} failed: "
                + _one_line(exc)
            ) from exc
        self.location += " (read-only: reading a temporary copy)"
        return client

    # -- model binding -------------------------------------------------------------------

    def bind_model(self, model_id: str, dimension: int) -> None:
        """Record which embedding model the index uses; refuse to mix vectors of two models."""
        meta = dict(self._chunks.metadata or {})
        if "embedding_model" in meta:
            if meta["embedding_model"] != model_id or meta.get("dimension") != dimension:
                raise StoreError(
                    f"the index in {self.location} was built with the embedding model {meta['embedding_model']!r} "
                    f"({meta.get('dimension')} dimensions), but the settings use {model_id!r} ({dimension}): "
                    "use another QA_HOME or QA_COLLECTION for the new model"
                )
            return
        if self.read_only_folder is not None or self.access.holds_read():
            # An index never bound holds no vectors yet: nothing to check. A reader records nothing
            # (the first write does, under the write lock).
            return
        bound = {"qa_schema": SCHEMA, "embedding_model": model_id, "dimension": dimension}
        with self.access.writing():
            for collection in (self._articles, self._chunks, self._sentences):
                collection.modify(metadata=bound)
            self.access.changed()

    # -- writes ----------------------------------------------------------------------------

    @_writes
    def write(self, batch: list[ArticleRows]) -> None:
        """Store new versions of these articles, crash-safe (see the module docstring)."""
        if not batch:
            return
        self._journal([r.article.id for r in batch])
        self.access.changed()
        sentence_rows = [(s, v, r) for r in batch for s, v in zip(r.sentences, r.sentence_vectors)]
        chunk_rows = [(c, v, r) for r in batch for c, v in zip(r.chunks, r.chunk_vectors)]
        self._upsert(
            self._sentences,
            sentence_rows,
            lambda s: {"index": s.index, "start": s.start, "end": s.end, "chunk_id": s.chunk_id} | _sentence_facts(s),
        )
        self._upsert(
            self._chunks,
            chunk_rows,
            # Comma-joined: the ids of the sentences the chunk is made of, for the answerer.
            lambda c: {"index": c.index, "start": c.start, "end": c.end, "sentence_ids": ",".join(c.sentence_ids)},
        )
        _crash_point("after-rows")
        for rows in _batches(batch, self._max_batch):
            self._articles.upsert(
                ids=[r.article.id for r in rows],
                embeddings=np.stack([_mean_direction(r.chunk_vectors) for r in rows]),
                documents=[r.article.text for r in rows],
                metadatas=[self._article_meta(r) for r in rows],
            )
        _crash_point("after-commit")
        keep = {s.id for s, _, _ in sentence_rows} | {c.id for c, _, _ in chunk_rows}
        self._delete_rows([r.article.id for r in batch], keep=keep)

    def _journal(self, article_ids: list[str]) -> None:
        """Note the articles a write is about to touch (see `journal`)."""
        if self.journal is not None:
            with open(self.journal, "a", encoding="utf-8") as out:
                out.write("".join(f"{json.dumps(i)}\n" for i in article_ids))

    def _upsert(self, collection, rows: list[tuple], own_meta) -> None:
        """Rows of (sentence or chunk, vector, ArticleRows), in batches Chroma accepts."""
        for part in _batches(rows, self._max_batch):
            collection.upsert(
                ids=[item.id for item, _, _ in part],
                embeddings=np.stack([vector for _, vector, _ in part]),
                documents=[item.text for item, _, _ in part],
                metadatas=[_row_meta(r) | own_meta(item) for item, _, r in part],
            )

    @_writes
    def delete_articles(self, ids: list[str]) -> None:
        """Remove articles: the records first (so readers stop seeing them), then their rows."""
        if not ids:
            return
        self._journal(list(ids))
        self.access.changed()
        for part in _batches(ids, self._max_batch):
            self._articles.delete(ids=part)
            with self._facts_lock:
                for article_id in part if self._facts is not None else ():
                    self._facts.pop(article_id, None)
        self._delete_rows(ids, keep=set())

    @_writes
    def sweep(self, article_ids: list[str] | None = None) -> int:
        """Delete rows left behind by an interrupted write (rows whose version is not their article's
        live one, or whose article was never committed); returns how many.

        `article_ids`: only the rows of these articles (every ingest sweeps the articles it looks
        at, changed or not); None: every row."""
        if self._without_stale_rows():
            return 0  # the usual case, known from two counts: no row of either collection is read
        if article_ids is None:
            live = self.versions(None)
            found = {c: list(self._scan(c)) for c in (self._chunks, self._sentences)}
        else:
            ids = list(dict.fromkeys(article_ids))
            live = self.versions(ids)
            found = {c: list(self._rows_of(c, ids)) for c in (self._chunks, self._sentences)}
        removed = 0
        for collection, rows in found.items():
            stale = [row_id for row_id, meta in rows if live.get(meta.get("article_id")) != meta.get("version")]
            if self.read_only_folder is not None:
                continue  # readers skip them; a read-only index cannot lose them
            if stale:
                self.access.changed()
            for part in _batches(stale, self._max_batch):
                collection.delete(ids=part)
            removed += len(stale)
        return removed

    def _without_stale_rows(self) -> bool:
        """Whether the collections hold only live rows: each article record counts the rows its
        version wrote, and an interrupted write or delete always leaves more rows than that.
        False when unsure (a record older than the counts)."""
        expected = {"chunks": 0, "sentences": 0}
        for meta in self._article_facts().values():
            for role in expected:
                if not isinstance(meta.get(role), int):
                    return False
                expected[role] += meta[role]
        return self._chunks.count() == expected["chunks"] and self._sentences.count() == expected["sentences"]

    def _rows_of(self, collection, article_ids: list[str]) -> Iterator[tuple[str, dict]]:
        """(row id, metadata) of every row of these articles, live or not."""
        for part in _batches(article_ids, 500):
            for got in _pages(collection, where={"article_id": {"$in": part}}, include=["metadatas"]):
                yield from zip(got["ids"], (m or {} for m in got["metadatas"]))

    def _delete_rows(self, article_ids: list[str], keep: set[str]) -> None:
        for collection in (self._chunks, self._sentences):
            for part in _batches(article_ids, 500):
                # Every page read before any is deleted: deleting would move the pages' offsets.
                found = [i for got in _pages(collection, where={"article_id": {"$in": part}}, include=[]) for i in got["ids"]]
                stale = [i for i in found if i not in keep]
                for ids in _batches(stale, self._max_batch):
                    collection.delete(ids=ids)

    @staticmethod
    def _article_meta(rows: ArticleRows) -> dict:
        shared = {k: v for k, v in _row_meta(rows).items() if k != "article_id"}
        a = rows.article
        minhash = pack_signature(rows.signature) if rows.signature else None
        own = {
            "path": a.path,
            "content_hash": a.content_hash,
            "chunks": len(rows.chunks),
            "sentences": len(rows.sentences),  # stats() counts live rows from these
            "minhash": minhash,
            "indexed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            # A number, so that a `where` finds the records written since a moment (_article_facts).
            "indexed_ns": time.time_ns(),
            # The people the article names with roles, so other reports can resolve "the minister".
            "people": json.dumps({n: r for n, r in rows.people.items() if r}, ensure_ascii=False) if rows.people else None,
        }
        # Not cleaned: an upsert keeps the keys it is not given, and None removes one (a report that got a
        # publication date loses its "no publication date" note).
        dates = _dates_record(rows.dates) if rows.dates is not None else {}
        return shared | _clean(own) | dates

    # -- reads -----------------------------------------------------------------------------

    @_reads
    def versions(self, ids: Iterable[str] | None) -> dict[str, str]:
        """Article id -> the version of its live rows; `None` asks for every article."""
        if ids is None:
            return {i: m.get("version", "") for i, m in self._article_facts().items()}
        wanted = list(dict.fromkeys(ids))
        known = self._known_versions()
        missing = [i for i in wanted if i not in known]
        for part in _batches(missing, self._max_batch):
            got = self._articles.get(ids=part, include=["metadatas"])
            fetched: dict[str, str | None] = dict.fromkeys(part)
            fetched.update({i: (m or {}).get("version", "") for i, m in zip(got["ids"], got["metadatas"])})
            known.update(fetched)  # one update: another thread never sees a live article as absent
        return {i: known[i] for i in wanted if known.get(i) is not None}

    def _known_versions(self) -> dict[str, str | None]:
        """The versions read in this generation of the store, or an empty dict to fill and forget.

        Kept only for an embedded Chroma behind QA_HOME's lock: every writer then bumps the generation
        (StoreAccess), and no reader runs meanwhile. A Chroma server may have writers that do not."""
        seen = self._kept_generation()
        if seen is None:
            return {}
        if seen != self._versions_of:
            self._versions, self._versions_of = {}, seen
        return self._versions

    def _kept_generation(self) -> str | None:
        """The generation rows read now may be kept for, or None: keep nothing (a Chroma server, or a
        store with no QA_HOME lock, may have writers that bump no generation)."""
        return None if self._server is not None else self.access.seen

    @_reads
    def signatures(self) -> dict[str, tuple[list[int], str, str | None]]:
        """Article id -> (MinHash signature, the canonical it copies or itself, published), for dedup."""
        return {i: (unpack_signature(packed), *rest) for i, (packed, *rest) in self.packed_signatures().items()}

    @_reads
    def packed_signatures(self) -> dict[str, tuple[str, str, str | None]]:
        """`signatures()` with each signature still packed (pack_signature): cheap to compare."""
        return {
            i: (m["minhash"], m.get("duplicate_of") or i, m.get("published"))
            for i, m in self._article_facts().items()
            if m.get("minhash")
        }

    @_reads
    def copies_of(self, ids: list[str]) -> dict[str, list[dict]]:
        """Canonical article id -> its stored near-copies (id, title, source, url, published)."""
        if not ids:
            return {}
        copies: dict[str, list[dict]] = {}
        where = {"duplicate_of": {"$in": list(dict.fromkeys(ids))}}
        for got in _pages(self._articles, where=where, include=["metadatas"]):
            for i, m in zip(got["ids"], got["metadatas"]):
                copies.setdefault(m["duplicate_of"], []).append(
                    {"article_id": i} | {k: m.get(k) for k in ("title", "source", "url", "published")}
                )
        return copies

    @_reads
    def article_paths(self) -> dict[str, str]:
        """Article id -> the file it was read from, for every article read from a file."""
        return {i: m["path"] for i, m in self._article_facts().items() if m.get("path")}

    @_reads
    def get_articles(self, ids: list[str]) -> list[Article]:
        """The stored articles, in the order asked; unknown ids are left out."""
        found: dict[str, Article] = {}
        for part in _batches(list(dict.fromkeys(ids)), self._max_batch):
            got = self._articles.get(ids=part, include=["metadatas", "documents"])
            for i, meta, text in zip(got["ids"], got["metadatas"], got["documents"]):
                meta = meta or {}
                found[i] = Article(
                    id=i,
                    title=meta.get("title", ""),
                    text=text or "",
                    published=meta.get("published"),
                    source=meta.get("source"),
                    url=meta.get("url"),
                    path=meta.get("path"),
                    content_hash=meta.get("content_hash", ""),
                )
        return [found[i] for i in ids if i in found]

    @_reads
    def stored_dates(self, ids: list[str]) -> dict[str, DateResolution]:
        """Article id -> its relative dates as ingest stored them (index/dates.py), for the articles dated
        under today's rules (DATE_RULES); the others (stored before dates were, or under other rules) are
        left out. A report with no publication date has none, and its `note` says so."""
        found: dict[str, DateResolution] = {}
        for part in _batches(list(dict.fromkeys(ids)), self._max_batch):
            got = self._articles.get(ids=part, include=["metadatas"])
            for i, meta in zip(got["ids"], got["metadatas"]):
                meta = meta or {}
                if meta.get("dates_rules") == DATE_RULES and "relative_dates" in meta:
                    found[i] = unpack_dates(meta["relative_dates"], meta.get("published"))
        return found

    @_writes
    def redate(self, dated: dict[str, DateResolution]) -> None:
        """Store these articles' relative dates in place, no row rewritten and no vector computed (an index
        stored before dates were, or under other rules): each live sentence row gets the days its dates
        name (or loses stale ones), then the article record its dates. The record goes last, as the commit
        point: a crash in between leaves it undated, and the next ingest dates it again."""
        live = self.versions(list(dated))
        dated = {i: found for i, found in dated.items() if i in live}
        if not dated:
            return
        self.access.changed()
        changed: list[tuple[str, dict]] = []
        for row_id, meta in self._rows_of(self._sentences, list(dated)):
            if live.get(meta.get("article_id")) != meta.get("version"):
                continue
            days = day_span(dated[meta["article_id"]], meta["start"], meta["end"])
            now = {"dates_first_day": None, "dates_last_day": None} | _dated_meta(
                (days[0].isoformat(), days[1].isoformat()) if days else None)
            if any(meta.get(k) != v for k, v in now.items()):
                changed.append((row_id, now))
        for part in _batches(changed, self._max_batch):
            self._sentences.update(ids=[i for i, _ in part], metadatas=[m for _, m in part])
        stamp = time.time_ns()  # so that _article_facts (here and in other processes) reads the records again
        records = [(i, _dates_record(found) | {"indexed_ns": stamp}) for i, found in dated.items()]
        for part in _batches(records, self._max_batch):
            self._articles.update(ids=[i for i, _ in part], metadatas=[m for _, m in part])
        with self._facts_lock:
            for i in dated if self._facts is not None else ():
                if i in self._facts:
                    self._facts[i]["dates_rules"] = DATE_RULES

    @_reads
    def search_chunks(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[Passage]:
        """The k chunks nearest to `vector` whose article is live, best first."""
        rows = self._nearest(self._chunks, vector, k, where)
        return [_passage(i, m, d, score) for i, m, d, score in rows]

    @_reads
    def search_sentences(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[tuple[str, str, float]]:
        """(sentence id, id of its chunk, cosine) of the k sentences nearest to `vector`, best first."""
        rows = self._nearest(self._sentences, vector, k, where, documents=False)  # a sentence's text is not needed here
        return [(i, m["chunk_id"], score) for i, m, _, score in rows]

    @_reads
    def search_said_by(self, vector: np.ndarray, words: list[str], k: int, ids: list[str] | None = None) -> list[str]:
        """Ids of the k live sentences nearest to `vector` among those with these `ids`, or else among
        those one of whose speakers' names holds one of `words` (as sentences_by_speaker finds them), best first."""
        clauses = [{"speaker_keys": {"$contains": w}} for w in words]
        where = None if ids is not None else clauses[0] if len(clauses) == 1 else {"$or": clauses}
        return [i for i, _, _, _ in self._nearest(self._sentences, vector, k, where, documents=False, ids=ids)]

    @_reads
    def get_chunks(self, ids: list[str]) -> list[Passage]:
        """Chunks by id as passages (score 0), in the order asked; rows of stale versions are left out."""
        if not ids:
            return []
        generation = self._kept_generation()
        kept = self._kept_chunks.found(generation, ids)
        read = [
            row
            for part in _batches([i for i in dict.fromkeys(ids) if i not in kept], self._max_batch)
            for got in [self._chunks.get(ids=part, include=["metadatas", "documents"])]
            for row in zip(got["ids"], got["metadatas"], got["documents"])
        ]
        self._kept_chunks.keep(generation, {i: (i, m, d) for i, m, d in read})
        rows = [*kept.values(), *read]
        live = self.versions(m["article_id"] for _, m, _ in rows)
        by_id = {i: _passage(i, m, d, 0.0) for i, m, d in rows if live.get(m["article_id"]) == m["version"]}
        return [by_id[i] for i in ids if i in by_id]

    @_reads
    def chunks_of(self, article_ids: list[str]) -> list[Passage]:
        """The live chunks of these articles as passages (score 0), for an index kept beside the store."""
        live = self.versions(article_ids)
        passages: list[Passage] = []
        for part in _batches(list(dict.fromkeys(article_ids)), 500):
            for got in _pages(self._chunks, where={"article_id": {"$in": part}}, include=["metadatas", "documents"]):
                passages.extend(
                    _passage(i, m, d, 0.0)
                    for i, m, d in zip(got["ids"], got["metadatas"], got["documents"])
                    if live.get(m["article_id"]) == m["version"]
                )
        return passages

    def all_chunks(self, page: int = 1000) -> Iterator[Passage]:
        """Every live chunk as a passage (score 0), page by page (each page read under the read lock)."""
        live = self.versions(None)
        offset = 0
        while True:
            with self.access.reading():
                got = self._chunks.get(include=["metadatas", "documents"], limit=page, offset=offset)
            if not got["ids"]:
                return
            for i, m, d in zip(got["ids"], got["metadatas"], got["documents"]):
                if live.get(m["article_id"]) == m["version"]:
                    yield _passage(i, m, d, 0.0)
            offset += len(got["ids"])

    def _nearest(
        self, collection, vector: np.ndarray, k: int, where: dict | None, documents: bool = True,
        ids: list[str] | None = None,
    ) -> list[tuple[str, dict, str | None, float]]:
        # No count() first to cap n_results: Chroma returns what there is, and counting costs more
        # than the search itself (60 ms for 500,000 sentences, against 1 ms for the HNSW search).
        # Ask for a few more than k: rows of an interrupted write are dropped below.
        got = collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k * 2 + 5,
            where=where,
            **({"ids": ids} if ids is not None else {}),  # only these rows (Chroma 1.x)
            include=["metadatas", "distances"] + (["documents"] if documents else []),
        )
        ids, metas, dists = got["ids"][0], got["metadatas"][0], got["distances"][0]
        docs = got["documents"][0] if documents else [None] * len(ids)
        live = self.versions(m["article_id"] for m in metas)
        rows = [
            (i, m, d, 1.0 - float(dist))  # cosine similarity
            for i, m, d, dist in zip(ids, metas, docs, dists)
            if live.get(m["article_id"]) == m["version"]
        ]
        return rows[:k]

    @_reads
    def get_sentences(self, ids: list[str]) -> tuple[list[Sentence], np.ndarray]:
        """The sentences with these ids, in the order asked, and their unit vectors."""
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        generation = self._kept_generation()
        by_id = self._kept_sentences.found(generation, ids)
        read = {}
        for part in _batches([i for i in dict.fromkeys(ids) if i not in by_id], self._max_batch):
            got = self._sentences.get(ids=part, include=["metadatas", "documents", "embeddings"])
            read.update(
                (i, (_sentence(i, m, d), e))
                for i, m, d, e in zip(got["ids"], got["metadatas"], got["documents"], got["embeddings"])
            )
        self._kept_sentences.keep(generation, read)
        by_id |= read
        present = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
        if not present:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [s for s, _ in present], np.asarray([e for _, e in present], dtype=np.float32)

    @_reads
    def sentences_by_speaker(self, words: list[str]) -> list[tuple[Sentence, Passage]]:
        """Live sentences one of whose speakers' names holds one of `words` (lower case), each with
        its article's metadata (as a passage of that one sentence)."""
        clauses = [{"speaker_keys": {"$contains": w}} for w in words]
        where = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        # Up to ROWS_A_GET rows in one get (most speakers); past that, every id, then the other rows by id
        # in small gets: one get of a frequent speaker's 947 rows took 0.13 s, in gets of 500 0.08 s.
        include = ["metadatas", "documents"]
        got = self._sentences.get(where=where, limit=ROWS_A_GET, include=include)
        rows = list(zip(got["ids"], got["metadatas"], got["documents"]))
        if len(rows) >= ROWS_A_GET:
            read = set(got["ids"])
            ids = [i for got in _pages(self._sentences, where=where, include=[]) for i in got["ids"] if i not in read]
            rows += [
                row
                for got in _rows_by_ids(self._sentences, ids, include)
                for row in zip(got["ids"], got["metadatas"], got["documents"])
            ]
        live = self.versions(m["article_id"] for _, m, _ in rows)
        return [statement(i, m, d) for i, m, d in rows if live.get(m["article_id"]) == m["version"]]

    @_reads
    def sentences_with_speakers(self, article_ids: list[str]) -> list[tuple[str, dict, str]]:
        """(id, metadata, text) of the sentences of these articles that have speakers, of every version
        stored (the caller keeps those of the version it knows live): what qa/people.py's StatementIndex
        keeps beside the store. Each sentence's metadata first; the texts of those with speakers only."""
        found: dict[str, dict] = {}
        for part in _batches(list(dict.fromkeys(article_ids)), ROWS_A_GET):
            where = {"article_id": {"$in": part}} if len(part) > 1 else {"article_id": part[0]}
            ids = [i for got in _pages(self._sentences, where=where, include=[]) for i in got["ids"]]
            for got in _rows_by_ids(self._sentences, ids, ["metadatas"]):
                found.update((i, m) for i, m in zip(got["ids"], got["metadatas"]) if m and m.get("speakers"))
        return [
            (i, found[i], d)
            for got in _rows_by_ids(self._sentences, list(found), ["documents"])
            for i, d in zip(got["ids"], got["documents"])
        ]

    @_reads
    def stats(self) -> dict:
        """Counts of articles and of their live chunks and sentences (rows an interrupted write left
        are not counted), and when an article was last written (UTC, ISO; None for an empty index)."""
        counts = {"articles": 0, "chunks": 0, "sentences": 0}
        uncounted: dict[str, dict[str, str]] = {"chunks": {}, "sentences": {}}  # records older than the counts
        last = ""
        for article_id, meta in self._article_facts().items():
            counts["articles"] += 1
            last = max(last, meta.get("indexed_at", ""))
            for role in ("chunks", "sentences"):
                if isinstance(meta.get(role), int):
                    counts[role] += meta[role]
                else:
                    uncounted[role][article_id] = meta.get("version", "")
        for role, live in uncounted.items():
            if live:
                rows = self._rows_of(getattr(self, f"_{role}"), list(live))
                counts[role] += sum(live.get(m.get("article_id")) == m.get("version") for _, m in rows)
        return counts | {"last_updated": last or None}

    @_reads
    def known_roles(self) -> dict[str, set[str]]:
        """Role phrase -> the names of the people the stored articles give that role (a new dict:
        ingest adds to it)."""
        roles: dict[str, set[str]] = {}
        for meta in self._article_facts().values():
            for name, held in meta["people"].items():
                for role in held:
                    roles.setdefault(role, set()).add(name)
        return roles

    @_reads
    def sources(self) -> list[str]:
        """The distinct sources of the stored articles, sorted (what a source filter can choose from)."""
        return sorted({m["source"] for m in self._article_facts().values() if m.get("source")})

    @_reads
    def article_facts(self) -> dict[str, dict]:
        """Article id -> its record's facts (title, source, date, version, people …): a copy."""
        return {article_id: dict(facts) for article_id, facts in self._article_facts().items()}

    @_reads
    def speaker_rows(self) -> list[tuple[str, tuple[str, ...]]]:
        """(article id, speakers) of every live sentence that has speakers, read in pages."""
        live = {article_id: facts.get("version") for article_id, facts in self._article_facts().items()}
        rows = []
        ids = [i for got in _pages(self._sentences, include=[]) for i in got["ids"]]  # then rows in small gets
        for got in _rows_by_ids(self._sentences, ids, ["metadatas"]):
            for meta in got["metadatas"]:
                meta = meta or {}
                speakers = meta.get("speakers")
                if speakers and live.get(meta.get("article_id")) == meta.get("version"):
                    rows.append((meta["article_id"], tuple(speakers)))
        return rows

    @_reads
    def article_records(self) -> dict[str, dict]:
        """Article id -> what a list of the articles shows (title, source, published, url, path, chunks,
        sentences, indexed_at, duplicate_of), read in pages from the article records' metadata (no text)."""
        shown = ("title", "source", "published", "url", "path", "chunks", "sentences", "indexed_at", "duplicate_of")
        return {article_id: {k: meta.get(k) for k in shown} for article_id, meta in self._scan(self._articles)}

    def _article_facts(self) -> dict[str, dict]:
        """Article id -> the fields of its record in FACT_KEYS, and its `people` parsed (a copy).

        Every article is read once per process; after that, only the records stamped since the
        newest one seen (`indexed_ns`), so adding one article to a large index does not read every
        article. Those stamped up to CATCH_UP_MARGIN_NS before the newest (the window: a writer whose
        commit landed after a later-stamped one, or whose clock is a little behind) are read again
        too, but only once per store generation: a writer of QA_HOME bumps it (StoreAccess), so
        while it holds nothing can have landed late, and a store whose every record was just stamped
        (a re-date of every article) is not read whole at each call. Without a generation to follow
        (a Chroma server) the window is read every time. This process's deletes are dropped as they
        happen; a count that still disagrees (another writer deleted some) reads everything again.
        Records written before `indexed_ns` existed are read by the full read only; any rewrite
        stamps them. Nothing of it is saved: a crashed process leaves nothing to be wrong."""
        with self._facts_lock:
            generation = self._kept_generation()
            if self._facts is not None:
                window = generation is None or generation != self._facts_window_of
                since = ({"indexed_ns": {"$gte": self._facts_stamp - CATCH_UP_MARGIN_NS}} if window
                         else {"indexed_ns": {"$gt": self._facts_stamp}})
                for got in _pages(self._articles, PAGE_ROWS // 5, where=since, include=["metadatas"]):
                    for article_id, meta in zip(got["ids"], got["metadatas"]):
                        self._facts[article_id] = _facts(meta or {})
                        self._facts_stamp = max(self._facts_stamp, _stamp(meta or {}))
                if window:
                    self._facts_window_of = generation
                if self._articles.count() != len(self._facts):
                    self._facts = None
            if self._facts is None:
                facts: dict[str, dict] = {}
                stamp = 0
                for article_id, meta in self._scan(self._articles):
                    facts[article_id] = _facts(meta)
                    stamp = max(stamp, _stamp(meta))
                self._facts, self._facts_stamp, self._facts_window_of = facts, stamp, generation
                _release_freed_memory()
            return dict(self._facts)

    def _scan(self, collection, page: int = 1000) -> Iterator[tuple[str, dict]]:
        # Pages of 1,000, not 5,000: a page's metadata is held at once, and the heap it grew stays
        # with the process (measured at 12,800 articles: +140 MB resident instead of +360 MB).
        for got in _pages(collection, page, include=["metadatas"]):
            yield from zip(got["ids"], (m or {} for m in got["metadatas"]))

    @_reads
    def has_articles(self, filters: Filters | None) -> bool:
        """Whether any stored article passes the filters (a question asked under them has something to read)."""
        ids = list(filters.article_ids) if filters and filters.article_ids else None  # records: chosen by id
        where = where_clause(filters, by_article_id=False)
        return bool(self._articles.get(ids=ids, where=where, limit=1, include=[])["ids"])

    # -- checking --------------------------------------------------------------------------

    @_reads
    def check(self, article_ids: list[str] | None = None, page: int = 1000) -> dict:
        """Read every row (of these articles; None: of all) with its embedding and metadata, and say
        what is wrong: rows whose embedding cannot be read ("Error finding id") or is missing, live rows
        whose text is not their article's text at their offsets, articles whose live rows do not number
        what their record says, and rows no live article version owns (what a crash leaves; `sweep`).

        Returns {"articles", "chunks", "sentences": rows read, "unreadable": {role: [row ids]},
        "stale_rows": n, "damaged": {article id: [problems]}}; an article is damaged when rewriting it
        from its stored text (`--repair`) is what mends it."""
        report: dict = {"articles": 0, "chunks": 0, "sentences": 0, "stale_rows": 0}
        unreadable: dict[str, list[str]] = {"articles": [], "chunks": [], "sentences": []}
        damaged: dict[str, list[str]] = {}
        records: dict[str, tuple[dict, str]] = {}  # article id -> (metadata, text)

        def pages(collection, where_ids: list[str] | None, include: list[str]) -> Iterator[dict]:
            if where_ids is None:
                yield from _pages(collection, page, include=include)
            elif collection is self._articles:
                for part in _batches(where_ids, min(page, self._max_batch)):
                    yield collection.get(ids=part, include=include)
            else:
                for part in _batches(where_ids, 100):
                    yield from _pages(collection, page, where={"article_id": {"$in": part}}, include=include)

        def vectors(collection, role: str, ids: list[str]) -> dict[str, object]:
            """Row id -> its embedding (None: none stored); an unreadable row is noted and left out."""
            if not ids:
                return {}
            try:
                got = collection.get(ids=ids, include=["embeddings"])
                embeddings = got["embeddings"]
                return dict(zip(got["ids"], embeddings if embeddings is not None else [None] * len(got["ids"])))
            except StoreError:
                if len(ids) == 1:
                    unreadable[role].append(ids[0])
                    return {}
                middle = len(ids) // 2
                return vectors(collection, role, ids[:middle]) | vectors(collection, role, ids[middle:])

        def problem(article_id: str, text: str) -> None:
            damaged.setdefault(article_id, []).append(text)

        wanted = list(dict.fromkeys(article_ids)) if article_ids is not None else None
        for got in pages(self._articles, wanted, ["metadatas", "documents"]):
            found = vectors(self._articles, "articles", got["ids"])
            for article_id, meta, text in zip(got["ids"], got["metadatas"], got["documents"]):
                report["articles"] += 1
                records[article_id] = (meta or {}, text or "")
                if article_id not in found:
                    problem(article_id, "its record's embedding cannot be read")
        live_rows: dict[str, dict[str, int]] = {}
        for role, collection in (("chunks", self._chunks), ("sentences", self._sentences)):
            for got in pages(collection, wanted, ["metadatas", "documents"]):
                found = vectors(collection, role, got["ids"])
                for row_id, meta, text in zip(got["ids"], got["metadatas"], got["documents"]):
                    meta = meta or {}
                    report[role] += 1
                    article_id = meta.get("article_id", "")
                    record = records.get(article_id)
                    if record is None or record[0].get("version") != meta.get("version"):
                        report["stale_rows"] += 1  # an interrupted write's: readers skip it, `sweep` removes it
                        continue
                    live_rows.setdefault(article_id, {}).setdefault(role, 0)
                    live_rows[article_id][role] += 1
                    if row_id not in found:
                        problem(article_id, f"the embedding of {row_id} cannot be read")
                        continue
                    vector = found[row_id]
                    if vector is None or len(vector) == 0 or not np.all(np.isfinite(np.asarray(vector, dtype=np.float32))):
                        problem(article_id, f"{row_id} has no embedding")
                    start, end = meta.get("start"), meta.get("end")
                    if not isinstance(start, int) or not isinstance(end, int) or record[1][start:end] != (text or ""):
                        problem(article_id, f"the text of {row_id} is not the article's text at {start}-{end}")
        for article_id, (meta, _) in records.items():
            for role in ("chunks", "sentences"):
                expected, present = meta.get(role), live_rows.get(article_id, {}).get(role, 0)
                if isinstance(expected, int) and expected != present:
                    problem(article_id, f"{present} {role} stored, its record says {expected}")
        return report | {"unreadable": unreadable, "damaged": damaged}

    @_writes
    def drop_rows(self, article_ids: list[str]) -> None:
        """Delete every chunk and sentence row of these articles (their records stay): a repair
        writes them again from the record's text. Rows whose embedding cannot be read are deleted too."""
        self._journal(list(article_ids))
        self.access.changed()
        self._delete_rows(list(article_ids), keep=set())


def pack_signature(values: list[int]) -> str:
    """A MinHash as stored: one string, since Chroma reads a 64-number array metadata field far slower."""
    return base64.b64encode(np.asarray(values, dtype=np.uint32).tobytes()).decode()


def unpack_signature(packed: str) -> list[int]:
    return np.frombuffer(base64.b64decode(packed), dtype=np.uint32).tolist()


def _release_freed_memory() -> None:
    """Give the memory a large read freed back to the system (glibc keeps it otherwise: 60-280 MB
    after reading every article record at 100,000 chunks); a no-op where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _facts(meta: dict) -> dict:
    """The part of an article record ChromaStore keeps in memory (see _article_facts)."""
    return {k: meta[k] for k in FACT_KEYS if k in meta} | {"people": json.loads(meta.get("people") or "{}")}


def _stamp(meta: dict) -> int:
    stamp = meta.get("indexed_ns")
    return stamp if isinstance(stamp, int) else 0


def _sentence_facts(sentence: Sentence) -> dict:
    """Speakers, resolved mentions and entities as Chroma metadata (which takes no empty lists)."""
    meta: dict = {}
    # A speaker with no name words ("—") cannot be asked about.
    speakers = [name for name in sentence.speakers if name_words(name)]
    if speakers:
        keys = set(sentence.speaker_keys) | {w for name in speakers for w in name_words(name)}
        meta |= {"speakers": speakers, "speaker_keys": sorted(keys)}
    if sentence.mentions:
        meta["mentions"] = list(sentence.mentions)
    if sentence.mention_keys:
        meta["mention_keys"] = list(sentence.mention_keys)
    if sentence.entities:
        # One packed string: label, start, end per entity (compact, and any number of them).
        meta["entities"] = ";".join(f"{e.label},{e.start},{e.end}" for e in sentence.entities)
    return meta | _dated_meta(sentence.dated)


def _dated_meta(dated: tuple[str, str] | None) -> dict:
    """A sentence's `dated` as the day numbers where_clause compares (None deletes them in an update)."""
    first, last = dated or (None, None)
    return {"dates_first_day": day_number(first), "dates_last_day": day_number(last)} if dated else {}


def _iso_day(number: int | None) -> str | None:
    return f"{number // 10000:04d}-{number // 100 % 100:02d}-{number % 100:02d}" if number else None


def _dates_record(dates: DateResolution) -> dict:
    """What an article record keeps of its relative dates: every one with its span (a JSON string), the
    rules they were resolved by, the first and last day they name (has_articles' gate), and for a report with
    no publication date the note that nothing was resolved."""
    days = day_span(dates, 0, 1 << 62)
    return {
        "relative_dates": pack_dates(dates),
        "dates_rules": DATE_RULES,
        "dates_note": dates.note,
        "dates_first_day": day_number(days[0].isoformat()) if days else None,
        "dates_last_day": day_number(days[1].isoformat()) if days else None,
    }


# A sentence's entities as stored ("PERSON,79,87;CARDINAL,116,117") -> its tuple of Entity, made once: a
# frequent speaker's thousands of sentences repeat the same few again and again, and making them costs more
# than finding them (and each one made is another object for the garbage collector to walk). Entities are
# frozen values: one tuple is shared by every sentence that has them. Bounded: emptied when full.
_ENTITIES: dict[str, tuple[Entity, ...]] = {}
_ENTITIES_KEPT = 1 << 16


def _entities(packed: str | None) -> tuple[Entity, ...]:
    if not packed:
        return ()
    found = _ENTITIES.get(packed)
    if found is None:
        found = tuple(
            Entity(label, int(start), int(end)) for label, start, end in (e.split(",") for e in packed.split(";") if e)
        )
        if len(_ENTITIES) >= _ENTITIES_KEPT:
            _ENTITIES.clear()
        _ENTITIES[packed] = found
    return found


def _sentence(sentence_id: str, meta: dict, text: str) -> Sentence:
    get = meta.get
    return Sentence(
        sentence_id,
        meta["article_id"],
        meta["index"],
        meta["start"],
        meta["end"],
        text,
        get("chunk_id", ""),
        tuple(get("speakers") or ()),
        tuple(get("mentions") or ()),
        tuple(get("speaker_keys") or ()),
        tuple(get("mention_keys") or ()),
        _entities(get("entities")),
        (_iso_day(meta["dates_first_day"]), _iso_day(meta["dates_last_day"])) if "dates_first_day" in meta else None,
    )


def statement(sentence_id: str, meta: dict, text: str) -> tuple[Sentence, Passage]:
    """A sentence with speakers as `sentences_by_speaker` gives it: the sentence, and its article's
    metadata as a passage of that one sentence (made without copying `meta`: a frequent speaker has tens
    of thousands)."""
    return _sentence(sentence_id, meta, text), _passage(meta.get("chunk_id", ""), meta, text, 0.0, sentence_id)


def _passage(chunk_id: str, meta: dict, text: str, score: float, sentence_ids: str | None = None) -> Passage:
    """A row's passage; `sentence_ids` (comma-separated) in place of the row's own. Arguments by position, in
    Passage's field order: a frequent speaker's answer makes tens of thousands."""
    get = meta.get
    ids = get("sentence_ids", "") if sentence_ids is None else sentence_ids
    return Passage(
        meta["article_id"], chunk_id, meta["start"], meta["end"], score, text, get("title", ""),
        get("published"), get("source"), get("url"), tuple(filter(None, ids.split(","))), get("duplicate_of"),
    )


def _mean_direction(vectors: np.ndarray) -> np.ndarray:
    """An article's vector: the unit-length mean of its chunks' vectors."""
    mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean
