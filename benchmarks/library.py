"""The Library over a whole collection: how long listing, filtering and opening articles take.

Three measures, each printed as median and max over REPEATS runs (nothing is asserted):

1. the service (`QAService.list_articles`, `articles`), in this process: what `qa list` and the screen call;
2. the screen's API (`/list_articles`, `/library_open` through gradio_client), against a `qa serve` started
   over the same QA_HOME;
3. the screen in Chromium (Debian's /usr/bin/chromium, if present): from the first click on the Library tab
   after the page loads to the full table, then from a click on the tab again (after the Ask tab); from typing a
   search to the filtered table, and from clearing it to the whole table again; from a click on a row to its
   article shown, the rows clicked one after another, each the row under the one opened before (a person's
   click, not a forced one: a click another element would catch is not measured but said).

The server's log goes to a temporary folder: nothing is written to QA_HOME.

    .venv/bin/python benchmarks/library.py --home QA_HOME [--repeats 5] [--port 7879] [--no-browser] [--url URL]

QA_HOME must hold the collection already, e.g. the whole Wikinews collection (374 articles):
    QA_HOME=/tmp/wikinews .venv/bin/qa ingest ../shared/corpus/wikinews/articles.jsonl
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / ".venv" / "bin" / "qa"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def timed(label: str, repeats: int, action) -> None:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    print(f"  {label:<52} median {statistics.median(seconds) * 1000:7.1f} ms   max {max(seconds) * 1000:7.1f} ms")


def load_average() -> str:
    """The machine's load average (1, 5, 15 min): the figures depend on what else runs."""
    return ", load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_inner(label: str, repeats: int, action) -> None:
    """As `timed`, the action returning the seconds it timed itself (what it did before is not counted)."""
    seconds = [action() for _ in range(repeats)]
    print(f"  {label:<52} median {statistics.median(seconds) * 1000:7.1f} ms   max {max(seconds) * 1000:7.1f} ms")


