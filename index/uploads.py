"""The uploads area: files added through the chat screen are checked, then kept here and ingested.

An upload is untrusted: only its base name is used (so "../../x.txt" lands inside the area as
"x.txt"), only the article file types are taken, and its size is capped. Two uploads whose names
differ are never stored under one name ("a&b.txt" and "a+b.txt" both clean to "a_b.txt"): a
name that cleaning changed gets a short hash of the original name, so each keeps its own file
(and article), and re-uploading the same file still updates its article.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from index.loaders import SUFFIXES

# Well under the usual 255-byte limit of a file name, with room for the hash and ".partial".
_MAX_NAME_CHARS = 120


class UploadError(Exception):
    """A refused upload; the message names the file and the problem."""


@dataclass(frozen=True)
class Kept:
    """An upload in the area: where it is, and the name it was given (to say when it was renamed)."""

    path: Path
    original: str

    @property
    def renamed(self) -> bool:
        return self.path.name != self.original


class UploadArea:
    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def keep(self, upload: Path, name: str | None = None) -> Path:
        """Copy `upload` (named `name`, default its own name) into the area; the copy's path."""
        return self.keep_named(upload, name).path

    def keep_named(self, upload: Path, name: str | None = None) -> Kept:
        """As `keep`, and also the upload's original base name (see `Kept.renamed`)."""
        original = _shown(base_name(name or upload.name))
        name = stored_name(name or upload.name)
        if Path(name).suffix.lower() not in SUFFIXES:
            raise UploadError(f"{original}: unsupported file type (supported: {', '.join(sorted(SUFFIXES))})")
        try:
            st = os.stat(upload)
        except OSError as exc:
            raise UploadError(f"{original}: cannot read: {_reason(upload, exc)}") from None
        if stat.S_ISDIR(st.st_mode):
            raise UploadError(f"{original}: a directory, not a file")
        if not stat.S_ISREG(st.st_mode):  # a named pipe would block the copy forever
            raise UploadError(f"{original}: not a regular file; skipped")
        if st.st_size > self.max_bytes:
            raise UploadError(
                f"{original}: {st.st_size / 1e6:.1f} MB is over the {self.max_bytes / 1e6:g} MB upload limit"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        target = (self.root / name).resolve()
        if target.parent != self.root.resolve():  # stored_name makes this impossible; checked all the same
            raise UploadError(f"{original}: not a plain file name")
        partial = target.with_name(f".{target.name}.partial")
        try:
            shutil.copyfile(upload, partial)
            partial.replace(target)  # a crash mid-copy never leaves half a file to ingest
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise UploadError(f"{original}: cannot store it: {_reason(upload, exc)}") from None
        return Kept(target, original)


def base_name(name: str) -> str:
    """The last component of an uploaded file's name (either kind of slash)."""
    return re.split(r"[\\/]", name)[-1]


def safe_name(name: str) -> str:
    """The base name of an uploaded file, with anything but letters, digits, '.', '-' and '_' replaced."""
    base = base_name(name)
    cleaned = re.sub(r"[^\w.-]+", "_", base).lstrip(".")
    if not cleaned or cleaned.strip("._") == "":
        raise UploadError(f"{name!r}: not a usable file name")
    return cleaned


def stored_name(name: str) -> str:
    """The name an upload is kept under: `safe_name`, plus a short hash of the original base name
    whenever cleaning changed it (or it had to be shortened), so distinct names stay distinct."""
    base = base_name(name)
    cleaned = safe_name(name)
    if cleaned == base and len(cleaned) <= _MAX_NAME_CHARS:
        return cleaned
    stem, suffix = os.path.splitext(cleaned)
    if len(suffix) > 16:  # not an article suffix anyway; keep the name short
        stem, suffix = cleaned, ""
    digest = hashlib.sha1(base.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{stem[: _MAX_NAME_CHARS - len(suffix) - 9]}-{digest}{suffix}"


def _shown(name: str) -> str:
    """A name as it can be printed on one line."""
    return name if name.isprintable() else repr(name)


def _reason(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "broken symbolic link"
    return exc.strerror or str(exc)


# --- ingesting uploads in a worker process ---------------------------------------------------------


@dataclass
class UploadOutcome:
    """What became of a batch of uploads: the ingest report, and each upload that was stored (its name
    as uploaded, the name it is kept under)."""

    report: object  # qa.types.IngestReport
    stored: list[tuple[str, str]]


def ingest_uploads(settings, files: list[Path]) -> UploadOutcome:
    """Ingest uploads as the chat screen does (QAService.add_files: checked, kept in the uploads area,
    ingested), then drop the kept copies that gave no stored article (an empty file, a broken page).
    Runs in the worker process of `ingest_uploads_in_worker`, or in the caller's."""
    from qa.service import QAService

    service = QAService(settings)
    service.on_lock_wait = lambda holder: None  # the screen waits quietly for another writer
    files = [Path(f) for f in files]
    report = service.add_files(files, progress=False)
    area = Path(settings.uploads_path).resolve()
    holding = set(service.store.article_paths().values())
    stored: list[tuple[str, str]] = []
    for path in files:
        try:
            kept = (area / stored_name(path.name)).resolve()
        except UploadError:
            continue
        if kept.parent != area:
            continue
        if str(kept) not in holding:
            kept.unlink(missing_ok=True)
        elif kept.name not in (name for _, name in stored):
            stored.append((_shown(base_name(path.name)), kept.name))
    return UploadOutcome(report, stored)


def _worker_main(connection, settings, files: list[str]) -> None:
    try:
        outcome = ingest_uploads(settings, [Path(f) for f in files])
    except BaseException as exc:  # said to the parent, which reports it
        connection.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        connection.send(("done", outcome))
    finally:
        connection.close()


def ingest_uploads_in_worker(settings, files: list[Path], timeout: float | None = None) -> UploadOutcome:
    """`ingest_uploads` in a process of its own (spawned: no state shared with the server), so that
    parsing and embedding a large upload neither holds the server's interpreter lock while questions
    are answered nor leaves its memory in the server: the process ends with the ingest. It loads its
    own models (seconds), and takes the index's write lock like any `qa ingest`."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(
        target=_worker_main, args=(sending, settings, [str(f) for f in files]), name="qa-upload-ingest", daemon=True
    )
    process.start()
    sending.close()  # the child holds its end: a dead child then reads as end of file here
    try:
        if not receiving.poll(timeout):
            process.kill()
            raise UploadError(f"the ingest of the upload took over {timeout:g} s and was stopped")
        kind, value = receiving.recv()
    except EOFError:
        process.join(timeout=30)
        raise UploadError(f"the ingest of the upload stopped unexpectedly (exit code {process.exitcode})") from None
    finally:
        receiving.close()
        process.join(timeout=60)  # it has sent its answer: it is ending
        if process.is_alive():
            process.kill()
            process.join()
    if kind == "error":
        raise UploadError(f"the ingest of the upload failed: {value}")
    return value
