"""Who said what: each sentence's speakers and the people it mentions, found at ingest.

Built on spaCy's parse and entities, with people resolved by `index.mentions.MentionResolver`
(names, surnames, roles, pronouns, pairs). A sentence is attributed to:

- the subject of a speech verb ("Peskov said", "The minister added", "He warned", "the two
  leaders said", '"…," said a protester using the pseudonym Katya', "Prime Minister Tuilaepa, who
  told the press"), or X in "according to X",
  resolved to the person it refers to; "the company" is the organisation just named, and "the
  spokesperson" the unnamed spokesperson who spoke just before. A speech verb inside quotation
  marks is the speaker's own words, not a report;
- in a sentence without a speech verb, the subject of a main verb whose object quotes words
  ('Sadiq Khan thanked "the police … for their swift response"');
- the speaker of the quotation it belongs to, when a quotation runs over several sentences or
  paragraphs (`Okafor said: "The bridge is safe. We checked every bolt."`, or the speaker named
  only after the quote closes, even where the small parser reads the verb as an adjective of the
  speaker's title: '"…" tweeted Mayor of London Sadiq Khan'). A paragraph that opens with a
  quotation mark while the one before ended inside a quotation continues it, as news style writes
  long quotes;
- the label of an interview answer ("Hugh McGuire: I think ..."), when the label opens two or
  more paragraphs of the article or names a person the article already named.

Subjects that are not people ("Downing Street officials", "the Kremlin") are kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from index.mentions import MentionResolver, Person, name_words, role_head
from qa.types import Entity

# The speakers, mentions and roles stored with each sentence come from these rules and index.mentions':
# a change that moves them bumps this, so the next ingest rewrites every article (index/ingest.py).
RULES = 3

_SPEECH_VERBS = {
    f
    for forms in (
        "say says said",
        "tell tells told",
        "add adds added",
        "write writes wrote",
        "warn warns warned",
        "tweet tweets tweeted",
        "argue argues argued",
        "caution cautions cautioned",
        "describe describes described",
        "mention mentions mentioned",
        "claim claims claimed",
        "insist insists insisted",
        "state states stated",
        "announce announces announced",
        "note notes noted",
        "declare declares declared",
        "stress stresses stressed",
        "explain explains explained",
        "call calls called",
        "urge urges urged",
        "reply replies replied",
        "suggest suggests suggested",
        "confirm confirms confirmed",
        "deny denies denied",
        "posted",
        "ask asks asked",
        "respond responds responded",
        "comment comments commented",
        "admit admits admitted",
        "acknowledge acknowledges acknowledged",
        "recall recalls recalled",
        "remark remarks remarked",
        "predict predicts predicted",
        "promise promises promised",
        "assert asserts asserted",
        "emphasise emphasises emphasised",
        "emphasize emphasizes emphasized",
        "reiterate reiterates reiterated",
        "vow vows vowed",
        "pledge pledges pledged",
        "concede concedes conceded",
        "accuse accuses accused",
        "criticise criticises criticised",
        "criticize criticizes criticized",
        "praise praises praised",
    )
    for f in forms.split()
}
# Verbs that report speech only next to a quotation ('"…," he continued'; "fighting continued" is not).
_QUOTING_VERBS = {
    f
    for forms in (
        "continue continues continued",
        "conclude concludes concluded",
        "joke jokes joked",
        "recount recounts recounted",
        "quip quips quipped",
        "exclaim exclaims exclaimed",
    )
    for f in forms.split()
}
SPEECH_VERB_PATTERN = "|".join(sorted(_SPEECH_VERBS, key=len, reverse=True))
_OBJECT_PRONOUNS = {"him", "her", "them", "it", "this", "that", "which", "who", "i", "we", "you", "me", "us"}
_PERSONAL = {"he", "she", "they"}
_OPENING_QUOTES = ("“", '"', "‘")
_DETERMINERS = {"the", "a", "an"}
_SPEAKER_ENTITIES = ("PERSON", "ORG", "GPE", "NORP", "FAC")
_HOLDER_OF = ("ORG", "GPE", "LOC")  # "Mayor of London Sadiq Khan": what a role named before a name is of
# "The company said …" after "PG&E": common nouns English uses for an organisation just named.
_ORGANISATION_NOUNS = {
    "company",
    "firm",
    "corporation",
    "utility",
    "airline",
    "carrier",
    "agency",
    "organisation",
    "organization",
    "group",
    "network",
    "broadcaster",
    "newspaper",
    "bank",
    "manufacturer",
    "retailer",
    "operator",
    "charity",
}
# How many sentences back "the company" may reach for the organisation it stands for, and "the
# spokesperson" for the unnamed spokesperson who spoke.
_ORGANISATION_REACH = 3
# "Hugh McGuire: I think ...", "((WN)): Why ...": an interview's speaker label.
_QUOTE_LABEL = re.compile(r"^\s*(?:(\(\([^()\n]{1,40}\)\))\s*:?|([A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4}):)(?:\s|$)")


@dataclass(frozen=True)
class SentenceFacts:
    """What attribution found in one sentence (see qa.types.Sentence for the stored fields)."""

    speakers: tuple[str, ...] = ()
    speaker_keys: tuple[str, ...] = ()  # words of the speakers' names and roles
    mentions: tuple[str, ...] = ()  # canonical names of the people the sentence refers to
    mention_keys: tuple[str, ...] = ()  # words of their names and roles, and of organisations called "the company"
    entities: tuple[Entity, ...] = ()


@dataclass(frozen=True)
class ParsedSentence:
    """A sentence to attribute: its article offsets, the spaCy sentence it is (part of), and
    whether it opens a paragraph. Several pieces of one over-long spaCy sentence share `sent`."""

    start: int
    end: int
    sent: object  # spacy.tokens.Span
    offset: int  # article offset of the spaCy doc `sent` belongs to
    opens_paragraph: bool


@dataclass(frozen=True)
class Attribution:
    """An article's sentence facts, in order, and the people it names with their roles."""

    sentences: list[SentenceFacts]
    people: dict[str, tuple[str, ...]]  # canonical name -> roles


