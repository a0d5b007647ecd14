"""A PDF article on the chat screen, in Debian's Chromium against a real `qa serve` (as tests/test_browser.py):
the 50-page PDF of tests/test_documents.py is ingested, a question about page 47 is asked in the question
box, and its citation opens the article viewer on the PDF's text with the cited sentence highlighted.
The screenshot is kept in runs/browser/ for people to look at.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from conftest import running_chat
from test_browser import SHOTS, ask, browser, highlighted, in_view  # noqa: F401 (browser: a fixture)
from test_documents import PDF_PAGE, PDF_QUESTION, PDF_SENTENCE, write_pdf

from index.loaders import load_file


@pytest.fixture(scope="module")
def pdf_server(tmp_path_factory, embedder, splitter):
    from qa.service import QAService
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("pdf-chat")
    path = write_pdf(root / "harbours.pdf")
    report = QAService(Settings(home=root / "home"), embedder=embedder, splitter=splitter).ingest([path])
    assert len(report.added) == 1, report.errors
    (article,) = load_file(path).articles
    with running_chat(root / "home") as url:
        yield url, article


@pytest.fixture
def pdf_page(browser, pdf_server):  # noqa: F811 (browser is the imported fixture)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(pdf_server[0])
    page.wait_for_selector("#qa-chat")
    yield page
    context.close()


def test_a_citation_into_a_50_page_pdf_opens_its_sentence_highlighted(pdf_page, pdf_server):
    from gradio_client import Client

    url, article = pdf_server
    expected = Client(url, verbose=False).predict(PDF_QUESTION, api_name="/ask")
    (citation,) = [c for c in expected["citations"] if c["quote"] == PDF_SENTENCE] or [expected["answer"]]
    assert article.text[citation["start"] : citation["end"]] == PDF_SENTENCE

    page = pdf_page
    ask(page, PDF_QUESTION)
    assert PDF_SENTENCE in page.inner_text("#qa-chat [data-testid=bot]")
    span = quote(f"{citation['article_id']}|{citation['start']}|{citation['end']}", safe="")
    page.locator(f"#qa-chat a[href*='{span}']").first.click()  # its [n] in the answer
    assert highlighted(page) == PDF_SENTENCE
    assert in_view(page)
    assert "Harbour towns of the Black Sea" in page.inner_text("#qa-article h3")
    # The viewer holds the whole PDF's text, from page 1's first line to page 50's last.
    pages = article.text.split("\n\n")
    shown = page.inner_text("#qa-article")
    assert pages[0].split("\n")[0] in shown and pages[-1].split("\n")[-1] in shown
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "pdf-citation.png")
    print(f"\npage {PDF_PAGE} of a 50-page PDF cited and opened; screenshot {SHOTS / 'pdf-citation.png'}")
