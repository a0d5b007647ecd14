"""The chat screen in a real browser: Debian's Chromium, driven by Playwright, against a real `qa serve`.

Needs /usr/bin/chromium (`apt-get install chromium`; `make test` installs it). Screenshots are kept
in runs/browser/ for people to look at; the time to the first streamed words and to the full answer
is printed (shown with `pytest -s`) and written next to them, never asserted: these machines are noisy.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and none of the background connections this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / "runs" / "browser"
BOT_TEXT = "() => document.querySelector('#qa-chat [data-testid=bot]')?.innerText.trim().length > 0"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`; make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, chat_server):
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.goto(chat_server)
    page.wait_for_selector("#qa-chat")
    yield page
    context.close()


def ask(page, question: str) -> tuple[float, float]:
    """Ask through the question box; seconds until the first words show and until the cited passages do."""
    box = page.get_by_label("Question")
    box.fill(question)
    started = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(BOT_TEXT, polling="raf")
    first = time.perf_counter() - started
    page.wait_for_selector("#qa-cards .qa-card, #qa-cards .qa-empty:has-text('No passage')")
    return first, time.perf_counter() - started


def highlighted(page) -> str:
    page.wait_for_selector("#qa-article mark")
    return page.inner_text("#qa-article mark")


def in_view(page) -> bool:
    """The marked span lies inside the visible part of the article panel."""
    return page.eval_on_selector(
        "#qa-article mark",
        "m => { const r = m.getBoundingClientRect(), box = m.closest('.qa-article').getBoundingClientRect();"
        " return r.top >= box.top && r.bottom <= box.bottom && r.top >= 0 && r.bottom <= innerHeight; }",
    )


def test_a_click_on_a_citation_opens_its_span_in_the_article(page, chat_server):
    from gradio_client import Client

    expected = Client(chat_server, verbose=False).predict("What did Peskov say?", api_name="/ask")["citations"]
    assert len(expected) >= 2
    first_words, full_answer = ask(page, "What did Peskov say?")

    page.locator("#qa-chat a[href*='qa-cite=']").first.click()  # the [1] in the answer
    assert highlighted(page) == expected[0]["quote"]
    assert in_view(page)

    page.locator("#qa-cards .qa-card").nth(1).click()  # the second card
    page.wait_for_function(
        "quote => document.querySelector('#qa-article mark')?.innerText === quote", arg=expected[1]["quote"]
    )
    assert in_view(page)
    assert page.locator("#qa-cards .qa-card.qa-open").count() == 1

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "peskov.png")
    timings = {"first_words_s": round(first_words, 3), "full_answer_s": round(full_answer, 3)}
    (SHOTS / "timings.json").write_text(json.dumps(timings) + "\n")
    print(f"\nWhat did Peskov say? {timings}; screenshot {SHOTS / 'peskov.png'}")

    page.click("#qa-copy")
    deadline = time.monotonic() + 15  # the copy goes through the server first
    while "Sources:" not in (copied := page.evaluate("navigator.clipboard.readText()")) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert copied.startswith("**What did Peskov say?**") and expected[0]["quote"] in copied


def test_hostile_article_text_is_shown_as_text_and_runs_nothing(page):
    ask(page, "When did the harbour of Odessa reopen?")
    card = page.locator("#qa-cards .qa-card").first
    assert "<img src=x onerror" in card.inner_text() and "Harbour report" in card.inner_text()
    assert "<script>window.__xss='text'</script>" in page.inner_text("#qa-chat [data-testid=bot]")
    card.click()
    assert "<script>window.__xss='text'</script>" in highlighted(page)
    assert "<img src=x onerror=\"window.__xss='img'\">" in page.inner_text("#qa-article")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "hostile.png")
    assert page.evaluate("window.__xss") is None
    assert page.locator("#qa-article script, #qa-article img, #qa-cards img, #qa-chat img[src=x]").count() == 0