class SpeakerAttributor:
    """Speakers, resolved mentions and entities of every sentence of one article."""

    def attribute(
        self, article_text: str, sentences: list[ParsedSentence], known_roles: dict[str, set[str]] | None = None
    ) -> Attribution:
        """`known_roles`: role -> names, from the collection's other articles (see MentionResolver)."""
        resolver = MentionResolver(known_roles)
        labels = _interview_labels(article_text, sentences)
        # One pass over the spaCy sentences, in order; pieces of one sentence share its facts.
        order: list[object] = []
        for s in sentences:
            if not order or order[-1] is not s.sent:
                order.append(s.sent)
        speakers: dict[int, list[Person | str]] = {}
        mentioned: dict[int, list[Person]] = {}
        opens = {id(s.sent): s.opens_paragraph for s in sentences if s.opens_paragraph}
        current_label: Person | str | None = None
        reported: set[int] = set()  # sentences with a speech verb outside quotation marks, resolved or not
        quote_open = False  # whether a quotation is open where the sentence starts
        organisations: list[tuple[int, str]] = []  # (sentence, name) of the organisations named so far
        referred: dict[int, list[str]] = {}  # organisations a sentence refers to as "the company"
        for index, sent in enumerate(order):
            if id(sent) in opens:
                current_label = None
                label = _label(sent.text)
                if label in labels:
                    current_label = _label_speaker(resolver, label, index)
            if id(sent) in opens and not sent.text.startswith(_OPENING_QUOTES):
                quote_open = False
            quoted = _quoted_tokens(sent, quote_open)
            subjects = list(_speech_subjects(sent, quoted))
            if _has_speech_verb(sent, quoted):
                reported.add(index)
            quote_open = quotation_open_after(sent.text, quote_open)
            people = resolver.resolve_sentence(sent, index, {t.i for t in subjects})
            found: list[Person | str] = []
            for subject in subjects:
                named = _resolve_speaker(resolver, subject, _recent(organisations, sent, subject, index))
                named = [_earlier_phrase(who, speakers, index) if isinstance(who, str) else who for who in named]
                if not named and subject.lower_ in _PERSONAL and index and speakers.get(index - 1):
                    # "…," he wrote: whoever spoke in the sentence before, even one NER did not see as a person.
                    named = speakers[index - 1]
                for who in named:
                    if who not in found:
                        found.append(who)
            if not found and current_label is not None:
                found = [current_label]
            speakers[index] = found
            # Who "he added" in the next sentence can mean; a sentence without a speaker ends the statement.
            resolver.last_speakers = list(found)
            mentioned[index] = people
            # "The last time the government ordered the network to shut down": the network just named.
            referred[index] = [
                org
                for t in sent
                if _is_organisation_noun(t) and (org := _recent(organisations, sent, t, index)) is not None
            ]
            organisations += [(index, _entity_name(e)) for e in sent.ents if e.label_ == "ORG" and _entity_name(e)]
        _spread_over_quotes(order, opens, speakers, reported)
        facts_by_sent = {id(sent): _facts(speakers[i], mentioned[i], referred[i]) for i, sent in enumerate(order)}
        # The roles other reports may use ("the minister" is Ana Ruiz) are those of people the report
        # shows to be people: they speak, or are "he" or "she". The small NER model also names places
        # and things as people ("U.S. state Louisiana", "the deal Brexit"): "state" is no one's role.
        spoke = {id(who) for found in speakers.values() for who in found if isinstance(who, Person)}
        return Attribution(
            [_with_entities(facts_by_sent[id(s.sent)], s) for s in sentences],
            {
                p.name: tuple(sorted(p.roles)) if id(p) in spoke or p.gender else ()
                for p in resolver.people
                if name_words(p.name)
            },
        )


