"""Real Wikinews data ingests whole and answers: a sample in the default tier, the whole shared
collection (374 articles) in `make test-wikinews`, which CI runs."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ROOT, assert_quotes_exact

SAMPLE = [ROOT / "tests" / "data" / "wikinews-interviews.jsonl", ROOT / "corpus" / "wikinews" / "articles.jsonl"]
WHOLE = ROOT.parent / "shared" / "corpus" / "wikinews" / "articles.jsonl"


def test_a_sample_of_real_wikinews_ingests_and_answers(service, tmp_path):
    folder = tmp_path / "wikinews"
    folder.mkdir()
    # The interviews (speaker labels such as "((WN))"), and the first articles of the project's copy.
    shutil.copy(SAMPLE[0], folder / "interviews.jsonl")
    lines = SAMPLE[1].read_text(encoding="utf-8").splitlines()[:8]
    (folder / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = service.ingest([folder])
    assert report.failed == 0, report.errors
    assert len(report.added) == 11
    answer = service.ask("What did Hugh McGuire say about the public domain?")
    assert not answer.abstained
    assert_quotes_exact(service, answer)
    assert any("public domain" in c.quote for c in answer.citations)
    labelled = service.ask("What did McGuire say about LibriVox?")
    assert len(labelled.citations) >= 2  # his answers in the interview are his statements


@pytest.mark.wikinews
def test_the_whole_wikinews_collection_ingests_and_answers(make_service, settings):
    assert WHOLE.is_file(), f"{WHOLE} is missing: `make test-wikinews` needs the shared Wikinews collection"
    service = make_service(settings)
    report = service.ingest([WHOLE])
    count = sum(1 for line in WHOLE.read_text(encoding="utf-8").splitlines() if line.strip())
    assert report.failed == 0, report.errors[:10]
    assert len(report.added) == count == service.stats()["articles"]
    print(json.dumps({"articles": count, "timings_s": {k: round(v, 1) for k, v in report.timings.items()}}))
    answer = service.ask("What did Hugh McGuire say about the public domain?")
    assert not answer.abstained and any("public domain" in c.quote for c in answer.citations)
    assert_quotes_exact(service, answer)
    again = service.ingest([WHOLE])
    assert len(again.unchanged) == count and not again.added and not again.updated
