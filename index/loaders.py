"""Loaders: files of .txt, .md, .html, .jsonl, .pdf and .docx articles in, `Article`s (or clear errors) out.

Every input either loads or comes back as one-line errors naming the file (and line, for JSONL):
nothing here raises for bad input, blocks on a special file, or drops an article without a word.
"""

from __future__ import annotations

import codecs
import datetime as dt
import errno
import functools
import hashlib
import io
import json
import logging
import os
import re
import stat
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import frontmatter
import yaml
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, UnicodeDammit, XMLParsedAsHTMLWarning
from dateutil import parser as date_parser
from lxml import etree
from markdown_it import MarkdownIt

from qa.types import Article

SUFFIXES = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
    ".pdf": "pdf",
    ".docx": "docx",
}
# Binary formats whose bytes are not their text: a PDF or Word file holds fonts, images and markup too.
_BINARY = ("pdf", "docx")
# The default of QA_MAX_ARTICLE_CHARS: far above any news article, far below what stalls parsing.
DEFAULT_MAX_CHARS = 2_000_000

log = logging.getLogger(__name__)


class LoadError(Exception):
    """A problem with one input, named by file (and line) so the user can fix it."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None):
        self.path, self.problem, self.line = str(path), problem, line
        shown = self.path if self.path.isprintable() else repr(self.path)  # one line, whatever the name
        where = f"{shown}:{line}" if line is not None else shown
        super().__init__(f"{where}: {problem}")


@dataclass
class Loaded:
    """What one file gave: its articles, its problems (a JSONL file can have both), and warnings
    about a file that did load (a dropped `javascript:` URL, undecodable characters replaced)."""

    path: Path
    articles: list[Article] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    warnings: list[LoadError] = field(default_factory=list)

    def warn(self, problem: str, line: int | None = None) -> None:
        warning = LoadError(self.path, problem, line)
        self.warnings.append(warning)


# --- finding files --------------------------------------------------------------------------------


def discover(paths: list[Path]) -> tuple[list[Path], list[LoadError]]:
    """The article files named by `paths`: directories are walked (hidden entries and symlinked
    directories skipped); anything that is not a regular file is reported, never opened."""
    files: list[Path] = []
    errors: list[LoadError] = []
    for path in paths:
        path = Path(path)
        kind, problem = _inspect(path)
        if problem:
            errors.append(LoadError(path, problem))
        elif kind == "dir":
            _walk(path, files, errors)
        elif path.suffix.lower() not in SUFFIXES:
            errors.append(LoadError(path, f"unsupported file type (supported: {', '.join(sorted(SUFFIXES))})"))
        else:
            files.append(path)
    # The same file named twice (e.g. a file and its directory) is loaded once.
    unique = list(dict.fromkeys(p.absolute() for p in files))
    return unique, errors


def _walk(root: Path, files: list[Path], errors: list[LoadError]) -> None:
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:
        errors.append(LoadError(exc.filename or root, f"cannot read directory: {_reason(exc)}"))

    # os.walk does not descend into symlinked directories, so a directory loop cannot trap it.
    for folder, dirs, names in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or Path(name).suffix.lower() not in SUFFIXES:
                continue
            path = Path(folder) / name
            kind, problem = _inspect(path)
            if problem:
                errors.append(LoadError(path, problem))
            elif kind == "file":
                found.append(path)
    files.extend(sorted(found))


def _inspect(path: Path) -> tuple[str | None, str | None]:
    """("dir" | "file", None) for what can be read, else (None, the problem in words)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if os.path.islink(path) and exc.errno == errno.ENOENT:
            return None, "cannot read: broken symbolic link"
        if exc.errno == errno.ENOENT:
            return None, "no such file or directory"
        return None, f"cannot read: {_reason(exc)}"
    except ValueError as exc:  # e.g. a NUL byte in the name
        return None, f"cannot read: {exc}"
    if stat.S_ISDIR(st.st_mode):
        return "dir", None
    if stat.S_ISREG(st.st_mode):
        return "file", None
    return None, f"not a regular file ({_file_kind(st.st_mode)}); skipped"


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    return exc.strerror or str(exc)


# --- loading one file -----------------------------------------------------------------------------


