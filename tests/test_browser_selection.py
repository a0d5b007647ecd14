"""Issue 25's last flows in Chromium against a real `qa serve`: a selection of the Library that the chat asks
about, re-ingest from the Library, an evaluation on its own index or on the selection, the keyboard on citation
links and cards, and the people quoted (issue 23). Screenshots in runs/browser/ (see tests/test_browser.py)."""

from __future__ import annotations

import json

import pytest
from test_browser import SHOTS, browser, highlighted, shown_rows, wait_for_summary  # noqa: F401

HARBOUR = "Title: Harbour reopens\nDate: 2023-04-10\nSource: Port Desk\n\nThe harbour of Izmail reopened on Monday.\n"
HARBOUR_CHANGED = (
    "Title: Harbour reopens\nDate: 2023-04-10\nSource: Port Desk\n\n"
    "The harbour of Izmail reopened on Monday after the cranes were replaced by the Danube Shipping Company.\n"
)


@pytest.fixture(scope="module")
def selection_home(tmp_path_factory, embedder, splitter):
    """A screen of its own (an article is re-ingested): the sample article, two River Post reports, and a
    Port Desk report ingested from a file that the test then changes."""
    from conftest import SAMPLE, running_chat, write_river_post_feed

    from qa.service import QAService
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("selection-browser")
    feed = root / "feed.jsonl"
    write_river_post_feed(feed)
    harbour = root / "harbour.txt"
    harbour.write_text(HARBOUR)
    home = root / "home"
    service = QAService(Settings(home=home), embedder=embedder, splitter=splitter)
    assert len(service.ingest([SAMPLE, feed, harbour]).added) == 4
    with running_chat(home) as url:
        yield url, service, harbour


@pytest.fixture
def selection_page(browser, selection_home):  # noqa: F811
    url, service, harbour = selection_home
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#qa-chat")
    yield page, service, harbour
    context.close()


def open_in_library(page, title: str) -> None:
    page.locator("#qa-library [role=row]", has_text=title).locator("[role=gridcell]").nth(1).click()
    page.wait_for_function(f"() => document.querySelector('#qa-library-article h3')?.innerText === {json.dumps(title)}")


def choose(page, title: str) -> None:
    """Open the article and press "Choose the open article": it joins the chosen articles."""
    open_in_library(page, title)
    page.locator("#qa-library-choose").click()
    page.wait_for_selector(f"#qa-library-pick :text('{title}')")


def ask(page, question: str) -> None:  # noqa: F811 (test_browser's `ask` waits for cards a previous answer left)
    """Ask through the question box and wait until this answer is in the chat and its cards are shown."""
    bots = page.locator("#qa-chat [data-testid=bot]").count()
    cards = page.inner_html("#qa-cards")
    box = page.get_by_label("Question", exact=True)
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(f"() => document.querySelectorAll('#qa-chat [data-testid=bot]').length > {bots}")
    page.wait_for_function(
        "before => { const c = document.querySelector('#qa-cards');"
        " return c.innerHTML !== before && c.querySelector('.qa-card, .qa-empty'); }",
        arg=cards,
    )


def last_answer(page) -> str:
    return page.locator("#qa-chat [data-testid=bot]").last.inner_text()


def test_the_chat_answers_only_from_the_articles_chosen_in_the_library(selection_page):
    page, service, _ = selection_page
    page.get_by_role("tab", name="Library").click()
    wait_for_summary(page, "4 articles", 4)
    choose(page, "Kherson ferry resumes")
    choose(page, "Fenwick dam inspected")
    page.screenshot(path=SHOTS / "selection-library.png")
    page.get_by_role("button", name="Ask about these").click()
    # The chat opens, the selection above it, in the words `qa ask --article` prints.
    page.wait_for_selector("#qa-selection-line:has-text('Asking 2 articles')")
    line = page.inner_text("#qa-selection-line")
    assert "Kherson ferry resumes (2023-04-03)" in line and "Fenwick dam inspected (2022-11-05)" in line
    assert page.get_by_label("Question", exact=True).is_visible()
    assert page.locator("#qa-selection").bounding_box()["y"] < page.locator("#qa-chat").bounding_box()["y"]

    # The sample article answers this, but it is not chosen: the chosen do not say.
    ask(page, "What did Peskov say?")
    assert "articles don't say" in last_answer(page)
    # A chosen article answers, cited.
    ask(page, "When did the Kherson ferry resume its crossings?")
    page.wait_for_selector("#qa-cards .qa-card")
    assert "Kherson ferry resumes" in page.inner_text("#qa-cards")
    assert "Izmail" not in page.inner_text("#qa-cards") and "Peskov" not in page.inner_text("#qa-cards")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "selection-asked.png")

    # Cleared: every article again.
    page.get_by_role("button", name="Ask all articles again").click()
    page.wait_for_selector("#qa-selection", state="hidden")
    ask(page, "What did Peskov say?")
    page.wait_for_selector("#qa-cards .qa-card")
    assert "Peskov" in last_answer(page) and "President Xi Jinping makes first Moscow visit" in page.inner_text("#qa-cards")


