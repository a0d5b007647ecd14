"""Retrievers: a question in, scored passages out (also usable as a LangChain retriever)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from index.embedders import SentenceTransformerEmbedder
from index.store import ChromaStore
from qa.types import Passage


@dataclass
class Retrieval:
    """Passages best first, with the question's vector so readers need not embed it again."""

    passages: list[Passage]
    query_vector: np.ndarray


class DenseRetriever(BaseRetriever):
    """Chunks near the question by cosine similarity, searched at two granularities.

    A chunk's vector blurs a short statement among its neighbours ("What did Peskov say?" is
    far from a 600-character chunk about three things), so the nearest sentences also vote:
    a chunk scores the better of its own similarity and that of its best sentence.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: ChromaStore
    embedder: SentenceTransformerEmbedder
    k: int = 5
    # The candidate pool does not shrink with k, so a ranking cut at 5 is the first 5 of one cut at
    # 10: evaluation's hit@10 then extends exactly the passages the answer was made from.
    candidates: int = 20

    def retrieve(self, question: str, k: int | None = None, where: dict | None = None) -> Retrieval:
        k = k or self.k
        pool = max(k, self.candidates)
        vector = self.embedder.encode([question])[0]
        found = {p.chunk_id: p for p in self.store.search_chunks(vector, pool, where=where)}
        best = {chunk_id: p.score for chunk_id, p in found.items()}
        for _, chunk_id, score in self.store.search_sentences(vector, 3 * pool, where=where):
            best[chunk_id] = max(best.get(chunk_id, score), score)
        found |= {p.chunk_id: p for p in self.store.get_chunks([c for c in best if c not in found])}
        ranked = sorted((replace(p, score=best[c]) for c, p in found.items()), key=lambda p: p.score, reverse=True)
        return Retrieval(ranked[:k], vector)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
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