def load_file(path: Path, max_chars: int = DEFAULT_MAX_CHARS) -> Loaded:
    """The articles of one file, or its errors; an article text over `max_chars` is refused."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower(), "text")
    loaded = Loaded(path)
    try:
        if _SURROGATE.search(str(path.absolute())):  # undecodable bytes in a name: no store can keep it as text
            raise LoadError(path, "the file's name (or folder's) is not valid UTF-8: rename it")
        data = _read_regular_file(path, kind, max_chars)
        if kind == "html":
            _load_html(path, data, loaded, max_chars)
        elif kind == "pdf":
            loaded.articles.append(_load_pdf(path, data, loaded, max_chars))
        elif kind == "docx":
            loaded.articles.append(_load_docx(path, data, max_chars))
        else:
            raw = _decode(path, data)
            if not raw.strip():
                raise LoadError(path, "empty file: no articles in it")
            if kind == "jsonl":
                _load_jsonl(path, raw, loaded, max_chars)
                if not loaded.articles and not loaded.errors:
                    raise LoadError(path, "no articles in it")
            elif kind == "markdown":
                loaded.articles.append(_load_markdown(path, raw, loaded, max_chars))
            else:
                loaded.articles.append(_load_text(path, raw, loaded, max_chars))
    except LoadError as exc:
        loaded.errors.append(exc)
    except Exception as exc:  # the last line of defence: one file's surprise must not stop the batch
        log.debug("unexpected error loading %s", path, exc_info=True)
        loaded.errors.append(LoadError(path, f"unexpected problem: {_one_line(f'{type(exc).__name__}: {exc}')}"))
    return loaded


def _read_regular_file(path: Path, kind: str, max_chars: int) -> bytes:
    # O_NONBLOCK: opening a named pipe must not wait for a writer; fstat then refuses it.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if os.path.islink(path) and exc.errno == errno.ENOENT:
            raise LoadError(path, "cannot read: broken symbolic link") from None
        raise LoadError(path, f"cannot read: {_reason(exc)}") from None
    except ValueError as exc:
        raise LoadError(path, f"cannot read: {exc}") from None
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(file.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise LoadError(path, f"not a regular file ({_file_kind(st.st_mode)}); skipped")
        # A file far larger than any article it could hold is refused before it is read and parsed
        # (UTF-8 takes at most 4 bytes a character; HTML markup, and a PDF's or Word file's fonts and
        # images, are allowed ten times its text).
        if kind != "jsonl":
            limit = max_chars * (10 if kind in ("html", *_BINARY) else 4) + 1_000_000
            if st.st_size > limit:
                raise LoadError(
                    path, f"file of {st.st_size:,} bytes is over the size limit of its article ({_limit(max_chars)})"
                )
        try:
            return file.read()
        except OSError as exc:
            raise LoadError(path, f"cannot read: {_reason(exc)}") from None


def _limit(max_chars: int) -> str:
    return f"QA_MAX_ARTICLE_CHARS is {max_chars:,} characters"


_BOMS = [  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
]


def _decode_by_bom(path: Path, data: bytes) -> str | None:
    """The text of a file that opens with a byte-order mark (decoded by it), else None."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise LoadError(path, f"not valid {name} text (bad bytes at offset {exc.start})") from None
    return None


