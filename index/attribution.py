"""Who said what: each sentence's speakers, found at ingest with spaCy's parser and entities.

A sentence is attributed to the subject of a speech verb ("Peskov said", "Medvedev wrote",
"Danilov tweeted"), to X in "according to X", and a pronoun subject ("He added ...") to the
speaker named last before it. A paragraph that opens with a quotation mark and names nobody
continues the quote before it (a statement quoted over several paragraphs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SPEECH_VERBS = {
    f
    for forms in (
        "say says said", "tell tells told", "add adds added", "write writes wrote", "warn warns warned",
        "tweet tweets tweeted", "argue argues argued", "caution cautions cautioned", "describe describes described",
        "mention mentions mentioned", "claim claims claimed", "insist insists insisted", "state states stated",
        "announce announces announced", "note notes noted", "declare declares declared", "stress stresses stressed",
        "explain explains explained", "call calls called", "urge urges urged", "reply replies replied",
        "suggest suggests suggested", "confirm confirms confirmed", "deny denies denied", "posted",
    )
    for f in forms.split()
}
SPEECH_VERB_PATTERN = "|".join(sorted(_SPEECH_VERBS, key=len, reverse=True))
_PRONOUNS = {"he", "she", "they"}
_OBJECT_PRONOUNS = {"him", "her", "them", "it", "this", "that", "which", "who", "i", "we", "you"}
_OPENING_QUOTES = ("“", '"', "‘")
_DETERMINERS = {"the", "a", "an"}
_NAME_WORD = re.compile(r"[\w-]+")


class SpeakerAttributor:
    def __init__(self, model: str):
        import spacy

        self.nlp = spacy.load(model, exclude=["lemmatizer"])

    def speakers(self, texts: Iterable[str], paragraph_starts: Iterable[bool]) -> list[tuple[str, ...]]:
        """Speakers of each sentence of one article, in order; `paragraph_starts` marks sentences
        that open a paragraph."""
        found: list[tuple[str, ...]] = []
        last: str | None = None  # the speaker named last: what "he" and a continued quote refer to
        previous: tuple[str, ...] = ()
        for doc, opens_paragraph in zip(self.nlp.pipe(texts, batch_size=64), paragraph_starts):
            names = []
            for name in _attributions(doc):
                name = last if name.lower() in _PRONOUNS else name
                if name and name not in names:
                    names.append(name)
            if not names and opens_paragraph and doc.text.startswith(_OPENING_QUOTES) and previous:
                names = list(previous)
            found.append(tuple(names))
            previous = tuple(names)
            last = names[-1] if names else last
        return found


def _attributions(doc) -> Iterable[str]:
    for token in doc:
        if token.lower_ in _SPEECH_VERBS and token.pos_ in ("VERB", "AUX"):
            subject = _subject(token)
            if subject is not None:
                yield _speaker_name(doc, subject)
        elif token.lower_ == "according" and token.i + 1 < len(doc) and doc[token.i + 1].lower_ == "to":
            objects = [c for c in doc[token.i + 1].children if c.dep_ == "pobj"]
            if objects:
                yield _speaker_name(doc, objects[0])


def _subject(verb):
    for candidate in (verb, verb.head if verb.dep_ == "conj" else None):
        if candidate is None:
            continue
        subjects = [c for c in candidate.children if c.dep_ in ("nsubj", "nsubjpass")]
        if subjects:
            # "allowing him to tell": an object pronoun is not who speaks.
            return None if subjects[0].lower_ in _OBJECT_PRONOUNS else subjects[0]
    # '"…," Oleksiy Danilov, the secretary of …, tweeted': the small parser hangs the verb on the name.
    if verb.dep_ in ("acl", "relcl") and verb.head.pos_ == "PROPN":
        return verb.head
    return None


def _speaker_name(doc, head) -> str:
    """A person's name when the subject holds one, else the subject's phrase ("Kyiv officials")."""
    for ent in doc.ents:
        if ent.start <= head.i < ent.end and ent.label_ in ("PERSON", "ORG", "GPE", "NORP", "FAC"):
            return ent.text.removesuffix("’s").removesuffix("'s")
    if head.lower_ in _PRONOUNS:
        return head.lower_
    words = [t for t in doc[head.left_edge.i : head.i + 1] if t.lower_ not in _DETERMINERS]
    return "".join(t.text_with_ws for t in words).strip()


def name_words(name: str) -> set[str]:
    """Comparable words of a name: lower case, quotes and possessives dropped."""
    name = name.replace("’", "'").lower().replace("'s ", " ").removesuffix("'s")
    return {w for w in _NAME_WORD.findall(name) if w not in _DETERMINERS}


def same_speaker(asked: str, stored: str) -> bool:
    """'Peskov' is 'Dmitry Peskov'; 'Downing Street' is 'Downing Street officials'."""
    a, s = name_words(asked), name_words(stored)
    return bool(a and s) and (a <= s or s <= a)