def _facts(speakers: list[Person | str], people: list[Person], organisations: list[str]) -> SentenceFacts:
    names = [s.name if isinstance(s, Person) else s for s in speakers]
    names = [n for n in dict.fromkeys(names) if name_words(n)]
    speaker_keys = set()
    for s in speakers:
        speaker_keys |= s.keys if isinstance(s, Person) else name_words(s)
    everyone = list(dict.fromkeys([*people, *(s for s in speakers if isinstance(s, Person))]))
    mention_keys = set().union(*(p.keys for p in everyone), *(name_words(o) for o in organisations))
    return SentenceFacts(
        speakers=tuple(names),
        speaker_keys=tuple(sorted(speaker_keys)),
        mentions=tuple(dict.fromkeys(p.name for p in everyone)),
        mention_keys=tuple(sorted(mention_keys)),
    )


def _with_entities(facts: SentenceFacts, s: ParsedSentence) -> SentenceFacts:
    spans = [(e.label_, e.start_char, e.end_char) for e in s.sent.ents]
    # Proper names the small NER model leaves unlabelled ("Tadej Pogacar") are still names: "NAME".
    covered = {t.i for e in s.sent.ents for t in e}
    token = s.sent.start
    while token < s.sent.end:
        run = token
        while run < s.sent.end and _is_name_token(s.sent.doc[run]) and run not in covered:
            run += 1
        if run - token >= 2 or (run > token and token > s.sent.start):
            first, last = s.sent.doc[token], s.sent.doc[run - 1]
            spans.append(("NAME", first.idx, last.idx + len(last.text)))
        token = max(run, token + 1)
    entities = tuple(
        Entity(label, s.offset + start, s.offset + end)
        for label, start, end in sorted(spans, key=lambda e: e[1])
        if s.start <= s.offset + start and s.offset + end <= s.end
    )
    return SentenceFacts(facts.speakers, facts.speaker_keys, facts.mentions, facts.mention_keys, entities)


def _is_name_token(token) -> bool:
    return token.pos_ == "PROPN" and token.text[:1].isupper() and token.is_alpha


