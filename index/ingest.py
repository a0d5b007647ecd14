"""Incremental ingest: files -> articles -> sentences and chunks -> vectors -> Chroma."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from index.attribution import SpeakerAttributor
from index.dedup import DuplicateFinder, signature
from index.embedders import SentenceTransformerEmbedder
from index.lexical import BM25Index
from index.loaders import LoadError, discover, load_file
from index.splitters import SentenceSplitter, chunk_article
from index.store import SCHEMA, ArticleRows, ChromaStore
from qa.settings import Settings
from qa.types import Article, IngestReport


class Ingestor:
    """Writes articles into the store, skipping those whose content and index settings are unchanged."""

    def __init__(
        self,
        settings: Settings,
        store: ChromaStore,
        embedder: SentenceTransformerEmbedder,
        splitter: SentenceSplitter,
        attributor: SpeakerAttributor,
        lexical: BM25Index,
        batch_articles: int = 32,
    ):
        self.settings, self.store, self.embedder, self.splitter = settings, store, embedder, splitter
        self.attributor, self.lexical = attributor, lexical
        self.batch_articles = batch_articles
        store.bind_model(embedder.model_id, embedder.dimension)
        # Anything that changes the rows of an unchanged article forces a rewrite.
        params = f"{SCHEMA}|{embedder.model_id}|{settings.spacy_model}|{settings.chunk_chars}|{settings.chunk_overlap}"
        self._params = hashlib.sha256(params.encode()).hexdigest()

    def version(self, article: Article) -> str:
        return hashlib.sha256(f"{article.content_hash}|{self._params}".encode()).hexdigest()[:12]

    def ingest_paths(self, paths: Iterable[Path], prune: bool = False, progress: bool | None = None) -> IngestReport:
        """Ingest files and directories; with `prune`, drop stored articles from under `paths` that are gone."""
        paths = [Path(p) for p in paths]
        report = IngestReport()
        files, errors = discover(paths)
        articles: list[Article] = []
        origin: dict[str, Path] = {}
        with_errors: set[str] = set()
        for path in tqdm(files, desc="reading", unit="file", disable=_no_bar(progress, len(files))):
            loaded = load_file(path)
            errors.extend(loaded.errors)
            if loaded.errors:
                with_errors.add(str(path.resolve()))
            for article in loaded.articles:
                if article.id in origin:
                    errors.append(LoadError(path, f"article id {article.id!r} is also in {origin[article.id]}; skipped"))
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

    def _sync_lexical(self, report: IngestReport) -> None:
        # After Chroma's commit: a crash in between leaves a stale BM25 index, which the next
        # retriever sees by its fingerprint and rebuilds.
        if report.added or report.updated or report.pruned:
            self.lexical.sync(self.store)

    def _write(self, articles: list[Article], report: IngestReport, progress: bool | None) -> None:
        stored = self.store.versions(a.id for a in articles)
        changed: list[Article] = []
        for article in articles:
            if stored.get(article.id) == self.version(article):
                report.unchanged.append(article.id)
            else:
                changed.append(article)
        finder = DuplicateFinder(self.settings.duplicate_threshold, self.store.signatures()) if changed else None
        bar = tqdm(total=len(changed), desc="indexing", unit="article", disable=_no_bar(progress, len(changed)))
        with bar:
            for start in range(0, len(changed), self.batch_articles):
                batch = changed[start : start + self.batch_articles]
                self.store.write(self._rows(batch, finder))
                for article in batch:
                    (report.updated if article.id in stored else report.added).append(article.id)
                bar.update(len(batch))

    def _rows(self, articles: list[Article], finder: DuplicateFinder) -> list[ArticleRows]:
        spans = self.splitter.split(a.text for a in articles)
        pieces = []
        texts: list[str] = []
        for article, article_spans in zip(articles, spans):
            version = self.version(article)
            sentences, chunks = chunk_article(
                article, article_spans, version, self.settings.chunk_chars, self.settings.chunk_overlap
            )
            text = article.text
            opens = [i == 0 or "\n" in text[sentences[i - 1].end : s.start] for i, s in enumerate(sentences)]
            speakers = self.attributor.speakers([s.text for s in sentences], opens)
            sentences = [replace(s, speakers=who) for s, who in zip(sentences, speakers)]
            pieces.append((article, version, sentences, chunks))
            texts.extend(s.text for s in sentences)
            texts.extend(c.text for c in chunks)
        # One encode call per batch keeps the model busy; split the vectors back afterwards.
        vectors = self.embedder.encode(texts)
        rows, at = [], 0
        for article, version, sentences, chunks in pieces:
            s_vec = vectors[at : at + len(sentences)]
            at += len(sentences)
            c_vec = vectors[at : at + len(chunks)]
            at += len(chunks)
            minhash = signature(article.text)
            copy_of = finder.canonical(article.id, minhash, article.published)
            rows.append(ArticleRows(article, version, sentences, s_vec, chunks, c_vec, minhash, copy_of))
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


def _no_bar(progress: bool | None, total: int) -> bool | None:
    """tqdm's `disable`: off when asked, or for tiny jobs; None lets tqdm hide it when not on a terminal."""
    if progress is False or total < 2:
        return True
    return None if progress is None else False
