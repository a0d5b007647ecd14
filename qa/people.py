"""Who is quoted in the collection: one person, one identity across reports (`qa people`).

Ingest stores each sentence's speakers under the fullest name its article gives them
(index/mentions.py) and each article's people with the roles it gives them. Across reports,
names are joined into identities here, at read time, by these rules:

- The same full name (two words or more) is one person in every report.
- A report that names someone by one word only ("Peskov said …", never "Dmitry Peskov") joins
  the one person of the collection whose full name starts or ends with that word and whose roles
  are compatible with the report's (either has none, or they share a role word). Several such
  people, or none: the one word stays an identity of its own.
- Someone a report introduces only by a description and a bare name ("a university student named
  Wong", "a protester using the pseudonym Katya") is nobody else: an identity of that report alone.
- Two people of one report are already two names there (ingest keeps "Joshua Wong" and "Kelvin
  Wong" apart), so they stay apart here.

The directory is rebuilt when the collection changes (its articles' versions), and kept in
`$QA_HOME/people.json` so that a new process answers without reading every sentence again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from index.mentions import name_words, role_head
from index.store import statement
from qa.types import Filters, Passage, Sentence

# "a university student named Wong", "a protester using the pseudonym Katya": a bare name given with a
# description, not a known person's.
_DESCRIBED = (
    r"\b(?:(?:a|an|one)\s+(?:[\w-]+\s+){{0,4}}?(?:named|called|surnamed|nicknamed|identified\s+(?:only\s+)?as|"
    r"known\s+(?:only\s+)?as)|pseudonym)\s+{name}\b"
)
# Words of a role phrase too general to tell two people apart ("former", "the").
_GENERAL_ROLE_WORDS = {"former", "then", "current", "new", "acting", "deputy", "senior", "chief", "the", "of", "a", "an"}
_CACHE_FORMAT = 4  # bumped when the identity rules change: a cache of older rules is rebuilt


@dataclass
class Person:
    """One identity: a name, the roles reports give it, and its statements per report."""

    key: str
    name: str
    roles: Counter = field(default_factory=Counter)
    statements: dict[str, int] = field(default_factory=dict)  # article id -> statements there
    described: bool = False  # known only as "a … named X" in one report
    # A one-word name that several people of the collection fit ("Trump" where Donald and Melania Trump
    # are quoted): their keys. Asked for one of them, its statements are theirs too.
    maybe: list[str] = field(default_factory=list)

    @property
    def words(self) -> set[str]:
        return name_words(self.name)

    def top_roles(self, limit: int = 5) -> list[str]:
        return [role for role, _ in self.roles.most_common(limit)]

    def to_json(self) -> dict:
        return {"key": self.key, "name": self.name, "roles": dict(self.roles), "statements": self.statements,
                "described": self.described, "maybe": self.maybe}

    @classmethod
    def from_json(cls, data: dict) -> Person:
        return cls(data["key"], data["name"], Counter(data["roles"]), dict(data["statements"]), data["described"],
                   list(data.get("maybe") or ()))


def _role_words(roles) -> set[str]:
    return {role_head(w) for r in roles for w in name_words(r)} - _GENERAL_ROLE_WORDS


def compatible_roles(a, b) -> bool:
    """Roles of one person: either side has none, or they share a role word ("spokesman" and
    "Kremlin spokesperson")."""
    wa, wb = _role_words(a), _role_words(b)
    return not wa or not wb or bool(wa & wb)


def _is_name(name: str) -> bool:
    """A speaker written with a capital ("Peskov", "Downing Street officials"), not a description ("police")."""
    if re.search(r"\w['’]s\b", name):  # "Trump's statement", "Part of Trump's tweet": someone's, not someone
        return False
    return any(w[:1].isupper() for w in re.findall(r"[\w'’-]+", name)) and bool(name_words(name))


class PeopleIndex:
    """Identities of the collection's speakers, and what is needed to list them by filters."""

    def __init__(self, persons: dict[str, Person], identity: dict[tuple[str, str], str],
                 articles: dict[str, tuple[str | None, str | None]], fingerprint: str = ""):
        self.persons = persons
        self.identity = identity  # (article id, speaker name as stored) -> person key
        self.articles = articles  # article id -> (published, source)
        self.fingerprint = fingerprint
        self._listed: dict[tuple, list[dict]] = {}  # filters -> people(filters), made once per index

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def build(cls, rows: list[tuple[str, tuple[str, ...]]], facts: dict[str, dict],
              texts: dict[str, str] | None = None, fingerprint: str = "") -> PeopleIndex:
        """`rows`: (article id, speakers) of every live sentence with speakers; `facts`: article id ->
        its record (published, source, people: name -> roles); `texts`: article id -> text, needed only
        for the articles that name a speaker by one word (see `one_word_articles`)."""
        texts = texts or {}
        counts: dict[tuple[str, str], int] = Counter()
        for article_id, speakers in rows:
            for name in dict.fromkeys(speakers):
                if _is_name(name):
                    counts[(article_id, name)] += 1

        def roles_of(article_id: str, name: str) -> list[str]:
            return list((facts.get(article_id, {}).get("people") or {}).get(name) or ())

        persons: dict[str, Person] = {}
        identity: dict[tuple[str, str], str] = {}

        def add(key: str, name: str, article_id: str, n: int, described: bool = False, stored: str = "") -> None:
            """`stored`: the name as the report has it, when it joins an identity of a fuller name."""
            stored = stored or name
            person = persons.setdefault(key, Person(key, name, described=described))
            if len(name) > len(person.name) and name_words(name) == person.words:
                person.name = name
            person.statements[article_id] = person.statements.get(article_id, 0) + n
            person.roles.update(roles_of(article_id, stored))
            identity[(article_id, stored)] = key

        # Full names first: one identity each, whatever report they are in; a shorter full name joins the
        # one longer name that holds all its words, roles permitting ("Pedro Pierluisi" is "Pedro R.
        # Pierluisi Urrutia").
        single: list[tuple[str, str, int]] = []
        full_names = []
        for (article_id, name), n in sorted(counts.items()):
            words = name_words(name)
            if len(words) >= 2:
                full_names.append((article_id, name, n, words))
            else:
                single.append((article_id, name, n))
        for article_id, name, n, words in sorted(full_names, key=lambda f: (-len(f[3]), f[0], f[1])):
            key = " ".join(sorted(words))
            if key not in persons:
                roles = roles_of(article_id, name)
                longer = [p for p in persons.values() if words < p.words and compatible_roles(roles, p.roles)]
                if len(longer) == 1:
                    add(longer[0].key, longer[0].name, article_id, n, stored=name)
                    continue
            add(key, name, article_id, n)
        by_word: dict[str, list[Person]] = defaultdict(list)
        for person in persons.values():
            for w in person.words:
                by_word[w].append(person)
        for article_id, name, n in single:
            (word,) = name_words(name)
            text = texts.get(article_id, "")
            if text and re.search(_DESCRIBED.format(name=re.escape(name)), text, re.IGNORECASE):
                add(f"{word}@{article_id}", name, article_id, n, described=True)
                continue
            roles = roles_of(article_id, name)
            fits = [p for p in by_word.get(word, []) if compatible_roles(roles, p.roles)]
            if len(fits) == 1:
                add(fits[0].key, fits[0].name, article_id, n, stored=name)
            else:
                add(word, name, article_id, n)
                maybe = persons[word].maybe
                maybe += [p.key for p in fits if p.key not in maybe]
        articles = {i: (f.get("published"), f.get("source")) for i, f in facts.items()}
        return cls(persons, identity, articles, fingerprint)

    @staticmethod
    def one_word_articles(rows: list[tuple[str, tuple[str, ...]]]) -> set[str]:
        """The articles whose text the build needs: those naming a speaker by one word."""
        return {a for a, speakers in rows for s in speakers if _is_name(s) and len(name_words(s)) == 1}

    # -- reading -------------------------------------------------------------------------------

    def identity_of(self, article_id: str, speaker: str) -> str | None:
        return self.identity.get((article_id, speaker))

    def candidates(self, phrase: str, role_nouns=()) -> list[Person]:
        """The identities a name asked for may be: all whose name holds its words ("Wong": Joshua
        Wong, Tak-Sing Wong and the student named Wong); a one-word identity also for a fuller name
        ("Dmitry Peskov" where reports only say "Peskov"), unless a full name fits it or it is known
        only by a description. A phrase with a role before the name ("student protester Joshua Wong")
        is tried from each capitalised word on. Empty: the phrase names nobody known by name."""
        tokens = re.findall(r"[\w'’.-]+", phrase)
        starts = [i for i, t in enumerate(tokens) if t[:1].isupper()]
        for i in starts:
            asked = name_words(" ".join(tokens[i:]))
            if not asked or (len(asked) == 1 and role_head(next(iter(asked))) in role_nouns):
                continue
            found = [p for p in self.persons.values() if asked <= p.words]
            if not found and len(asked) >= 2:
                found = [p for p in self.persons.values()
                         if len(p.words) == 1 and not p.described and p.words <= asked]
            elif found and len(asked) >= 2:
                # "Trump" in a report that names no other Trump may be the Donald Trump asked for.
                keys = {p.key for p in found}
                found += [p for p in self.persons.values() if set(p.maybe) & keys and p.words <= asked]
            if found:
                return sorted(found, key=lambda p: (-sum(p.statements.values()), p.name))
        return []

    def people(self, filters: Filters | None = None) -> list[dict]:
        """Everyone quoted in the articles the filters allow: name, roles, statements, reports, first
        and last date; most quoted first."""
        key = (filters.sources, filters.since, filters.until, filters.article_ids) if filters else ((), None, None, ())
        if key not in self._listed:
            if len(self._listed) >= 64:  # filters seen in one process are few; never grow without end
                self._listed.clear()
            self._listed[key] = self._people(filters)
        return [dict(p) for p in self._listed[key]]

    def _people(self, filters: Filters | None) -> list[dict]:
        listed = []
        for person in self.persons.values():
            dates, statements, reports, sources = [], 0, 0, set()
            for article_id, n in person.statements.items():
                published, source = self.articles.get(article_id, (None, None))
                if filters and not filters.allows(source, published, article_id):
                    continue
                statements += n
                reports += 1
                if published:
                    dates.append(published)
                if source:
                    sources.add(source)
            if not statements:
                continue
            listed.append({
                "name": person.name,
                "roles": person.top_roles(),
                "statements": statements,
                "reports": reports,
                "first": min(dates) if dates else None,
                "last": max(dates) if dates else None,
                "sources": sorted(sources),
            })
        listed.sort(key=lambda p: (-p["statements"], p["name"].lower()))
        return listed

    def to_json(self) -> dict:
        return {
            "format": _CACHE_FORMAT,
            "fingerprint": self.fingerprint,
            "persons": [p.to_json() for p in self.persons.values()],
            "identity": [[a, s, k] for (a, s), k in self.identity.items()],
            "articles": self.articles,
        }

    @classmethod
    def from_json(cls, data: dict) -> PeopleIndex:
        persons = {p["key"]: Person.from_json(p) for p in data["persons"]}
        identity = {(a, s): k for a, s, k in data["identity"]}
        articles = {i: tuple(v) for i, v in data["articles"].items()}
        return cls(persons, identity, articles, data["fingerprint"])


