"""Near-duplicate articles (the same wire story in several outlets), found at ingest with MinHash.

Each article gets a MinHash signature of its word 5-gram shingles (datasketch). An article whose
estimated Jaccard similarity with a stored article reaches the threshold is recorded as a copy
of it (`duplicate_of`): the canonical is the copy stored first, and every later copy points at it.
Answers cite the canonical copy and list the others as "also in".
"""

from __future__ import annotations

import functools
import re

import numpy as np
from datasketch import MinHash, MinHashLSH

_WORD = re.compile(r"\w+")
NUM_PERM = 64
SHINGLE = 5


def signature(text: str) -> list[int]:
    words = [w.lower() for w in _WORD.findall(text)]
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    minhash = MinHash(num_perm=NUM_PERM, seed=1)
    minhash.update_batch(s.encode() for s in shingles)
    return [int(v) for v in minhash.hashvalues]


def _minhash(values: list[int]) -> MinHash:
    # A stored signature is only compared, never updated: sharing one set of permutations spares
    # drawing a fresh random one per article (1.5 s for 12,800 stored articles, 0.13 s shared).
    return MinHash(
        num_perm=NUM_PERM,
        seed=1,
        hashvalues=np.asarray(values, dtype=np.uint64),
        scheme="affine32",
        permutations=_permutations(),
    )


@functools.cache
def _permutations():
    return MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32").permutations


class DuplicateFinder:
    """Finds, for new articles, the stored (or earlier new) article they copy."""

    def __init__(self, threshold: float, stored: dict[str, tuple[list[int], str, str | None]]):
        """`stored`: article id -> (signature, canonical id it points to or itself, published)."""
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._known: dict[str, tuple[MinHash, str, str | None]] = {}
        for article_id, (values, canonical, published) in stored.items():
            self._add(article_id, _minhash(values), canonical, published)

    def _add(self, article_id: str, minhash: MinHash, canonical: str, published: str | None) -> None:
        if article_id in self._known:
            self._lsh.remove(article_id)
        self._lsh.insert(article_id, minhash)
        self._known[article_id] = (minhash, canonical, published)

    def canonical(self, article_id: str, values: list[int], published: str | None) -> str | None:
        """The canonical article this one copies (None if it is original), and remember it."""
        minhash = _minhash(values)
        matches = [
            other
            for other in self._lsh.query(minhash)
            if other != article_id and self._known[other][0].jaccard(minhash) >= self.threshold
        ]
        # Point at what the match points at, so a group has one canonical (the earliest published if several).
        roots = sorted({self._known[m][1] for m in matches} - {article_id},
                       key=lambda r: (self._known[r][2] or "9999", r) if r in self._known else ("9999", r))
        canonical = roots[0] if roots else None
        self._add(article_id, minhash, canonical or article_id, published)
        return canonical
