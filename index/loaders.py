"""Loaders: files of .txt, .md, .html and .jsonl articles in, `Article`s (or clear errors) out."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
from bs4 import BeautifulSoup, UnicodeDammit
from dateutil import parser as date_parser

from qa.types import Article

SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".jsonl": "jsonl"}


class LoadError(Exception):
    """A problem with one input, named by file (and line) so the user can fix it."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None):
        self.path, self.problem, self.line = str(path), problem, line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclass
class Loaded:
    """What one file gave: its articles and its problems (a JSONL file can have both)."""

    path: Path
    articles: list[Article] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def discover(paths: list[Path]) -> tuple[list[Path], list[LoadError]]:
    """The article files named by `paths` (directories are walked; hidden entries skipped)."""
    files: list[Path] = []
    errors: list[LoadError] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and not p.is_dir()
            )
            files.extend(found)
        elif path.is_symlink() and not path.exists():
            errors.append(LoadError(path, "cannot read: broken symbolic link"))
        elif not path.exists():
            errors.append(LoadError(path, "no such file or directory"))
        elif path.suffix.lower() not in SUFFIXES:
            errors.append(LoadError(path, f"unsupported file type (supported: {', '.join(sorted(SUFFIXES))})"))
        else:
            files.append(path)
    # The same file named twice (e.g. a file and its directory) is loaded once.
    unique = list(dict.fromkeys(p.absolute() for p in files))
    return unique, errors