def service_times(home: Path, repeats: int) -> tuple[int, str, str, str]:
    """Times the service calls; returns (articles, a search word, a source, an article id) for the others."""
    from qa.service import QAService
    from qa.settings import Settings
    from qa.types import Filters

    service = QAService(Settings(home=home))
    started = time.perf_counter()
    listed = service.list_articles()
    print(f"service, {len(listed)} articles (first call, people index read or built: "
          f"{(time.perf_counter() - started) * 1000:.0f} ms){load_average()}")
    if not listed:
        sys.exit(f"{home} holds no article: ingest a collection first")
    word = next((w for a in listed for w in a["title"].split() if len(w) > 5 and w.isalpha()), "news")
    sources = Counter(a["source"] for a in listed if a["source"])
    source = sources.most_common(1)[0][0] if sources else ""
    middle = listed[len(listed) // 2]["id"]
    timed("list every article", repeats, lambda: service.list_articles())
    timed(f"list, source {source!r} and 2020-2023", repeats,
          lambda: service.list_articles(Filters.build([source], "2020", "2023")))
    timed(f"list, title search {word!r}", repeats, lambda: service.list_articles(None, word))
    timed("open one article (its text)", repeats, lambda: service.articles([middle]))
    return len(listed), word, source, middle


def api_times(url: str, repeats: int, word: str, source: str, article_id: str) -> None:
    from gradio_client import Client

    c = Client(url, verbose=False)
    print(f"screen API ({url}){load_average()}")
    timed("/list_articles, every article", repeats, lambda: c.predict("", [], "", "", api_name="/list_articles"))
    timed(f"/list_articles, source and dates", repeats,
          lambda: c.predict("", [source], "2020", "2023", api_name="/list_articles"))
    timed(f"/list_articles, title search {word!r}", repeats,
          lambda: c.predict(word, [], "", "", api_name="/list_articles"))
    timed("/library_open", repeats, lambda: c.predict(article_id, api_name="/library_open"))


def browser_times(url: str, repeats: int, total: int, word: str) -> None:
    from playwright.sync_api import sync_playwright

    rows = "() => document.querySelectorAll('#qa-library .virtual-body [role=row]').length"
    print(f"screen in Chromium (what a person waits for){load_average()}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab, ask = page.get_by_role("tab", name="Library"), page.get_by_role("tab", name="Ask")
        # The table draws the rows in view only (virtual scrolling): wait for the count line and some rows.
        full = f"() => document.querySelector('#qa-library-summary')?.innerText.startsWith('{total} article')"
        shown = f"() => ({full})() && ({rows})() > 0"

        def first_visit() -> None:  # a new page each time: its first visit to the Library tab
            page.goto(url)
            page.wait_for_selector("#qa-chat")
            page.wait_for_timeout(3000)  # (the page's own loading calls done)
            started = time.perf_counter()
            tab.click()
            page.wait_for_function(shown)
            firsts.append(time.perf_counter() - started)

        firsts: list[float] = []
        for _ in range(repeats):
            first_visit()
        print(f"  {'Library tab, first visit: the whole list shown':<52} median "
              f"{statistics.median(firsts) * 1000:7.1f} ms   max {max(firsts) * 1000:7.1f} ms")

        def open_tab() -> float:
            ask.click()
            page.wait_for_timeout(500)  # (not timed)
            started = time.perf_counter()
            tab.click()
            page.wait_for_function(shown)
            return time.perf_counter() - started

        timed_inner("Library tab again: the whole list shown", repeats, open_tab)
        search = page.get_by_label("Search titles")

        def filter_list() -> float:
            started = time.perf_counter()
            search.fill(word)
            page.wait_for_function(
                "w => document.querySelector('#qa-library-summary')?.innerText.includes('match')"
                " && [...document.querySelectorAll('#qa-library .virtual-body [role=row]')]"
                ".every(r => r.innerText.toLowerCase().includes(w.toLowerCase()))", arg=word)
            filtered.append(time.perf_counter() - started)
            started = time.perf_counter()
            search.fill("")
            page.wait_for_function(shown)
            return time.perf_counter() - started

        filtered: list[float] = []
        back = [filter_list() for _ in range(repeats)]
        print(f"  {f'search {word!r}: the filtered list shown':<52} median {statistics.median(filtered) * 1000:7.1f} ms"
              f"   max {max(filtered) * 1000:7.1f} ms")
        print(f"  {'search cleared: the whole list shown again':<52} median {statistics.median(back) * 1000:7.1f} ms"
              f"   max {max(back) * 1000:7.1f} ms")
        listed = page.locator("#qa-library .virtual-body [role=row]")
        opened = iter(range(10**6))

        def open_article() -> float:
            # Rows 0, 1, 2…: each the row right under the one opened before, as a person reading down the list.
            cell = listed.nth(next(opened) % min(listed.count(), 8)).locator("[role=gridcell]").nth(1)  # its title
            title = cell.inner_text().strip().rstrip("…")
            started = time.perf_counter()
            cell.click(timeout=10_000)  # Playwright waits while another element would catch the click
            page.wait_for_function(
                "t => document.querySelector('#qa-library-article h3')?.innerText.startsWith(t)", arg=title[:40],
                timeout=10_000)
            return time.perf_counter() - started

        try:
            timed_inner("click a row: its article shown", repeats, open_article)
        except Exception as exc:  # noqa: BLE001 - a measure that could not be taken is said, not hidden
            print(f"  click a row: not measured ({type(exc).__name__}: {str(exc).splitlines()[0]})")
        print(f"  (done{load_average()})")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="a QA_HOME holding the collection")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--port", type=int, default=7879)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measures")
    parser.add_argument("--url", help="measure the screen of a `qa serve` already running over QA_HOME (none started)")
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    total, word, source, article_id = service_times(args.home, args.repeats)
    if args.url:
        api_times(args.url, args.repeats, word, source, article_id)
        if not args.no_browser and CHROMIUM.exists():
            browser_times(args.url, args.repeats, total, word)
        return

    log = open(Path(tempfile.mkdtemp(prefix="qa-bench-library-")) / f"serve-{args.port}.log", "w")
    env = dict(os.environ, QA_HOME=str(args.home), GRADIO_ANALYTICS_ENABLED="False")
    server = subprocess.Popen([str(QA), "serve", "--port", str(args.port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{args.port}/"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"qa serve did not start; see {log.name}")
                time.sleep(0.5)
        api_times(url, args.repeats, word, source, article_id)
        if not args.no_browser and CHROMIUM.exists():
            browser_times(url, args.repeats, total, word)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