def _decode(path: Path, data: bytes) -> str:
    text = _decode_by_bom(path, data)
    if text is None:
        if b"\x00" in data:
            if _looks_like_utf16(data):
                raise LoadError(path, "UTF-16 text without a byte-order mark: save it as UTF-8 (or UTF-16 with a BOM)")
            raise LoadError(path, "binary file, not text (it contains NUL bytes)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LoadError(path, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    if "\x00" in text:
        raise LoadError(path, "binary file, not text (it contains NUL characters)")
    return text


def _looks_like_utf16(data: bytes) -> bool:
    """Mostly-ASCII UTF-16 has a NUL in every other byte, and (almost) none in the others."""
    if len(data) < 4:
        return False
    even, odd = data[0::2].count(0), data[1::2].count(0)
    half = len(data) // 2
    return max(even, odd) >= 0.6 * half and min(even, odd) <= 0.05 * half


# --- articles -------------------------------------------------------------------------------------


def make_article(
    *,
    id: str,
    title: str | None,
    text: str,
    published: str | None = None,
    source: str | None = None,
    url: str | None = None,
    path: str | None = None,
) -> Article:
    """An `Article` with normalised text, a title and the hash incremental ingest compares."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValueError("empty article: no text")
    if not any(ch.isalnum() for ch in text):
        raise ValueError("empty article: no words in its text")
    for name, value in (("id", id), ("title", title), ("text", text), ("source", source), ("url", url)):
        if value is not None:
            _check_characters(name, value)
    title = " ".join((title or "").split()) or _title_from_text(text)
    content = json.dumps([text, title, published, source, url], ensure_ascii=False)
    return Article(
        id=id,
        title=title,
        text=text,
        published=published,
        source=source,
        url=url,
        path=path,
        content_hash=hashlib.sha256(content.encode()).hexdigest(),
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_characters(name: str, value: str) -> None:
    """Lone UTF-16 surrogates (JSON's "\\ud800") and NULs are not text: no store can keep them."""
    if m := _SURROGATE.search(value):
        raise ValueError(
            f"field {name!r} holds a lone UTF-16 surrogate (\\u{ord(m.group()):04x}), which is not a character"
        )
    if "\x00" in value:
        raise ValueError(f"field {name!r} holds a NUL character")


def normalize_date(value: object) -> str | None:
    """An ISO date (YYYY-MM-DD) from a date, datetime or date string; ValueError if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if not isinstance(value, str):  # no repr: a YAML alias bomb's would never end
        raise ValueError(f"not a date: a {type(value).__name__}")
    try:
        return date_parser.isoparse(value.strip()).date().isoformat()
    except (ValueError, OverflowError):
        pass
    try:
        return date_parser.parse(value.strip()).date().isoformat()
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a date: {_shorten(repr(value))}") from exc


def file_article_id(path: Path) -> str:
    """Stable for a file: readable stem plus a hash of where it lives."""
    stem = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "article"
    digest = hashlib.sha1(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{stem}-{digest}"


def pasted_article_id(title: str, published: str | None) -> str:
    """Stable for pasted text: the same title and date name the same article."""
    stem = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "pasted"
    digest = hashlib.sha1(f"{' '.join(title.split())}|{published}".encode()).hexdigest()[:8]
    return f"pasted-{stem}-{digest}"


def _article_from_file(path: Path, text: str, max_chars: int, **meta) -> Article:
    if (size := len(text.strip())) > max_chars:
        raise LoadError(path, f"article text of {size:,} characters is over the limit ({_limit(max_chars)})")
    try:
        return make_article(id=file_article_id(path), text=text, path=str(path.resolve()), **meta)
    except ValueError as exc:
        raise LoadError(path, str(exc)) from None


def _title_from_text(text: str, limit: int = 100) -> str:
    first = text.split("\n", 1)[0].strip()
    sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    if len(sentence) <= limit:
        return sentence
    return sentence[:limit].rsplit(" ", 1)[0] + "…"


def _date_from_name(path: Path) -> str | None:
    match = re.search(r"(\d{4}-\d{2}-\d{2})", path.stem)
    if not match:
        return None
    try:
        return normalize_date(match.group(1))
    except ValueError:
        return None


def _published(path: Path, meta: dict, where: str) -> str | None:
    """The date a file's own metadata gives (`published` or `date`), else one in its name."""
    try:
        return normalize_date(meta.get("published") or meta.get("date")) or _date_from_name(path)
    except ValueError as exc:
        raise LoadError(path, f"{where} date: {exc}") from None


def _web_url(value: str | None, warn: Callable[[str], None]) -> str | None:
    """Only http(s) URLs are kept as an article's link: a `javascript:` or `file:` one is dropped, with a warning."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if ok and not _SURROGATE.search(value) and not any(ch.isspace() or ord(ch) < 32 for ch in value):
        return value
    warn(f"url {_shorten(repr(value))} dropped: only http and https URLs are kept")
    return None


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str, limit: int = 300) -> str:
    return _shorten(" ".join(text.split()), limit)


# --- plain text -----------------------------------------------------------------------------------

# Value taken whole and stripped in Python: a lazy `(.+?)\s*$` is quadratic on a long run of spaces.
_HEADER_LINE = re.compile(r"^[ \t]*(title|date|published|source|url)[ \t]*:(.*\S.*)$", re.IGNORECASE)
# The sample corpus opens with "date 2023-03-20 " before the first sentence.
_INLINE_DATE = re.compile(r"^\s*(?:date|published)\s*(?::\s*)?(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.]+Z?)?\s+", re.IGNORECASE)
# Markdown link syntax pasted into plain text: `[words](url "title")` reads as its words;
# `![alt](src)` as its alt text. The URL part allows one level of balanced parentheses.
_TEXT_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)")


def _load_text(path: Path, raw: str, loaded: Loaded, max_chars: int) -> Article:
    """Plain text, optionally opened by `Key: value` header lines or a `date YYYY-MM-DD` prefix."""
    meta: dict[str, str] = {}
    lines = raw.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines) and (m := _HEADER_LINE.match(lines[i])):
        meta[m.group(1).lower()] = m.group(2).strip()
        i += 1
    body = "\n".join(lines[i:])
    if not meta and (m := _INLINE_DATE.match(body)):
        meta["date"] = m.group(1)
        body = body[m.end() :]
    body = _TEXT_LINK.sub(lambda m: m.group(1), body)
    return _article_from_file(
        path,
        body,
        max_chars,
        title=meta.get("title"),
        published=_published(path, meta, "header"),
        source=meta.get("source") or path.name,
        url=_web_url(meta.get("url"), loaded.warn),
    )


# --- Markdown -------------------------------------------------------------------------------------

# markdown-it-py: a CommonMark-compliant parser (already installed with Gradio) that gives a token
# stream, so the text can be rebuilt without Markdown syntax and with headings kept apart, instead of
# guessing at syntax with regular expressions. Its nesting is capped (maxNesting), so hostile input
# cannot recurse without end.
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _markdown_text(source: str) -> tuple[str, str | None]:
    """Markdown as plain text (one paragraph a block; headings their own paragraphs), and the
    text of its first level-1 heading."""
    blocks: list[str] = []
    row: list[str] | None = None
    first_h1: str | None = None
    heading: str | None = None
    for token in _MARKDOWN.parse(source):
        if token.type == "heading_open":
            heading = token.tag
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            blocks.append(" | ".join(cell for cell in row if cell))
            row = None
        elif token.type == "inline":
            text = _inline_text(token.children or [])
            if row is not None:
                row.append(" ".join(text.split()))
                continue
            if heading == "h1" and first_h1 is None and text.strip():
                first_h1 = " ".join(text.split())
            blocks.append(text)
        elif token.type == "heading_close":
            heading = None
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content)
        elif token.type == "html_block":
            blocks.append(_html_block_text(token.content))
    paragraphs = ["\n".join(" ".join(line.split()) for line in b.split("\n") if line.strip()) for b in blocks]
    return "\n\n".join(p for p in paragraphs if p), first_h1


def _html_block_text(markup: str) -> str:
    """The words of raw HTML in Markdown (scripts, styles and comments are not words)."""
    soup = _soup(markup)
    for tag in soup.find_all(_NOISE):
        tag.decompose()
    return soup.get_text(" ")


def _inline_text(children) -> str:
    parts: list[str] = []
    for child in children:
        if child.type in ("text", "text_special", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child.children or []))
        # link, emphasis and inline-HTML tokens carry no text of their own
    return "".join(parts)


def _load_markdown(path: Path, raw: str, loaded: Loaded, max_chars: int) -> Article:
    """Markdown with optional YAML front matter (title, date/published, source, url)."""
    meta = _front_matter(path, raw)
    source = meta.pop("\0content")
    # Parsing takes up to ~15 µs a character on hostile input: a source far over the text limit is
    # refused unparsed (links and markup may make it up to twice its text).
    if len(source) > 2 * max_chars:
        raise LoadError(
            path, f"Markdown of {len(source):,} characters is over twice the article limit ({_limit(max_chars)})"
        )
    text, first_h1 = _markdown_text(source)
    title = _meta_text(path, meta, "title") or first_h1
    return _article_from_file(
        path,
        text,
        max_chars,
        title=title,
        published=_published(path, meta, "front matter"),
        source=_meta_text(path, meta, "source") or path.name,
        url=_web_url(_meta_text(path, meta, "url"), loaded.warn),
    )


def _front_matter(path: Path, raw: str) -> dict:
    """The front matter's fields, and the body under the key "\\0content"; errors in one line."""
    try:
        post = frontmatter.loads(raw)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # The YAML's line 0 is the rest of the opening `---` line; count the blank lines before it.
        stripped = raw[: len(raw) - len(raw.lstrip())].count("\n")
        where = f" (line {stripped + mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise LoadError(
            path, f"invalid front matter: {_one_line(exc.problem or exc.context or 'YAML error')}{where}"
        ) from None
    except Exception as exc:  # the YAML and JSON parsers raise many types (bad dates, deep nesting …)
        raise LoadError(path, f"invalid front matter: {_one_line(str(exc) or type(exc).__name__)}") from None
    meta = dict(post.metadata)
    meta["\0content"] = post.content
    return meta


def _meta_text(path: Path, meta: dict, key: str) -> str | None:
    """A front-matter field as text; a list or mapping (or a YAML alias bomb) is not a title."""
    value = meta.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, (str, int, float, dt.date)) and not isinstance(value, bool):
        return str(value)
    raise LoadError(path, f"front matter {key!r} must be text, not {type(value).__name__}")


