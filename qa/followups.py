"""Follow-up questions made standalone, offline: "What did he say could be a target?" after
"What did Medvedev say?" becomes "What did Medvedev say could be a target?".

A person pronoun takes the person the last turn was about (named in its question, else in its
answer); "it" takes the last noun phrase of the last question. Nothing else is guessed: a
question without such a pronoun is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property

from qa.quotes import parse_speaker_question

_PERSON_PRONOUNS = re.compile(r"\b(he|she|him|her|his)\b", re.IGNORECASE)
_THING_PRONOUN = re.compile(r"\bit\b", re.IGNORECASE)
_NOT_A_THING = {"who", "what", "which", "whom", "it", "they", "he", "she", "i", "you", "we"}


class FollowUpRewriter:
    def __init__(self, load_nlp: Callable):
        """`load_nlp()`: a spaCy pipeline with entities and noun chunks, loaded only when a follow-up
        needs it (a standalone question never does, so a cold `qa ask` does not load spaCy)."""
        self._load_nlp = load_nlp

    @cached_property
    def _nlp(self):
        return self._load_nlp()

    def rewrite(self, question: str, history: list[tuple[str, str]] | None) -> str | None:
        """The standalone question, or None when the question needs no rewriting."""
        if not history:
            return None
        wants_person = _PERSON_PRONOUNS.search(question)
        wants_thing = _THING_PRONOUN.search(question)
        if not (wants_person or wants_thing):
            return None
        asked, answered = history[-1]
        rewritten = question
        if wants_person and (person := self._person(asked, answered)):
            rewritten = _PERSON_PRONOUNS.sub(lambda m: _person_form(m[1], person), rewritten)
        if wants_thing and (thing := self._thing(asked)):
            rewritten = _THING_PRONOUN.sub(lambda _: thing, rewritten)  # as text: a "\\1" in it is no group
        return rewritten if rewritten != question else None

    def _person(self, asked: str, answered: str) -> str | None:
        speaker = parse_speaker_question(asked)
        if speaker:
            return speaker.who
        for text in (asked, answered):
            people = [e.text for e in self._nlp(text).ents if e.label_ == "PERSON"]
            if people:
                return people[-1] if text is asked else people[0]
        return None

    def _thing(self, asked: str) -> str | None:
        chunks = [c.text for c in self._nlp(asked).noun_chunks if c.root.lower_ not in _NOT_A_THING]
        return chunks[-1] if chunks else None


def _person_form(pronoun: str, person: str) -> str:
    return f"{person}'s" if pronoun.lower() == "his" else person