class StatementIndex:
    """Every sentence with speakers, kept in a SQLite file beside the store (`$QA_HOME/statements.sqlite3`)
    with its metadata and text, and looked up by the words of its speakers' names.

    "What did X say?" reads all of X's sentences. From Chroma that is a `where` over every sentence and
    each row's whole metadata (the frequent "WN": 947 rows, about 250 ms of CPU the first time; 18,283
    rows at 50,000 articles: 10 s); from this file, one indexed query. The file follows the store by
    article version: after a change only the changed articles' sentences are read again; a row is used
    only while its version is the one this process knows live. Another process's file (newer or older)
    is shared: an article is never overwritten by an older write (its `indexed_at`). Without a home (a
    Chroma server), or when the file cannot be written, `rows()` says so (None) and the store is read."""

    FORMAT = "1"  # bumped when what is kept changes: a file of another format is emptied
    _ARTICLES_A_READ = 2000  # articles whose sentences are read (and written here) at once

    def __init__(self, store, path: Path | None):
        self.store, self.path = store, path
        self._db: sqlite3.Connection | None = None
        self._versions: dict[str, str] | None = None  # article id -> its live version, as of the last sync
        self._failed = False  # the file could not be read or written: not tried again until the collection changes
        self._lock = threading.Lock()  # one connection, shared by the chat screen's threads

    def forget(self) -> None:
        self._versions, self._failed = None, False

    def rows(self, keys: list[str]) -> list[tuple[Sentence, Passage]] | None:
        """The live sentences one of whose speakers' keys is one of `keys`, as store.sentences_by_speaker
        gives them (in the order of their articles' ids, then of their text); None: no file to read."""
        with self._lock:
            if not self._synced():
                return None
            marks = ",".join("?" * len(keys))
            found = self._db.execute(
                "SELECT id, meta, text FROM statements WHERE id IN "
                f"(SELECT id FROM speaker_keys WHERE key IN ({marks})) ORDER BY article_id, position",
                list(keys),
            ).fetchall()
            versions = self._versions
        out = []
        for i, packed, text in found:
            meta = orjson.loads(packed)
            if versions.get(meta["article_id"]) == meta.get("version"):
                out.append(statement(i, meta, text))
        return out

    def speaker_rows(self) -> list[tuple[str, tuple[str, ...]]] | None:
        """(article id, speakers) of every live sentence with speakers (store.speaker_rows), or None."""
        with self._lock:
            if not self._synced():
                return None
            found = self._db.execute("SELECT meta FROM statements ORDER BY article_id, position").fetchall()
            versions = self._versions
        rows = []
        for (packed,) in found:
            meta = orjson.loads(packed)
            if versions.get(meta["article_id"]) == meta.get("version"):
                rows.append((meta["article_id"], tuple(meta["speakers"])))
        return rows

    def ready(self) -> bool:
        """Synced with the store now (at warm-up: not during the first question); False: no file to use."""
        with self._lock:
            return self._synced()

    def _synced(self) -> bool:
        if self._versions is not None:
            return True
        if self.path is None or self._failed:
            return False
        try:
            self._sync()
            return True
        except (sqlite3.Error, OSError):
            self._close()  # a read-only or damaged home, a full disk: the store is read instead
            self._failed = True
            return False

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db, self._versions = None, None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")  # readers of other processes go on while one writes
                db.executescript(_STATEMENTS_SCHEMA)
                found = db.execute("SELECT value FROM info WHERE name = 'format'").fetchone()
                if found is None or found[0] != self.FORMAT:
                    db.executescript("BEGIN IMMEDIATE; DELETE FROM statements; DELETE FROM speaker_keys; "
                                     "DELETE FROM articles; COMMIT;")
                    db.execute("INSERT OR REPLACE INTO info VALUES ('format', ?)", (self.FORMAT,))
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _sync(self) -> None:
        facts = self.store.article_facts()
        mine = {a: (f.get("version") or "", f.get("indexed_at") or "") for a, f in facts.items()}
        db = self._connect()
        filed = {a: (v, t) for a, v, t in db.execute("SELECT article_id, version, indexed_at FROM articles")}
        # An article written here later than this process's view (another process caught up first) is kept.
        changed = [a for a, (v, t) in mine.items() if a not in filed or (filed[a][0] != v and filed[a][1] <= t)]
        gone = [a for a in filed if a not in mine]
        gone = [a for a in gone if a not in self.store.versions(gone)]  # not one another process added since
        for start in range(0, len(changed), self._ARTICLES_A_READ):
            part = changed[start : start + self._ARTICLES_A_READ]
            rows = [(i, m, d) for i, m, d in self.store.sentences_with_speakers(part)
                    if mine[m["article_id"]][0] == m.get("version")]
            self._write(part, rows, mine)
        if gone:
            self._write(gone, [], {})
        self._versions = {a: v for a, (v, _) in mine.items()}

    def _write(self, articles: list[str], rows: list[tuple[str, dict, str]], mine: dict) -> None:
        """Replace these articles' sentences (one transaction), unless another process wrote a newer version."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            filed = {}
            for a in articles:
                found = db.execute("SELECT indexed_at FROM articles WHERE article_id = ?", (a,)).fetchone()
                filed[a] = found[0] if found else ""
            kept = {a for a in articles if a not in mine or filed[a] <= mine[a][1]}
            db.executemany("DELETE FROM statements WHERE article_id = ?", [(a,) for a in kept])
            db.executemany("DELETE FROM speaker_keys WHERE article_id = ?", [(a,) for a in kept])
            db.executemany("DELETE FROM articles WHERE article_id = ?", [(a,) for a in kept if a not in mine])
            db.executemany("INSERT OR REPLACE INTO articles VALUES (?, ?, ?)",
                           [(a, *mine[a]) for a in kept if a in mine])
            rows = [(i, m, d) for i, m, d in rows if m["article_id"] in kept]
            db.executemany("INSERT OR REPLACE INTO statements VALUES (?, ?, ?, ?, ?)",
                           [(i, m["article_id"], m.get("start", 0), orjson.dumps(m), d) for i, m, d in rows])
            db.executemany("INSERT INTO speaker_keys VALUES (?, ?, ?)",
                           [(k, i, m["article_id"]) for i, m, _ in rows for k in dict.fromkeys(m.get("speaker_keys") or ())])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


_STATEMENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, version TEXT NOT NULL, indexed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS statements (
    id TEXT PRIMARY KEY, article_id TEXT NOT NULL, position INTEGER NOT NULL, meta BLOB NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS statements_by_article ON statements (article_id);
CREATE TABLE IF NOT EXISTS speaker_keys (key TEXT NOT NULL, id TEXT NOT NULL, article_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS speaker_keys_by_key ON speaker_keys (key);
CREATE INDEX IF NOT EXISTS speaker_keys_by_article ON speaker_keys (article_id);
"""


