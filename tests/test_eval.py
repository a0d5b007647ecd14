"""Evaluation sets, the RGB importer, a full run on the sample corpus, and run comparison."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from conftest import ROOT, SAMPLE

from eval.compare import RunError, compare_runs, comparison_text
from eval.importers import read_rgb
from eval.metrics import normalize
from eval.runner import run_set
from eval.sets import EvalSetError, load_set

SAMPLE_SET = ROOT / "eval" / "sets" / "sample.jsonl"


def write_lines(path, *lines: str):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- sets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"id": "a", "question": "Q?"', "invalid JSON"),
        ('["a"]', "expected a JSON object"),
        ('{"question": "Q?", "answers": []}', "missing field 'id'"),
        ('{"id": "a", "question": "Q?"}', "missing field 'answers'"),
        ('{"id": "a", "question": "Q?", "answers": "Tuesday"}', "field 'answers' must be a list of strings"),
        ('{"id": "a", "question": "Q?", "answers": [], "history": [["only a question"]]}', "field 'history'"),
        ('{"id": "q1", "question": "Again?", "answers": []}', "duplicate id 'q1'"),
    ],
)
def test_a_bad_line_is_reported_with_its_number(tmp_path, line, problem):
    path = write_lines(tmp_path / "set.jsonl", '{"id": "q1", "question": "Fine?", "answers": []}', "", line)
    with pytest.raises(EvalSetError) as error:
        load_set(path)
    assert str(error.value).startswith(f"{path}:3: {problem}")


def test_an_empty_set_is_an_error(tmp_path):
    with pytest.raises(EvalSetError, match="no questions"):
        load_set(write_lines(tmp_path / "set.jsonl", ""))


def test_the_bundled_sets_offered_are_the_ones_qa_eval_can_run():
    """The Evaluate tab offers `bundled_sets()`: the benchmarks' own sets beside them have other shapes."""
    from eval.sets import bundled_sets, load_set

    names = {path.name for path in bundled_sets()}
    assert {"sample.jsonl", "wikinews-dev.jsonl"} <= names
    assert not names & {"briefings.jsonl", "relative-dates.jsonl", "who-said-what.jsonl"}
    assert all(load_set(path) for path in bundled_sets())


def test_the_sample_set_is_written_from_the_article():
    questions = load_set(SAMPLE_SET)
    text = SAMPLE.read_text(encoding="utf-8")
    assert len(questions) >= 40
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) >= 8 and any("near-miss" in q.tags for q in unanswerable)
    follow_ups = [q for q in questions if "follow-up" in q.tags]
    assert follow_ups and all(q.history for q in follow_ups)
    for q in questions:
        for quote in q.evidence:
            assert quote in text, f"{q.id}: evidence is not a verbatim quote: {quote!r}"
        for acceptable in q.answers:
            assert normalize(acceptable) in normalize(text), f"{q.id}: answer not in the article: {acceptable!r}"
        assert not q.answerable or q.evidence, f"{q.id}: an answerable question needs its evidence"
    speakers = {"Peskov", "Wang", "Putin", "Medvedev", "Danilov", "spokesman", "Downing Street"}
    asked = " ".join(q.question for q in questions if "what-did-x-say" in q.tags and q.answerable)
    assert all(speaker in asked for speaker in speakers)


# -- RGB ----------------------------------------------------------------------------------------


def test_rgb_file_is_read_as_questions_and_pooled_passages(tmp_path):
    shared = "The 2018 Winter Olympics medal table was led by Norway."
    path = write_lines(
        tmp_path / "en_fact.json",
        json.dumps(
            {
                "id": 0,
                "query": "Who led the medal table?",
                "answer": ["Norway"],
                "positive": [shared],
                "negative": ["Germany came second."],
            }
        ),
        json.dumps(
            {
                "id": 1,
                "query": "When was it released?",
                "answer": [["Jul 21, 2017", "21 July 2017"]],
                "positive": ["Released on 21 July 2017.", shared],
                "negative": [],
                "positive_wrong": ["1999"],
            }
        ),
    )
    questions, articles = read_rgb(path)
    assert [(q.id, q.question, q.answers, q.evidence) for q in questions] == [
        ("rgb-0", "Who led the medal table?", ["Norway"], []),
        ("rgb-1", "When was it released?", ["Jul 21, 2017", "21 July 2017"], []),
    ]
    assert sorted(a.text for a in articles) == sorted([shared, "Germany came second.", "Released on 21 July 2017."])
    assert {a.source for a in articles} == {"RGB en_fact"}
    # The ids the shared benchmark's converted articles.jsonl uses: rgb- + sha1 of the text.
    assert {a.id for a in articles if a.text == shared} == {"rgb-" + hashlib.sha1(shared.encode()).hexdigest()[:12]}


