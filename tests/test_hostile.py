"""Hostile questions and articles under Hypothesis: nothing a user types or an article holds makes a
question take long (issue 24: "Nothing stalls").

Generated questions of up to 2,000 characters (runs of white space, nested quotation marks, long runs
of capitalised words, every question form the reader knows, follow-ups) are asked of a real index (the
sample article); each must be answered or refused (a ValueError, one line) within `CPU_LIMIT` seconds
of CPU, timed in this process with `time.process_time`. The same for articles whose titles and
paragraphs are long capitalised runs, many quotation marks and deep nesting: ingested, then asked.

`QA_FUZZ_EXAMPLES` sets the examples per property: ~50 questions in the default run (articles: a
tenth as many, each is ingested); `QA_FUZZ_EXAMPLES=1000` for a long run.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest
from conftest import SAMPLE, assert_quotes_exact
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("QA_FUZZ_EXAMPLES", "50"))
CPU_LIMIT = 1.0  # seconds of CPU per question (the target)
MAX_CHARS = 2000  # QA_MAX_QUESTION_CHARS


def hostile(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,  # timed by hand, in CPU seconds: wall time on a shared machine says little
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@pytest.fixture(scope="module")
def onnx_embedder():
    """The embedder `qa ask` and `qa serve` use (ONNX Runtime, threads that do not spin). The session's
    `embedder` fixture is sentence-transformers on torch, whose OpenMP threads busy-wait and add seconds
    of CPU time to a process on a loaded machine: a clock on the product, not on torch."""
    from index.embedders import default_embedder

    return default_embedder()


@pytest.fixture(scope="module")
def sample_service(tmp_path_factory, onnx_embedder, splitter):
    """The sample article in a QA_HOME of this module's own, warmed up (models load before any clock)."""
    from qa.service import QAService
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("hostile")
    (root / "corpus").mkdir()
    shutil.copy(SAMPLE, root / "corpus" / SAMPLE.name)
    service = QAService(Settings(home=root / "home"), embedder=onnx_embedder, splitter=splitter)
    assert len(service.ingest([root / "corpus"], progress=False).added) == 1
    service.ask("What did Peskov say?")
    service.ask("What did he say about it?", history=[("What did Peskov say?", "Dmitry Peskov said it.")])
    return service


def timed_ask(service, question: str, history=None):
    """(the answer or None when refused, CPU seconds): refusals must be one line."""
    started = time.process_time()
    try:
        answer = service.ask(question, history=history)
    except ValueError as exc:
        answer = None
        assert "\n" not in str(exc) and str(exc), repr(exc)
    return answer, time.process_time() - started


def check_fast(service, question: str, history=None) -> None:
    answer, cpu = timed_ask(service, question, history)
    if cpu > CPU_LIMIT:
        # Asked once more: on a loaded machine a process's CPU time swells (ONNX Runtime's and Chroma's
        # threads spin while this one waits for a core); a slow path is as slow the second time.
        answer, again = timed_ask(service, question, history)
        cpu = min(cpu, again)
    assert cpu <= CPU_LIMIT, f"{cpu:.2f} s of CPU for {question[:120]!r}… ({len(question)} characters)"
    if answer is not None:
        assert_quotes_exact(service, answer)


# --- strategies -----------------------------------------------------------------------------------

WHITE = [" ", "\t", "\n", "\u00a0", "\u2003", "\r\n", " \t"]
QUOTES = ['"', "“", "”", "‘", "’", "'", "«", "»"]
# What a long run is made of: capitalised words (with "of", "the" between, as in names of bodies),
# one long capitalised word, apostrophes and hyphens that keep a word going, commas, question marks.
RUN_UNITS = [
    "Peskov ", "Xi Jinping ", "Abc ", "A ", "AB ", "Bank of the ", "Court of ", "O'", "A-", "a-", "X", "x",
    ", ", "? ", "?", "the ", "of ", "about ", "to Reuters ", "in the Guardian ", "said ", "say ", "told ",
    "this decision ", "not yet named ", "cause is still ", "20 March ", "2023-03-20 ", "March 2023 ", "1 ",
    "what did ", "according to ", "who ", "he ", "it ", "his ", "-", "'s ", "’s ", "“", '"', "(", "[",
]
WORDS = ["Peskov", "Xi", "Putin", "Moscow", "Ukraine", "peace plan", "China", "Wang Wenbin", "Kremlin",
         "the visit", "Danilov", "sanctions", "war", "spokesman", "the prime minister", "Mr Zelensky"]