def test_none_chosen_asks_the_articles_the_filtered_list_shows(selection_page):
    page, _, _ = selection_page
    page.get_by_role("tab", name="Library").click()
    wait_for_summary(page, "4 articles", 4)
    page.get_by_label("Search titles").fill("harbour")
    wait_for_summary(page, "1 of 4 articles match", 1)
    page.get_by_role("button", name="Ask about these").click()
    page.wait_for_selector("#qa-selection-line:has-text('Asking 1 article: Harbour reopens (2023-04-10)')")
    ask(page, "When did the Kherson ferry resume its crossings?")
    assert "articles don't say" in last_answer(page)


def test_re_ingest_from_the_library_reads_the_changed_file_again(selection_page):
    page, service, harbour = selection_page
    page.get_by_role("tab", name="Library").click()
    wait_for_summary(page, "4 articles", 4)
    open_in_library(page, "Harbour reopens")
    page.get_by_role("button", name="Re-ingest").click()  # unchanged: said so, nothing rewritten
    page.wait_for_selector("#qa-library-said:has-text('1 unchanged')")
    assert "unchanged: Harbour reopens (2023-04-10)" in page.inner_text("#qa-library-said")

    harbour.write_text(HARBOUR_CHANGED)
    page.get_by_role("button", name="Re-ingest").click()
    page.wait_for_selector("#qa-library-said:has-text('1 updated')")
    assert "updated: Harbour reopens (2023-04-10)" in page.inner_text("#qa-library-said")
    page.wait_for_selector("#qa-library-article:has-text('Danube Shipping Company')")  # the open article, as stored now
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "reingest.png")
    open_in_library(page, "Fenwick dam inspected")  # the viewer shows the new text when the article opens again
    open_in_library(page, "Harbour reopens")
    assert "Danube Shipping Company" in page.inner_text("#qa-library-article")
    page.screenshot(path=SHOTS / "reingest-opened.png")
    # The running screen answers from the new text.
    page.get_by_role("tab", name="Ask").click()
    ask(page, "When did the harbour of Izmail reopen?")
    page.wait_for_selector("#qa-cards .qa-card")
    assert "Danube Shipping Company" in page.inner_text("#qa-cards")
    stored = service.articles([service.list_articles(search="harbour")[0]["id"]])[0]
    assert "Danube Shipping Company" in stored.text  # what `qa article` shows too


def test_an_evaluation_runs_on_its_own_index_or_on_the_selection(selection_page, tmp_path):
    page, service, _ = selection_page
    page.get_by_role("tab", name="Evaluate").click()
    # A bundled set on a fresh index of its own corpus: the River Post and Port Desk reports are not in it.
    page.get_by_label("Evaluation set").click()
    page.get_by_role("option", name="sample.jsonl", exact=True).click()
    page.locator("#qa-eval-scope").get_by_label("a fresh index of its own corpus (bundled sets)").check()
    page.get_by_role("button", name="Run evaluation").click()
    page.wait_for_selector("h3:has-text('answered right'), [data-testid=toast-body]", timeout=300_000)
    assert page.locator("[data-testid=toast-body]").count() == 0, page.inner_text("[data-testid=toast-body]")
    page.wait_for_selector("h3:has-text('of 54 answered right')")
    summary = page.inner_text("#qa-eval-summary")
    assert "Evaluated on a fresh index of xi-moscow-2023-03-20.txt" in summary
    run = max(service.settings.runs_path.iterdir(), key=lambda p: p.stat().st_mtime)
    meta = json.loads((run / "run.json").read_text())
    assert meta["index_counts"]["articles"] == 1 and meta["scope"] == "a fresh index of xi-moscow-2023-03-20.txt"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "evaluate-own-index.png")

    # The selection the chat asks about: chosen in the Library.
    page.get_by_role("tab", name="Library").click()
    wait_for_summary(page, "4 articles", 4)
    choose(page, "Kherson ferry resumes")
    page.get_by_role("button", name="Ask about these").click()
    page.wait_for_selector("#qa-selection-line:has-text('Asking 1 article')")
    questions = [
        {"id": "ferry", "question": "When did the Kherson ferry resume its crossings?", "answers": ["Monday"],
         "evidence": ["The Kherson ferry resumed its crossings of the Dnipro on Monday."]},
        {"id": "population", "question": "What is the population of Moscow?", "answers": []},
    ]
    path = tmp_path / "ferry.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions))
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#qa-eval-upload input[type=file]").set_input_files(str(path))
    page.locator("#qa-eval-scope").get_by_label("the selection the chat asks about (Library)").check()
    page.get_by_role("button", name="Run evaluation").click()
    page.wait_for_selector("h3:has-text('of 2 answered right'), [data-testid=toast-body]", timeout=180_000)
    assert page.locator("[data-testid=toast-body]").count() == 0, page.inner_text("[data-testid=toast-body]")
    page.wait_for_selector("h3:has-text('2 of 2 answered right')")
    assert page.locator("p:has-text('Evaluated on a selection of 1 article.')").count() == 1
    run = max(service.settings.runs_path.iterdir(), key=lambda p: p.stat().st_mtime)
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    ferry = service.list_articles(search="ferry")[0]["id"]
    assert {p["article_id"] for r in records for p in r["retrieved"]} == {ferry}  # nothing else was retrieved
    page.screenshot(path=SHOTS / "evaluate-selection.png")