class PeopleDirectory:
    """The PeopleIndex of a store, kept current: rebuilt when the articles' versions change."""

    def __init__(self, store, cache_path: Path | None = None):
        self.store = store
        self.cache_path = cache_path
        self._index: PeopleIndex | None = None
        self._lock = threading.Lock()
        # Who said what, beside people.json (none without it: then "What did X say?" reads the store).
        self.statements = StatementIndex(store, cache_path.with_name("statements.sqlite3") if cache_path else None)

    def forget(self) -> None:
        self._index = None
        self.statements.forget()

    def _facts(self) -> dict[str, dict]:
        return self.store.article_facts()

    @staticmethod
    def fingerprint(facts: dict[str, dict]) -> str:
        digest = hashlib.sha1()
        for article_id in sorted(facts):
            digest.update(f"{article_id}\0{facts[article_id].get('version', '')}\n".encode())
        return digest.hexdigest()

    def current(self) -> PeopleIndex:
        """The index of the collection as it is: kept in memory until `forget()` (the service calls it
        after a write, its own or another process's), else read from the cache file when that was made
        from the same articles' versions, else built."""
        if self._index is not None:
            return self._index
        self.statements.ready()  # before the people: a build reads its rows
        facts = self._facts()
        fingerprint = self.fingerprint(facts)
        with self._lock:
            if self._index is not None and self._index.fingerprint == fingerprint:
                return self._index
            index = self._load(fingerprint)
            if index is None:
                index = self._build(facts, fingerprint)
                self._save(index)
            self._index = index
            return index

    def _load(self, fingerprint: str) -> PeopleIndex | None:
        if self.cache_path is None or not self.cache_path.is_file():
            return None
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
            if data.get("format") != _CACHE_FORMAT or data.get("fingerprint") != fingerprint:
                return None
            return PeopleIndex.from_json(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged cache is rebuilt

    def _save(self, index: PeopleIndex) -> None:
        if self.cache_path is None:
            return
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.cache_path.with_name(f".{self.cache_path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(index.to_json(), ensure_ascii=False), encoding="utf-8")
            os.replace(temporary, self.cache_path)
        except OSError:
            pass  # a read-only home: the index is only kept in memory

    def _build(self, facts: dict[str, dict], fingerprint: str) -> PeopleIndex:
        # Both read every sentence with speakers: the statement index's rows when it has them.
        rows = self.statements.speaker_rows()
        rows = self.store.speaker_rows() if rows is None else rows
        needed = sorted(PeopleIndex.one_word_articles(rows))
        texts = {a.id: a.text for a in self.store.get_articles(needed)} if needed else {}
        return PeopleIndex.build(rows, facts, texts, fingerprint)