def load_file(path: Path) -> Loaded:
    kind = SUFFIXES.get(path.suffix.lower())
    loaded = Loaded(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        loaded.errors.append(LoadError(path, f"cannot read: {exc.strerror or exc}"))
        return loaded
    try:
        if b"\x00" in data:
            raise LoadError(path, "binary file, not text (it contains NUL bytes)")
        if not data.strip():
            raise LoadError(path, "empty file")
        if kind == "jsonl":
            _load_jsonl(path, _decode(path, data), loaded)
        elif kind == "html":
            loaded.articles.append(_load_html(path, data))
        elif kind == "markdown":
            loaded.articles.append(_load_markdown(path, _decode(path, data)))
        else:
            loaded.articles.append(_load_text(path, _decode(path, data)))
    except LoadError as exc:
        loaded.errors.append(exc)
    return loaded


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


def normalize_date(value: object) -> str | None:
    """An ISO date (YYYY-MM-DD) from a date, datetime or date string; ValueError if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    try:
        return date_parser.isoparse(value.strip()).date().isoformat()
    except ValueError:
        pass
    try:
        return date_parser.parse(value.strip()).date().isoformat()
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a date: {value!r}") from exc


def file_article_id(path: Path) -> str:
    """Stable for a file: readable stem plus a hash of where it lives."""
    stem = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "article"
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{stem}-{digest}"


def pasted_article_id(title: str, published: str | None) -> str:
    """Stable for pasted text: the same title and date name the same article."""
    stem = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "pasted"
    digest = hashlib.sha1(f"{' '.join(title.split())}|{published}".encode()).hexdigest()[:8]
    return f"pasted-{stem}-{digest}"


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(path, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def _article_from_file(path: Path, text: str, **meta) -> Article:
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


_HEADER_LINE = re.compile(r"^\s*(title|date|published|source|url)\s*:\s*(.+?)\s*$", re.IGNORECASE)
# The sample corpus opens with "date 2023-03-20 " before the first sentence.
_INLINE_DATE = re.compile(r"^\s*(?:date|published)\s*:?\s*(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.]+Z?)?\s+", re.IGNORECASE)


def _load_text(path: Path, raw: str) -> Article:
    """Plain text, optionally opened by `Key: value` header lines or a `date YYYY-MM-DD` prefix."""
    meta: dict[str, str] = {}
    lines = raw.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines) and (m := _HEADER_LINE.match(lines[i])):
        meta[m.group(1).lower()] = m.group(2)
        i += 1
    body = "\n".join(lines[i:])
    if not meta and (m := _INLINE_DATE.match(body)):
        meta["date"] = m.group(1)
        body = body[m.end() :]
    return _article_from_file(
        path,
        body,
        title=meta.get("title"),
        published=_published(path, meta, "header"),
        source=meta.get("source") or path.name,
        url=meta.get("url"),
    )


def _load_markdown(path: Path, raw: str) -> Article:
    """Markdown with optional YAML front matter (title, date/published, source, url)."""
    try:
        post = frontmatter.loads(raw)
    except Exception as exc:  # the YAML parser raises many types
        raise LoadError(path, f"invalid front matter: {exc}") from None
    meta = post.metadata
    title = meta.get("title")
    if not title:
        heading = re.search(r"^#\s+(.+)$", post.content, re.MULTILINE)
        title = heading.group(1) if heading else None
    return _article_from_file(
        path,
        post.content,
        title=str(title) if title else None,
        published=_published(path, meta, "front matter"),
        source=str(meta["source"]) if meta.get("source") else path.name,
        url=str(meta["url"]) if meta.get("url") else None,
    )


_BLOCKS = ["p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th", "dd", "dt", "figcaption"]
_NOISE = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "iframe", "svg", "button"]
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


def _load_html(path: Path, data: bytes) -> Article:
    """HTML through a real parser: metadata from meta tags, text from the block elements of the body."""
    dammit = UnicodeDammit(data, is_html=True)
    declared = dammit.declared_html_encoding
    if declared:
        markup = dammit.unicode_markup
        if markup is None:
            raise LoadError(path, f"cannot decode as its declared encoding {declared}")
    else:
        markup = _decode(path, data)
    soup = BeautifulSoup(markup, "lxml")

    def meta(*names: str) -> str | None:
        for name in names:
            for attr in ("property", "name", "itemprop"):
                tag = soup.find("meta", attrs={attr: re.compile(f"^{re.escape(name)}$", re.IGNORECASE)})
                if tag and tag.get("content", "").strip():
                    return tag["content"].strip()
        return None

    title = meta("og:title", "twitter:title")
    if not title and soup.title and soup.title.string:
        title = soup.title.string.strip()
    if not title and (h1 := soup.find("h1")):
        title = h1.get_text(" ", strip=True)
    published = None
    for raw_date in [meta(*_DATE_META)] + [t.get("datetime") for t in soup.find_all("time", datetime=True)[:1]]:
        try:
            published = normalize_date(raw_date)
        except ValueError:
            continue  # a page's odd date tag is not worth rejecting the article
        if published:
            break
    canonical = soup.find("link", rel="canonical")
    url = (canonical.get("href") if canonical else None) or meta("og:url")
    source = meta("og:site_name") or path.name

    for tag in soup.find_all(_NOISE):
        tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    # Innermost blocks only, so nested blocks are not read twice; inline markup keeps its spacing.
    parts = [" ".join(el.get_text().split()) for el in root.find_all(_BLOCKS) if not el.find(_BLOCKS)]
    parts = [p for p in parts if p]
    if not parts:
        parts = [line.strip() for line in root.get_text("\n").splitlines() if line.strip()]
    return _article_from_file(path, "\n\n".join(parts), title=title, published=published or _date_from_name(path), source=source, url=url)


def _load_jsonl(path: Path, raw: str, loaded: Loaded) -> None:
    """One article per line: id, title, text, and optional published, source, url."""
    seen: set[str] = set()
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            loaded.errors.append(LoadError(path, f"invalid JSON ({exc.msg} at column {exc.colno})", number))
            continue
        try:
            loaded.articles.append(_article_from_record(path, record, seen))
        except ValueError as exc:
            loaded.errors.append(LoadError(path, str(exc), number))


def _article_from_record(path: Path, record: object, seen: set[str]) -> Article:
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    missing = [k for k in ("id", "title", "text") if record.get(k) in (None, "")]
    if missing:
        raise ValueError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}")
    for key in ("title", "text", "source", "url"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ValueError(f"field {key!r} must be a string")
    if not isinstance(record["id"], (str, int)) or isinstance(record["id"], bool):
        raise ValueError("field 'id' must be a string")
    article_id = str(record["id"])
    if article_id in seen:
        raise ValueError(f"duplicate id {article_id!r} in this file")
    seen.add(article_id)
    try:
        published = normalize_date(record.get("published"))
    except ValueError as exc:
        raise ValueError(f"field 'published': {exc}") from None
    return make_article(
        id=article_id,
        title=record["title"],
        text=record["text"],
        published=published,
        source=record.get("source") or path.name,
        url=record.get("url"),
        path=str(path.resolve()),
    )
