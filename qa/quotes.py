"""'What did X say?': every statement the articles attribute to X, quoted and cited, oldest first.

Also "What did X say about Y?", "What did X warn could be …?", "According to X, …": then only
X's statements that support the rest of the question are kept, and none means abstaining: the
articles quote X, but not on that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.attribution import SPEECH_VERB_PATTERN, name_words, same_speaker
from index.embedders import SentenceTransformerEmbedder
from index.store import ChromaStore
from qa.readers import ExtractiveReader
from qa.retrievers import without_copies
from qa.types import Citation, Filters, Passage

_ASKED_WHAT = re.compile(
    rf"^\s*(?:what|how)\s+(?:did|does|do|has|have|had|was|is)\s+(?P<who>.+?)\s+(?:{SPEECH_VERB_PATTERN})\b"
    r"(?P<rest>.*?)\s*\??\s*$",
    re.IGNORECASE,
)
_ACCORDING_TO = re.compile(r"^\s*according\s+to\s+(?P<who>[^,]+),\s*(?P<rest>.+?)\s*\??\s*$", re.IGNORECASE)
_TOPIC_LEAD = re.compile(r"^\s*(?:about|on|regarding|concerning|of)\s+", re.IGNORECASE)
# "What did the article say?" asks about a text, not a person.
_NOT_SPEAKERS = {"article", "articles", "report", "story", "news", "it", "they", "this", "that", "you", "i", "we"}


@dataclass(frozen=True)
class SpeakerQuestion:
    who: str
    topic: str  # empty: everything X said

    @property
    def keys(self) -> list[str]:
        """The words of the name: "Wang Wenbin" is also quoted as plain "Wang"."""
        return sorted(name_words(self.who))

    def said_by(self, speakers: tuple[str, ...]) -> bool:
        return any(same_speaker(self.who, s) for s in speakers)


def parse_speaker_question(question: str) -> SpeakerQuestion | None:
    match = _ASKED_WHAT.match(question) or _ACCORDING_TO.match(question)
    if not match:
        return None
    who = match["who"].strip()
    words = name_words(who)
    if not words or words <= _NOT_SPEAKERS:
        return None
    return SpeakerQuestion(who, _TOPIC_LEAD.sub("", match["rest"]).strip())


class StatementReader:
    """Answers a SpeakerQuestion from the sentences attributed to the speaker at ingest."""

    def __init__(self, store: ChromaStore, reader: ExtractiveReader, embedder: SentenceTransformerEmbedder):
        self.store, self.reader, self.embedder = store, reader, embedder

    def read(self, asked: SpeakerQuestion, filters: Filters | None = None) -> Reading | None:
        """X's statements (those on the topic, if one is asked), oldest article first; None when
        the articles attribute nothing (on that topic) to X."""
        found = [
            (sentence, passage)
            for sentence, passage in self.store.sentences_by_speaker(asked.keys)
            if asked.said_by(sentence.speakers) and (not filters or filters.allows(passage.source, passage.published))
        ]
        if not found:
            return None
        if not filters:
            kept = {id(p) for p in without_copies(self.store, [p for _, p in found])}
            found = [(sentence, passage) for sentence, passage in found if id(passage) in kept]
        found.sort(key=lambda sp: (sp[1].published or "9999", sp[1].article_id, sp[0].start))
        passages = [passage for _, passage in found]
        if asked.topic:
            vector = self.embedder.encode([asked.topic])[0]
            supported = {s.sentence.id for s in self.reader.score(asked.topic, vector, passages)
                         if s.support >= self.reader.threshold}
            found = [(sentence, passage) for sentence, passage in found if sentence.id in supported]
            if not found:
                return None
        text, citations = self.reader.cite(found)
        return Reading(text, citations, passages)


@dataclass(frozen=True)
class Reading:
    text: str
    citations: list[Citation]
    passages: list[Passage]  # what was read: one per statement
