"""The uploads area: files added through the chat screen are checked, then kept here and ingested.

An upload is untrusted: only its base name is used (so "../../x.txt" lands inside the area as
"x.txt"), only the article file types are taken, and its size is capped.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from index.loaders import SUFFIXES


class UploadError(Exception):
    """A refused upload; the message names the file and the problem."""


class UploadArea:
    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def keep(self, upload: Path, name: str | None = None) -> Path:
        """Copy `upload` (named `name`, default its own name) into the area; the copy's path."""
        name = safe_name(name or upload.name)
        if Path(name).suffix.lower() not in SUFFIXES:
            raise UploadError(f"{name}: unsupported file type (supported: {', '.join(sorted(SUFFIXES))})")
        size = upload.stat().st_size
        if size > self.max_bytes:
            raise UploadError(f"{name}: {size / 1e6:.1f} MB is over the {self.max_bytes / 1e6:g} MB upload limit")
        self.root.mkdir(parents=True, exist_ok=True)
        target = (self.root / name).resolve()
        if target.parent != self.root.resolve():  # safe_name makes this impossible; checked all the same
            raise UploadError(f"{name}: not a plain file name")
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(upload, partial)
        partial.replace(target)  # a crash mid-copy never leaves half a file to ingest
        return target


def safe_name(name: str) -> str:
    """The base name of an uploaded file, with anything but letters, digits, '.', '-' and '_' replaced."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = re.sub(r"[^\w.-]+", "_", base).lstrip(".")
    if not cleaned or cleaned.strip("._") == "":
        raise UploadError(f"{name!r}: not a usable file name")
    return cleaned