def test_every_citation_link_and_card_is_reached_with_tab_and_opened_with_enter_or_space(selection_page):
    page, service, _ = selection_page
    page.get_by_role("tab", name="Ask").click()
    ask(page, "What did Peskov say?")
    page.wait_for_selector("#qa-cards .qa-card")
    links = page.eval_on_selector_all("#qa-chat a[href*='qa-cite='], #qa-cards a[href*='qa-cite=']", "as => as.length")
    assert links >= 4
    # Tab from the question box until every citation link and card (each element) has had the focus once.
    page.get_by_label("Question", exact=True).focus()
    left = links
    for _ in range(200):
        page.keyboard.press("Tab")
        left = page.evaluate(
            "() => { const a = document.activeElement; if (a?.matches(\"a[href*='qa-cite=']\")) a.dataset.qaSeen = '1';"
            " return document.querySelectorAll(\"#qa-chat a[href*='qa-cite=']:not([data-qa-seen]),"
            " #qa-cards a[href*='qa-cite=']:not([data-qa-seen])\").length; }"
        )
        if not left:
            break
    assert left == 0, f"{left} of {links} citation links and cards never had the focus"

    expected = {c["n"]: c["quote"] for c in service.ask("What did Peskov say?").to_dict()["citations"]}
    # Enter on the [1] of the answer opens its span.
    page.locator("#qa-chat a[href*='qa-cite=']").first.focus()
    page.keyboard.press("Enter")
    assert highlighted(page) == expected[1]
    # Space on the second card opens its span.
    card = page.locator("#qa-cards .qa-card").nth(1)
    card.focus()
    page.keyboard.press(" ")
    page.wait_for_function(
        "quote => document.querySelector('#qa-article mark')?.innerText === quote", arg=expected[int(card.get_attribute("data-n"))]
    )
    assert page.locator("#qa-cards .qa-card.qa-open").count() == 1
    # The focus is shown.
    outline = card.evaluate("c => getComputedStyle(c).outlineStyle")
    assert outline not in ("", "none")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "keyboard.png")


def test_the_people_quoted_are_listed_as_qa_people_and_open_on_their_statements(selection_page):
    page, service, _ = selection_page
    page.get_by_role("tab", name="People").click()
    people = service.people()
    page.wait_for_function(
        "n => document.querySelectorAll('#qa-people .virtual-body [role=row]').length === n", arg=len(people)
    )
    rows = page.evaluate(
        "() => [...document.querySelectorAll('#qa-people .virtual-body [role=row]')]"
        ".map(r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))"
    )
    # The same list as `qa people`: name, roles, statements, reports, first and last date, most quoted first.
    assert [r[0] for r in rows] == [p["name"] for p in people]
    assert rows[0][2] == str(people[0]["statements"]) and rows[0][4] == people[0]["first"] and rows[0][5] == people[0]["last"]
    assert rows[0][1] == ", ".join(people[0]["roles"])
    assert f"{len(people)} speakers are quoted" in page.inner_text("#qa-people-summary")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "people.png")
    peskov = next(r for r in rows if r[0] == "Dmitry Peskov")
    page.locator("#qa-people [role=row]", has_text="Dmitry Peskov").locator("[role=gridcell]").first.click()
    # The chat opens on their statements.
    page.wait_for_selector("#qa-chat [data-testid=user]:has-text('What did Dmitry Peskov say?')")
    page.wait_for_selector("#qa-cards .qa-card")
    assert "Peskov" in last_answer(page) and page.locator("#qa-cards .qa-card").count() == int(peskov[2])
    page.screenshot(path=SHOTS / "people-statements.png")
