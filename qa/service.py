"""The one service the CLI, the chat screen and the evaluation runner all use.

Components are built on first use from one `Settings`: reading stats needs no model,
asking needs the embedder, ingesting also needs spaCy.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from qa.budget import within
from qa.settings import Settings
from qa.types import Answer, AnswerSentence, Article, Conversation, ConversationList, Filters, IngestReport, Passage

if TYPE_CHECKING:
    from qa.quotes import Reading


class QAService:
    def __init__(self, settings: Settings, *, embedder=None, splitter=None):
        """`embedder` and `splitter` may be given to share loaded models between services (tests do)."""
        self.settings = settings
        if embedder is not None:
            self.embedder = embedder
        if splitter is not None:
            self.splitter = splitter
        self._seen_epoch: int | None = None  # the store epoch the BM25 index and caches were last synced at
        # (the people directory, the names in it that are people): worked out again for a new directory only
        self._persons_of: tuple[object, frozenset[str]] | None = None
        # Called with who holds the write lock when a write has to wait for it (the CLI prints it).
        self.on_lock_wait: Callable[[str], None] = lambda holder: print(
            f"waiting for another writer to finish ({holder})", file=sys.stderr, flush=True
        )

    @cached_property
    def store(self):
        from index.store import ChromaStore

        return ChromaStore(self.settings)

    @cached_property
    def embedder(self):
        # ONNX Runtime: the same vectors as sentence-transformers without importing torch (see index/embedders.py).
        from index.embedders import default_embedder

        return default_embedder(self.settings.embedding_model, batch_size=self.settings.embed_batch_size)

    @cached_property
    def lexical(self):
        from index.lexical import BM25Index

        return BM25Index(self.settings.lexical_path)

    @cached_property
    def retriever(self):
        from qa.retrievers import HybridRetriever

        self.store.bind_model(self.embedder.model_id, self.embedder.dimension)
        with self.store.access.reading():
            self._seen_epoch = self.store.epoch
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
        from qa.readers import ExtractiveReader, LearnedReader

        args = (self.store, self.settings.abstain_threshold, self.settings.max_answer_sentences)
        if self.settings.reader != "learned":
            return ExtractiveReader(*args)
        if self.settings.judge_gguf is None:
            return LearnedReader(*args)
        from qa.judges import QWEN_1_5B_POLICY, SentenceJudge

        return LearnedReader(*args, judge=SentenceJudge(self.settings.judge_gguf), judge_policy=QWEN_1_5B_POLICY)

    @cached_property
    def generator(self):
        from qa.generators import LLMGenerator, chat_model

        return LLMGenerator(chat_model(self.settings), self.store, parser=lambda: self.splitter.nlp)

    @cached_property
    def statements(self):
        from qa.quotes import StatementReader

        return StatementReader(self.store, self.reader, self.embedder, people=self.people_directory)

    @cached_property
    def briefings(self):
        from qa.briefings import BriefingReader
        from qa.readers import ExtractiveReader

        # A report's key sentence is the one closest to the topic in meaning and words (the hand-set
        # support), whichever reader answers questions: the learned one scores answers to a question.
        topical = ExtractiveReader(self.store, self.settings.abstain_threshold, self.settings.max_answer_sentences)
        return BriefingReader(self.store, self.retriever, topical, self.cited_dates)

    @cached_property
    def cited_dates(self):
        from qa.briefings import DateResolver

        return DateResolver(self.store)

    @cached_property
    def people_directory(self):
        from qa.people import PeopleDirectory

        cache = None if self.settings.chroma_host else self.settings.home / "people.json"
        return PeopleDirectory(self.store, cache)

    @cached_property
    def rewriter(self):
        from qa.followups import FollowUpRewriter

        return FollowUpRewriter(lambda: self.splitter.nlp)

    @cached_property
    def splitter(self):
        from index.splitters import SentenceSplitter

        return SentenceSplitter(self.settings.spacy_model, max_sentence_chars=self.settings.chunk_chars)

    @cached_property
    def ingestor(self):
        from index.ingest import Ingestor

        return Ingestor(self.settings, self.store, self.embedder, lambda: self.splitter, self.attributor, self.lexical)

    @cached_property
    def attributor(self):
        from index.attribution import SpeakerAttributor

        return SpeakerAttributor()

    # -- the operations ---------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the models and indexes answering needs now, not during the first question."""
        _ = (self.retriever, self.rewriter, self.reader, self._embedder_ready)  # cached: reading one builds it
        self.people_directory.current()  # who is who across reports ("What did X say?"): kept until a write
        self.statements.person_nouns  # the collection's nouns for people: every article record read, not in a question

    @cached_property
    def _embedder_ready(self) -> bool:
        self.embedder.encode(["warm-up"])  # the ONNX session is made on first use (once: 8 ms a question)
        return True

    def ask(
        self,
        question: str,
        history: list[tuple[str, str]] | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
        oldest_first: bool = False,
    ) -> Answer:
        """Answer from the articles (those the filters allow) with cited sentences, or abstain.

        A follow-up is first made standalone with `history` (earlier [question, answer] turns).
        With the extractive backend, "What did X say?" is answered from the statements attributed
        to X and anything else from the sentences of the retrieved passages; a chat model backend
        writes the answer from the retrieved passages and it is verified (qa/generators.py).
        """
        *_, answer = self.ask_stream(question, history, filters, backend, oldest_first=oldest_first)
        return answer

    def ask_stream(
        self,
        question: str,
        history: list[tuple[str, str]] | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
        oldest_first: bool = False,
    ) -> Iterator[str | Answer]:
        """`ask`, as it happens: pieces of the answer text as they are written, then the Answer.

        `backend`: one of `settings.backends`, for this question only (default: the settings' own).
        """
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        if not re.search(r"\w", question):  # ".", "[", a NUL: nothing to look for
            raise ValueError("the question has no words in it")
        limit = self.settings.max_question_chars
        if len(question) > limit:  # embedding and parsing a huge question costs seconds and gigabytes
            raise ValueError(
                f"the question is {len(question):,} characters long; the limit is {limit:,} (QA_MAX_QUESTION_CHARS)"
            )
        backend = backend or self.settings.backend
        if backend not in self.settings.backends:
            raise ValueError(
                f"the {backend} backend is not configured (configured: {', '.join(self.settings.backends)})"
            )
        self.catch_up()
        if (excluded := self.filters_exclude_all(filters)) is not None:
            # Say which filter left nothing to read, rather than "The articles don't say."
            yield excluded
            yield Answer(question=question, answer=excluded, abstained=True, backend=backend)
            return
        self.warm_up()  # models load before the clock starts
        write = self._generate if backend != "extractive" else self._extract
        started = time.perf_counter()
        rewritten = self.rewriter.rewrite(question, history)
        timings: dict[str, float] = {}
        # "What did X say?": how to order X's reports, and (back) the statements read, grouped by report.
        said: dict = {"oldest_first": oldest_first}
        work = write(rewritten or question, filters, started, timings, said=said)  # within QA_QUESTION_BUDGET:
        result = yield from within(work, self.settings.question_budget, every_step=backend == "extractive")
        text, citations, sentences, passages, short = result
        copies = self.store.copies_of([c.article_id for c in citations])
        # Near-copies of the article, after the reports that repeat the sentence word for word.
        citations = [replace(c, also_in=c.also_in + tuple(copies.get(c.article_id, ()))) for c in citations]
        statements = said.get("reading")
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
            short_answer=short if citations else None,
            statements=[g.to_dict() for g in statements.groups] if statements is not None else None,
            more=statements.more if statements is not None else said.get("more"),
            speakers=statements.speakers if statements is not None and statements.ambiguous else None,
            timeline=said.get("timeline"),
            comparison=said.get("comparison"),
        )

    def filters_exclude_all(self, filters: Filters | None) -> str | None:
        """None when some stored article passes the filters; else a sentence naming the filter that excludes all."""
        if not filters or self.store.has_articles(filters) or not self.store.has_articles(None):
            return None  # (an empty index: the usual abstention, and the CLI's hint to ingest, say it better)
        if filters.article_ids:  # a selection: say whether its articles are gone, or which filter excludes them
            return self._selection_excludes_all(filters)
        sources, dates = _sources_said(filters), _dates_said(filters)
        if filters.sources and not self.store.has_articles(Filters(filters.sources)):
            problem = f"is from {sources}"
        elif not self.store.has_articles(Filters((), filters.since, filters.until)):
            problem = f"was published {dates}"
        else:
            problem = f"from {sources} was published {dates}"
        return f"No stored article {problem}, so there is nothing to answer from."

    def _selection_excludes_all(self, filters: Filters) -> str:
        """Why no article of a selection (`Filters.article_ids`) can be read: gone, or left out by the other filters."""
        chosen = Filters(article_ids=filters.article_ids)
        n = len(filters.article_ids)
        if not self.store.has_articles(chosen):
            said = "The chosen article is not" if n == 1 else f"None of the {n} chosen articles is"
            return f"{said} stored, so there is nothing to answer from."
        parts = [f"from {_sources_said(filters)}"] if filters.sources else []
        if filters.since or filters.until:
            parts.append(f"published {_dates_said(filters)}")
        return f"No chosen article is {' and '.join(parts)}, so there is nothing to answer from."

    def _extract(self, query: str, filters: Filters | None, started: float, timings: dict, said: dict | None = None):
        from index.mentions import name_words
        from qa.briefings import dated_short_answer, parse_briefing_question
        from qa.quotes import asked_speaker, parse_speaker_question, repeated_once

        asked = parse_speaker_question(query)
        said = {} if said is None else said
        statements, statements_answer = self.speaker_reading(query, filters, said.get("oldest_first", False))
        said["reading"] = statements
        reading = statements if statements_answer else None
        short = None
        # "What happened in X?", "Timeline of X", "Compare A and B": a dated timeline of the reports.
        if statements is None and (topic := parse_briefing_question(query)):
            reading = self.briefings.read(topic, filters)
            said.update(timeline=reading.timeline, comparison=reading.comparison, more=reading.more)
        if reading is not None:
            timings["retrieve"] = (time.perf_counter() - started) * 1000
            text, citations, passages = reading.text, reading.citations, reading.passages
        else:
            retrieval = self.retriever.retrieve(query, filters=filters)
            timings["retrieve"] = (time.perf_counter() - started) * 1000
            # X's statements on Y beside the retrieved passages, for a reader that weighs who speaks.
            passages = statements.beside(retrieval.passages) if statements is not None else retrieval.passages
            # Asked what someone said, but nothing on it is attributed to them: only sentences naming them
            # will do, unless a reader that weighs who speaks is asked about a topic (then it weighs the
            # name with the rest; a bare "What did X say?" gives it nothing else to weigh).
            weighed = self.reader.weighs_speakers and asked is not None and bool(asked.topic)
            must_mention = name_words(asked.who) if asked and not weighed else None
            read = self.reader.read(
                query,
                retrieval.query_vector,
                passages,
                must_mention,
                must_report=bool(asked and asked.wants_words),
                speaker=asked_speaker(asked, statements),
            )
            text, citations, short = read.text, read.citations, read.short_answer
            # One sentence, one citation: a sentence two reports hold word for word is cited once ("also in").
            text, citations = repeated_once(text, citations)
        # Real dates: "yesterday" in a cited sentence is resolved against its report's date; "When …?" says the day.
        citations = self.cited_dates.cite(citations)
        short = dated_short_answer(query, citations, short)
        text = f"{short.described}\n\n{text}" if short is not None and short.described else text
        timings["answer"] = (time.perf_counter() - started) * 1000 - timings["retrieve"]
        # Sentence by sentence, as a chat model's answer streams (the text is already whole).
        pieces = re.split(r"(?<=\]) (?=\S)", text) if citations else [text]
        yield from (piece + " " for piece in pieces[:-1])
        yield pieces[-1]
        sentences = [AnswerSentence(" ".join(c.quote.split()), [c.n]) for c in citations]
        return text, citations, sentences, passages, short

    @staticmethod
    def article_types() -> list[str]:
        """The file suffixes `ingest` reads; the screen's upload offers the same."""
        from index.loaders import SUFFIXES

        return sorted(SUFFIXES)

    def speaker_reading(
        self, question: str, filters: Filters | None = None, oldest_first: bool = False
    ) -> tuple[Reading | None, bool]:
        """How the extractive answerer reads "What did X say …?", the same for answers and for training:
        X's statements (None for another question, or a speaker the articles never quote), and whether
        they are the answer. For "… about Y" with a reader that weighs who speaks they are not: that
        reader reads them beside the retrieved passages (`Reading.beside`)."""
        from qa.quotes import parse_speaker_question

        asked = parse_speaker_question(question)
        reading = self.statements.read(asked, filters, oldest_first) if asked else None
        return reading, reading is not None and not (asked.topic and self.reader.weighs_speakers)

    def _generate(self, query: str, filters: Filters | None, started: float, timings: dict, said: dict | None = None):
        from qa.quotes import parse_speaker_question

        asked = parse_speaker_question(query)
        said = {} if said is None else said
        reading = self.statements.read(asked, filters, said.get("oldest_first", False)) if asked else None
        if reading is not None and not reading.citations:
            said["reading"] = reading
            # X is quoted, but on nothing the question asks: the articles hold no answer for any model to
            # write ("What did Pompeo say about who would replace Bolton?"), so both backends abstain alike.
            timings["retrieve"] = (time.perf_counter() - started) * 1000
            yield reading.text
            return reading.text, [], [], reading.passages, None
        from qa.briefings import parse_briefing_question

        if reading is None and (topic := parse_briefing_question(query)):
            return (yield from self._synthesise(query, topic, filters, started, timings, said))
        retrieval = self.retriever.retrieve(query, filters=filters)
        timings["retrieve"] = (time.perf_counter() - started) * 1000
        read = retrieval.passages[: self.generator.passages]  # what the model is given, and all it may cite
        written: list[str] = []
        if read:
            for piece in self.generator.stream(query, read):
                if not written:
                    timings["first_token"] = (time.perf_counter() - started) * 1000
                written.append(piece)
                yield piece
        # The check matches sentences by meaning too, with the index's own embedder.
        text, citations, sentences = self.generator.verify("".join(written), read, self.embedder, question=query)
        timings["answer"] = (time.perf_counter() - started) * 1000 - timings["retrieve"]
        if not written:
            yield text
        return text, citations, sentences, read, None  # a chat model's answer has no short answer

    def _synthesise(self, query: str, topic, filters: Filters | None, started: float, timings: dict, said: dict):
        """A summary, timeline or comparison written by the chat model from the reports the briefing reader
        selects (qa/generators.py `reports_for_model`); every sentence checked against those reports."""
        from qa.generators import reports_for_model

        reading = self.briefings.read(topic, filters)
        said.update(timeline=reading.timeline, comparison=reading.comparison, more=reading.more)
        timings["retrieve"] = (time.perf_counter() - started) * 1000
        reports, read = reports_for_model(reading.reports)
        if not reports:  # nothing on the topic (or the period): the briefing reader's own words say so
            yield reading.text
            return reading.text, [], [], reading.passages, None
        written: list[str] = []
        for piece in self.generator.stream_synthesis(query, reports):
            if not written:
                timings["first_token"] = (time.perf_counter() - started) * 1000
            written.append(piece)
            yield piece
        text, citations, sentences = self.generator.verify("".join(written), read, self.embedder, question=query,
                                                           read_all=True)
        timings["answer"] = (time.perf_counter() - started) * 1000 - timings["retrieve"]
        if not written:
            yield text
        return text, self.cited_dates.cite(citations), sentences, read, None

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None) -> list[Passage]:
        """The passages `ask` would read, best first; a larger k extends the same ranking."""
        self.catch_up()
        return self.retriever.retrieve(question, k=k, filters=filters).passages

    def ingest(self, paths: list[Path], prune: bool = False, progress: bool | None = None) -> IngestReport:
        """Ingest files; with `prune`, also drop what is gone, and check every row and repair what is damaged."""
        with self.writing() as notes:
            try:
                report = self.ingestor.ingest_paths(paths, prune=prune, progress=progress)
                if prune:
                    notes.extend(self._check_and_repair(None, progress))
            finally:
                self._collection_changed()
        report.warnings = notes + report.warnings
        return report

    def ingest_articles(self, articles: list[Article], progress: bool | None = None) -> IngestReport:
        with self.writing() as notes:
            try:
                report = self.ingestor.ingest_articles(articles, progress=progress)
            finally:
                self._collection_changed()
        report.warnings = notes + report.warnings
        return report

    # -- one writer at a time; everyone sees each finished write --------------------------

    @property
    def _unfinished_path(self) -> Path:
        """Written when a write session starts, removed when it ends cleanly: the ids of the articles it
        touched, one JSON string a line, after a header line (pid, command)."""
        return self.settings.home / "ingest.unfinished"

    @contextlib.contextmanager
    def writing(self) -> Iterator[list[str]]:
        """Hold the QA_HOME's write lock (waiting for another writer, `on_lock_wait` says who) for a
        session of writes. A session whose process died left its marker: the articles it was writing
        are checked first and the damaged ones rewritten from their stored text. Yields a list of
        lines saying what was repaired (the caller puts them in its report's warnings)."""
        from index.store import WriteLock

        notes: list[str] = []
        lock = WriteLock.of(self.settings.home)
        with lock.hold(waiting=self.on_lock_wait):
            store = self.store
            if store.journal is not None:  # a session of this process is already open (re-entered)
                yield notes
                return
            marker = self._unfinished_path
            if marker.exists():
                notes.extend(self._recover(marker))
            try:
                marker.write_text(json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv)}) + "\n", encoding="utf-8")
            except OSError:  # a read-only QA_HOME: nothing can be written, so nothing can be left half-written
                yield notes
                return
            store.journal = marker
            try:
                yield notes
            except BaseException:
                store.journal = None  # the marker stays: the next session checks what this one touched
                raise
            store.journal = None
            marker.unlink(missing_ok=True)

    def _recover(self, marker: Path) -> list[str]:
        """Check (and repair) the articles an unfinished session was writing."""
        try:
            lines = marker.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        header: dict = {}
        ids: list[str] = []
        for n, line in enumerate(lines):
            try:
                value = json.loads(line)
            except ValueError:
                continue  # a line cut short by the kill
            if n == 0 and isinstance(value, dict):
                header = value
            elif isinstance(value, str):
                ids.append(value)
        who = f" (pid {header['pid']}: {header.get('command', '?')})" if "pid" in header else ""
        notes = [f"the previous write{who} did not finish; checked the {len(set(ids))} articles it was writing"]
        notes.extend(self._check_and_repair(list(dict.fromkeys(ids)), progress=False))
        self.store.sweep(list(dict.fromkeys(ids)))
        return notes

    def _check_and_repair(self, article_ids: list[str] | None, progress: bool | None) -> list[str]:
        """`check` these articles (None: all) and rewrite the damaged ones; lines saying what was done."""
        found = self.store.check(article_ids)
        damaged = sorted(found["damaged"])
        if not damaged:
            return []
        repaired, errors = self.ingestor.repair(damaged, progress=progress)
        return [f"repaired {len(repaired)} damaged articles: {', '.join(repaired[:10])}" + (" …" if len(repaired) > 10 else "")] + errors

    def check(self, repair: bool = False, progress: bool | None = None) -> dict:
        """Read every stored row with its embedding and metadata, and say what is unreadable or
        inconsistent (ChromaStore.check); with `repair`, rewrite the damaged articles from their
        stored text and remove rows no live article owns, then check again."""
        found = self.store.check()
        if not repair:
            return found
        with self.writing():
            damaged = sorted(self.store.check()["damaged"])  # again, under the lock
            repaired, errors = self.ingestor.repair(damaged, progress=progress) if damaged else ([], [])
            swept = self.store.sweep()
            self._collection_changed()
        after = self.store.check()
        return after | {"before": found, "repaired": repaired, "repair_errors": errors, "swept": swept}

    def writing_elsewhere(self) -> bool:
        """Whether another process holds the write lock now (an ingest, an upload of another server):
        the screen says "updating…" meanwhile; its next question sees what was written."""
        from index.store import WriteLock

        try:
            return WriteLock.of(self.settings.home).held_elsewhere()
        except OSError:
            return False

    def writer(self) -> str:
        """Who holds the write lock, as recorded beside it ("pid N: COMMAND (since …)"); "" when none."""
        from index.store import WriteLock

        return WriteLock.of(self.settings.home).holder() if self.writing_elsewhere() else ""

    def catch_up(self) -> None:
        """Before a question: when another process wrote since the last one (the store's generation
        changed: one small file read, under the store's read lock), reload the BM25 index and the
        caches built from the collection. The store itself reopens its embedded Chroma client."""
        store = self.store
        with store.access.reading():
            epoch = store.epoch
            if epoch == self._seen_epoch:
                return
            if self._seen_epoch is not None and "retriever" in self.__dict__:
                self.lexical.sync(store)
            self._seen_epoch = epoch
            self._collection_changed()

    def _collection_changed(self) -> None:
        self.__dict__.pop("_overview_kept", None)
        if "statements" in self.__dict__:  # only a reader already built holds what the collection was
            self.statements.forget_collection()
        if "people_directory" in self.__dict__:
            self.people_directory.forget()

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

    def people(self, filters: Filters | None = None) -> list[dict]:
        """Who the articles (those the filters allow) quote: name, roles, statements, reports, first and
        last publication date, sources, and `person`: whether a report names the speaker as a person (not
        a body such as "the Kremlin": the first screen counts these). Most quoted first. One person, one
        identity across reports (qa/people.py). Needs no model: read from the stored speakers, kept in
        `$QA_HOME/people.json`."""
        from qa.suggestions import people_quoted

        self.catch_up()
        directory = self.people_directory.current()
        # Who is a person is read once per directory: a write makes a new one (catch_up forgets it).
        kept = self._persons_of
        if kept is None or kept[0] is not directory:
            facts = self.store.article_facts()
            sources = {f["source"] for f in facts.values() if f.get("source")}
            kept = self._persons_of = (directory, frozenset(p["name"] for p in people_quoted(directory, facts, sources)))
        persons = kept[1]
        return [row | {"person": row["name"] in persons} for row in directory.people(filters)]

    def add_text(self, title: str, text: str, published: str | None = None, source: str | None = None) -> IngestReport:
        """Ingest pasted text as an article; pasting the same title and date again updates it."""
        from index.loaders import make_article, normalize_date, pasted_article_id

        published = normalize_date(published)
        article = make_article(id="", title=title, text=text, published=published, source=source or "pasted")
        # An untitled paste is named by its first words (make_article), and identified by them.
        return self.ingest_articles([replace(article, id=pasted_article_id(article.title, published))], progress=False)

    def add_files(self, files: list[Path], progress: bool | None = None) -> IngestReport:
        """Ingest uploaded files: each is checked (type, size, name, a regular file) and kept in the
        uploads area first, so re-uploading a file updates its article. Every refused or failed file
        is listed in the report's errors with its reason; nothing here raises for a bad upload."""
        import filecmp
        import os

        from index.uploads import UploadArea, UploadError, stored_name

        area = UploadArea(self.settings.uploads_path, max_bytes=int(self.settings.max_upload_mb * 1_000_000))
        kept: dict[str, Path] = {}  # stored name -> the upload it came from
        refused: list[str] = []
        renamed: list[str] = []
        for path in files:
            try:
                name = stored_name(path.name)
                if name in kept:  # two uploads of one name in one call: the second must not replace the first
                    if not (path.is_file() and filecmp.cmp(path, kept[name], shallow=False)):
                        refused.append(f"{path.name}: another file of the same name is in this upload; skipped")
                    continue
                item = area.keep_named(path)
            except UploadError as exc:
                refused.append(str(exc))
                continue
            except OSError as exc:
                refused.append(f"{path.name}: cannot read: {exc.strerror or exc}")
                continue
            kept[item.path.name] = path
            if item.renamed:
                renamed.append(
                    f"{item.original} is stored as {item.path.name} (its name had characters a stored file name"
                    " does not keep)"
                )
        stored = [area.root.resolve() / name for name in kept]
        report = self.ingest(stored, progress=progress) if stored else IngestReport()
        report.warnings = renamed + report.warnings
        # Errors name the file, not where the server keeps it.
        roots = {str(area.root) + os.sep, str(area.root.resolve()) + os.sep}

        def unrooted(line: str) -> str:
            for root in roots:
                line = line.replace(root, "")
            return line

        report.errors = refused + [unrooted(e) for e in report.errors]
        report.warnings = [unrooted(w) for w in report.warnings]
        return report

    # -- the library: what is stored, and removing it ----------------------------------------

    def list_articles(self, filters: Filters | None = None, search: str = "") -> list[dict]:
        """The stored articles the filters allow whose title (or id) holds every word of `search`
        (any case): id, title, source, published, url, people quoted (most quoted first), chunks,
        sentences, indexed_at, `uploaded` (kept in the uploads area), duplicate_of; newest first,
        undated last. Needs no model (the people come from `people()`'s index)."""
        self.catch_up()
        records = self.store.article_records()
        quoted = self._people_by_article()
        uploads = self.settings.uploads_path.resolve()
        words = search.lower().split()
        listed = []
        for article_id, record in records.items():
            if filters and not filters.allows(record["source"], record["published"], article_id):
                continue
            title = record["title"] or ""
            if words and not all(w in f"{title}\n{article_id}".lower() for w in words):
                continue
            path = record["path"]
            listed.append({
                "id": article_id,
                "title": title,
                "source": record["source"],
                "published": record["published"],
                "url": record["url"],
                "people": quoted.get(article_id, []),
                "chunks": record["chunks"],
                "sentences": record["sentences"],
                "indexed_at": record["indexed_at"],
                "uploaded": bool(path) and Path(path).parent == uploads,
                "duplicate_of": record["duplicate_of"],
            })
        # Newest first; undated after every dated one; then by title.
        listed.sort(key=lambda a: (a["title"].lower(), a["id"]))
        listed.sort(key=lambda a: a["published"] or "", reverse=True)
        return listed

    def _people_by_article(self) -> dict[str, list[str]]:
        """Article id -> the names of the people it quotes, most statements first."""
        found: dict[str, list[tuple[int, str]]] = {}
        for person in self.people_directory.current().persons.values():
            for article_id, statements in person.statements.items():
                found.setdefault(article_id, []).append((-statements, person.name))
        return {article_id: [name for _, name in sorted(named)] for article_id, named in found.items()}

    def delete_articles(self, ids: list[str]) -> dict:
        """Remove stored articles: their records and rows, their BM25 entries, and the uploaded file each
        came from when it was kept in the uploads area and no other stored article comes from it. Under
        the write lock: other processes see it at their next question. An unknown id is refused
        (ValueError naming it) and nothing is deleted. Returns {"deleted": [{id, title, published,
        source}], "files_removed": [file names], "warnings": [...]}."""
        ids = list(dict.fromkeys(i.strip() for i in ids if i and i.strip()))
        if not ids:
            raise ValueError("no article id given")
        self.catch_up()
        missing = [i for i in ids if i not in self.store.article_records()]
        if missing:  # refused before the write lock: a failed write session would leave its marker behind
            raise ValueError(f"no article with id {', '.join(missing)}; nothing deleted")
        with self.writing() as notes:
            records = self.store.article_records()  # again, under the lock (another writer may have deleted some)
            ids = [i for i in ids if i in records]
            try:
                self.store.delete_articles(ids)
                self.lexical.sync(self.store, changed=ids)
            finally:
                self._collection_changed()
            uploads = self.settings.uploads_path.resolve()
            still_used = set(self.store.article_paths().values())
            removed: list[str] = []
            for path in dict.fromkeys(records[i]["path"] for i in ids if records[i]["path"]):
                # Only the uploads area's own copies: a file ingested from elsewhere belongs to its owner.
                if Path(path).parent != uploads or path in still_used:
                    continue
                try:
                    Path(path).unlink(missing_ok=True)
                    removed.append(Path(path).name)
                except OSError as exc:
                    notes.append(f"{Path(path).name}: could not remove the uploaded file: {exc.strerror or exc}")
        deleted = [{"id": i} | {k: records[i][k] for k in ("title", "published", "source")} for i in ids]
        return {"deleted": deleted, "files_removed": removed, "warnings": notes}

    def reingest_articles(self, ids: list[str], force: bool = False, progress: bool | None = None) -> IngestReport:
        """Read stored articles again from where they came from (the file each was ingested from, an upload
        in the uploads area included) and update those whose text or metadata changed; the others are
        `unchanged`. Only the chosen articles of a file are read again, not its other ones. An article whose
        file is gone or no longer holds it, or that has no file (pasted text), is kept as stored, with a line
        in `errors` saying why. `force`: the unchanged (and the fileless) are rewritten from their stored text
        too, with today's splitting and attribution (`updated`). An unknown id is refused (ValueError naming
        it) and nothing is read. Under the write lock, as `ingest` (`qa reingest ID…`, the Library's button)."""
        from index.loaders import load_file

        ids = list(dict.fromkeys(i.strip() for i in ids if i and i.strip()))
        if not ids:
            raise ValueError("no article id given")
        self.catch_up()
        records = self.store.article_records()
        missing = [i for i in ids if i not in records]
        if missing:
            raise ValueError(f"no article with id {', '.join(missing)}; nothing re-ingested")
        report = IngestReport()
        fresh, kept = [], []  # read again from their files; kept as stored (no file to read them from)
        by_path: dict[str, list[str]] = {}
        for i in ids:
            path = records[i]["path"]
            if path:
                by_path.setdefault(path, []).append(i)
            else:
                kept.append(i)
                if not force:
                    report.errors.append(f"{i}: no file to read it from (pasted text); kept as stored")
        for path, chosen in by_path.items():
            loaded = load_file(Path(path), max_chars=self.settings.max_article_chars)
            found = {a.id: a for a in loaded.articles if a.id in chosen}
            report.warnings.extend(str(w) for w in loaded.warnings)
            for i in chosen:
                if i in found:
                    fresh.append(found[i])
                    continue
                kept.append(i)
                why = "; ".join(str(e) for e in loaded.errors) or f"{Path(path).name} no longer holds it"
                if not force:
                    report.errors.append(f"{i}: cannot read it again ({why}); kept as stored")
        with self.writing() as notes:
            try:
                if fresh:
                    done = self.ingestor.ingest_articles(fresh, progress=progress)
                    report.updated += done.added + done.updated
                    report.unchanged += done.unchanged
                    report.errors += done.errors
                    report.timings = done.timings
                if force and (again := [*report.unchanged, *kept]):
                    repaired, errors = self.ingestor.repair(again, progress=progress)
                    report.unchanged = [i for i in report.unchanged if i not in repaired]
                    report.updated += repaired
                    report.errors += errors
            finally:
                self._collection_changed()
        report.warnings = notes + report.warnings
        return report

    # -- saved conversations (qa/conversations.py) ---------------------------------------------

    @cached_property
    def conversation_store(self):
        from qa.conversations import ConversationStore

        return ConversationStore(self.settings.conversations_path)

    def conversations(self) -> ConversationList:
        """The saved conversations (id, title, created, updated, questions), the last changed first, and each
        file that could not be read, named with its problem (the others are listed all the same)."""
        return self.conversation_store.list()

    def conversation(self, conversation_id: str) -> Conversation:
        """A saved conversation, every turn; ValueError for an unknown id or an unreadable file."""
        return self.conversation_store.get(conversation_id)

    def save_turn(self, answer: Answer, conversation_id: str | None = None) -> Conversation:
        """Keep a question and its answer in the conversation `conversation_id` (None: a new one)."""
        return self.conversation_store.add_turn(answer, conversation_id)

    def delete_conversation(self, conversation_id: str) -> dict:
        """Remove a saved conversation; what it was (id, title, created, updated, questions)."""
        return self.conversation_store.delete(conversation_id)

    def cited_articles(self, answers: list[Answer]) -> dict[str, Article]:
        """The articles the answers cite, by id: their text gives each citation's paragraph number."""
        return {a.id: a for a in self.articles(sorted({c.article_id for x in answers for c in x.citations}))}

    def export_conversation(self, conversation_id: str) -> str:
        """A saved conversation as Markdown: each question, its answer and its sources."""
        conversation = self.conversation(conversation_id)
        return conversation.to_markdown(self.cited_articles([t.answer for t in conversation.turns]))

    # -- the first screen: what the collection holds, and questions to ask it ------------------------

    def overview(self, examples: int = 4) -> dict:
        """What the collection holds, in a line ("374 reports from 2004 to 2023, 420 people quoted"), and
        example questions drawn from it: "What did X say?" for the people quoted in the most reports, and
        one on the subject of each of the newest reports' titles. Kept until the collection changes.

        {"articles", "first", "last", "sources", "people", "line", "examples": [{"question", "why"}]}."""
        self.catch_up()
        key = (self._seen_epoch, self.store.stats().get("last_updated"))
        kept = self.__dict__.get("_overview_kept")
        if kept is not None and kept[0] == key:
            return kept[1]
        made = self._overview(examples)
        self._overview_kept = (key, made)  # not `_overview`, the method that makes it
        return made

    def _overview(self, examples: int) -> dict:
        from qa.suggestions import collection_line, people_quoted, title_subject

        facts = self.store.article_facts()
        dates = sorted(f["published"] for f in facts.values() if f.get("published"))
        sources = {f["source"] for f in facts.values() if f.get("source")}
        people = people_quoted(self.people_directory.current(), facts, sources)
        from index.mentions import name_words

        suggested: list[dict] = []
        asked_names: list[set[str]] = []
        waiting = iter(people)  # the most reports first: someone the collection follows, not one interview

        def ask_about_people(up_to: int) -> None:
            for person in waiting:
                if len(suggested) >= up_to:
                    return
                words = name_words(person["name"])
                if len(words) < 2 or any(words <= w or w <= words for w in asked_names):  # "Trump", "Donald Trump"
                    continue
                asked_names.append(words)
                n, r = person["statements"], person["reports"]
                why = f"quoted {n} time{'s' if n != 1 else ''} in {r} report{'s' if r != 1 else ''}"
                suggested.append({"question": f"What did {person['name']} say?", "why": why})

        ask_about_people((examples + 1) // 2)
        newest = sorted((f.get("published") or "", i) for i, f in facts.items() if not f.get("duplicate_of"))[::-1]
        wanted = examples - len(suggested)
        candidates = self.store.get_articles([i for _, i in newest[: wanted * 3]]) if wanted > 0 else []
        by_id = {a.id: a for a in candidates}
        nlp = self.splitter.nlp if candidates else None
        for _, article_id in newest[: wanted * 3]:
            if len(suggested) >= examples or article_id not in by_id:
                continue
            a = by_id[article_id]
            subject = title_subject(nlp(a.title), sources)
            question = f"What happened with {subject}?" if subject else None
            if question and all(s["question"] != question for s in suggested):
                suggested.append({"question": question, "why": f"newest report: {a.title} ({a.published or 'undated'})"})
        ask_about_people(examples)  # fewer reports than asked for: more people
        return {
            "articles": len(facts),
            "first": dates[0] if dates else None,
            "last": dates[-1] if dates else None,
            "sources": len(sources),
            "people": len(people),
            "line": collection_line(len(facts), dates, len(people)),
            "examples": suggested,
        }

    # -- the answerer picker (qa/answerers.py): what can answer now, and answering with one choice ---------

    # Built from the collection, not from the answerer: a service for another answerer shares them.
    _SHARED_WITH_ANSWERERS = ("store", "lexical", "retriever", "reader", "statements", "briefings", "cited_dates",
                              "people_directory", "rewriter")

    def answerers(self, refresh: bool = False) -> list[tuple[str, str]]:
        """The picker's choices, (label, value): extractive, the configured chat model, then each GGUF file of
        `settings.models_dir` and each Ollama model `qa.answerers.discover` finds (looked for again on `refresh`)."""
        from qa.answerers import discover, picker

        if refresh or self.__dict__.get("_discovery") is None:
            self._discovery = discover(self.settings)
        return picker(self.settings, self._discovery)

    def answering_with(self, choice: str | None) -> "QAService":
        """The service that answers with the picker's `choice` (a value of `answerers()`): this one for a
        configured backend's name, else one built once for that answerer, sharing this one's index and loaded
        models. ValueError for a choice that is not offered."""
        import threading

        from qa.answerers import chosen_settings

        if not choice or choice in self.settings.backends:
            return self
        if self.__dict__.get("_discovery") is None:
            self.answerers()
        chosen = chosen_settings(choice, self.settings, self._discovery)
        with self.__dict__.setdefault("_answerers_lock", threading.Lock()):
            others = self.__dict__.setdefault("_answering_with", {})
            if choice not in others or others[choice].settings != chosen:
                other = QAService(chosen, embedder=self.embedder, splitter=self.splitter)
                other.on_lock_wait = self.on_lock_wait
                for name in self._SHARED_WITH_ANSWERERS:
                    other.__dict__[name] = getattr(self, name)
                other._seen_epoch = self._seen_epoch
                others[choice] = other
            return others[choice]

    def model_loads_first(self) -> bool:
        """Whether the next answer first loads this service's chat model: a GGUF file run in this process
        that is not loaded yet (it stays loaded for the process's life)."""
        if self.settings.backend != "llamacpp" or not self.settings.llm_gguf:
            return False
        from qa.llamacpp import is_loaded

        return not is_loaded(self.settings.llm_gguf)


def _sources_said(filters: Filters) -> str:
    return " or ".join(repr(s) for s in filters.sources)


def _dates_said(filters: Filters) -> str:
    """A date filter in words: "between A and B", "on or after A", "on or before B"."""
    if filters.since and filters.until:
        return f"between {filters.since} and {filters.until}"
    return f"on or after {filters.since}" if filters.since else f"on or before {filters.until}"