def test_bad_rgb_lines_are_reported_with_their_number(tmp_path):
    path = write_lines(tmp_path / "rgb.json", json.dumps({"id": 0, "query": "Q?", "answer": [["a"], ["b"]]}))
    with pytest.raises(EvalSetError, match=rf"^{path}:1: 'answer' has 2 parts"):
        read_rgb(path)
    path = write_lines(tmp_path / "rgb.json", json.dumps({"id": 0, "query": "Q?", "answer": ["a"], "positive": "p"}))
    with pytest.raises(EvalSetError, match=rf"^{path}:1: field 'positive' must be a list of strings"):
        read_rgb(path)


# -- a run on the sample corpus -----------------------------------------------------------------


@pytest.fixture
def sample_service(service, corpus):
    service.ingest([corpus])
    return service


def test_top_k_passages_are_the_start_of_the_evaluated_ranking(sample_service):
    for question in ("When are the broader talks?", "Who welcomed China's peace plan?", "Where is the ICC?"):
        answer = sample_service.ask(question)
        ranked = sample_service.retrieve(question, k=10)
        assert [p.chunk_id for p in ranked[:5]] == [p.chunk_id for p in answer.passages]


def test_run_writes_results_metrics_report_and_plots(sample_service, tmp_path):
    questions = load_set(SAMPLE_SET)
    seen = []
    run = run_set(
        sample_service,
        questions,
        tmp_path / "run",
        set_name="sample.jsonl",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[0] == (0, len(questions)) and seen[-1] == (len(questions), len(questions))
    out = tmp_path / "run"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [q.id for q in questions]
    answer_keys = ["question", "rewritten_question", "answer", "abstained", "citations", "passages", "timings_ms"]
    assert all(list(r)[1:8] == answer_keys and "scores" in r for r in records)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == run.metrics
    for name in (
        "hit@1",
        "hit@3",
        "hit@5",
        "hit@10",
        "recall@10",
        "mrr",
        "ndcg@5",
        "accuracy",
        "token_f1",
        "citation_validity",
        "evidence_recall",
        "citation_precision",
        "abstention_precision",
        "abstention_recall",
        "answered_should_abstain",
        "latency_ms_p50",
        "latency_ms_p95",
        "latency_ms_max",
    ):
        assert name in metrics, name
    assert metrics["citation_validity"] == 1.0  # every quote is the article's text at its offsets
    assert metrics["hit@1"] <= metrics["hit@5"] <= metrics["hit@10"]
    assert {"fact", "unanswerable", "follow-up"} <= set(metrics["by_tag"])
    assert run.warnings == []  # every evidence quote lies inside one stored passage
    peskov = next(r for r in records if r["id"] == "peskov")
    assert peskov["scores"]["correct"] is True and peskov["retrieved"][0]["relevant"] is True
    for png in ("retrieval_at_k.png", "latency.png", "outcomes_by_tag.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, png
    report = (out / "report.md").read_text()
    assert (
        "| 5   | " in report
        and "| answers    | accuracy" in report
        and "![retrieval_at_k](retrieval_at_k.png)" in report
    )
    assert "## Worst failures" in report
    assert not re.search(r"characters \d+–\d+", report)  # people read quotes, not offsets


def test_report_escapes_article_text(sample_service, tmp_path):
    article = tmp_path / "evil.txt"
    article.write_text("Title: Evil\n\nThe mayor said <script>alert(1)</script> was harmless.\n")
    sample_service.ingest([article])
    questions = write_lines(
        tmp_path / "set.jsonl",
        json.dumps({"id": "x", "question": "What did the mayor say?", "answers": [], "evidence": []}),
    )
    run_set(sample_service, load_set(questions), tmp_path / "run", set_name="set.jsonl")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "&lt;script&gt;" in report and "<script>" not in report


def test_dollar_signs_in_tags_and_set_names_are_drawn_as_text_not_math(sample_service, tmp_path):
    # matplotlib read "costs $$" as mathtext and raised ParseException: report.md was not written.
    records = [
        {"id": "visit", "question": "How long is Xi Jinping's visit to Moscow?", "answers": ["three-day"],
         "evidence": [], "tags": ["costs $$", "$x^2$ and $\\frac{"]},
        {"id": "none", "question": "What does the Kremlin pay for oil in euros?", "answers": [], "tags": ["costs $$"]},
    ]
    questions = write_lines(tmp_path / "price$$.jsonl", *(json.dumps(r) for r in records))
    out = tmp_path / "run $5"
    run = run_set(sample_service, load_set(questions), out, set_name=questions.name)
    assert set(run.metrics["by_tag"]) == {"costs $$", "$x^2$ and $\\frac{"}
    report = (out / "report.md").read_text()
    assert "price$$.jsonl" in report and "costs $$" in report
    for png in ("latency.png", "outcomes_by_tag.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_every_text_in_every_plot_is_plain_text(tmp_path):
    import matplotlib.text

    from eval import plots

    drawn = []
    save = plots._save

    def spy(fig, path):
        saved = save(fig, path)  # drawing creates the tick labels: look after it
        drawn.extend(t for t in fig.findobj(matplotlib.text.Text) if t.get_text())
        return saved

    metrics = {f"{name}@{k}": 0.5 for name in ("hit", "recall", "ndcg") for k in plots.KS}
    metrics |= {"latency_ms_p50": 10.0, "latency_ms_p95": 20.0, "by_tag": {"a $b$": {}}}
    scores = {"latency_ms": 12.0, "should_abstain": False, "abstained": False, "correct": True}
    records = [{"tags": ["a $b$"], "scores": scores}]
    plots._save = spy
    try:
        paths = plots.write_plots(tmp_path, metrics, records, "set $x$.jsonl")
    finally:
        plots._save = save
    assert len(paths) == 3
    assert any("$x$" in t.get_text() for t in drawn) and any(t.get_text() == "a $b$" for t in drawn)
    assert all(not t.get_parse_math() and not t.get_usetex() for t in drawn)


# -- compare ------------------------------------------------------------------------------------


def fake_run(folder, outcomes: dict[str, tuple[bool, bool | None]], accuracy: float, p50: float):
    """A run directory as run_set writes it: (abstained, correct) per question id."""
    folder.mkdir()
    lines = []
    for qid, (abstained, correct) in outcomes.items():
        scores = {"should_abstain": correct is None, "abstained": abstained, "correct": correct}
        lines.append(json.dumps({"id": qid, "question": f"question {qid}?", "scores": scores}))
    write_lines(folder / "results.jsonl", *lines)
    (folder / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "latency_ms_p50": p50, "mrr": None}))
    return folder


def test_compare_lists_deltas_and_flipped_questions(tmp_path):
    a = fake_run(
        tmp_path / "a",
        {"q1": (False, True), "q2": (False, None), "q3": (True, False), "q4": (False, True)},
        accuracy=0.5,
        p50=40.0,
    )
    b = fake_run(
        tmp_path / "b",
        {"q1": (False, False), "q2": (True, None), "q3": (True, False), "q5": (True, None)},
        accuracy=0.75,
        p50=50.0,
    )
    comparison = compare_runs(a, b)
    rows = {label: (va, vb, delta) for _, label, va, vb, delta, _ in comparison.rows}
    assert rows["accuracy"] == (0.5, 0.75, 0.25) and rows["p50 (ms)"] == (40.0, 50.0, 10.0)
    assert rows["MRR"] == (None, None, None)
    assert [(f.id, f.before, f.after) for f in comparison.flips] == [
        ("q1", "correct", "wrong"),
        ("q2", "invented", "abstained"),
    ]
    assert comparison.only_a == ["q4"] and comparison.only_b == ["q5"]
    text = comparison_text(comparison, a, b)
    assert "+0.25 better" in text and "+10 worse" in text
    assert "q1: correct → wrong answer    question q1?" in text


def test_compare_names_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="empty: not a readable evaluation run"):
        compare_runs(tmp_path / "empty", tmp_path / "empty")