# --- PDF and Word ---------------------------------------------------------------------------------

# A line of a PDF ends a sentence when it ends with one of these (closing quotes and brackets after).
_LINE_ENDS_SENTENCE = re.compile(r"[.!?…:;][\"'”’»)\]]*$")
# A line at least this share of the page's longest line is taken as one the layout wrapped.
_FULL_LINE = 0.6
_LOCKED = "encrypted PDF that needs a password to open: save an unprotected copy and add that"
# pypdf logs what it works around ("Ignoring wrong pointing object …", even at ERROR: "Advanced encoding …
# not implemented") without naming the file, and what it cannot work around it raises, which is reported
# by file: its log is kept quiet. Children ("pypdf._reader") inherit the level.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)


def _load_pdf(path: Path, data: bytes, loaded: Loaded, max_chars: int) -> Article:
    """A PDF's text layer, read with pypdf: pure Python (no poppler or MuPDF to install on every
    machine), maintained, and it reads pages in order with the document's metadata.

    The text is each page's text, pages joined with blank lines. A PDF line is the page's layout, not
    the text's: a line wrapped inside a sentence (near the page's full width, no sentence end) is joined
    to the next with a space, so a cited sentence reads as one line; other line ends are kept. Title and
    date come from the metadata (title, creation date), else the first line and the file's name. A PDF
    without text (scanned pages), one locked by a password, or one pypdf cannot parse is refused."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # An empty user password (only copying or printing restricted) opens it; anything else is locked.
            try:
                opened = reader.decrypt("")
            except DependencyError:
                raise LoadError(path, "encrypted PDF (AES) that cannot be read here: save an unprotected copy") from None
            if not opened:
                raise LoadError(path, _LOCKED)
        pages = reader.pages
        count = len(pages)
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError(path, _LOCKED) from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        # pypdf raises its own errors, and plain ones from deep inside a damaged file's structures.
        raise LoadError(path, f"not a readable PDF (corrupt or truncated): {_pdf_problem(exc)}") from None
    texts: list[str] = []
    blank: list[int] = []
    size = 0
    for number in range(1, count + 1):
        try:
            text = _unwrap_pdf_lines(pages[number - 1].extract_text())
        except FileNotDecryptedError:
            raise LoadError(path, _LOCKED) from None
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
            loaded.warn(f"page {number} could not be read ({_pdf_problem(exc)}) and was skipped")
            continue
        if not any(ch.isalnum() for ch in text):
            blank.append(number)
            continue
        texts.append(text)
        size += len(text) + 2
        if size > max_chars + 2:  # no need to read the rest of a document already over the limit
            raise LoadError(
                path, f"article text of over {max_chars:,} characters is over the limit ({_limit(max_chars)})"
            )
    if not texts:
        if not count:
            raise LoadError(path, "PDF with no pages: no articles in it")
        raise LoadError(
            path,
            f"no text layer in its {count} page{'s' if count > 1 else ''} (scanned or image-only PDF?): "
            "nothing to ingest; run OCR on it first",
        )
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (f" and {len(blank) - 10} more" if len(blank) > 10 else "")
        several = len(blank) > 1
        loaded.warn(
            f"page{'s' if several else ''} {shown} had no text (scanned or image-only?) and "
            f"{'were' if several else 'was'} skipped"
        )
    title, created = _pdf_metadata(reader)
    return _article_from_file(
        path,
        "\n\n".join(texts),
        max_chars,
        title=title,
        published=created or _date_from_name(path),
        source=path.name,
    )


def _pdf_problem(exc: BaseException) -> str:
    return _one_line(str(exc) or type(exc).__name__, 160)


def _pdf_metadata(reader) -> tuple[str | None, str | None]:
    """The document's title and creation date (ISO), each None when missing or unreadable: odd
    metadata is not worth refusing the article for."""
    try:
        info = reader.metadata
    except Exception:  # a damaged information dictionary: the text is still good
        return None, None
    if info is None:
        return None, None
    title = None
    try:
        if isinstance(info.title, str) and info.title.strip() and not _SURROGATE.search(info.title):
            title = info.title.replace("\x00", "")
    except Exception:
        pass
    try:
        created = normalize_date(info.creation_date)
    except Exception:  # pypdf raises ValueError for a date not in PDF's D:YYYYMMDD… form
        created = None
    return title, created


def _unwrap_pdf_lines(page: str) -> str:
    """A page's text with the lines its layout wrapped joined again (see `_load_pdf`); spaces inside a
    line collapsed, blank lines kept as paragraph breaks. A word hyphenated at a line end keeps its hyphen.
    A font without a proper character map can give NULs or lone surrogates, which no store keeps as text."""
    page = _SURROGATE.sub("\ufffd", page.replace("\x00", ""))
    paragraphs: list[str] = []
    for block in re.split(r"\n[ \t\r\f\v]*\n", page):
        lines = [" ".join(line.split()) for line in block.splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            continue
        full = max(len(line) for line in lines) * _FULL_LINE
        out = lines[0]
        for previous, line in zip(lines, lines[1:]):
            if _LINE_ENDS_SENTENCE.search(previous) or len(previous) < full:
                out += "\n" + line
            elif previous.endswith("-") and previous[-2:-1].isalpha():
                out += line
            else:
                out += " " + line
        paragraphs.append(out)
    return "\n\n".join(paragraphs)


def _load_docx(path: Path, data: bytes, max_chars: int) -> Article:
    """A Word (.docx) file read with python-docx, the maintained reader of Word's Office Open XML
    (on lxml, already here): its paragraphs and tables in document order, joined with blank lines
    (a table row is its cells joined with " | ", as Markdown tables are read). Title and date come
    from the document's properties (title, created), else the first paragraph and the file's name.
    A file that is not a .docx package (an old binary .doc renamed, a damaged archive) is refused."""
    import zipfile

    import docx
    from docx.table import Table

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            unpacked = sum(member.file_size for member in package.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        if data.startswith(_OLE_MAGIC):
            problem = "an old Word .doc (Word 97-2003) named .docx: save it as .docx in Word and add that"
        elif data.startswith(b"PK"):
            problem = "a damaged Word .docx file: its ZIP package cannot be opened (cut short?)"
        else:
            problem = "not a Word .docx file (not a ZIP package)"
        raise LoadError(path, problem) from None
    # A zip bomb would unpack to gigabytes: Word's XML is allowed fifty times its text.
    if unpacked > 50 * max_chars + 50_000_000:
        raise LoadError(
            path, f"unpacks to {unpacked:,} bytes, over the size limit of its article ({_limit(max_chars)})"
        )
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                blocks.extend(_docx_row(row) for row in block.rows)
            else:
                blocks.append(_docx_paragraph(block.text))
        properties = document.core_properties
        title, created = properties.title, properties.created
    except LoadError:
        raise
    except Exception as exc:  # python-docx, lxml and zipfile raise many types for a damaged package
        problem = _one_line(f"{type(exc).__name__}: {exc}", 160)
        raise LoadError(path, f"not a readable Word .docx file: {problem}") from None
    try:
        published = normalize_date(created)
    except ValueError:
        published = None
    return _article_from_file(
        path,
        "\n\n".join(b for b in blocks if b),
        max_chars,
        title=title if isinstance(title, str) and title.strip() else None,
        published=published or _date_from_name(path),
        source=path.name,
    )


# The first bytes of an OLE compound file: Word 97-2003's .doc (and .xls, .ppt).
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _docx_paragraph(text: str) -> str:
    # A paragraph's line breaks (<w:br/>) stay line breaks; tabs and runs of spaces are one space.
    return "\n".join(line for line in (" ".join(part.split()) for part in text.split("\n")) if line)


def _docx_row(row) -> str:
    cells: list[str] = []
    for cell in row.cells:
        text = " ".join(cell.text.split())
        if text and (not cells or cells[-1] != text):  # a merged cell is returned once per grid column
            cells.append(text)
    return " | ".join(cells)


# --- HTML -----------------------------------------------------------------------------------------

_BLOCKS = ["p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th", "dd", "dt", "figcaption"]
_NOISE = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "svg",
    "button",
]
_DATE_META = [
    "article:published_time",
    "datepublished",
    "date",
    "pubdate",
    "publishdate",
    "dc.date",
    "dcterms.date",
    "parsely-pub-date",
    "og:published_time",
]


_BLOCK_SET = frozenset(_BLOCKS)
_NOISE_SET = frozenset(_NOISE)
# bs4 keeps the strings under these in their own classes, which get_text() leaves out.
_STRING_CONTAINERS = frozenset({"rt", "rp", "style", "script", "template"})
_META_ATTRS = ("property", "name", "itemprop")
_META_NAMES = ("og:title", "twitter:title", *_DATE_META, "og:url", "og:site_name")
_META_PATTERNS = {name: re.compile(f"^{re.escape(name)}$", re.IGNORECASE) for name in _META_NAMES}
# The text comes from the first <article>, else the first <main>, else <body>, else the whole page.
_SCOPES = (None, "body", "main", "article")
# What a tag name means to the reader (0: nothing, the common case, handled fastest).
_NOISY, _CONTAINER, _BLOCK, _SCOPE, _LOOKED_AT = 1, 2, 4, 8, 16
_KINDS: dict[str, int] = {}
for _names, _kind in (
    (_NOISE_SET, _NOISY),
    (_STRING_CONTAINERS, _CONTAINER),
    (_BLOCK_SET, _BLOCK),
    (_SCOPES[1:], _SCOPE),
    (("meta", "title", "h1", "time", "link"), _LOOKED_AT),
):
    for _name in _names:
        _KINDS[_name] = _KINDS.get(_name, 0) | _kind
del _names, _kind, _name


class _HtmlPage:
    """One pass over lxml's parse events (the events BeautifulSoup builds its tree from), keeping
    only what the loader reads: the meta tags, the title, the first <h1>, the first <time datetime>,
    the canonical link, and the text of the innermost block elements outside the page's noise.

    No tree is built and nothing recurses, so the work and memory grow with the size of the page,
    however its tags nest (a tree walk that asks each block for a block inside it is quadratic on
    unclosed nested blocks). The text is the same as BeautifulSoup's: strings are the runs of text
    between two tags or comments, comments and the strings of <rt>/<rp>/<script>/<style>/<template>
    are not text, and the noise elements and all inside them are left out of the body text."""

    def __init__(self) -> None:
        self.stack: list[str] = []  # names of the open elements, the document's root first
        self.names: dict[str, str] = {}  # one string object per tag name (the stack may be millions deep)
        self.open: dict[str, int] = {}
        self.noise = 0  # open noise elements
        self.containers = 0  # open elements whose strings are not text
        self.run: list[str] = []  # text since the last tag or comment
        self.scope_at: list[int | None] = [0, None, None, None]  # stack index of the designated scope
        self.scope_open = [True, False, False, False]
        self.parts: tuple[list[str], ...] = ([], [], [], [])  # innermost blocks' text, per scope
        self.strings: tuple[list[str], ...] = ([], [], [], [])  # all text strings, per scope
        self.blocks: list[list[str] | None] = []  # open blocks; None once a block inside it opened
        self.block_at: list[int] = []
        self.block_scopes: list[tuple[bool, ...]] = []
        self.meta: dict[tuple[str, str], object] = {}  # (name, attribute) -> content of the first match
        self.title_at: int | None = None
        self.title_child_at = -1  # the stack depth of the first <title>'s children while it is open
        self.title_kids: list[str | None] = []  # its children: strings, None for a tag
        self.h1_at: int | None = None
        self.h1_strings: list[str] | None = None
        self.time_datetime: str | None = None
        self.canonical: tuple[object] | None = None

    # -- lxml's target interface --

    def start(self, tag, attrib) -> None:
        if self.run:
            self._flush()
        name = self.names.get(tag)
        if name is None:
            name = self.names[tag] = tag
        stack = self.stack
        at = len(stack)
        if at == self.title_child_at:
            self.title_kids.append(None)
        stack.append(name)
        self.open[name] = self.open.get(name, 0) + 1
        if kind := _KINDS.get(name, 0):
            self._special_start(name, kind, attrib, at)

    def end(self, tag) -> None:
        if self.run:
            self._flush()
        if not self.open.get(tag):
            return
        while self._pop() != tag:  # as BeautifulSoup does: close what is still open inside it
            pass

    def data(self, text) -> None:
        self.run.append(text)

    def comment(self, text) -> None:
        if self.run:
            self._flush()
        self._other_string(text)

    def pi(self, target, data=None) -> None:
        if self.run:
            self._flush()
        self._other_string(f"{target} {data}")

    def doctype(self, *args) -> None:
        if self.run:
            self._flush()

    def close(self) -> _HtmlPage:
        if self.run:
            self._flush()
        while self.stack:
            self._pop()
        return self

    # -- what is kept --

    def _special_start(self, name: str, kind: int, attrib, at: int) -> None:
        if kind & _LOOKED_AT:
            if name == "meta":
                self._meta(attrib)
            elif name == "title" and self.title_at is None:
                self.title_at, self.title_child_at = at, at + 1
            elif name == "h1" and self.h1_strings is None:
                self.h1_at, self.h1_strings = at, []
            elif name == "time" and self.time_datetime is None and "datetime" in attrib:
                self.time_datetime = attrib["datetime"]
            elif name == "link" and self.canonical is None:
                rel = attrib.get("rel")
                if rel is not None and "canonical" in rel.split():
                    self.canonical = (attrib.get("href"),)
        if kind & _CONTAINER:
            self.containers += 1
        if kind & _NOISY:
            self.noise += 1
        if self.noise:
            return
        if kind & _BLOCK:
            if self.blocks and self.blocks[-1] is not None:
                self.blocks[-1] = None  # it holds a block: not innermost, its text is that block's
            self.blocks.append([])
            self.block_at.append(at)
            self.block_scopes.append(tuple(self.scope_open))
        elif kind & _SCOPE:
            k = _SCOPES.index(name)
            if self.scope_at[k] is None:
                self.scope_at[k] = at
                self.scope_open[k] = True

    def _meta(self, attrib) -> None:
        for attr in _META_ATTRS:
            value = attrib.get(attr)
            if value is None:
                continue
            for name, pattern in _META_PATTERNS.items():
                # The pattern matches only a value of the name's length (or one more, a final "\n").
                if len(value) - len(name) in (0, 1) and (name, attr) not in self.meta and pattern.search(value):
                    self.meta[(name, attr)] = attrib.get("content")

    def _other_string(self, text: str) -> None:
        # A comment or processing instruction: a child of its element, but no text.
        if len(self.stack) == self.title_child_at:
            self.title_kids.append(text)

    def _flush(self) -> None:
        text = "".join(self.run)
        self.run = []
        if len(self.stack) == self.title_child_at:
            self.title_kids.append(text)
        if self.containers:
            return
        if self.h1_at is not None and self.h1_strings is not None and (stripped := text.strip()):
            self.h1_strings.append(stripped)
        if self.noise:
            return
        scope_open = self.scope_open
        for k in (0, 1, 2, 3):
            if scope_open[k]:
                self.strings[k].append(text)
        if self.blocks and (pieces := self.blocks[-1]) is not None:
            pieces.append(text)

    def _pop(self) -> str:
        name = self.stack.pop()
        self.open[name] -= 1
        if kind := _KINDS.get(name, 0):
            self._special_end(name, kind, len(self.stack))
        return name

    def _special_end(self, name: str, kind: int, at: int) -> None:
        if kind & _CONTAINER:
            self.containers -= 1
        if kind & _NOISY:
            self.noise -= 1
        if kind & _BLOCK and self.block_at and self.block_at[-1] == at:
            self.block_at.pop()
            pieces = self.blocks.pop()
            scopes = self.block_scopes.pop()
            if pieces is not None and (text := " ".join("".join(pieces).split())):
                for k in (0, 1, 2, 3):
                    if scopes[k]:
                        self.parts[k].append(text)
        if kind & _SCOPE:
            k = _SCOPES.index(name)
            if self.scope_at[k] == at:
                self.scope_open[k] = False
        if self.title_at == at and name == "title":
            self.title_child_at = -1  # closed: the title's children are known, later titles ignored
        if self.h1_at == at and name == "h1":
            self.h1_at = None  # closed: h1_strings stays, so a later <h1> is not the first

    # -- the loader's questions --

    def meta_content(self, *names: str) -> str | None:
        for name in names:
            for attr in _META_ATTRS:
                content = self.meta.get((name, attr))
                if isinstance(content, str) and content.strip():
                    return content.strip()
        return None

    @property
    def title_string(self) -> str | None:
        # BeautifulSoup's Tag.string: the one child string, if the title has exactly one child.
        return self.title_kids[0] if len(self.title_kids) == 1 else None

    @property
    def h1_text(self) -> str | None:
        return None if self.h1_strings is None else " ".join(self.h1_strings)

    def scope(self) -> int:
        return max(k for k in range(4) if self.scope_at[k] is not None)


def _read_page(markup: str) -> _HtmlPage:
    """Parse with lxml's HTML parser as BeautifulSoup(markup, "lxml") does (its leading byte-order
    mark dropped, then as UTF-8 bytes if lxml refuses the text), into an `_HtmlPage`."""
    markup = markup.removeprefix("\N{BYTE ORDER MARK}")
    try:
        return _parse_page(markup, None)
    except (UnicodeDecodeError, LookupError, etree.ParserError):
        return _parse_page(markup.encode("utf8"), "utf8")


def _parse_page(source: str | bytes, encoding: str | None) -> _HtmlPage:
    parser = etree.HTMLParser(target=_HtmlPage(), recover=True, encoding=encoding)
    parser.feed(source)
    return parser.close()


class _BS4Capture(logging.Filter):
    """bs4 logs "Some characters could not be decoded …" without naming the file: while a file is
    decoded on this thread, its messages are taken here (and become that file's warning)."""

    def __init__(self):
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        captured = getattr(self.local, "messages", None)
        if captured is None:
            return True
        captured.append(record.getMessage())
        return False

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        self.local.messages = messages = []
        try:
            yield messages
        finally:
            self.local.messages = None


_bs4_capture = _BS4Capture()
logging.getLogger("bs4.dammit").addFilter(_bs4_capture)


def _soup(markup: str) -> BeautifulSoup:
    # bs4's advice about parsers names no file and changes nothing here: pages are read as HTML, always.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(markup, "lxml")


def _same_codec(a: str | None, b: str | None) -> bool:
    try:
        return codecs.lookup(a or "").name == codecs.lookup(b or "").name
    except LookupError:
        return a == b


def _load_html(path: Path, data: bytes, loaded: Loaded, max_chars: int) -> None:
    """HTML through a real parser: metadata from meta tags, text from the block elements of the body."""
    markup = _decode_by_bom(path, data)
    if markup is None:
        if b"\x00" in data:
            _decode(path, data)  # raises the right error (UTF-16 without a BOM, or binary)
        with _bs4_capture.capture() as messages:
            dammit = UnicodeDammit(data, is_html=True)
        declared = dammit.declared_html_encoding
        if declared:
            markup = dammit.unicode_markup
            if markup is None:
                raise LoadError(path, f"cannot decode as its declared encoding {declared}")
            if dammit.contains_replacement_characters or messages:
                loaded.warn(
                    f"some characters could not be decoded (declared encoding {declared}) and were replaced with U+FFFD"
                )
            elif not _same_codec(declared, dammit.original_encoding):
                loaded.warn(f"not valid in its declared encoding {declared}: read as {dammit.original_encoding}")
        else:
            markup = _decode(path, data)
    if not markup.strip():
        raise LoadError(path, "empty file: no articles in it")
    page = _read_page(markup)
    title = page.meta_content("og:title", "twitter:title")
    if not title and page.title_string:
        title = page.title_string.strip()
    if not title and page.h1_text is not None:
        title = page.h1_text
    published = None
    for raw_date in [page.meta_content(*_DATE_META), page.time_datetime]:
        try:
            published = normalize_date(raw_date)
        except ValueError:
            continue  # a page's odd date tag is not worth rejecting the article
        if published:
            break
    href = page.canonical[0] if page.canonical else None
    url = (href if isinstance(href, str) and href.strip() else None) or page.meta_content("og:url")
    source = page.meta_content("og:site_name") or path.name
    # Innermost blocks only, so nested blocks are not read twice; inline markup keeps its spacing.
    root = page.scope()
    parts = page.parts[root]
    if not parts:
        parts = [line.strip() for line in "\n".join(page.strings[root]).splitlines() if line.strip()]
    loaded.articles.append(
        _article_from_file(
            path,
            "\n\n".join(parts),
            max_chars,
            title=title,
            published=published or _date_from_name(path),
            source=source,
            url=_web_url(url, loaded.warn),
        )
    )


# --- JSONL ----------------------------------------------------------------------------------------


def _load_jsonl(path: Path, raw: str, loaded: Loaded, max_chars: int) -> None:
    """One article per line: id, title, text, and optional published, source, url."""
    seen: set[str] = set()
    # Lines end at "\n" only: str.splitlines() would also cut at U+2028, U+2029, \x1c … inside a text.
    for number, line in enumerate(raw.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        # White space around the object is forgiven, JSON's or not (NBSP, U+2028 at the end of a line).
        lead = len(line) - len(line.lstrip())
        try:
            record = json.loads(line.strip())
        except json.JSONDecodeError as exc:
            loaded.errors.append(LoadError(path, f"invalid JSON ({exc.msg} at column {exc.colno + lead})", number))
            continue
        except RecursionError:
            loaded.errors.append(LoadError(path, "invalid JSON (nested too deeply)", number))
            continue
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            loaded.errors.append(LoadError(path, f"invalid JSON ({_one_line(str(exc).split(';')[0], 120)})", number))
            continue
        try:
            warn = functools.partial(_warn_line, loaded, number)
            loaded.articles.append(_article_from_record(path, record, seen, max_chars, warn))
        except ValueError as exc:
            loaded.errors.append(LoadError(path, str(exc), number))


def _warn_line(loaded: Loaded, line: int, problem: str) -> None:
    loaded.warn(problem, line)


def _article_from_record(
    path: Path, record: object, seen: set[str], max_chars: int, warn: Callable[[str], None]
) -> Article:
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    missing = [
        k
        for k in ("id", "title", "text")
        if record.get(k) is None or (isinstance(record[k], str) and not record[k].strip())
    ]
    if missing:
        raise ValueError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}")
    for key in ("title", "text", "source", "url"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ValueError(f"field {key!r} must be a string")
    for key in ("title", "text", "source", "url", "published"):
        if isinstance(record.get(key), str):
            _check_characters(key, record[key])
    if not isinstance(record["id"], (str, int)) or isinstance(record["id"], bool):
        raise ValueError("field 'id' must be a string")
    article_id = str(record["id"])
    _check_characters("id", article_id)
    if len(record["text"]) > max_chars:
        raise ValueError(f"field 'text' of {len(record['text']):,} characters is over the limit ({_limit(max_chars)})")
    if article_id in seen:
        raise ValueError(f"duplicate id {_shorten(repr(article_id))} in this file")
    try:
        published = normalize_date(record.get("published"))
    except ValueError as exc:
        raise ValueError(f"field 'published': {exc}") from None
    article = make_article(
        id=article_id,
        title=record["title"],
        text=record["text"],
        published=published,
        source=record.get("source") or path.name,
        url=_web_url(record.get("url"), warn),
        path=str(path.resolve()),
    )
    seen.add(article_id)
    return article
