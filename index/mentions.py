"""Mentions of people resolved within an article: names, surnames, roles, pronouns and pairs.

No coreference model installs from a package registry and runs offline (coreferee's English
model, spaCy's experimental coref, fastcoref and maverick-coref all download their weights), so
this is a set of rules over spaCy's parse and entities, read in order through the article:

- **Names.** A PERSON entity (or a proper-noun subject of a speech verb, which the small NER model
  sometimes misses) is a person. A later name whose words are a part of a known person's ("Ruiz"
  after "Ana Ruiz"; "Dr Maathai" after "Wangari Maathai": courtesy titles are no part of a name)
  is that person, and so is a surname the article misspells by a letter ("Saree" after "Yahya
  Sarea"); the longest form is the canonical name.
- **Roles.** Nouns before the name in its phrase ("Kremlin spokesman Dmitry Peskov", "Finance
  Minister Ana Ruiz") and appositives ("Ana Ruiz, the finance minister,"; "the minister, Ana
  Ruiz,") are that person's roles. A later definite role noun ("the minister", "the Kremlin
  spokesman") is the most recent person holding a role with that head noun, or the one named
  earlier in the same sentence ("Minister Patuanelli sent a letter, but the minister said …").
- **Pronouns.** he/him/his and she/her/hers are the most recent compatible person, preferring
  the subject of a recent sentence; gender is learnt from the pronouns the article already used
  for that person and from honorifics (Mr, Ms). A pronoun object is never its own clause's
  subject ("Jane Doe greeted her": "her" is someone else). When nobody near is known to be "she",
  the article's most-mentioned woman is.
- **Pairs.** "the two leaders", "both presidents", "the pair" are the two most recently named
  people; "they" is a pair or group when the last subject was one ("Putin and Xi").

Each rule is local and explainable; anything ambiguous stays unresolved rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

_MALE = {"he", "him", "his", "himself"}
_FEMALE = {"she", "her", "hers", "herself"}
_PLURAL = {"they", "them", "their", "themselves"}
_HONORIFICS = {
    "mr": "m",
    "mr.": "m",
    "sir": "m",
    "ms": "f",
    "ms.": "f",
    "mrs": "f",
    "mrs.": "f",
    "miss": "f",
    "lady": "f",
}
_PAIR_NOUNS = {"pair", "duo", "couple"}
# Nouns that stand for people in "the two …" besides the roles the article gave them.
_PEOPLE_NOUNS = {"leader", "man", "woman", "official", "politician", "counterpart", "head", "person", "men", "women"}
_SUBJECTS = {"nsubj", "nsubjpass"}
_OBJECTS = {"dobj", "iobj", "pobj", "dative"}
_NAME_WORD = re.compile(r"[\w-]+")
_DETERMINERS = {"the", "a", "an"}
_COURTESY_TITLES = {"mr", "mrs", "ms", "dr", "miss"}
# Entities that are not people even when they are a speech verb's subject.
_NOT_PEOPLE = {"ORG", "GPE", "NORP", "FAC", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "DATE", "TIME"}
# How many sentences back a pronoun or role noun may reach.
_REACH = 4


_NOT_ROLES = {"GPE", "LOC", "ORG", "NORP", "FAC"}  # entity types whose words alone name no role
_ROLE_POS = {"NOUN", "PROPN", "ADJ"}


def _is_acronym(token) -> bool:
    return token.is_upper and token.is_alpha and len(token) > 1


def name_words(name: str) -> set[str]:
    """Comparable words of a name: lower case, quotes, possessives and courtesy titles dropped
    ("Dr Maathai" is "Wangari Maathai")."""
    name = name.replace("’", "'").lower().replace("'s ", " ").removesuffix("'s")
    return {w for w in _NAME_WORD.findall(name) if w not in _DETERMINERS and w not in _COURTESY_TITLES}


def role_head(word: str) -> str:
    """'spokesman', 'spokeswoman' and 'spokesperson' are one role; plurals are their singular."""
    word = word.lower()
    word = re.sub(r"(wo)?m[ae]n$|persons?$|people$", "person", word) if word.startswith("spokes") else word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


@dataclass(eq=False)
class Person:
    """One person an article talks about; `name` grows to the longest form the article uses."""

    name: str
    words: set[str]
    roles: set[str] = field(default_factory=set)  # lower-case role phrases: "finance minister"
    gender: str | None = None  # "m" or "f", once the article shows it
    last_seen: int = -1  # sentence index of the latest mention
    last_subject: int = -1  # sentence index where it was last a subject
    mentions: int = 0  # sentences that mention them: how central to the article they are

    _heads: tuple[int, set[str]] = (0, set())  # (how many roles, their heads): roles only grow

    @property
    def role_heads(self) -> set[str]:
        """The head nouns of the person's roles, kept while no role is added: asked for every "the X"."""
        if self._heads[0] != len(self.roles):
            self._heads = (len(self.roles), {role_head(r.split()[-1]) for r in self.roles})
        return self._heads[1]

    @property
    def keys(self) -> set[str]:
        """Words a question may use for this person: name words and role words."""
        return self.words | {w for r in self.roles for w in name_words(r)}