# -- a set on its own articles, a selection, or a fresh index of its own corpus (issue 25) -------------

OTHER_ARTICLES = [
    # Another report that also speaks of Peskov and Moscow: on the whole collection it can answer the set.
    {"id": "elsewhere", "title": "Kremlin briefing", "published": "2023-03-22", "source": "Other Desk",
     "text": "Kremlin spokesman Dmitry Peskov said the talks in Moscow would go on for another week."},
    {"id": "ferry", "title": "Kherson ferry resumes", "published": "2023-04-03", "source": "River Post",
     "text": "The Kherson ferry resumed its crossings of the Dnipro on Monday."},
]


@pytest.fixture
def crowded_service(service, tmp_path):
    feed = tmp_path / "others.jsonl"
    feed.write_text("".join(json.dumps(a) + "\n" for a in OTHER_ARTICLES), encoding="utf-8")
    assert len(service.ingest([SAMPLE, feed]).added) == 3
    return service


def test_a_set_runs_on_its_own_articles_or_a_selection_and_others_do_not_answer(crowded_service, tmp_path):
    from eval.runner import evidence_articles

    from qa.types import Filters

    questions = load_set(SAMPLE_SET)[:12]
    sample_id = next(a["id"] for a in crowded_service.list_articles() if a["source"] == "ITV News")
    assert evidence_articles(crowded_service, questions) == [sample_id]  # only the article holding its evidence

    whole = run_set(crowded_service, questions, tmp_path / "whole", set_name="sample.jsonl")
    own = run_set(crowded_service, questions, tmp_path / "own", set_name="sample.jsonl",
                  filters=Filters(article_ids=(sample_id,)), scope="the 1 stored article that holds the set's evidence")
    assert {p["article_id"] for r in whole.records for p in r["retrieved"]} > {sample_id}  # others turn up
    assert {p["article_id"] for r in own.records for p in r["retrieved"]} == {sample_id}  # they do not
    assert {c["article_id"] for r in own.records for c in r["citations"]} <= {sample_id}
    assert own.meta["filters"]["article_ids"] == [sample_id] and own.meta["scope"].startswith("the 1 stored article")
    assert "Evaluated on the 1 stored article" in (tmp_path / "own" / "report.md").read_text()
    assert whole.meta["scope"] == "the whole collection" and "filters" not in whole.meta


def test_a_set_runs_on_a_fresh_index_of_its_own_corpus(crowded_service, tmp_path):
    from eval.runner import own_index, set_corpus

    assert set_corpus("sample.jsonl") == [SAMPLE] and set_corpus("uploaded.jsonl") is None
    fresh, summary = own_index(crowded_service, [SAMPLE], tmp_path / "run" / "index")
    assert summary == "added 1, updated 0, unchanged 0, failed 0"
    assert fresh.stats()["articles"] == 1 and crowded_service.stats()["articles"] == 3  # the collection is untouched
    assert fresh.embedder is crowded_service.embedder  # the loaded model is shared
    run = run_set(fresh, load_set(SAMPLE_SET)[:6], tmp_path / "run", set_name="sample.jsonl", scope="a fresh index")
    assert run.meta["index_counts"]["articles"] == 1 and str(tmp_path / "run" / "index") in run.meta["index"]
    with pytest.raises(ValueError, match="could be stored"):
        own_index(crowded_service, [write_lines(tmp_path / "empty.txt", "")], tmp_path / "other" / "index")
