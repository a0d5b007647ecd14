"""Retrievers: a question in, scored passages out (also usable as a LangChain retriever).

LangChain's retriever module is imported only when the LangChain interface is used
(`as_langchain()`, `invoke`, `|`): importing it costs about a second that `qa ask` does not need.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from index.store import where_clause
from qa.questions import AskedDate, asked_dates
from qa.types import Filters, Passage

if TYPE_CHECKING:
    from langchain_core.retrievers import BaseRetriever

    from index.lexical import BM25Index
    from index.store import ChromaStore


@dataclass
class Retrieval:
    """Passages best first, with the question's vector so readers need not embed it again."""

    passages: list[Passage]
    query_vector: np.ndarray


def _dated(passage: Passage, date: AskedDate) -> bool:
    return date.fits(passage.published, f"{passage.text} {passage.title}")


def without_copies(store: ChromaStore, passages: list[Passage]) -> list[Passage]:
    """Passages of near-duplicate articles left out while their canonical article is stored:
    answers cite the canonical copy and list the others as "also in"."""
    live = store.versions({p.duplicate_of for p in passages if p.duplicate_of})
    return [p for p in passages if p.duplicate_of not in live]


@dataclass
class HybridRetriever:
    """Chunks found two ways, fused by reciprocal rank: by meaning (Chroma) and by words (BM25).

    Dense search alone misses names and rare words ("Peskov", "Q3 2019"); BM25 alone misses
    paraphrase. A chunk's dense score is the better of its own cosine and that of its best
    sentence, because a chunk's vector blurs a short statement among its neighbours. A question
    that names a year or month adds a third ranking: the passages from or naming that date.

    As a LangChain retriever: `as_langchain()` is a `BaseRetriever` over this one; `invoke`,
    `ainvoke`, `batch`, `stream` and `|` are forwarded to it.
    """

    store: ChromaStore
    embedder: Any  # index.embedders: OnnxEmbedder or SentenceTransformerEmbedder (encode -> unit vectors)
    lexical: BM25Index
    k: int = 5
    # The candidate pool does not shrink with k, so a ranking cut at 5 is the first 5 of one cut at
    # 10: evaluation's hit@10 then extends exactly the passages the answer was made from.
    candidates: int = 20
    rrf_k: int = 60  # the usual constant of reciprocal rank fusion (Cormack et al. 2009)
    _langchain: Any = field(default=None, init=False, repr=False, compare=False)

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None) -> Retrieval:
        k = k or self.k
        pool = max(k, self.candidates)
        vector = self.embedder.encode([question])[0]
        dense = self._dense(vector, pool, where_clause(filters))
        lexical = self.lexical.search(question, pool, filters)
        fused: dict[str, float] = {}
        for ranking in ([chunk_id for chunk_id, _ in dense], [chunk_id for chunk_id, _ in lexical]):
            for rank, chunk_id in enumerate(ranking, start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (self.rrf_k + rank)
        order = sorted(fused, key=lambda c: fused[c], reverse=True)
        passages = {p.chunk_id: p for p in self.store.get_chunks(order)}
        # A third ranking, for "Who won the 2021 Tour de France?": the pool's passages from or naming
        # that year (or month), in their fused order.
        dates = asked_dates(question)
        if dates:
            dated = [c for c in order if c in passages and all(_dated(passages[c], d) for d in dates)]
            for rank, chunk_id in enumerate(dated, start=1):
                fused[chunk_id] += 1.0 / (self.rrf_k + rank)
            order = sorted(fused, key=lambda c: fused[c], reverse=True)
        ranked = [replace(passages[c], score=round(fused[c], 6)) for c in order if c in passages]
        if not filters:  # a filter may allow a copy but not its canonical: then the copy stays
            ranked = without_copies(self.store, ranked)
        return Retrieval(ranked[:k], vector)

    def _dense(self, vector: np.ndarray, pool: int, where: dict | None) -> list[tuple[str, float]]:
        """(chunk id, cosine) best first: chunks near the question, and chunks of the nearest sentences."""
        best = {p.chunk_id: p.score for p in self.store.search_chunks(vector, pool, where=where)}
        for _, chunk_id, score in self.store.search_sentences(vector, 3 * pool, where=where):
            best[chunk_id] = max(best.get(chunk_id, score), score)
        return sorted(best.items(), key=lambda item: item[1], reverse=True)

    def documents(self, query: str) -> list:
        """The passages of `query` as LangChain `Document`s (id: the chunk id; metadata: where it is from)."""
        from langchain_core.documents import Document

        return [
            Document(
                id=p.chunk_id,
                page_content=p.text,
                metadata={
                    "article_id": p.article_id,
                    "start": p.start,
                    "end": p.end,
                    "score": p.score,
                    "title": p.title,
                    "published": p.published,
                    "source": p.source,
                    "url": p.url,
                },
            )
            for p in self.retrieve(query).passages
        ]

    def as_langchain(self) -> BaseRetriever:
        """This retriever as a LangChain `BaseRetriever` (a Runnable: chains, `invoke`, callbacks)."""
        if self._langchain is None:
            self._langchain = _langchain_class()(hybrid=self)
        return self._langchain

    def invoke(self, input: str, config=None, **kwargs) -> list:
        return self.as_langchain().invoke(input, config, **kwargs)

    async def ainvoke(self, input: str, config=None, **kwargs) -> list:
        return await self.as_langchain().ainvoke(input, config, **kwargs)

    def batch(self, inputs: list[str], config=None, **kwargs) -> list[list]:
        return self.as_langchain().batch(inputs, config, **kwargs)

    def stream(self, input: str, config=None, **kwargs):
        return self.as_langchain().stream(input, config, **kwargs)

    def __or__(self, other):
        return self.as_langchain() | other

    def __ror__(self, other):
        return other | self.as_langchain()


_LANGCHAIN_CLASS = None


def _langchain_class():
    """The BaseRetriever subclass, defined on first use (so importing this module stays cheap)."""
    global _LANGCHAIN_CLASS
    if _LANGCHAIN_CLASS is None:
        from langchain_core.callbacks import CallbackManagerForRetrieverRun
        from langchain_core.retrievers import BaseRetriever
        from pydantic import ConfigDict

        class HybridLangChainRetriever(BaseRetriever):
            """`HybridRetriever` behind LangChain's retriever interface."""

            model_config = ConfigDict(arbitrary_types_allowed=True)
            hybrid: Any  # the HybridRetriever (Any: pydantic need not know its fields' types)

            def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list:
                return self.hybrid.documents(query)

        _LANGCHAIN_CLASS = HybridLangChainRetriever
    return _LANGCHAIN_CLASS
