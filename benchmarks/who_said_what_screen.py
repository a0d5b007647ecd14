"""A frequent speaker's answer on the screen (issue 23): how many statements it shows, and whether the page
stays responsive while and after it is drawn. Measured in Chromium (Debian's /usr/bin/chromium, Playwright)
against a `qa serve` started over a copy of QA_HOME (nothing is written to the one given).

    .venv/bin/python benchmarks/who_said_what_screen.py --home runs/home-wikinews [--speakers 3] [--repeats 3]

For each of the `--speakers` most quoted people of `people()` (each with over 100 statements, else the
most quoted there are), `--repeats` times on a new page:
- the question "What did X say?" typed and sent: seconds until the answer's first words show, and until
  its cited passages (the cards) do;
- what the answer shows: statements cited in the chat message (its [n] links), cards, whether the chat
  says how many statements are left ("K more statements in M reports") and whether anything there
  expands them;
- responsiveness: the longest main-thread task (PerformanceObserver "longtask", over 50 ms) and their sum
  from the question sent to the cards shown; then a click on the Library tab after the answer, until its
  list is shown (the page still answers a person), and a JavaScript round trip (`page.evaluate`).

Nothing is asserted; medians and maxima are printed with the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from concurrent_clients import start_server  # noqa: E402  (`qa serve` on a free port, once it answers)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
BOT = "#qa-chat [data-testid=bot]"
LONG_TASKS = """() => { window.__long = []; new PerformanceObserver(list => {
    for (const e of list.getEntries()) window.__long.push(e.duration); }).observe({entryTypes: ['longtask']}); }"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def line(label: str, values: list[float], unit: str = "ms") -> None:
    print(f"  {label:<58} median {statistics.median(values):8.1f} {unit}   max {max(values):8.1f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--speakers", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False",
                      GRADIO_ANALYTICS_ENABLED="False")
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing")
    scratch = Path(tempfile.mkdtemp(prefix="qa-wsw-screen-"))
    home = scratch / "home"
    shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("*.log", "runs"))
    from qa.service import QAService
    from qa.settings import Settings

    people = QAService(Settings(home=home)).people()
    frequent = [p for p in people if p["statements"] > 100][: args.speakers] or people[: args.speakers]
    server, url = start_server(home)  # its log: serve-default.log in the copy
    try:
        measure(url, frequent, args.repeats)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)


def measure(url: str, frequent: list[dict], repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    print(f"server up at {url}; load average {load()}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for person in frequent:
            question = f"What did {person['name']} say?"
            first, full, longest, blocked, tab, round_trip = [], [], [], [], [], []
            shown = {}
            for _ in range(repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url)
                page.wait_for_selector("#qa-chat")
                page.wait_for_timeout(2000)  # the page's own loading calls
                page.evaluate(LONG_TASKS)
                box = page.get_by_label("Question", exact=True)
                box.fill(question)
                started = time.perf_counter()
                box.press("Enter")
                page.wait_for_function(f"() => document.querySelector('{BOT}')?.innerText.trim().length > 0",
                                       polling="raf", timeout=120_000)
                first.append((time.perf_counter() - started) * 1000)
                page.wait_for_selector("#qa-cards .qa-card, #qa-cards .qa-empty", timeout=120_000)
                full.append((time.perf_counter() - started) * 1000)
                tasks = page.evaluate("() => window.__long")
                longest.append(max(tasks, default=0.0))
                blocked.append(sum(tasks))
                message = page.inner_text(BOT)
                shown = {
                    "links in the chat message": page.locator(f"{BOT} a[href*='qa-cite=']").count(),
                    "cards": page.locator("#qa-cards .qa-card").count(),
                    "says how many more": "more statement" in message,
                    "something to expand": page.locator(f"{BOT} details, {BOT} button:has-text('more')").count(),
                }
                started = time.perf_counter()
                page.evaluate("() => 1")
                round_trip.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                page.get_by_role("tab", name="Library").click()
                page.wait_for_function(
                    "() => document.querySelectorAll('#qa-library .virtual-body [role=row]').length > 0", timeout=60_000)
                tab.append((time.perf_counter() - started) * 1000)
                page.close()
            print(f"\n{question!r}: {person['statements']} statements in {person['reports']} reports "
                  f"(load average {load()})")
            print(f"  shown: {shown}")
            line("question sent -> first words of the answer", first)
            line("question sent -> cited passages shown", full)
            line("longest main-thread task meanwhile", longest)
            line("main-thread tasks over 50 ms meanwhile, summed", blocked)
            line("then a JavaScript round trip (page.evaluate)", round_trip)
            line("then a click on the Library tab -> its list shown", tab)
        browser.close()


if __name__ == "__main__":
    main()