def _speech_subjects(sent, quoted: set[int]) -> Iterable:
    """The tokens that speak in a sentence: subjects of speech verbs and X of "according to X"; in
    a sentence with neither, the subject of a main verb whose object quotes words ('Sadiq Khan
    thanked "the police … for their swift and courageous response"'). A speech verb inside a
    quotation is the speaker's own words ("people add less salt"), not a report of speech.

    `quoted`: the sentence's tokens inside quotation marks (_quoted_tokens).
    """
    quoting = any(ch in sent.text for ch in '"“”')
    found = False
    for token in sent:
        if token.i in quoted:
            continue
        speech = token.lower_ in _SPEECH_VERBS or (quoting and token.lower_ in _QUOTING_VERBS)
        if speech and token.pos_ in ("VERB", "AUX"):
            subject = _subject(token, quoted)
            if subject is not None:
                found = True
                yield subject
        elif token.lower_ == "according" and token.i + 1 < sent.end and token.doc[token.i + 1].lower_ == "to":
            objects = [c for c in token.doc[token.i + 1].children if c.dep_ == "pobj"]
            if objects:
                found = True
                yield _person_after_place(objects[0])
    if quoting and not found:
        subject = _quoting_subject(sent)
        if subject is not None:
            yield subject


def _person_after_place(token):
    """ "According to Connecticut Senator Richard Blumenthal": the small parser may make the place the
    object; the person named right after it (titles between) is who speaks. Otherwise `token` itself."""
    if token.ent_type_ not in ("GPE", "NORP", "LOC"):
        return token
    place = next(e for e in token.doc.ents if e.start <= token.i < e.end)
    for following in token.doc[place.end : place.end + 4]:
        if following.is_punct:
            break
        if following.ent_type_ == "PERSON":
            person = next(e for e in token.doc.ents if e.start <= following.i < e.end)
            return person.root
    return token


def _quoting_subject(sent):
    """The active subject of the main verb, when the quotation is in what follows it and none in the subject."""
    root = sent.root
    if root.pos_ != "VERB":
        return None
    subjects = [c for c in root.children if c.dep_ == "nsubj"]
    if not subjects or subjects[0].lower_ in _OBJECT_PRONOUNS:
        return None
    subject = subjects[0]
    before = sent.doc[sent.start : subject.right_edge.i + 1].text
    # The quotation opens after the verb: a closing mark there ends a quote that began before.
    opening = next((t for t in sent.doc[root.i + 1 : sent.end] if t.text in ('"', "“", "”")), None)
    opens = opening is not None and (
        opening.text == "“" or (opening.text == '"' and sent.doc[opening.i - 1].whitespace_ != "")
    )
    return subject if opens and not any(ch in before for ch in '"“”') else None


def _subject(verb, quoted: set[int]):
    """Who the speech verb `verb` reports: its subject, else the speaker named after a closing quotation.
    `quoted`: the sentence's tokens inside quotation marks, none of which speaks ('Not ours", said Jorgensen')."""
    for candidate in (verb, verb.head if verb.dep_ == "conj" else None):
        if candidate is None:
            continue
        if any(c.dep_ == "nsubjpass" for c in candidate.children):
            # "The attack was claimed by the Houthis": the passive's subject is what was said; the agent speaks.
            agents = [g for c in candidate.children if c.dep_ == "agent" for g in c.children if g.dep_ == "pobj"]
            return agents[0] if agents else None
        subjects = [_outside(c, quoted) for c in candidate.children if c.dep_ == "nsubj"]
        subjects = [c for c in subjects if c is not None]
        if len(subjects) > 1:
            # "Head of the UN refugee agency Filippo Grandi said": the small parser gives the verb two
            # subjects, the role and the name; the name right before the verb is who speaks.
            named = [s for s in subjects if _is_name_token(s) and _next_to(s, candidate)]
            subjects = named or subjects
        if subjects:
            if subjects[0].lower_ == "who" and candidate.dep_ == "relcl" and candidate.head.pos_ == "PROPN":
                # "Prime Minister Tuilaepa, who told the press …": the one named. Not "the one who writes",
                # which in an interview answer is the answerer's words about someone.
                return candidate.head
            # "allowing him to tell": an object pronoun is not who speaks.
            return None if subjects[0].lower_ in _OBJECT_PRONOUNS else subjects[0]
    # "…, the president of the league, Jamel Msallem, said": the small parser may hang the name on a word
    # before it and leave the verb without a subject; a person named right before the verb speaks.
    before = verb.doc[verb.i - 2 : verb.i] if verb.i - 2 >= verb.sent.start else None
    if before is not None and before[1].text == "," and before[0].ent_type_ == "PERSON" and verb.dep_ == "ROOT":
        return before[0]
    # '"…," said a protester using the pseudonym Katya': after a closing quote the speaker follows the
    # verb, and the small parser often takes it for the verb's object.
    if _after_closing_quote(verb):
        after = [c for c in verb.children if c.dep_ in ("dobj", "attr", "nsubj") and c.i > verb.i]
        if after and after[0].lower_ not in _OBJECT_PRONOUNS:
            return after[0]
        # '"…" tweeted Mayor of London Sadiq Khan', '"…", added KCNA': or it reads the verb as an adjective
        # of the speaker's title or name.
        if verb.dep_ == "amod" and verb.head.i > verb.i and verb.head.pos_ in ("PROPN", "NOUN"):
            return verb.head
    # '"…," Oleksiy Danilov, the secretary of …, tweeted': the small parser hangs the verb on the name.
    if verb.dep_ in ("acl", "relcl") and verb.head.pos_ == "PROPN":
        return verb.head
    return None