@st.composite
def fragment(draw) -> str:
    kind = draw(st.sampled_from(["white", "quotes", "run", "word", "text", "nested"]))
    if kind == "white":
        return draw(st.sampled_from(WHITE)) * draw(st.integers(1, 2000))
    if kind == "quotes":
        return "".join(draw(st.lists(st.sampled_from(QUOTES), min_size=1, max_size=400))) * draw(st.integers(1, 5))
    if kind == "run":
        return draw(st.sampled_from(RUN_UNITS)) * draw(st.integers(1, 1000))
    if kind == "nested":  # "“‘«Abc ‘«Abc …»’”": quotation marks inside quotation marks, deep
        depth = draw(st.integers(1, 300))
        marks = draw(st.lists(st.sampled_from(QUOTES), min_size=1, max_size=4))
        word = draw(st.sampled_from(WORDS + ["Abc Def", ""]))
        opening = "".join(marks[i % len(marks)] + word + " " for i in range(depth))
        return opening + "".join(marks[-1 - i % len(marks)] for i in range(depth))
    if kind == "word":
        return draw(st.sampled_from(WORDS))
    return draw(st.text(max_size=60))


def filled(draw, template: str) -> str:
    """`template` with each "{}" a concatenation of fragments, cut so the whole fits MAX_CHARS (the cut
    keeps the template's own end: "…<2,000 spaces>." stays a question ending in "?" or ".")."""
    slots = template.count("{}")
    room = max(0, MAX_CHARS - len(template.replace("{}", "")))
    parts = []
    for _ in range(slots):
        text = "".join(draw(st.lists(fragment(), min_size=1, max_size=4)))
        parts.append(text[: max(0, room // slots)])
    return template.format(*parts)


FORMS = [
    "What did {} say{}",
    "What did {} say about {}?",
    "What did {} say{}.",
    "What did {} tell {}",
    "What did {} say to {} in {}?",
    "What has {} said about {}",
    "How did {} describe {}?",
    "How did {} respond to {}",
    "What did {} warn could be {}?",
    "According to {}, {}",
    "According to {},{}?",
    "Who {}?",
    "Who said {}",
    "When did {} {}?",
    "Where did {} {}",
    "How many {} did {} {}?",
    "How long {}?",
    "Which {} did {} {}?",
    "What {} was {}?",
    "In {}, who {}?",
    "What is the name of {}?",
    "Why did {} {}?",
    "What caused {}",
    "{}",
    "{} {}?",
]


@st.composite
def questions(draw) -> str:
    return filled(draw, draw(st.sampled_from(FORMS)))


FOLLOW_UPS = ["What did he say about it?", "What did she say{}", "And {} he {} it?", "Why did he {}", "{} his {}"]


@st.composite
def follow_ups(draw) -> tuple[str, list[tuple[str, str]]]:
    asked = draw(st.one_of(st.just("What did Peskov say?"), questions()))
    answered = draw(st.one_of(st.just("Dmitry Peskov said the talks were important."), questions()))
    return filled(draw, draw(st.sampled_from(FOLLOW_UPS))), [(asked, answered)]


# --- questions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "What did Peskov say" + " \t" * 990 + ".",  # issue 24: 14.5 s; the same ending in "?" took 1.5 s
        "What did Peskov say" + " " * 1979 + ".",
        "According to Peskov, the talks" + " " * 1960 + ".",
        "What did " + "Abc " * 495 + "say?",
        "What did " + "A" * 1980 + " say?",
        "What did " + "O'" * 990 + " say?",
        "What did Peskov say about " + "a" * 1960 + "?",
        "Who is " + "Bank of the " * 160 + "?",
        "What did the mayor" + " \t" * 980 + "of London say?",
        "What did Peskov say about" + " \t" * 980 + "in the visit?",
    ],
    ids=lambda q: f"{q[:24]!r}…{len(q)}",
)
def test_known_hostile_questions_are_answered_fast(sample_service, question):
    check_fast(sample_service, question)


@hostile(EXAMPLES)
@given(question=questions())
def test_generated_questions_are_answered_fast(sample_service, question):
    check_fast(sample_service, question)


@hostile(max(5, EXAMPLES // 2))
@given(turn=follow_ups())
def test_generated_follow_ups_are_answered_fast(sample_service, turn):
    question, history = turn
    check_fast(sample_service, question, history)


def test_normal_questions_are_read_as_before():
    """Collapsing white space and cutting the question's end in code read normal questions as the old
    pattern `(?P<rest>.*?)\\s*\\??\\s*$` did."""
    from qa.quotes import parse_speaker_question

    asked = parse_speaker_question("What did Peskov say about the peace plan?")
    assert (asked.who, asked.topic) == ("Peskov", "the peace plan")
    assert parse_speaker_question("What did Peskov say ?  ").topic == ""
    assert parse_speaker_question("What did Peskov say?\n").who == "Peskov"
    assert parse_speaker_question("According to Peskov, the talks went well ?").topic == "the talks went well"
    assert parse_speaker_question("What did  Dmitry \t Peskov say?").who == "Dmitry Peskov"
    assert parse_speaker_question("According to Peskov,") is None
    assert parse_speaker_question("What did Peskov say" + " " * 1979 + ".").topic == "."


# --- articles -------------------------------------------------------------------------------------


def capitalised_run(words: int) -> str:
    return " ".join(f"{chr(65 + i % 26)}{'bcdefgh'[i % 7]}x" for i in range(words))


@st.composite
def hostile_articles(draw) -> tuple[str, str]:
    """(title, text): titles and paragraphs of long capitalised runs, many quotation marks, deep nesting."""
    title = draw(
        st.one_of(
            st.builds(capitalised_run, st.integers(50, 3000)),
            st.builds(lambda unit, n: (unit * n).strip(), st.sampled_from(RUN_UNITS), st.integers(1, 1000)),
            fragment(),
        )
    )
    paragraphs = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["run", "quoted", "nested", "fragments"]))
        if kind == "run":
            paragraphs.append(capitalised_run(draw(st.integers(10, 600))) + " said the peace plan was good.")
        elif kind == "quoted":
            speaker = capitalised_run(draw(st.integers(1, 300)))
            quoted = capitalised_run(draw(st.integers(1, 200)))
            paragraphs.append(f'"{quoted}," said {speaker}. "“It is ‘so’.”"' * 3)
        elif kind == "nested":
            depth = draw(st.integers(1, 200))
            paragraphs.append("Peskov said " + "“‘" * depth + "the talks matter" + "’”" * depth + ".")
        else:
            paragraphs.append(filled(draw, "{} said {}."))
    return title, "\n\n".join(p for p in paragraphs if p.strip())


def asked_of(title: str, text: str) -> list[str]:
    """Questions that reach the article: its own first sentence (the reader then weighs its title and
    runs), what its speakers said, who said it."""
    first = " ".join(text.split())[: MAX_CHARS - 20]
    speaker = " ".join(title.split()[:300])[:1500]
    return [first, f"Who said {first[:1900]}?", f"What did {speaker} say?", f"According to {speaker}, {first[:300]}?"]


@pytest.fixture(scope="module")
def article_service(tmp_path_factory, onnx_embedder, splitter):
    from qa.service import QAService
    from qa.settings import Settings

    home = tmp_path_factory.mktemp("hostile-articles") / "home"
    service = QAService(Settings(home=home), embedder=onnx_embedder, splitter=splitter)
    service.ingest([SAMPLE], progress=False)
    service.ask("What did Peskov say?")
    return service


def ingest_and_ask(service, title: str, text: str) -> None:
    from index.loaders import make_article

    try:
        article = make_article(id=f"hostile-{abs(hash((title, text)))}", title=title, text=text, source="Hostile")
    except ValueError:
        return  # no words: not an article
    report = service.ingest_articles([article], progress=False)
    assert not report.errors, report.errors
    for question in asked_of(article.title, article.text):
        check_fast(service, question)


def test_a_title_of_3000_capitalised_words_is_read_fast(article_service):
    """Issue 24: one question took 35.6 s and 5.3 GB (the title's initialisms grew with the cube of the run)."""
    title = capitalised_run(3000)
    ingest_and_ask(article_service, title, f"{capitalised_run(40)} said the peace plan was good.")


@hostile(max(3, EXAMPLES // 10))
@given(article=hostile_articles())
def test_generated_articles_are_read_fast(article_service, article):
    ingest_and_ask(article_service, *article)


# --- the budget -----------------------------------------------------------------------------------


def test_a_question_past_its_budget_is_refused_in_one_line(sample_service, onnx_embedder, splitter):
    from qa.budget import QuestionBudgetExceeded
    from qa.service import QAService

    tight_settings = sample_service.settings.model_copy(update={"question_budget": 1e-9})
    tight = QAService(tight_settings, embedder=onnx_embedder, splitter=splitter)
    for question in ("What did Peskov say?", "Who welcomed China's peace plan?"):
        with pytest.raises(QuestionBudgetExceeded) as refused:
            tight.ask(question)
        message = str(refused.value)
        assert "\n" not in message and "QA_QUESTION_BUDGET" in message and "1e-09 seconds" in message
    assert sample_service.ask("What did Peskov say?").citations  # the default budget answers it


def test_the_budget_is_checked_between_stages():
    from qa import budget

    def work():
        budget.check("first")
        yield "a"
        busy = time.thread_time() + 0.05
        while time.thread_time() < busy:  # work, not waiting: the budget is CPU time
            pass
        budget.check("second")  # past the budget: stops here, in the work
        yield "b"

    with pytest.raises(budget.QuestionBudgetExceeded, match=r"\(second\)"):
        list(budget.within(work(), 0.01, every_step=False))
    assert list(budget.within(work(), 5)) == ["a", "b"]

    def waiting():
        time.sleep(0.05)  # waiting for a core, a lock or the disk is no work
        yield "a"

    assert list(budget.within(waiting(), 0.01)) == ["a"]
    budget.check("outside a question")  # no deadline: nothing to refuse