class MentionResolver:
    """Reads an article's parsed sentences in order and says which people each token refers to."""

    def __init__(self, known_roles: dict[str, set[str]] | None = None) -> None:
        """`known_roles`: role phrase -> names of the people the collection's other articles gave it,
        so "the finance minister" of one report is the one person another report named with that role."""
        self.known_roles = known_roles or {}
        self.people: list[Person] = []
        self.by_token: dict[int, list[Person]] = {}  # token index in its doc -> people it refers to
        self._last_group: list[Person] = []  # the last plural subject ("Putin and Xi")
        self._group_at = -10
        self.last_speakers: list[Person | str] = []  # who spoke last: what "he added" refers to
        self._doc = None

    # -- the people an article names ------------------------------------------------------

    def person_named(self, name: str, sentence: int) -> Person:
        """The known person this name refers to, or a new one."""
        name = _clean_name(name)
        words = name_words(name)
        bare = words - _HONORIFICS.keys() or words  # "Ms Bauchtman" is compared as "Bauchtman"
        for person in reversed(self.people):
            if words and (bare <= person.words or person.words <= words or _misspelt(bare, person.words)):
                if len(words) > len(person.words):
                    person.name, person.words = name, words
                person.last_seen = sentence
                return person
        person = Person(name, words, last_seen=sentence)
        self.people.append(person)
        return person

    def resolve_sentence(self, sent, index: int, speech_subjects: set[int]) -> list[Person]:
        """Resolve the mentions of one spaCy sentence; returns the people it mentions, in order.

        `speech_subjects`: token indices that are subjects of speech verbs (proper nouns there are
        people even when NER misses them).
        """
        if sent.doc is not self._doc:  # token indices are per doc (one paragraph)
            self._doc, self.by_token = sent.doc, {}
        mentioned: list[Person] = []

        def note(token_ids, people: list[Person]) -> None:
            for t in token_ids:
                self.by_token[t] = people
            for p in people:
                if p not in mentioned:
                    mentioned.append(p)

        doc = sent.doc
        # 1. Names (entities first, then proper-noun speakers and known surnames NER missed).
        for ent in sent.ents:
            if ent.label_ == "PERSON" and name_words(ent.text):
                person = self.person_named(ent.text, index)
                self._learn_roles(person, doc, ent)
                note(range(ent.start, ent.end), [person])
        for token in sent:
            if token.i in self.by_token or token.pos_ != "PROPN" or not token.text[:1].isupper():
                continue
            chain = _proper_chain(doc, token)
            text = " ".join(t.text for t in chain)
            words = name_words(text)
            # A surname the article already gave a person is that person, whatever NER says of it.
            known = any(words and (words <= p.words or _misspelt(words, p.words)) for p in self.people)
            speaks = token.i in speech_subjects and (token.ent_type_ not in _NOT_PEOPLE or _named_with_employer(token))
            # "tweeted Mayor of London Sadiq Khan": a title alone is a name only of someone known by it ("the Pope").
            speaks = speaks and not (len(chain) == 1 and _looks_like_role(token) and token.ent_type_ != "PERSON")
            if speaks or known or _described_as_person(chain):
                person = self.person_named(text, index)
                self._learn_roles(person, doc, doc[chain[0].i : chain[-1].i + 1])
                note([t.i for t in chain], [person])
        # 2. Role nouns, pairs and pronouns.
        for token in sent:
            if token.i in self.by_token:
                continue
            people = self._resolve_reference(token, index, speaking=token.i in speech_subjects)
            if people:
                note([token.i], people)
        # 3. Who was the subject: pronouns and roles prefer a recent subject.
        for token in sent:
            if token.dep_ in _SUBJECTS and token.i in self.by_token:
                group = self.by_token[token.i]
                for p in group:
                    p.last_subject = index
                conj = [self.by_token[c.i][0] for c in token.conjuncts if c.i in self.by_token]
                if len(group) + len(conj) >= 2:
                    self._last_group, self._group_at = list(dict.fromkeys(group + conj)), index
        for p in mentioned:
            p.last_seen = index
            p.mentions += 1
        return mentioned

    def _learn_roles(self, person: Person, doc, name_span) -> None:
        """Roles before the name in its phrase, from appositives, and gender from honorifics."""
        root = name_span.root
        before = []
        attached = set(range(name_span.start, name_span.end))
        i = name_span.start - 1
        while i >= 0 and doc[i].head.i in attached:
            t = doc[i]
            if t.dep_ in ("det", "poss", "punct", "case") or t.ent_type_ == "PERSON":
                break
            before.insert(0, t)
            attached.add(t.i)
            i -= 1
        # "Florida Department of Transportation official Troy Roberts": the body whose role it is, named right
        # before the role and hung on it, is part of the role.
        body = next((e for e in doc.ents if e.label_ == "ORG" and before and e.end == before[0].i), None)
        if body is not None and any(t.head.i in attached for t in body):
            before = list(body) + before
        titles = [t for t in before if t.lower_ in _HONORIFICS]
        if titles:
            person.gender = person.gender or _HONORIFICS[titles[-1].lower_]
        # An acronym is part of the role whatever the small tagger makes of it ("USCG" as a verb).
        role_tokens = [t for t in before if t.lower_ not in _HONORIFICS and (t.pos_ in _ROLE_POS or _is_acronym(t))]
        # "archbishop Monsenor Jorge …": a capitalised word after the role's last lower-case noun is a
        # title of the name ("Monsenor", "Sheikh"), not the role; an acronym ("company CEO") is the role.
        common = [k for k, t in enumerate(role_tokens) if t.pos_ == "NOUN" and t.text.islower()]
        if common and all(t.text.istitle() for t in role_tokens[common[-1] + 1 :]):
            role_tokens = role_tokens[: common[-1] + 1]
        # "ambassador to the United States Hamdullah Mohib": a place or a body alone is not a role.
        place = all(t.ent_type_ in _NOT_ROLES for t in role_tokens)
        if role_tokens and role_tokens[-1].pos_ in ("NOUN", "PROPN") and not place:
            person.roles.add(" ".join(t.lower_ for t in role_tokens))
        for child in root.children:
            # "Delfin Lorenzana, the Defence Secretary": a title written as a proper noun is a role too; not one
            # the parser hung on the name from inside a quotation ('Sunak …: "The Home Secretary and I …"').
            quoted = any(t.text in '"“”' for t in doc[min(root.i, child.i) : max(root.i, child.i)])
            if child.dep_ == "appos" and (child.pos_ == "NOUN" or _titled_role(child)) and not quoted:
                person.roles.add(_role_phrase(child))
        if root.dep_ == "appos" and root.head.pos_ == "NOUN":
            person.roles.add(_role_phrase(root.head))
        elif root.dep_ == "appos" and doc[name_span.start - 1].text == ",":
            # "Speaking to Agence France-Presse, the president of the league, Jamel Msallem, said": the small
            # parser hangs both on the name before them; the description right before the name is the person's.
            for c in root.head.children:
                if c.dep_ == "appos" and c.pos_ == "NOUN" and c.right_edge.i + 2 == name_span.start:
                    person.roles.add(_role_phrase(c))

    def _resolve_reference(self, token, index: int, speaking: bool = False) -> list[Person]:
        lower = token.lower_
        if token.pos_ == "PRON" and (lower in _MALE or lower in _FEMALE):
            gender = "m" if lower in _MALE else "f"
            # "He added …" right after a statement: the one who was speaking goes on.
            if speaking and self.last_speakers:
                recent = [p for p in self.last_speakers if isinstance(p, Person) and p.gender in (None, gender)]
                # The one who spoke is not a person we know (NER missed the name): leave it to the attributor.
                # Of several, the one the article is most about.
                found = max(reversed(recent), key=lambda p: p.mentions) if recent else None
            else:
                found = self._pronoun(token, index, gender)
            if found is not None:
                found.gender = found.gender or gender
                return [found]
            return []
        if token.pos_ == "PRON" and lower in _PLURAL:
            return list(self._last_group) if index - self._group_at <= 1 else []
        if token.pos_ != "NOUN" or token.dep_ == "compound":
            return []
        dets = {c.lower_ for c in token.children if c.dep_ in ("det", "predet", "nummod")}
        if ("two" in dets and "the" in dets) or "both" in dets or (lower in _PAIR_NOUNS and "the" in dets):
            recent = sorted((p for p in self.people if index - p.last_seen <= _REACH), key=lambda p: -p.last_seen)[:2]
            # "the two leaders", "both presidents": a noun for people ("the two countries" is not).
            heads = {h for p in recent for h in p.role_heads} | _PEOPLE_NOUNS
            return recent if len(recent) == 2 and (role_head(lower) in heads or lower in _PAIR_NOUNS) else []
        if "the" not in dets:
            return []
        head = role_head(token.lower_)
        modifiers = {c.lower_ for c in token.children if c.dep_ in ("compound", "amod")}
        candidates = [
            p for p in self.people if head in p.role_heads and modifiers <= {w for r in p.roles for w in r.split()}
        ]
        if candidates:
            # "Minister Stefano Patuanelli sent a letter, but the minister said …": a role-holder named
            # earlier in this sentence, in another clause, is the one the subject means.
            if token.dep_ in _SUBJECTS:
                here = [
                    p
                    for i, people in sorted(self.by_token.items())
                    if token.sent.start <= i < token.i and token.doc[i].head.i != token.head.i
                    for p in people
                    if p in candidates
                ]
                if here:
                    return [here[-1]]
            return [max(candidates, key=lambda p: (p.last_subject, p.last_seen))]
        # Not named here: another report of the collection may tie this role to exactly one person.
        # Only a specific role ("the finance minister", not "the minister" or "the victim") is
        # specific enough to name someone across reports.
        if not modifiers:
            return []
        phrase = " ".join(c.lower_ for c in token.lefts if c.dep_ in ("compound", "amod")) + " " + token.lower_
        names = self.known_roles.get(phrase.strip(), set())
        if len(names) != 1:
            return []
        person = self.person_named(next(iter(names)), index)
        person.roles.add(phrase.strip())
        return [person]

    def _pronoun(self, token, index: int, gender: str) -> Person | None:
        # A pronoun object of a verb is not that verb's own subject ("Doe greeted her").
        clause_subjects = set()
        if token.dep_ in _OBJECTS or token.dep_ == "poss":
            verb = token.head if token.dep_ != "pobj" else token.head.head
            if token.dep_ != "poss":
                clause_subjects = {
                    id(p) for c in verb.children if c.dep_ in _SUBJECTS for p in self.by_token.get(c.i, [])
                }
        earlier_here = [p for i, people in self.by_token.items() if token.sent.start <= i < token.i for p in people]
        candidates = [
            p
            for p in self.people
            if (p.gender in (None, gender))
            and (index - p.last_seen <= _REACH or p in earlier_here)
            and id(p) not in clause_subjects
        ]
        # Someone already named in this sentence before the pronoun, else the latest subject, else the latest.
        here = [p for p in earlier_here if p in candidates]
        if here:
            subjects_here = [p for p in here if p.last_subject == index]
            return (subjects_here or here)[0] if token.dep_ in _SUBJECTS else here[-1]
        # Nobody near is known to be "she": the article's central person known to be "she" is meant,
        # when mentioned more often than anyone near ("She is just doing this" in a protester's quote
        # about Carrie Lam, after a student was quoted).
        if not any(p.gender == gender for p in candidates):
            known = [p for p in self.people if p.gender == gender and id(p) not in clause_subjects]
            central = max(known, key=lambda p: p.mentions, default=None)
            if central is not None and all(central.mentions > p.mentions for p in candidates):
                return central
        if not candidates:
            return None
        return max(candidates, key=lambda p: (p.last_subject, p.last_seen))


