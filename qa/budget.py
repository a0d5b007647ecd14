"""A budget on one question's work: past it, the question is refused in one line naming the budget.

The budget is CPU time of the thread doing the question's work, and it is cooperative: `check(stage)` is
called between stages and in the loops over candidate statements (qa/quotes.py), and `within` checks it
after each step of an extractive answer's work. It is kept per thread and set only while a step of the
question runs, so a screen that resumes one answer's generator on different worker threads (Gradio does)
still counts it, and nothing outside a question is refused.

A chat model's writing is not counted against it (`QA_LLM_TIMEOUT` bounds that): with a chat model
backend only the explicit checks before the model is called apply.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class QuestionBudgetExceeded(ValueError):
    """A question took more than `QA_QUESTION_BUDGET` seconds; a ValueError, so the CLI, the screen and
    the API refuse it in one line, as they do any other bad question."""

    def __init__(self, seconds: float, stage: str | None = None):
        where = f" ({stage})" if stage else ""
        super().__init__(
            f"the question took more than its budget of {seconds:g} seconds of work{where}, so it was stopped;"
            " try a shorter or simpler question (QA_QUESTION_BUDGET)"
        )
        self.seconds, self.stage = seconds, stage


class _Budget(threading.local):
    """The budget of the question this thread is working on: None outside a question."""

    seconds: float | None = None
    spent: float = 0.0  # CPU seconds of the question's earlier steps
    step_started: float = 0.0  # this thread's CPU clock when the current step started

    def used(self) -> float:
        return self.spent + time.thread_time() - self.step_started


_current = _Budget()


def check(stage: str | None = None) -> None:
    """Raise QuestionBudgetExceeded when the question being answered on this thread is past its budget;
    nothing outside a question."""
    if _current.seconds is not None and _current.used() > _current.seconds:
        raise QuestionBudgetExceeded(_current.seconds, stage)


def within(work: Generator[T, None, R], seconds: float | None, *, every_step: bool = True) -> Generator[T, None, R]:
    """`yield from within(work, seconds)`: `work` run with a budget of `seconds` of CPU time, counted on
    the thread that runs each of its steps (`time.thread_time`): a question's own work, not the time
    it waits for a core or for the interpreter's lock while other questions run, so a loaded machine
    does not refuse normal questions. `every_step`: also refuse when a step ends past it (the
    extractive answer does all its work in its first step); without it, only `check()` calls inside
    the work refuse (a chat model streams for as long as it writes). None: no budget."""
    if seconds is None:
        return (yield from work)
    spent = 0.0
    sent = None
    try:
        while True:
            outer = (_current.seconds, _current.spent, _current.step_started)
            _current.seconds, _current.spent, _current.step_started = seconds, spent, time.thread_time()
            try:
                piece = work.send(sent)
            except StopIteration as done:
                result = done.value
                piece = _DONE
            finally:
                spent = _current.used()
                _current.seconds, _current.spent, _current.step_started = outer
            if every_step and spent > seconds:
                raise QuestionBudgetExceeded(seconds)
            if piece is _DONE:
                return result
            sent = yield piece
    finally:
        work.close()


_DONE = object()
