"""Incremental ingest: files -> articles -> sentences and chunks -> vectors -> Chroma."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from index.attribution import RULES, SpeakerAttributor
from index.dates import DATE_RULES, day_span, names_relative_date, resolve_dates
from index.embedders import SentenceTransformerEmbedder
from index.lexical import BM25Index
from index.loaders import LoadError, discover, load_file
from index.splitters import SentenceSplitter, chunk_article
from index.store import SCHEMA, ArticleRows, ChromaStore, StoreError, pack_signature, unpack_signature
from qa.settings import Settings
from qa.types import Article, IngestReport

if TYPE_CHECKING:  # index.dedup imports datasketch and scipy (about a second): only once an article changed
    from index.dedup import DuplicateFinder

Signatures = dict[str, tuple[str, str, str | None]]  # ChromaStore.packed_signatures()


class Ingestor:
    """Writes articles into the store, skipping those whose content and index settings are unchanged."""

    def __init__(
        self,
        settings: Settings,
        store: ChromaStore,
        embedder: SentenceTransformerEmbedder,
        load_splitter: Callable[[], SentenceSplitter],
        attributor: SpeakerAttributor,
        lexical: BM25Index,
        batch_articles: int = 32,
    ):
        """`load_splitter()` gives the spaCy splitter, loaded only once an article has changed: an
        unchanged re-ingest needs no spaCy (loading it is most of such a run)."""
        self.settings, self.store, self.embedder, self._load_splitter = settings, store, embedder, load_splitter
        self.attributor, self.lexical = attributor, lexical
        self.batch_articles = batch_articles
        self._duplicates = _KeptFinder(settings.duplicate_threshold)
        store.bind_model(embedder.model_id, embedder.dimension)
        # Anything that changes the rows of an unchanged article forces a rewrite.
        chunking = f"{settings.chunk_chars}|{settings.chunk_overlap}"
        params = f"{SCHEMA}|{RULES}|{embedder.model_id}|{settings.spacy_model}|{chunking}"
        self._params = hashlib.sha256(params.encode()).hexdigest()

    @cached_property
    def splitter(self) -> SentenceSplitter:
        return self._load_splitter()

    def version(self, article: Article) -> str:
        return hashlib.sha256(f"{article.content_hash}|{self._params}".encode()).hexdigest()[:12]

    def ingest_paths(self, paths: Iterable[Path], prune: bool = False, progress: bool | None = None) -> IngestReport:
        """Ingest files and directories; with `prune`, drop stored articles from under `paths` that are gone."""
        paths = [Path(p) for p in paths]
        report = IngestReport()
        files, errors = discover(paths)
        articles: list[Article] = []
        origin: dict[str, Path] = {}
        # Files that could not be read this time keep what is stored of them, even under --prune:
        # a file turned into a FIFO or a symlink loop is refused, not gone.
        with_errors: set[str] = {_stored_path(e.path) for e in errors}
        for path in tqdm(files, desc="reading", unit="file", disable=_no_bar(progress, len(files))):
            loaded = _Clock(report.timings)("load", lambda: load_file(path, max_chars=self.settings.max_article_chars))
            errors.extend(loaded.errors)
            report.warnings.extend(str(w) for w in loaded.warnings)
            if loaded.errors:
                with_errors.add(_stored_path(path))
            for article in loaded.articles:
                if article.id in origin:
                    errors.append(
                        LoadError(path, f"article id {article.id!r} is also in {origin[article.id]}; skipped")
                    )
                    continue
                origin[article.id] = path
                articles.append(article)
        report.errors.extend(str(e) for e in errors)
        self._write(articles, report, progress)
        if prune:
            report.pruned = self._prune(paths, seen=set(origin), protected=with_errors)
        self._sync_lexical(report)
        return report

    def ingest_articles(self, articles: list[Article], progress: bool | None = None) -> IngestReport:
        report = IngestReport()
        self._write(articles, report, progress)
        self._sync_lexical(report)
        return report

    def repair(self, article_ids: list[str], progress: bool | None = None) -> tuple[list[str], list[str]]:
        """Rewrite these stored articles from the text their records keep (`qa check --repair`): their
        rows are deleted, then written again as an ingest writes them. Returns (repaired ids, errors)."""
        articles = self.store.get_articles(list(dict.fromkeys(article_ids)))
        if not articles:
            return [], []
        self.store.drop_rows([a.id for a in articles])
        finder = self._duplicates.matching(self.store)
        known_roles = self.store.known_roles()
        repaired: list[str] = []
        errors: list[str] = []
        timings: dict[str, float] = {}
        bar = tqdm(total=len(articles), desc="repairing", unit="article", disable=_no_bar(progress, len(articles)))
        with bar:
            for start in range(0, len(articles), self.batch_articles):
                batch = articles[start : start + self.batch_articles]
                for article, problem in self._write_batch(batch, finder, known_roles, timings):
                    if problem is None:
                        repaired.append(article.id)
                    else:
                        errors.append(f"{article.path or article.id}: article {article.id!r} not repaired: {problem}")
                bar.update(len(batch))
        self.store.sweep([a.id for a in articles])
        self.lexical.sync(self.store, changed=repaired)
        return repaired, errors

    def _sync_lexical(self, report: IngestReport) -> None:
        # After Chroma's commit: a crash in between leaves a stale BM25 index, which the next
        # retriever sees by its fingerprint and rebuilds.
        if report.added or report.updated or report.pruned:
            changed = [*report.added, *report.updated, *report.pruned]
            _Clock(report.timings)("bm25", lambda: self.lexical.sync(self.store, changed=changed))

    def _write(self, articles: list[Article], report: IngestReport, progress: bool | None) -> None:
        stored = self.store.versions(a.id for a in articles)
        self.store.sweep([a.id for a in articles])  # rows a crashed run left, even of unchanged articles
        changed: list[Article] = []
        for article in articles:
            if stored.get(article.id) == self.version(article):
                report.unchanged.append(article.id)
            else:
                changed.append(article)
        finder = self._duplicates.matching(self.store) if changed else None
        # Roles the collection ties to names: grows as articles are attributed, so a batch links within itself too.
        known_roles = self.store.known_roles() if changed else {}
        bar = tqdm(total=len(changed), desc="indexing", unit="article", disable=_no_bar(progress, len(changed)))
        with bar:
            for start in range(0, len(changed), self.batch_articles):
                batch = changed[start : start + self.batch_articles]
                for article, problem in self._write_batch(batch, finder, known_roles, report.timings):
                    if problem is None:
                        (report.updated if article.id in stored else report.added).append(article.id)
                    else:
                        report.errors.append(
                            f"{article.path or article.id}: article {article.id!r} not indexed: {problem}"
                        )
                bar.update(len(batch))
        written = set(report.added) | set(report.updated)
        undated = [a.id for a in changed if a.id in written and not a.published and names_relative_date(a.text)]
        if undated:
            report.warnings.append(_undated_line(undated))
        self._date_stored(report, skip={a.id for a in changed})

    def _date_stored(self, report: IngestReport, skip: set[str], batch: int = 64) -> None:
        """Resolve the relative dates of the stored articles that have none under today's rules (stored before
        dates were stored, or dated under other rules), in place: no row is rewritten, no vector computed."""
        facts = self.store.article_facts()
        outdated = sorted(i for i, f in facts.items() if f.get("dates_rules") != DATE_RULES and i not in skip)
        if not outdated:
            return
        clock = _Clock(report.timings)
        undated = []
        for start in range(0, len(outdated), batch):
            articles = self.store.get_articles(outdated[start : start + batch])
            found = {a.id: clock("dates", lambda: resolve_dates(a.text, a.published, nlp=self.splitter.nlp))
                     for a in articles}
            clock("write", lambda: self.store.redate(found))
            undated += [a.id for a in articles if not a.published and names_relative_date(a.text)]
        report.warnings.append(f"resolved the relative dates of {len(outdated)} stored articles in place "
                               "(stored before their dates were, or under other rules)")
        if undated:
            report.warnings.append(_undated_line(undated))

    def _write_batch(
        self, batch: list[Article], finder: _KeptFinder, known_roles: dict[str, set[str]], timings: dict[str, float]
    ) -> list[tuple[Article, str | None]]:
        """Write a batch; when it fails, write its articles one by one so that one bad article
        costs only itself. Storage faults (StoreError, OSError) are not an article's: they stop."""
        try:
            rows = self._rows(batch, finder, known_roles, timings)
            _Clock(timings)("write", lambda: self.store.write(rows))
            return [(a, None) for a in batch]
        except (StoreError, OSError):
            raise
        except Exception as exc:  # spaCy, the dedup signature, a value Chroma refuses: one article's problem
            if len(batch) == 1:
                return [(batch[0], _describe(exc))]
        return [outcome for article in batch for outcome in self._write_batch([article], finder, known_roles, timings)]

    def _rows(
        self,
        articles: list[Article],
        finder: _KeptFinder,
        known_roles: dict[str, set[str]],
        timings: dict[str, float],
    ) -> list[ArticleRows]:
        clock = _Clock(timings)
        parsed = clock("split", lambda: self.splitter.parse(a.text for a in articles))
        pieces = []
        texts: list[str] = []
        for article, article_sentences in zip(articles, parsed):
            version = self.version(article)
            sentences, chunks = chunk_article(
                article,
                [s.span for s in article_sentences],
                version,
                self.settings.chunk_chars,
                self.settings.chunk_overlap,
            )
            found = clock(
                "attribution", lambda: self.attributor.attribute(article.text, article_sentences, known_roles)
            )
            # "yesterday" in a report of 2019-04-16 is 2019-04-15: each sentence keeps the days its dates name.
            dates = clock("dates", lambda: resolve_dates(article.text, article.published, nlp=self.splitter.nlp))
            for name, roles in found.people.items():
                for role in roles:
                    known_roles.setdefault(role, set()).add(name)
            sentences = [
                replace(
                    s,
                    speakers=f.speakers,
                    speaker_keys=f.speaker_keys,
                    mentions=f.mentions,
                    mention_keys=f.mention_keys,
                    entities=f.entities,
                    dated=_iso_days(day_span(dates, s.start, s.end)),
                )
                for s, f in zip(sentences, found.sentences)
            ]
            pieces.append((article, version, sentences, chunks, found.people, dates))
            texts.extend(s.text for s in sentences)
            texts.extend(c.text for c in chunks)
        # One encode call per batch keeps the model busy; split the vectors back afterwards. Each
        # distinct text is encoded once: a one-sentence chunk is its sentence, and copies repeat.
        distinct = list(dict.fromkeys(texts))
        encoded = clock("embed", lambda: self.embedder.encode(distinct))
        position = {text: i for i, text in enumerate(distinct)}
        vectors = encoded[[position[text] for text in texts]]
        from index.dedup import signature

        rows, at = [], 0
        for article, version, sentences, chunks, people, dates in pieces:
            s_vec = vectors[at : at + len(sentences)]
            at += len(sentences)
            c_vec = vectors[at : at + len(chunks)]
            at += len(chunks)
            minhash = clock("dedup", lambda: signature(article.text))
            copy_of = finder.canonical(article.id, minhash, article.published)
            rows.append(ArticleRows(article, version, sentences, s_vec, chunks, c_vec, minhash, copy_of, people, dates))
        return rows

    def _prune(self, scopes: list[Path], seen: set[str], protected: set[str]) -> list[str]:
        roots = [str(p.resolve()) for p in scopes]

        def in_scope(path: str) -> bool:
            return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)

        # Articles of a file that failed to load this time are kept: its old version is all there is.
        gone = [
            article_id
            for article_id, path in self.store.article_paths().items()
            if in_scope(path) and article_id not in seen and path not in protected
        ]
        self.store.delete_articles(gone)
        self.store.sweep()
        return gone