def _described_as_person(chain: list) -> bool:
    """A name NER missed that the text describes as a person: "Ana Ruiz, the finance minister,",
    "Mr Novak"."""
    root = max(chain, key=lambda t: t.i)
    if len(chain) < 2 and root.i == 0:
        return False
    # An appositive role ("Gáspár Maróth, the government commissioner,") outweighs the small NER
    # model's label, which often takes an unfamiliar name for an organisation or place.
    appositive = any(c.dep_ == "appos" and c.pos_ == "NOUN" for c in root.children)
    honorific = root.doc[chain[0].i - 1].lower_ in _HONORIFICS if chain[0].i > 0 else False
    return appositive or (honorific and not any(t.ent_type_ in _NOT_PEOPLE for t in chain))


def _named_with_employer(token) -> bool:
    """NER often takes "Lydia Buchtmann for Food Standards Australia" for one organisation: a
    speaking proper noun followed, inside that entity, by for/of/from/at is a person's name."""
    for ent in token.sent.ents:
        if ent.start <= token.i < ent.end:
            linked = next((t for t in ent if t.i > token.i and t.lower_ in ("for", "of", "from", "at")), None)
            # A first and last name before it: "House of Representatives" is no person.
            before = token.doc[ent.start : linked.i] if linked is not None else []
            return len(before) >= 2 and all(t.pos_ == "PROPN" for t in before)
    return False