def _outside(subject, quoted: set[int]):
    """`subject`, or for one inside the quotation its appositive outside it ('"Our team" study co-author
    Tak-Sing Wong said'); None when neither."""
    if subject.i not in quoted:
        return subject
    return next((c for c in subject.children if c.dep_ == "appos" and c.i not in quoted), None)


def _after_closing_quote(token) -> bool:
    """A closing quotation mark right before `token`, a comma or none between ('…", said', '…" tweeted')."""
    i = token.i - 1
    while i > token.sent.start and token.doc[i].text == ",":
        i -= 1
    return i >= token.sent.start and token.doc[i].text in ('"', "”")


def _next_to(subject, verb) -> bool:
    """Nothing but punctuation, adverbs and auxiliaries between the subject phrase and its verb."""
    between = subject.doc[subject.right_edge.i + 1 : verb.i]
    return subject.i < verb.i and all(t.pos_ in ("PUNCT", "ADV", "AUX", "PART") for t in between)


def _earlier_phrase(phrase: str, speakers: dict[int, list], index: int) -> str:
    """ "The spokesperson added …" after "… an Interpol spokesperson stated": the same unnamed speaker."""
    if phrase != phrase.lower() or len(phrase.split()) != 1:
        return phrase
    for i in range(index - 1, max(-1, index - 1 - _ORGANISATION_REACH), -1):
        for earlier in speakers.get(i, []):
            if isinstance(earlier, str) and earlier != phrase and role_head(earlier.split()[-1]) == role_head(phrase):
                return earlier
    return phrase


def _is_organisation_noun(token) -> bool:
    """ "the company", "the network": a bare definite noun for an organisation, outside any entity."""
    if token.lower_ not in _ORGANISATION_NOUNS or token.ent_type_:
        return False
    return [c.lower_ for c in token.lefts] == ["the"]


def _entity_name(ent) -> str:
    return ent.text.removesuffix("’s").removesuffix("'s").strip()


def _recent(organisations: list[tuple[int, str]], sent, token, index: int) -> str | None:
    """The organisation "the company" (`token`) may stand for: the latest one named, in this sentence
    before it or in the sentences just before."""
    here = [_entity_name(e) for e in sent.ents if e.label_ == "ORG" and e.end <= token.i and _entity_name(e)]
    if here:
        return here[-1]
    before = [name for i, name in organisations if index - i <= _ORGANISATION_REACH]
    return before[-1] if before else None


