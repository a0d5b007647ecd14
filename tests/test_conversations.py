"""Saved conversations (qa/conversations.py) on real files: atomic writes, two writers at once, damaged
files reported and not fatal, and a real answer kept and shown again with its citations."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from conftest import ROOT, SAMPLE, assert_quotes_exact

from qa.conversations import ConversationStore
from qa.types import Answer, AnswerSentence, Citation, answer_from_dict

QUOTE = "The Kherson ferry resumed its crossings of the Dnipro on Monday."


def answer(question: str, n: int = 1) -> Answer:
    """An answer as the service makes them: one cited sentence."""
    citation = Citation(n, "ferry", "Kherson ferry resumes", "2023-04-03", "River Post", "https://example.com/ferry",
                        0, len(QUOTE), QUOTE)
    return Answer(question, f"{QUOTE} [{n}]", False, [citation], sentences=[AnswerSentence(QUOTE, [n])])


@pytest.fixture
def store(tmp_path):
    return ConversationStore(tmp_path / "home" / "conversations")


def test_a_conversation_is_kept_turn_by_turn_listed_and_deleted(store):
    first = store.add_turn(answer("When did the ferry resume?"))
    assert first.title == "When did the ferry resume?" and len(first.turns) == 1
    again = store.add_turn(answer("Where does it cross?"), first.id)
    assert again.id == first.id and [t.answer.question for t in again.turns] == [
        "When did the ferry resume?", "Where does it cross?"]
    other = store.add_turn(answer("Who runs it?"))

    listed = store.list()
    assert listed.problems == []
    assert [c["id"] for c in listed.conversations][:2] in ([other.id, first.id], [first.id, other.id])
    shown = {c["id"]: c for c in listed.conversations}[first.id]
    assert shown["title"] == "When did the ferry resume?" and shown["questions"] == 2
    kept = store.get(first.id).turns[1].answer
    assert kept.citations[0].quote == QUOTE and kept.citations[0].url == "https://example.com/ferry"
    assert (kept.citations[0].start, kept.citations[0].end) == (0, len(QUOTE))

    saved = json.loads((store.folder / f"{first.id}.json").read_text())
    assert saved["turns"][0]["citations"][0]["title"] == "Kherson ferry resumes" and "passages" not in saved["turns"][0]

    assert store.delete(first.id)["title"] == "When did the ferry resume?"
    assert not (store.folder / f"{first.id}.json").exists()
    assert [c["id"] for c in store.list().conversations] == [other.id]
    with pytest.raises(ValueError, match="no saved conversation with id"):
        store.delete(first.id)
    with pytest.raises(ValueError, match="no saved conversation with id"):
        store.get(first.id)


def test_ids_cannot_reach_outside_the_folder(store, tmp_path):
    (tmp_path / "home" / "secret.json").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "home" / "secret.json").write_text("{}")
    for bad in ("../secret", ".lock", "a/b", "", "x" * 200):
        with pytest.raises(ValueError, match="is not a conversation id"):
            store.get(bad)
        with pytest.raises(ValueError, match="is not a conversation id"):
            store.delete(bad)
    assert (tmp_path / "home" / "secret.json").exists()


def test_a_damaged_file_is_reported_by_name_and_the_others_still_listed(store):
    good = store.add_turn(answer("When did the ferry resume?"))
    (store.folder / "20240101-000000-aaaaaa.json").write_text('{"format": 1, "id": "20240101-000000-aaaaaa", "tit')
    (store.folder / "20240101-000000-bbbbbb.json").write_text('{"format": 1, "id": "20240101-000000-bbbbbb"}')
    (store.folder / "20240101-000000-cccccc.json").write_bytes(b"\xff\xfe\x00garbage")
    (store.folder / f".{good.id}.123.tmp").write_text('{"half": ')  # what a crash mid-write leaves: never listed

    listed = store.list()
    assert [c["id"] for c in listed.conversations] == [good.id]
    assert len(listed.problems) == 3
    assert any(p.startswith("20240101-000000-aaaaaa.json: not valid JSON") for p in listed.problems)
    assert any(p.startswith("20240101-000000-bbbbbb.json: not a saved conversation (missing '") for p in listed.problems)
    assert any(p.startswith("20240101-000000-cccccc.json: not UTF-8 text") for p in listed.problems)
    with pytest.raises(ValueError, match="aaaaaa.json: not valid JSON"):
        store.get("20240101-000000-aaaaaa")
    store.delete("20240101-000000-aaaaaa")  # a damaged file can still be removed
    assert len(store.list().problems) == 2


WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_conversations import answer
from qa.conversations import ConversationStore
store = ConversationStore(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    store.add_turn(answer(f"{{sys.argv[2]}} question {{i}}?"), "shared-conversation")
    store.add_turn(answer(f"{{sys.argv[2]}} alone {{i}}?"))
"""


def test_two_writers_at_once_lose_no_turn_and_readers_never_see_half_a_file(store):
    store.add_turn(answer("The first question?"), "shared-conversation")
    script = WRITER.format(tests=str(ROOT / "tests"))
    seen_problems: list[str] = []
    reads = 0
    done = threading.Event()

    def read_meanwhile() -> None:
        nonlocal reads
        while not done.is_set():
            listed = store.list()
            seen_problems.extend(listed.problems)
            store.get("shared-conversation")  # raises if it ever read half a file
            reads += 1

    reader = threading.Thread(target=read_meanwhile)
    reader.start()
    try:
        writers = [
            subprocess.Popen([sys.executable, "-c", script, str(store.folder), name, "25"], cwd=ROOT)
            for name in ("north", "south")
        ]
        assert [w.wait(timeout=120) for w in writers] == [0, 0]
    finally:
        done.set()
        reader.join(timeout=60)
    shared = store.get("shared-conversation")
    questions = [t.answer.question for t in shared.turns]
    assert len(questions) == 51 and questions[0] == "The first question?"
    for name in ("north", "south"):  # each writer's turns all there, in its order
        assert [q for q in questions if q.startswith(name)] == [f"{name} question {i}?" for i in range(25)]
    listed = store.list()
    assert len(listed.conversations) == 51 and listed.problems == [] and seen_problems == []
    assert reads > 0
    assert not list(store.folder.glob(".*.tmp"))  # no temporary file left behind


def test_a_real_answer_is_kept_and_exported_with_its_sources(service, tmp_path):
    service.ingest([SAMPLE])
    asked = service.ask("What did Peskov say?")
    assert asked.citations
    conversation = service.save_turn(asked)
    follow_up = service.ask("Who welcomed China's peace plan?", history=[(asked.question, asked.answer)])
    service.save_turn(follow_up, conversation.id)

    kept = service.conversation(conversation.id)
    assert [t.answer.question for t in kept.turns] == ["What did Peskov say?", "Who welcomed China's peace plan?"]
    again = kept.turns[0].answer
    assert again.answer == asked.answer and again.citations == asked.citations
    assert_quotes_exact(service, again)  # each kept quote is still the article's text at its offsets
    assert answer_from_dict(asked.to_dict()).to_markdown() == asked.to_markdown()

    markdown = service.export_conversation(conversation.id)
    assert markdown.startswith("# What did Peskov say?\n")
    assert "**What did Peskov say?**" in markdown and "**Who welcomed China's peace plan?**" in markdown
    for c in asked.citations + follow_up.citations:
        assert f"“{c.quote}”" in markdown and c.title in markdown
    assert service.conversations().conversations[0]["questions"] == 2
    assert service.delete_conversation(conversation.id)["id"] == conversation.id
    assert service.conversations().conversations == []
