"""The hybrid retriever behind LangChain's interface, which is imported only when used."""

from __future__ import annotations

import subprocess
import sys


def test_the_retriever_is_a_langchain_runnable(service, corpus):
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import RunnableLambda

    service.ingest([corpus])
    retriever = service.retriever
    assert isinstance(retriever.as_langchain(), BaseRetriever)
    question = "Who welcomed China's peace plan?"
    chain = retriever | RunnableLambda(lambda documents: [d.metadata["article_id"] for d in documents])
    expected = [p.article_id for p in service.retrieve(question)]
    assert chain.invoke(question) == expected
    documents = retriever.invoke(question)
    assert [d.id for d in documents] == [p.chunk_id for p in service.retrieve(question)]
    assert retriever.batch([question, question]) == [documents, documents]


def test_importing_the_query_path_leaves_langchain_retrievers_and_torch_out():
    code = (
        "import sys, json; import qa.retrievers, index.lexical, index.embedders;"
        "print(json.dumps([m for m in ('langchain_core.retrievers', 'torch', 'bm25s', 'scipy') if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
