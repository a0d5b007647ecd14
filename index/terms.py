"""Content terms of a text: the words that say what it is about, lower-cased and stemmed.

BM25 indexes them and the reader compares them, so both see the same words the same way.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import Stemmer


def _english_stop_words() -> frozenset[str]:
    """spaCy's English stop words, read from their module's file: importing `spacy.lang.en` would
    import all of spaCy (about 4 s), which the question path otherwise never needs."""
    package = importlib.util.find_spec("spacy")
    path = Path(package.origin).parent / "lang" / "en" / "stop_words.py"
    spec = importlib.util.spec_from_file_location("qa_spacy_en_stop_words", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(module.STOP_WORDS)


STOP_WORDS = _english_stop_words()

# Words that frame a question rather than name what it is about: "What did Peskov say?" is about Peskov.
FRAME_WORDS = {
    *("say", "said", "says", "tell", "told", "tells", "according", "mention", "mentioned"),
    *("warn", "warned", "warns", "add", "added", "write", "wrote", "writes", "think", "thought"),
}
# Words, keeping "6.3", "2,000" and "won't" whole.
_TOKEN = re.compile(r"\w+(?:[.,'’]\w+)*")


class TermAnalyzer:
    def __init__(self, drop: set[str] | frozenset[str] = frozenset()):
        """`drop`: words left out besides the stop words."""
        self._stemmer = Stemmer.Stemmer("english")
        self._drop = set(STOP_WORDS) | set(drop)

    def terms(self, text: str) -> list[str]:
        words = [w.lower().replace("’", "'") for w in _TOKEN.findall(text)]
        words = [w[:-2] if w.endswith("'s") else w for w in words]
        return self._stemmer.stemWords([w for w in words if w not in self._drop])