def _resolve_speaker(resolver: MentionResolver, head, organisation: str | None = None) -> list[Person | str]:
    """The people a speaking token refers to; else the organisation or phrase it names ("the company"
    is `organisation`, the one just named)."""
    people = _named_after_organisation(resolver, head) or resolver.by_token.get(head.i)
    if not people:
        # "Dunn's mother, Charlotte Charles, said": the appositive names who speaks.
        named = [resolver.by_token[c.i] for c in head.children if c.dep_ == "appos" and c.i in resolver.by_token]
        people = named[0] if named else _described_name(resolver, head)
    if people:
        group = list(people)
        # "Putin and Xi said": both speak.
        for conj in head.conjuncts:
            group += [p for p in resolver.by_token.get(conj.i, []) if p not in group]
        return group
    if head.lower_ in _PERSONAL or head.pos_ == "PRON":
        return []  # a pronoun nobody can be resolved to speaks for nobody we can name
    doc = head.doc
    for ent in doc.ents:
        if ent.start <= head.i < ent.end and ent.label_ in _SPEAKER_ENTITIES:
            return [ent.text.removesuffix("’s").removesuffix("'s")]
    if organisation and _is_organisation_noun(head):
        return [organisation]
    # "The head of the police's internal investigators told …": the phrase with its "of" part says who.
    end = head.i + 1
    of = [c for c in head.rights if c.dep_ == "prep" and c.lower_ == "of"]
    if of and of[0].right_edge.i - head.left_edge.i < 10:
        end = of[0].right_edge.i + 1
    words = [t for t in doc[head.left_edge.i : end] if t.lower_ not in _DETERMINERS and t.dep_ != "punct"]
    # A dropped comma keeps its word apart: "Alexei Navalny, Yulia" is not "NavalnyYulia".
    phrase = "".join(t.text + (" " if t.whitespace_ or doc[t.i + 1 : t.i + 2].text in ",;:" else "") for t in words)
    phrase = " ".join(phrase.split())
    return [phrase] if phrase else []


def _described_name(resolver: MentionResolver, head) -> list[Person] | None:
    """'said a protester using the pseudonym Katya': the one person named in the words describing the
    speaker. Never through "of", "for" or a possessive: "the lawyer for John Smith" is not John Smith."""
    if head.pos_ != "NOUN":
        return None
    found: list[Person] = []
    for token in head.subtree:
        if token.i == head.i or token.i not in resolver.by_token or token.pos_ != "PROPN":
            continue
        path, step = [], token
        while step.i != head.i and step.head.i != step.i:
            path.append(step)
            step = step.head
        if step.i == head.i and not any(t.dep_ in ("prep", "poss", "pobj") for t in path):
            found += [p for p in resolver.by_token[token.i] if p not in found]
    return found if len(found) == 1 else None


def _named_after_organisation(resolver: MentionResolver, head) -> list[Person] | None:
    """ "Secretary-General of NATO Jens Stoltenberg said", "Mayor of London Sadiq Khan (no relation)", "the
    mayor of Paris, Anne Hidalgo,", "Ambassador to Germany Richard Grenell": a role of an organisation or a
    place, then the name of the one who holds it, ending the "of" or "to" phrase but for a bracket. Only
    with the organisation or place named in between: "the wife of Alexei Navalny" is not Navalny."""
    of = [c for c in head.rights if c.dep_ == "prep" and c.lower_ in ("of", "to")]
    if not of:
        return None
    doc, end = head.doc, of[0].right_edge.i
    end = next((t.i - 1 for t in doc[of[0].i : end + 1] if t.text == "("), end)
    while end > of[0].i and doc[end].is_punct:
        end -= 1
    last = doc[end]
    if any(t.i > end and not t.is_punct for t in head.rights if t.dep_ != "prep"):
        return None
    person = next((e for e in doc.ents if e.label_ == "PERSON" and e.start <= last.i < e.end), None)
    if person is None or person.end != last.i + 1 or last.i not in resolver.by_token:
        return None
    between = [e for e in doc.ents if e.label_ in _HOLDER_OF and of[0].i < e.start and e.end <= person.start]
    return list(resolver.by_token[last.i]) if between else None


def _label_speaker(resolver: MentionResolver, label: str, index: int) -> Person | str:
    text = label.strip("() ")
    words = name_words(text)
    if any(words and words <= p.words for p in resolver.people) or len(words) >= 2:
        return resolver.person_named(text, index)
    return text