def _clean_name(name: str) -> str:
    name = " ".join(name.replace("’", "'").split())
    for suffix in ("'s", "'"):
        name = name.removesuffix(suffix)
    return name.strip(" ,.;:\"“”'")


def _misspelt(a: set[str], b: set[str]) -> bool:
    """A one-word surname the article misspells ("Ms Bauchtman" after "Lydia Buchtmann", "Saree"
    after "Yahya Sarea"): close in spelling to one of the person's name words (one letter changed,
    added or dropped, or a similarity of 0.85), with the same first letter and at least 5 letters."""
    if len(a) != 1:
        return False
    (word,) = a
    return len(word) >= 5 and any(
        w[0] == word[0] and (_one_edit(word, w) or SequenceMatcher(None, word, w).ratio() >= 0.85)
        for w in b
        if len(w) >= 5
    )


def _one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[i + 1 :] == shorter[i:]


def _proper_chain(doc, token) -> list:
    """The run of proper nouns a name token belongs to ("Jamil Murad")."""
    own = next((e for e in token.sent.ents if e.start <= token.i < e.end), None)

    def joins(t) -> bool:  # a proper noun of no other entity, or of the token's own one
        if t.pos_ != "PROPN":
            return False
        if own is not None and own.start <= t.i < own.end:
            return True
        # "Mayor of London Sadiq Khan": a person's name does not run on from a place before it.
        return t.ent_type_ not in _NOT_PEOPLE and not (t.ent_type_ and own is not None and own.label_ != t.ent_type_)

    start = token.i
    while start > 0 and joins(doc[start - 1]):
        start -= 1
    end = token.i
    while end + 1 < len(doc) and joins(doc[end + 1]):
        end += 1
    chain = list(doc[start : end + 1])
    # Titles written as proper nouns ("Minister", "President") are roles, not names.
    while len(chain) > 1 and chain[0].is_title and chain[0].dep_ == "compound" and _looks_like_role(chain[0]):
        chain = chain[1:]
    return chain


