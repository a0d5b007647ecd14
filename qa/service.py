"""The one service the CLI, the chat screen and the evaluation runner all use.

Components are built on first use from one `Settings`: reading stats needs no model,
asking needs the embedder, ingesting also needs spaCy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from functools import cached_property
from pathlib import Path

from qa.settings import Settings
from qa.types import Answer, AnswerSentence, Article, Filters, IngestReport, Passage


class QAService:
    def __init__(self, settings: Settings, *, embedder=None, splitter=None):
        """`embedder` and `splitter` may be given to share loaded models between services (tests do)."""
        self.settings = settings
        if embedder is not None:
            self.embedder = embedder
        if splitter is not None:
            self.splitter = splitter

    @cached_property
    def store(self):
        from index.store import ChromaStore

        return ChromaStore(self.settings)

    @cached_property
    def embedder(self):
        from index.embedders import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(self.settings.embedding_model, batch_size=self.settings.embed_batch_size)

    @cached_property
    def lexical(self):
        from index.lexical import BM25Index

        return BM25Index(self.settings.lexical_path)

    @cached_property
    def retriever(self):
        from qa.retrievers import HybridRetriever

        self.store.bind_model(self.embedder.model_id, self.embedder.dimension)
        self.lexical.sync(self.store)  # catches up after a crash or another writer
        return HybridRetriever(
            store=self.store,
            embedder=self.embedder,
            lexical=self.lexical,
            k=self.settings.top_k,
            candidates=self.settings.candidates,
        )

    @cached_property
    def reader(self):
        from qa.readers import ExtractiveReader

        return ExtractiveReader(
            self.store, self.settings.abstain_threshold, self.settings.max_answer_sentences, nlp=self.attributor.nlp
        )

    @cached_property
    def generator(self):
        from qa.generators import LLMGenerator, chat_model

        return LLMGenerator(chat_model(self.settings), self.store)

    @cached_property
    def statements(self):
        from qa.quotes import StatementReader

        return StatementReader(self.store, self.reader, self.embedder)

    @cached_property
    def rewriter(self):
        from qa.followups import FollowUpRewriter

        return FollowUpRewriter(self.attributor.nlp)

    @cached_property
    def splitter(self):
        from index.splitters import SentenceSplitter

        return SentenceSplitter(self.settings.spacy_model, max_sentence_chars=self.settings.chunk_chars)

    @cached_property
    def ingestor(self):
        from index.ingest import Ingestor

        return Ingestor(self.settings, self.store, self.embedder, self.splitter, self.attributor, self.lexical)

    @cached_property
    def attributor(self):
        from index.attribution import SpeakerAttributor

        return SpeakerAttributor(self.settings.spacy_model)

    # -- the operations ---------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the models and indexes answering needs now, not during the first question."""
        _ = (self.retriever, self.rewriter, self.reader)  # cached properties: reading one builds it

    def ask(
        self,
        question: str,
        history: list[tuple[str, str]] | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
    ) -> Answer:
        """Answer from the articles (those the filters allow) with cited sentences, or abstain.

        A follow-up is first made standalone with `history` (earlier [question, answer] turns).
        With the extractive backend, "What did X say?" is answered from the statements attributed
        to X and anything else from the sentences of the retrieved passages; a chat model backend
        writes the answer from the retrieved passages and it is verified (qa/generators.py).
        """
        *_, answer = self.ask_stream(question, history, filters, backend)
        return answer

    def ask_stream(
        self,
        question: str,
        history: list[tuple[str, str]] | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
    ) -> Iterator[str | Answer]:
        """`ask`, as it happens: pieces of the answer text as they are written, then the Answer.

        `backend`: one of `settings.backends`, for this question only (default: the settings' own).
        """
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        backend = backend or self.settings.backend
        if backend not in self.settings.backends:
            raise ValueError(
                f"the {backend} backend is not configured (configured: {', '.join(self.settings.backends)})"
            )
        self.warm_up()  # models load before the clock starts
        write = self._generate if backend != "extractive" else self._extract
        started = time.perf_counter()
        rewritten = self.rewriter.rewrite(question, history)
        timings: dict[str, float] = {}
        result = yield from write(rewritten or question, filters, started, timings)
        text, citations, sentences, passages = result
        copies = self.store.copies_of([c.article_id for c in citations])
        citations = [replace(c, also_in=tuple(copies.get(c.article_id, ()))) for c in citations]
        timings["total"] = (time.perf_counter() - started) * 1000
        yield Answer(
            question=question,
            answer=text,
            abstained=not citations,
            citations=citations,
            passages=passages,
            rewritten_question=rewritten,
            timings_ms=timings,
            sentences=sentences,
            backend=backend,
        )

    def _extract(self, query: str, filters: Filters | None, started: float, timings: dict):
        from index.attribution import name_words
        from qa.quotes import parse_speaker_question

        asked = parse_speaker_question(query)
        reading = self.statements.read(asked, filters) if asked else None
        if reading is not None:
            timings["retrieve"] = (time.perf_counter() - started) * 1000
            text, citations, passages = reading.text, reading.citations, reading.passages
        else:
            retrieval = self.retriever.retrieve(query, filters=filters)
            timings["retrieve"] = (time.perf_counter() - started) * 1000
            # Asked what someone said, but nothing on it is attributed to them: only sentences naming them will do.
            must_mention = name_words(asked.who) if asked else None
            text, citations = self.reader.read(query, retrieval.query_vector, retrieval.passages, must_mention)
            passages = retrieval.passages
        timings["answer"] = (time.perf_counter() - started) * 1000 - timings["retrieve"]
        # Sentence by sentence, as a chat model's answer streams (the text is already whole).
        pieces = re.split(r"(?<=\]) (?=\S)", text) if citations else [text]
        yield from (piece + " " for piece in pieces[:-1])
        yield pieces[-1]
        sentences = [AnswerSentence(" ".join(c.quote.split()), [c.n]) for c in citations]
        return text, citations, sentences, passages

    def _generate(self, query: str, filters: Filters | None, started: float, timings: dict):
        retrieval = self.retriever.retrieve(query, filters=filters)
        timings["retrieve"] = (time.perf_counter() - started) * 1000
        written: list[str] = []
        if retrieval.passages:
            for piece in self.generator.stream(query, retrieval.passages):
                if not written:
                    timings["first_token"] = (time.perf_counter() - started) * 1000
                written.append(piece)
                yield piece
        text, citations, sentences = self.generator.verify("".join(written), retrieval.passages)
        timings["answer"] = (time.perf_counter() - started) * 1000 - timings["retrieve"]
        if not written:
            yield text
        return text, citations, sentences, retrieval.passages

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None) -> list[Passage]:
        """The passages `ask` would read, best first; a larger k extends the same ranking."""
        return self.retriever.retrieve(question, k=k, filters=filters).passages

    def ingest(self, paths: list[Path], prune: bool = False, progress: bool | None = None) -> IngestReport:
        return self.ingestor.ingest_paths(paths, prune=prune, progress=progress)

    def ingest_articles(self, articles: list[Article], progress: bool | None = None) -> IngestReport:
        return self.ingestor.ingest_articles(articles, progress=progress)

    def articles(self, ids: list[str]) -> list[Article]:
        return self.store.get_articles(ids)

    def all_passages(self) -> Iterator[Passage]:
        """Every stored chunk (evaluation uses them to know which passages hold the evidence)."""
        return self.store.all_chunks()

    @property
    def location(self) -> str:
        """Where the index lives: a directory, or a Chroma server's address."""
        return self.store.location

    def stats(self) -> dict:
        """Counts of articles, chunks and sentences, and `last_updated`."""
        return self.store.stats()

    def sources(self) -> list[str]:
        return self.store.sources()

    def add_text(self, title: str, text: str, published: str | None = None, source: str | None = None) -> IngestReport:
        """Ingest pasted text as an article; pasting the same title and date again updates it."""
        from index.loaders import make_article, normalize_date, pasted_article_id

        published = normalize_date(published)
        article = make_article(id="", title=title, text=text, published=published, source=source or "pasted")
        # An untitled paste is named by its first words (make_article), and identified by them.
        return self.ingest_articles([replace(article, id=pasted_article_id(article.title, published))], progress=False)

    def add_files(self, files: list[Path], progress: bool | None = None) -> IngestReport:
        """Ingest uploaded files: each is checked (type, size, name) and kept in the uploads area first,
        so re-uploading a file updates its article. Refused files are listed in the report's errors."""
        from index.uploads import UploadArea, UploadError

        area = UploadArea(self.settings.uploads_path, max_bytes=int(self.settings.max_upload_mb * 1_000_000))
        kept, refused = [], []
        for path in files:
            try:
                kept.append(area.keep(path))
            except UploadError as exc:
                refused.append(str(exc))
        report = self.ingest(kept, progress=progress) if kept else IngestReport()
        report.errors = refused + [e.replace(str(area.root) + "/", "") for e in report.errors]
        return report