class _KeptFinder:
    """The DuplicateFinder of the stored articles, kept between ingests: building one puts every
    stored signature into an LSH index (seconds at 10,000 articles), which adding one article
    should not pay. It is reused only while the store's signatures are exactly those it holds,
    its own additions included; so an article it took in but whose write failed, or a change by
    another writer, makes the next ingest build it again."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._finder: DuplicateFinder | None = None
        self._holds: Signatures = {}

    def matching(self, store: ChromaStore) -> _KeptFinder:
        stored = store.packed_signatures()
        if self._finder is None or stored != self._holds:
            from index.dedup import DuplicateFinder

            unpacked = {i: (unpack_signature(packed), *rest) for i, (packed, *rest) in stored.items()}
            self._finder, self._holds = DuplicateFinder(self.threshold, unpacked), stored
        return self

    def canonical(self, article_id: str, values: list[int], published: str | None) -> str | None:
        """DuplicateFinder.canonical, noting what the finder now holds (as the store will once written)."""
        canonical = self._finder.canonical(article_id, values, published)
        self._holds[article_id] = (pack_signature(values), canonical or article_id, published)
        return canonical


class _Clock:
    """Adds the seconds each step takes to a report's timings (benchmarks/ prints the split)."""

    def __init__(self, timings: dict[str, float]):
        self.timings = timings

    def __call__(self, step: str, work):
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - started


def _iso_days(days: tuple | None) -> tuple[str, str] | None:
    return (days[0].isoformat(), days[1].isoformat()) if days else None


def _undated_line(ids: list[str]) -> str:
    """The ingest report's line for reports with no publication date whose text names relative dates."""
    shown = ", ".join(ids[:10]) + (" …" if len(ids) > 10 else "")
    n = len(ids)
    return (f"{n} article{'s have' if n != 1 else ' has'} no publication date, so {'their' if n != 1 else 'its'} "
            f"relative dates (“yesterday”, “on Monday”) are not resolved: {shown}")


def _stored_path(path: Path | str) -> str:
    """The path an article of this file is stored under (resolved), or the absolute one for a file
    that cannot be resolved (a symlink loop)."""
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(path)


def _describe(exc: Exception) -> str:
    """One line: the error's own words, with its type when they are not enough."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _no_bar(progress: bool | None, total: int) -> bool | None:
    """tqdm's `disable`: off when asked, or for tiny jobs; None lets tqdm hide it when not on a terminal."""
    if progress is False or total < 2:
        return True
    return None if progress is None else False