def _label(text: str) -> str | None:
    match = _QUOTE_LABEL.match(text)
    return (match[1] or match[2]) if match else None


def _interview_labels(text: str, sentences: list[ParsedSentence]) -> set[str]:
    """Labels that open two or more paragraphs ("Wikinews:", "Hugh McGuire:"): an interview's speakers."""
    counts: dict[str, int] = {}
    for s in sentences:
        if s.opens_paragraph:
            label = _label(text[s.start : s.end])
            if label:
                counts[label] = counts.get(label, 0) + 1
    return {label for label, n in counts.items() if n >= 2}


def _has_speech_verb(sent, quoted: set[int]) -> bool:
    """A speech verb of the narration: 'where he could route out as promised' inside a quotation
    (`quoted`: _quoted_tokens) is the speaker's own words, not a report of someone else speaking."""
    return any(t.i not in quoted and t.lower_ in _SPEECH_VERBS and t.pos_ in ("VERB", "AUX") for t in sent)


def _quoted_tokens(sent, inside: bool) -> set[int]:
    """The indices of the sentence's tokens that stand inside quotation marks."""
    quoted = set()
    for token in sent:
        if token.text in ('"', "“", "”"):
            inside = token.text == "“" or (token.text == '"' and not inside)
        elif inside:
            quoted.add(token.i)
    return quoted


def _spread_over_quotes(order: list, opens: dict[int, bool], speakers: dict[int, list], reported: set[int]) -> None:
    """Give every sentence of a quotation the speaker named anywhere in it.

    A run is a sentence that leaves a quotation open and the sentences that start inside it.
    Across paragraphs, a paragraph that opens with a quotation mark continues a quotation the
    paragraph before left open (news style: no closing mark at the end of a quoted paragraph).
    """
    runs: list[list[int]] = []
    inside = False
    for index, sent in enumerate(order):
        text = sent.text
        starts_paragraph = id(sent) in opens
        if starts_paragraph and not text.startswith(_OPENING_QUOTES):
            inside = False
        continues = inside and runs
        if continues:
            runs[-1].append(index)
        inside = quotation_open_after(text, inside if not starts_paragraph else False)
        if not continues:
            runs.append([index])
    for r, run in enumerate(runs):
        named = next((speakers[i] for i in run if speakers[i]), None)
        first = order[run[0]]
        # A quotation that names nobody, opening a paragraph or right after a quoted speaker's sentence,
        # goes on quoting whoever spoke just before it.
        # Not when the quotation has a speech verb of its own: someone we could not name says it.
        if not named and r and first.text.startswith(_OPENING_QUOTES) and not reported & set(run):
            named = speakers[run[0] - 1] or None
        if named:
            for i in run:
                if not speakers[i]:
                    speakers[i] = list(named)


def quotation_open_after(text: str, inside: bool) -> bool:
    """Whether a quotation is open at the end of `text`, given whether it was at its start."""
    for ch in text:
        if ch == "“":
            inside = True
        elif ch == "”":
            inside = False
        elif ch == '"':
            inside = not inside
    return inside


def same_speaker(asked: str, stored: str, role_nouns: Collection[str] = ()) -> bool:
    """'Peskov' is 'Dmitry Peskov'; 'Downing Street' is 'Downing Street officials'. A speaker whose
    words are only part of the asked phrase must be a name and end as it does (the surname): "the
    Crown" prosecution is not "the Saudi crown prince", nor is "the mother" "Harry Dunn's mother".
    `role_nouns`: nouns for people ("minister"); a capitalised one alone ("Minister") is no name."""
    a, s = name_words(asked), name_words(stored)
    if not (a and s):
        return False
    # A bare common noun ("mother", "police") is too general to be the one asked for by a description.
    named = any(w[:1].isupper() and role_head(w) not in role_nouns for w in re.findall(r"[\w-]+", stored))
    return a <= s or (s <= a and _last_word(asked) == _last_word(stored) and (named or s == a))


def _last_word(phrase: str) -> str:
    words = [w for w in re.findall(r"[\w-]+", phrase.replace("’", "'").lower().removesuffix("'s")) if w != "s"]
    return words[-1] if words else ""