def _titled_role(token) -> bool:
    """ "the Defence Secretary", "the Prime Minister": a capitalised title with its article, not a name."""
    return (
        token.pos_ == "PROPN"
        and token.lower_ in _ROLE_TITLES
        and token.ent_type_ != "PERSON"
        and any(c.lower_ == "the" for c in token.children if c.dep_ == "det")
    )


def _looks_like_role(token) -> bool:
    return token.lower_ in _HONORIFICS or token.tag_ == "NNP" and token.lower_ in _ROLE_TITLES


# Titles that stand before a name as proper nouns ("President Xi"): how English writes them, not a list of people.
_ROLE_TITLES = {
    "president",
    "minister",
    "prime",
    "secretary",
    "senator",
    "governor",
    "mayor",
    "chancellor",
    "king",
    "queen",
    "prince",
    "princess",
    "pope",
    "general",
    "colonel",
    "captain",
    "judge",
    "justice",
    "professor",
    "dr",
    "dr.",
    "chairman",
    "chairwoman",
    "chair",
    "director",
    "ambassador",
    "representative",
    "rep.",
    "sen.",
    "gov.",
    "gen.",
    "sheikh",
    "emperor",
    "premier",
    "spokesman",
    "spokeswoman",
    "spokesperson",
    "commissioner",
    "chief",
    "bishop",
    "archbishop",
    "rabbi",
    "imam",
    "officer",
    "sergeant",
    "lieutenant",
    "admiral",
    "coach",
    "deputy",
    "vice",
    "ceo",
}


def _role_phrase(noun) -> str:
    """'the secretary of Ukraine's security council' -> 'secretary'; 'the finance minister' -> 'finance
    minister'; "Dunn's mother" -> "dunn's mother" (whose mother is part of who she is)."""
    words = [t.text.lower() for t in noun.lefts if t.dep_ in ("compound", "amod", "poss")] + [noun.lower_]
    return " ".join(words)
