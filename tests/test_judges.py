"""The yes/no judge (qa/judges.py): the real Qwen2.5-Coder-0.5B model tells an answering sentence from an
unrelated one, and the policy that mixes its answer with the learned ranker's leaves alone every question
it does not send to the judge.

The model test needs llama-cpp-python and the 0.5B file (`make model-qwen-0.5b`; `QA_MODELS_DIR` to look
elsewhere than ./models), so it is in the `llm` tier; the policy's tests are pure and run everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa.judges import JudgePolicy, SentenceJudge, combine, to_judge
from qa.llamacpp import PINNED

ROOT = Path(__file__).resolve().parents[1]
# A policy of the shape benchmarks/judge_gain.py chooses: the judge's yes counts for more than the ranker.
POLICY = JudgePolicy(k=3, low=0.06, high=0.4, ranker_weight=0.8, judge_weight=2.0, bias=-0.5)


@pytest.mark.llm
def test_the_judge_says_yes_to_the_answering_sentence_rather_than_an_unrelated_one():
    gguf = Path(os.environ.get("QA_MODELS_DIR") or ROOT / "models") / PINNED["qwen-0.5b"].file
    assert gguf.exists(), f"{gguf}: run `make model-qwen-0.5b`"
    judge = SentenceJudge(gguf, n_threads=1)  # one thread: the machine is shared
    cases = [
        ("Who won the 2019 Tour de France?",
         ["Egan Bernal of Colombia won the 2019 Tour de France on Sunday in Paris.",
          "The city council approved a budget for road repairs on Tuesday."]),
        ("How many people died in the earthquake in Albania?",
         ["Officials said 51 people died in the earthquake that struck Albania on Tuesday.",
          "The band will release its new album in the spring."]),
    ]
    for question, (right, unrelated) in cases:
        p_right, p_unrelated = judge.judge(question, [right, unrelated])
        assert 0.0 < p_unrelated < p_right < 1.0, (question, p_right, p_unrelated)
    assert judge.judge("Who won?", []) == []


def test_a_question_outside_the_band_is_not_judged_and_comes_back_untouched():
    for probabilities in ([0.9, 0.3, 0.01], [0.03, 0.02, 0.01], [0.4, 0.39]):  # sure, hopeless, at the top edge
        assert to_judge(probabilities, POLICY) == []
        assert combine(probabilities, {}, POLICY) == probabilities
    assert to_judge([0.2, 0.1], JudgePolicy()) == []  # the default: off


def test_an_unsure_question_has_its_top_k_judged_and_reordered_by_the_judge():
    probabilities = [0.05, 0.2, 0.15, 0.1, 0.12]
    picked = to_judge(probabilities, POLICY)
    assert picked == [1, 2, 4]  # the top 3, best first
    mixed = combine(probabilities, {1: 0.1, 2: 0.95, 4: 0.2}, POLICY)
    assert max(range(len(mixed)), key=mixed.__getitem__) == 2  # the sentence the judge says yes to wins
    assert mixed[2] > probabilities[2] and mixed[1] < probabilities[1]
    # Candidates the judge did not see stay below every judged one.
    assert max(mixed[0], mixed[3]) <= min(mixed[i] for i in picked)


@pytest.mark.llm
def test_the_learned_reader_asks_the_judge_and_answers_with_the_sentence_it_says_yes_to(make_service, tmp_path, corpus):
    from qa.readers import LearnedReader
    from qa.settings import Settings

    gguf = Path(os.environ.get("QA_MODELS_DIR") or ROOT / "models") / PINNED["qwen-0.5b"].file
    service = make_service(Settings(home=tmp_path / "judged"))
    service.ingest([corpus])
    # Every question judged, the judge alone deciding among the top 3: its yes must pick the answer.
    always = JudgePolicy(k=3, low=0.0, high=1.01, ranker_weight=0.0, judge_weight=1.0, bias=0.0)
    judged = LearnedReader(service.store, 0.5, 3, judge=SentenceJudge(gguf, n_threads=1), judge_policy=always)
    question = "Who welcomed China's peace plan?"
    retrieval = service.retriever.retrieve(question)
    answer = judged.read(question, retrieval.query_vector, retrieval.passages)
    assert any("The Kremlin has welcomed China’s peace plan" in c.quote for c in answer.citations)
