"""Readers: from retrieved passages to an answer made of cited article sentences, or an abstention."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from index.embedders import tuned_question_embedder
from index.mentions import name_words, role_head
from index.store import ChromaStore
from index.terms import FRAME_WORDS, STOP_WORDS, TermAnalyzer
from qa.classifiers import NONE as NO_ENTITY
from qa.classifiers import AnswerTypeClassifier, FormWordScorer, held_probability
from qa.judges import JudgePolicy, SentenceJudge, combine, to_judge
from qa.questions import DATE_LIKE, LABEL_PREFERENCE, NUMBER_LIKE, PERSON_LIKE, PLACE_LIKE, QuestionAnalysis, analyse
from qa.rankers import DEFAULT_QUESTION_ENCODER, SentenceRanker, select
from qa.types import Citation, Passage, Sentence, ShortAnswer

NO_ANSWER = "The articles don't say."
_WORD = re.compile(r"\w+")
# From a word's start only (`\b`): tried from every letter of a long word, each start rescanned the rest
# of it (quadratic); a match from inside a word would be part of the one from its start.
_HYPHENATED = re.compile(r"\b\w+(?:-\w+)+")
_QUOTE_MARKS = set('"“”')
# A sentence that opens like this leans on the one before it for who or what it is about.
_LEANS_BACK = re.compile(r"^\W*(?:he|she|they|it|this|that|these|those|his|her|their|its)\b", re.IGNORECASE)
# How much an entity of the asked-for type adds to a sentence's support: enough to rank a sentence
# that holds the answer above one that only repeats the question's words, not enough to lift an
# unrelated sentence over the threshold on its own.
_TYPE_BONUS = 0.1
# Words that weaken or deny what a sentence states: features of the learned ranker.
_HEDGE = re.compile(
    r"\b(?:may|might|could|possibly|reportedly|allegedly|apparently|unclear|unknown|uncertain|believed|suspected)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|neither|nor|without)\b|n't\b", re.IGNORECASE)


def said_words(text: str) -> set[str]:
    """The words a text names things by, lower case: its words, hyphenated names whole ("COVID-19")
    as well as word by word, and the initialisms of its capitalised runs."""
    lower = text.lower()
    return set(_WORD.findall(lower)) | set(_HYPHENATED.findall(lower)) | _initialisms(text)


def mentions_name(name: str, words: set[str]) -> bool:
    """`words` (from `said_words`) name `name` by one of its words, whatever its accents or number:
    "Erdoğan" is the title's "Erdogan", "Canadians" the quotation's "Canadian people"."""
    own = {_name_head(w) for w in name_words(name)}
    return bool(own & {_name_head(w) for w in words})


@functools.lru_cache(maxsize=1 << 16)
def _name_head(word: str) -> str:
    # Memoised: every candidate sentence of every question folds the same words again.
    return role_head(_folded(word))


_CAPITALISED_WORDS = re.compile(r"(?:\b[A-Z]\w+(?:\s+(?:of|the|and)\s+|\s+)?)+")
_CAPITALISED_WORD = re.compile(r"\b[A-Z]\w*")
# An initialism is a few letters ("icc", "unesco", "naacp"): longer stretches of a run's initials name
# nothing, and all of them would grow with the cube of the run (3,000 capitalised words: 5 GB).
_LONGEST_INITIALISM = 10


def _initialisms(text: str) -> set[str]:
    """ "International Criminal Court" also names "icc": every 2 to `_LONGEST_INITIALISM` consecutive
    initials of a run of capitalised words (linear in the run)."""
    found = set()
    for run in _CAPITALISED_WORDS.findall(text):
        initials = "".join(w[0] for w in _CAPITALISED_WORD.findall(run)).lower()
        found.update(
            initials[a:b]
            for a in range(len(initials) - 1)
            for b in range(a + 2, min(a + _LONGEST_INITIALISM, len(initials)) + 1)
        )
    return found


@dataclass(frozen=True)
class ScoredSentence:
    sentence: Sentence
    passage: Passage
    similarity: float  # cosine of sentence and question vectors
    coverage: float  # share of the question's content words the sentence contains
    support: float  # what selection and abstention look at
    answers: tuple = ()  # entities of the asked-for type that the question does not already name
    features: tuple[float, ...] = ()  # the learned ranker's inputs (qa.rankers.FEATURES); LearnedReader only


@dataclass(frozen=True)
class AskedSpeaker:
    """"What did X say …?": whose words are asked for, and what the statement reader (qa/quotes.py)
    found of them. The learned reader weighs these as features; the rules reader does not use them."""

    words: frozenset[str]  # the words of X's name
    wants_words: bool  # "say", "tell": X's own words (not "How did X respond …?")
    quoted: bool  # the articles attribute statements to X
    on_topic: frozenset[str] = frozenset()  # ids of X's statements the statement reader found on the topic


@dataclass(frozen=True)
class ReaderAnswer:
    text: str
    citations: list[Citation]
    short_answer: ShortAnswer | None = None


class ExtractiveReader:
    """The offline answerer: picks the sentences that best answer the question, each with its citation.

    A sentence's support mixes meaning (embedding similarity to the question) with evidence that it
    is about the same things (the question's content words it contains), plus a bonus when it holds
    an entity of the type the question asks for. When no sentence reaches `threshold` the reader
    abstains rather than offer the nearest unrelated sentence.
    """

    # Whether the reader weighs who speaks itself: then "What did X say about Y?" is read like any
    # question, rather than answered by the statement reader's rules (qa/quotes.py).
    weighs_speakers = False

    def __init__(self, store: ChromaStore, threshold: float, max_sentences: int, coverage_weight: float = 0.5):
        self.store = store
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.coverage_weight = coverage_weight
        self._analyzer = TermAnalyzer(drop=FRAME_WORDS)

    def content_terms(self, text: str) -> set[str]:
        return set(self._analyzer.terms(text))

    def score(
        self,
        question: str,
        query_vector: np.ndarray,
        passages: list[Passage],
        asked: QuestionAnalysis | None = None,
        speaker: AskedSpeaker | None = None,
    ) -> list[ScoredSentence]:
        """Every sentence of the passages, scored, best first (`speaker`: unused by these rules)."""
        owner: dict[str, Passage] = {}
        for passage in passages:
            for sentence_id in passage.sentence_ids:
                owner.setdefault(sentence_id, passage)
        sentences, vectors = self.store.get_sentences(list(owner))
        if not sentences:
            return []
        similarity = vectors @ np.asarray(query_vector, dtype=np.float32)
        dates = asked.dates if asked else ()
        # A date the question names is matched as a whole (publication date or the sentence's words),
        # not as words: "in March 2020" is answered by an article of March 2020.
        terms = self.content_terms(question) - self.content_terms(" ".join(d.text for d in dates))
        question_words = set(_WORD.findall(question.lower()))
        before = self._previous_sentences(sentences)
        scored = []
        for sentence, sim in zip(sentences, similarity.tolist()):
            if not _WORD.search(sentence.text):
                continue  # a "sentence" of punctuation alone ("[", "…") is never an answer
            passage = owner[sentence.id]
            # The people a sentence refers to ("her": the prime minister) count as its words; the words of
            # the sentence before it count half, fully for one that leans on it ("It will cost …").
            words = self.content_terms(sentence.text) | self.content_terms(" ".join(sentence.mention_keys))
            previous = self.content_terms(before[sentence.id].text) - words if sentence.id in before else set()
            context_weight = 1.0 if _LEANS_BACK.match(sentence.text) else 0.5
            covered = len(terms & words) + context_weight * len(terms & previous)
            covered += sum(d.fits(passage.published, f"{sentence.text} {passage.title}") for d in dates)
            total = len(terms) + len(dates)
            coverage = covered / total if total else sim
            support = (1 - self.coverage_weight) * sim + self.coverage_weight * coverage
            answers = fitting_entities(sentence, asked, question_words) if asked and asked.typed else ()
            if answers:
                support += _TYPE_BONUS
            scored.append(ScoredSentence(sentence, passage, sim, coverage, support, answers))
        scored.sort(key=lambda s: s.support, reverse=True)
        return scored

    def read(
        self,
        question: str,
        query_vector: np.ndarray,
        passages: list[Passage],
        must_mention: set[str] | None = None,
        must_report: bool = False,
        speaker: AskedSpeaker | None = None,
    ) -> ReaderAnswer:
        """The answer text with `[n]` markers, its citations and, for a typed question, the short
        answer; no citations means it abstained.

        `must_mention`: words of a name, one of which each answer sentence must contain (in its
        words or its resolved mentions); with `must_report`, each must also report what X said:
        "What did X say?" is not answered by a sentence that only names X, nor by someone else's words
        about X.
        """
        asked = analyse(question)
        scored = self.score(question, query_vector, passages, asked, speaker)
        if must_mention:
            scored = [
                s
                for s in scored
                if must_mention & _named_in(s.sentence) and (not must_report or _may_report(s.sentence, must_mention))
            ]
        chosen = self.answering(scored, asked, question)
        best = chosen[0] if chosen else None
        # The best sentence's report first, then the others in the order of their best sentence; within a
        # report, its sentences in the order of the text.
        first = {}
        for s in chosen:
            first.setdefault(s.sentence.article_id, len(first))
        chosen = sorted(chosen, key=lambda s: (first[s.sentence.article_id], s.sentence.start))
        cited = self._with_antecedents(question, [(s.sentence, s.passage) for s in chosen])
        text, citations = self.cite(cited)
        short = _short_answer(best, self._verb_at(best, asked)) if best is not None else None
        return ReaderAnswer(text, citations, short)

    def answering(self, scored: list[ScoredSentence], asked: QuestionAnalysis, question: str) -> list[ScoredSentence]:
        """The sentences of the answer, best first; none to abstain. The sentences that hold an answer
        of the asked-for type first; if they fail the check of what the question names, the best
        sentences whatever they hold; then narrower choices (_choices)."""
        return next((c for c in self._choices(scored, asked) if self._answers_what_was_asked(c, asked, question)), [])

    def _choices(self, scored: list[ScoredSentence], asked: QuestionAnalysis) -> Iterator[list[ScoredSentence]]:
        """Candidate answers, most preferred first; `read` takes the first that passes its checks."""
        if asked.ordinals:  # "the final debate": only sentences about that one are candidates
            words = [set(_WORD.findall(s.sentence.text.lower())) for s in scored]
            scored = [s for s, w in zip(scored, words) if all(o in w for o in asked.ordinals)]
        yield self.choose(scored, asked)
        yield self.choose(scored)
        if asked.dates:  # "Who won the 2021 Tour de France?": the best of what reports of 2021 say
            dated = [s for s in scored if all(d.fits(s.passage.published, _dated_text(s)) for d in asked.dates)]
            yield self.choose(dated, asked)
            yield self.choose(dated)
        if asked.key_head:  # "In which court …?": the best of the sentences that say "court" at all
            heads = self.content_terms(asked.key_head)
            holding = [s for s in scored if heads & self.content_terms(s.sentence.text)]
            yield self.choose(holding, asked)
            yield self.choose(holding)

    def choose(self, scored: list[ScoredSentence], asked: QuestionAnalysis | None = None) -> list[ScoredSentence]:
        """The best sentence and its close runners-up, or none when even the best is too weak.

        A typed question ("Who won …?") is answered by the sentences that hold an entity of the
        asked-for type when any reaches the threshold: a sentence that only repeats the question's
        words ("The 2021 Tour de France is in the books") does not answer it, however close it is.
        """
        if asked is not None and asked.typed:
            holding = [s for s in scored if s.answers]
            # Only when close to the best: NER does not label every answer ("over dinner" is no DATE).
            if holding and scored and holding[0].support >= max(self.threshold, 0.85 * scored[0].support):
                scored = holding
        if not scored or scored[0].support < self.threshold:
            return []
        best = scored[0]
        # Close runners-up add to the answer; a long tail of weak sentences would only dilute it.
        close = [s for s in scored if s.support >= max(self.threshold, 0.8 * best.support)]
        return close[: self.max_sentences]

    def _answers_what_was_asked(self, chosen: list[ScoredSentence], asked: QuestionAnalysis, question: str) -> bool:
        """A person, place or thing the question names must be in the answer: "When did Xi last visit
        Washington?" is not answered by a sentence about Xi's visit to Moscow, however close it is;
        "Which trade deals did they sign?" is not answered by a sentence without any deal."""
        if not chosen:
            return False
        if any(self._says_unknown(s.sentence.text, asked, question) for s in chosen):
            return False
        # Names may also come from the article's title or the sentence before (cited then too).
        before = self._previous_sentences([s.sentence for s in chosen])
        said = " ".join(
            [s.sentence.text for s in chosen] + [s.passage.title for s in chosen] + [p.text for p in before.values()]
        )
        words = said_words(said)
        for s in chosen:
            words |= _named_in(s.sentence)
        if not all(mentions_name(name, words) for name in asked.names):
            return False
        # A month or year the question names must fit the answer ("Who won the 2022 World Cup?" is not
        # answered from a report of 2018).
        if any(not any(d.fits(s.passage.published, _dated_text(s)) for s in chosen) for d in asked.dates):
            return False
        # "How many …?" is answered by a number: NER finds numbers reliably, so none means no answer.
        if asked.answer_labels == NUMBER_LIKE and not any(s.answers for s in chosen):
            return False
        if asked.key_head:
            heads = self.content_terms(asked.key_head)
            return bool(heads & set().union(*(self.content_terms(s.sentence.text) for s in chosen)))
        return True

    def _says_unknown(self, text: str, asked: QuestionAnalysis, question: str) -> bool:
        """The sentence says the asked-for thing is not known: "an unidentified third officer" for "What
        is the name of the third officer?", "Authorities have not named a cause" for "What caused the
        fire?". The articles then do not hold the answer, and saying so plainly is the answer."""
        if asked.asks_cause and _UNKNOWN_CAUSE.search(text):
            return True
        if not asked.asks_identity:
            return False
        for match in _UNKNOWN_NAME.finditer(text):
            following = " ".join(text[match.end() :].split()[:_UNKNOWN_REACH])
            if self.content_terms(following) & self.content_terms(question):
                return True
        return False

    def _verb_at(self, best: ScoredSentence, asked: QuestionAnalysis) -> int | None:
        """Where the question's verb ("won" in "Who won …?") stands in the sentence, by stem."""
        if not asked.verb:
            return None
        stem = self.content_terms(asked.verb)
        for match in _WORD.finditer(best.sentence.text):
            if stem and self.content_terms(match[0]) == stem:
                return best.sentence.start + match.start()
        return None

    def _previous_sentences(self, sentences: list[Sentence]) -> dict[str, Sentence]:
        """Sentence id -> the sentence before it in its article."""
        wanted = {previous_id(s): s.id for s in sentences if s.index > 0}
        if not wanted:
            return {}
        found, _ = self.store.get_sentences(list(wanted))
        return {wanted[p.id]: p for p in found}

    def _with_antecedents(self, question: str, cited: list[tuple[Sentence, Passage]]) -> list[tuple[Sentence, Passage]]:
        """A sentence is cited with the sentence before it when that one holds a name the question gives
        and the sentence lacks, or, for a sentence that leans on it, words of the question the sentence
        lacks. A sentence leans back when it opens with "He", "This" or "They", or when it quotes someone
        it does not name ("“We will see,” she said."): the sentence before says who, and often what
        was asked."""
        terms = self.content_terms(question)
        names = {w for name in analyse(question).names for w in name_words(name)}
        previous_of = self._previous_sentences([s for s, _ in cited])
        before = {}
        for sentence, passage in cited:
            previous = previous_of.get(sentence.id)
            if previous is None:
                continue
            text_words = set(_WORD.findall(sentence.text.lower()))
            own_words = text_words | set(sentence.mention_keys)
            missing_name = (names - own_words) & set(_WORD.findall(previous.text.lower()))
            missing_terms = (terms - self.content_terms(sentence.text)) & self.content_terms(previous.text)
            leans_back = bool(_LEANS_BACK.match(sentence.text)) or _quotes_unnamed(sentence, text_words)
            if missing_name or (leans_back and missing_terms):
                before[sentence.id] = (previous, passage)
        out: list[tuple[Sentence, Passage]] = []
        for sentence, passage in cited:
            if sentence.id in before and all(s.id != before[sentence.id][0].id for s, _ in out):
                out.append(before[sentence.id])
            if all(s.id != sentence.id for s, _ in out):
                out.append((sentence, passage))
        return out

    @staticmethod
    def cite(sentences: list[tuple[Sentence, Passage]]) -> tuple[str, list[Citation]]:
        """Each sentence verbatim, followed by its citation marker; NO_ANSWER for none."""
        if not sentences:
            return NO_ANSWER, []
        citations, parts = [], []
        for n, (s, p) in enumerate(sentences, start=1):
            citations.append(Citation(n, s.article_id, p.title, p.published, p.source, p.url, s.start, s.end, s.text))
            parts.append(f"{' '.join(s.text.split())} [{n}]")
        return " ".join(parts), citations


class LearnedReader(ExtractiveReader):
    """The offline answerer with a learned ranker in place of the hand-set support (issue 22; the default).

    Every sentence of the retrieved passages (but one about another "final …" than the question's)
    is described by the signals of qa.rankers.FEATURES, among them how likely it holds the kind of
    answer asked for (qa/classifiers.py), and a logistic regression trained on the labelled
    Wikinews set turns them into the probability that it answers. The best sentence and those with
    a share of its probability are the answer when the best reaches the ranker's threshold, both
    chosen on the dev split; otherwise it abstains. A sentence that says the asked-for name or cause
    is not known makes the answer an abstention. docs/reader.md gives its figures.
    """

    # Its features hold who speaks a sentence and what the statement reader found of X (AskedSpeaker).
    # Grouped 5-fold cross-validation over the 372 "What did X say" questions of train and dev: 264
    # right against 247 with the statement reader's rules; answerable 242 against 184, but near misses
    # abstained 22 against 63 of 84 (docs/reader.md).
    weighs_speakers = True

    def __init__(
        self,
        *args,
        ranker: SentenceRanker | None = None,
        answer_types: AnswerTypeClassifier | None = None,
        form_words: FormWordScorer | None = None,
        question_encoder: Embeddings | None = None,
        judge: SentenceJudge | None = None,
        judge_policy: JudgePolicy | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self._ranker = ranker
        self._answer_types = answer_types
        self._form_words = form_words
        self._question_encoder = question_encoder
        # A chat model asked where the ranker is unsure (qa/judges.py); None: the ranker decides alone.
        self._judge = judge
        self._judge_policy = judge_policy

    @functools.cached_property
    def ranker(self) -> SentenceRanker:
        return self._ranker or SentenceRanker.load()

    @functools.cached_property
    def answer_types(self) -> AnswerTypeClassifier:
        return self._answer_types or AnswerTypeClassifier.load()

    @functools.cached_property
    def form_words(self) -> FormWordScorer:
        return self._form_words or FormWordScorer.load()

    @functools.cached_property
    def question_encoder(self) -> Embeddings:
        """MiniLM with its top layers trained to put a question near its answers' stored vectors
        (eval/train_question_encoder.py): the stored vectors stay those of the installed model."""
        return self._question_encoder or _tuned_question_encoder(DEFAULT_QUESTION_ENCODER)

    def score(
        self,
        question: str,
        query_vector: np.ndarray,
        passages: list[Passage],
        asked: QuestionAnalysis | None = None,
        speaker: AskedSpeaker | None = None,
    ) -> list[ScoredSentence]:
        """Every sentence of the passages, with its features and the ranker's probability, best first."""
        asked = asked or analyse(question)
        described = self.describe(question, query_vector, passages, asked, speaker)
        probability = self.ranker.probabilities([row for *_, row in described]).tolist()
        scored = [
            ScoredSentence(sentence, passage, row[0], row[2], p, answers, row)
            for (sentence, passage, answers, row), p in zip(described, probability)
        ]
        scored.sort(key=lambda s: s.support, reverse=True)
        return scored

    def describe(
        self,
        question: str,
        query_vector: np.ndarray,
        passages: list[Passage],
        asked: QuestionAnalysis,
        speaker: AskedSpeaker | None = None,
    ) -> list[tuple[Sentence, Passage, tuple, tuple[float, ...]]]:
        """Every sentence of the passages with its passage, the entities that may answer a typed
        question, and its features (qa.rankers.FEATURES)."""
        owner: dict[str, Passage] = {}
        for passage in passages:
            for sentence_id in passage.sentence_ids:
                owner.setdefault(sentence_id, passage)
        # The candidates and the sentences before and after each, in one read of the store.
        around = dict.fromkeys(n for i in owner for n in _around(i) if n and n not in owner)
        fetched, fetched_vectors = self.store.get_sentences(list(owner) + list(around))
        if not fetched:
            return []
        fetched_similarity = (fetched_vectors @ np.asarray(query_vector, dtype=np.float32)).tolist()
        keep = [i for i, s in enumerate(fetched) if s.id in owner and _WORD.search(s.text)]  # "[", "…" alone never answers
        if asked.ordinals:  # "the final debate": a sentence about another one is no candidate
            keep = [i for i in keep if set(asked.ordinals) <= set(_WORD.findall(fetched[i].text.lower()))]
        sentences = [fetched[i] for i in keep]
        if not sentences:
            return []
        similarity = [fetched_similarity[i] for i in keep]
        tuned_vector = np.asarray(self.question_encoder.embed_query(question), dtype=np.float32)
        tuned = (fetched_vectors[keep] @ tuned_vector).tolist()
        # A date the question names is matched as a whole (publication date or the sentence's words),
        # not as words: "in March 2020" is answered by an article of March 2020.
        terms = self.content_terms(question) - self.content_terms(" ".join(d.text for d in asked.dates))
        question_words = set(_WORD.findall(question.lower()))
        key_heads = self.content_terms(asked.key_head) if asked.key_head else set()
        rank = {p.chunk_id: i for i, p in reversed(list(enumerate(passages)))}
        before, after, beside = _neighbours(sentences, fetched, fetched_similarity)
        own_terms = [self.content_terms(s.text) for s in sentences]
        # A word most candidates share (the story's own name) tells them apart less than a rare one.
        held = Counter(t for words in own_terms for t in words & terms)
        rarity = {t: math.log(1 + len(sentences) / (1 + held[t])) for t in terms}
        pairs = _pairs(self._analyzer.terms(question))
        kinds_asked = self.answer_types.probabilities(question, asked.answer_labels, query_vector)
        entity_asked = 1.0 - kinds_asked[NO_ENTITY]
        sim_rank = {i: r for r, i in enumerate(sorted(range(len(similarity)), key=lambda i: -similarity[i]))}
        passage_terms = {p.chunk_id: self.content_terms(f"{p.title} {p.text}") for p in passages}
        form_words = self.form_words.scores(question, (s.text for s in sentences))
        rows, fitting, kept = [], [], []
        for n, (sentence, sim, own) in enumerate(zip(sentences, similarity, own_terms)):
            passage = owner[sentence.id]
            # The people a sentence refers to ("her": the prime minister) count as its words; the words of
            # the sentence before it count half, fully for one that leans on it ("It will cost …").
            words = own | self.content_terms(" ".join(sentence.mention_keys))
            previous = before.get(sentence.id)
            previous_terms = self.content_terms(previous.text) - words if previous else set()
            leans_back = bool(_LEANS_BACK.match(sentence.text))
            dated = f"{sentence.text} {passage.text} {passage.title}"
            dates_fit = sum(d.fits(passage.published, dated) for d in asked.dates)
            covered = len(terms & words) + (1.0 if leans_back else 0.5) * len(terms & previous_terms) + dates_fit
            total = len(terms) + len(asked.dates)
            coverage = covered / total if total else sim
            answers = fitting_entities(sentence, asked, question_words) if asked.typed else ()
            named = said_words(" ".join([sentence.text, passage.title, previous.text if previous else ""]))
            named |= _named_in(sentence)
            # What the question pins down: every name it gives (in the sentence, its lead-in, title or
            # resolved people), each month or year it names, a number for "How many …?", the noun of
            # "Which court …?". Weighed by the model, not required: a long question describes its subject
            # with names the answering sentence need not repeat ("… after the pileup near Gainesville?").
            names_missing = sum(not mentions_name(name, named) for name in asked.names)
            number_missing = asked.answer_labels == NUMBER_LIKE and not answers
            key_head_missing = bool(key_heads) and not key_heads & own
            kept.append(sentence)
            fitting.append(answers)
            lower_words = set(_WORD.findall(sentence.text.lower()))
            title_terms = self.content_terms(passage.title) if passage.title else set()
            speakers = set(sentence.speaker_keys) | {w for s in sentence.speakers for w in name_words(s)}
            following = after.get(sentence.id)
            window = words | previous_terms | title_terms
            window |= self.content_terms(following.text) if following else set()
            held = _labels_held(sentence, question_words)
            asked_names = {w for name in asked.names for w in name_words(name)}
            names_speaker = bool(speaker and speaker.words & _named_in(sentence))
            rows.append(
                (
                    sim,
                    0.0,  # similarity_gap, below
                    coverage,
                    0.0,  # coverage_gap, below
                    len(terms & own) / len(terms) if terms else 0.0,
                    len(terms & title_terms) / len(terms) if terms else 0.0,
                    sum(rarity[t] for t in terms & words) / sum(rarity.values()) if terms else 0.0,
                    len(pairs & _pairs(self._analyzer.terms(sentence.text))) / len(pairs) if pairs else 0.0,
                    len(terms & passage_terms[passage.chunk_id]) / len(terms) if terms else 0.0,
                    1.0 / (1 + sim_rank[n]),
                    1.0 / (1 + rank.get(passage.chunk_id, len(passages))),
                    1.0 / (1 + sentence.index),
                    float(asked.typed),
                    float(bool(answers)),
                    float(bool(asked.dates)),
                    float(bool(key_heads)),
                    float(bool(_QUOTE_MARKS & set(sentence.text))),
                    float(sentence.text.rstrip(" \"'”’").endswith("?")),
                    float(bool(asked_names & speakers)),
                    float(bool(_HEDGE.search(sentence.text))),
                    float(bool(_NEGATION.search(sentence.text))),
                    float(leans_back),
                    math.log1p(len(lower_words)),
                    math.log1p(len(terms)),
                    len(terms & window) / len(terms) if terms else 0.0,
                    len((terms - title_terms) & words) / len(terms - title_terms) if terms - title_terms else 0.0,
                    len(own - terms) / len(own) if own else 0.0,
                    *(float(bool(asked.answer_labels & labels)) for labels in _ANSWER_KINDS),
                    float(asked.asks_cause),
                    *(float(bool(held & labels)) for labels in _ANSWER_KINDS),
                    names_missing / len(asked.names) if asked.names else 0.0,
                    float(names_missing > 0),
                    (len(asked.dates) - dates_fit) / len(asked.dates) if asked.dates else 0.0,
                    float(number_missing),
                    float(key_head_missing),
                    beside.get(before[sentence.id].id, 0.0) if previous else 0.0,
                    beside.get(following.id, 0.0) if following else 0.0,
                    entity_asked,
                    (kind_held := held_probability(kinds_asked, held)),
                    entity_asked - kind_held,
                    float(speaker is not None),
                    float(bool(speaker and speaker.quoted)),
                    float(names_speaker),
                    float(names_speaker and _may_report(sentence, speaker.words)),
                    float(bool(speaker and sentence.id in speaker.on_topic)),
                    form_words[n],
                    tuned[n],
                    0.0,  # tuned_similarity_gap, below
                ),
            )
        if not rows:
            return []
        best_sim, best_coverage, best_tuned = (max(r[i] for r in rows) for i in (0, 2, -2))
        rows = [(r[0], r[0] - best_sim, r[2], r[2] - best_coverage, *r[4:-1], r[-2] - best_tuned) for r in rows]
        return [(s, owner[s.id], answers, row) for s, answers, row in zip(kept, fitting, rows)]

    def answering(self, scored: list[ScoredSentence], asked: QuestionAnalysis, question: str) -> list[ScoredSentence]:
        """The best sentence and those close to it when the best is likely enough; none otherwise,
        nor when one says the asked-for name or cause is not known (the articles saying so)."""
        probabilities = [s.support for s in scored]
        if self._judge is not None and self._judge_policy is not None:
            asked_about = to_judge(probabilities, self._judge_policy)
            if asked_about:
                said = self._judge.judge(question, [scored[i].sentence.text for i in asked_about])
                probabilities = combine(probabilities, dict(zip(asked_about, said)), self._judge_policy)
        picked = select(probabilities, self.ranker.threshold, self.ranker.runner_up_ratio, self.max_sentences)
        chosen = [scored[i] for i in picked]
        return [] if any(self._says_unknown(s.sentence.text, asked, question) for s in chosen) else chosen


@functools.lru_cache(maxsize=2)
def _tuned_question_encoder(path) -> Embeddings:
    """One loaded encoder per file for the process: every service's reader shares it."""
    return tuned_question_embedder(path)


def _around(sentence_id: str) -> tuple[str | None, str]:
    """The ids of the sentences before (None for the first) and after this one: ids are `article:version:sN`
    (index/splitters.py)."""
    prefix, index = sentence_id.rsplit(":s", 1)
    n = int(index)
    return (f"{prefix}:s{n - 1}" if n > 0 else None), f"{prefix}:s{n + 1}"


def _neighbours(
    sentences: list[Sentence], fetched: list[Sentence], similarity: list[float]
) -> tuple[dict[str, Sentence], dict[str, Sentence], dict[str, float]]:
    """Sentence id -> the sentence before it, and -> the one after it, in its article (those of
    `fetched` there are); and each fetched sentence's similarity to the question (by its own id)."""
    by_id = {s.id: s for s in fetched}
    before, after = {}, {}
    for s in sentences:
        previous, following = (by_id.get(i) if i else None for i in _around(s.id))
        if previous is not None:
            before[s.id] = previous
        if following is not None:
            after[s.id] = following
    return before, after, {s.id: sim for s, sim in zip(fetched, similarity)}


# "an unidentified third officer", "the man, who has not been named,": whose name is not known.
_UNKNOWN_NAME = re.compile(
    r"\b(?:unidentified|unnamed|not (?:yet |been |publicly )*(?:named|identified))\b", re.IGNORECASE
)
_UNKNOWN_REACH = 4  # words after the marker where the asked-for person must stand
_UNKNOWN_CAUSE = re.compile(
    r"\b(?:not (?:yet |been |publicly )*(?:named|determined|identified|established|released|found) "
    r"(?:a |the |any )?(?:cause|reason|motive)"
    r"|(?:cause|reason|motive)s? (?:is|was|are|were|remains?|remained) (?:still |yet )?"
    r"(?:unknown|unclear|not known|undetermined|under investigation)"
    r"|no (?:known )?(?:cause|reason|motive) (?:has|have|was|were) been)\b",
    re.IGNORECASE,
)


# The kinds of answer a question can ask for, as groups of entity labels (qa/questions.py).
_ANSWER_KINDS = (PERSON_LIKE - {"GPE"}, DATE_LIKE, PLACE_LIKE, NUMBER_LIKE)


def _labels_held(sentence: Sentence, question_words: set[str]) -> set[str]:
    """The labels of the entities a sentence holds that the question does not name."""
    asked = {_folded(w) for w in question_words if w not in STOP_WORDS}
    held = set()
    for entity in sentence.entities:
        text = sentence.text[entity.start - sentence.start : entity.end - sentence.start]
        if not {_folded(w) for w in _WORD.findall(text.lower())} & asked:
            held.add(entity.label)
    return held


def _pairs(terms: list[str]) -> set[tuple[str, str]]:
    """Adjacent content words ("climate change", "police officer"): a phrase, not just its words."""
    return set(zip(terms, terms[1:]))


def _dated_text(scored: ScoredSentence) -> str:
    """Where a date the question names may be written: the sentence, its passage and its title."""
    return f"{scored.sentence.text} {scored.passage.text} {scored.passage.title}"


def _quotes_unnamed(sentence: Sentence, words: set[str]) -> bool:
    """The sentence quotes or reports someone whose name it does not hold (ingest attributed it through a
    pronoun or the sentences around it)."""
    return bool(sentence.speakers) and not any(name_words(s) & words for s in sentence.speakers)


def _may_report(sentence: Sentence, name: set[str]) -> bool:
    """Whether a sentence naming X may hold X's words: one whose speaker is X, or an unattributed
    quotation. "Police chief Greg Allen said … the document was Crusius's" is Allen's, not Crusius's."""
    if sentence.speakers:
        return bool(name & (set(sentence.speaker_keys) | {w for s in sentence.speakers for w in name_words(s)}))
    return bool(_QUOTE_MARKS & set(sentence.text))


def _named_in(sentence: Sentence) -> set[str]:
    """The words a sentence names people by, its own and those of the people it refers to ("her")."""
    return set(_WORD.findall(sentence.text.lower())) | set(sentence.mention_keys) | set(sentence.speaker_keys)


def fitting_entities(sentence: Sentence, asked: QuestionAnalysis, question_words: set[str]) -> tuple:
    """Entities of the asked-for type in the sentence that the question does not already name
    (`question_words`: the question's lower-case words)."""
    fitting = []
    asked_words = {_folded(w) for w in question_words if w not in STOP_WORDS}
    for entity in sentence.entities:
        if entity.label not in asked.answer_labels:
            continue
        text = sentence.text[entity.start - sentence.start : entity.end - sentence.start]
        words = {_folded(w) for w in _WORD.findall(text.lower())}
        # "Recep Tayyip Erdoğan" is the "Erdogan" the question already names, not an answer to it.
        if words and not words & asked_words:
            fitting.append(entity)
    return tuple(fitting)


@functools.lru_cache(maxsize=4096)  # asked for every entity of every scored sentence
def _folded(word: str) -> str:
    """The word without accents: news spells "Erdoğan" and "Erdogan"."""
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode() or word


def _short_answer(best: ScoredSentence, verb_at: int | None = None) -> ShortAnswer | None:
    """The entity that answers: for "Who won …?" the one just before "won" in the sentence (its
    subject); otherwise the one entity of the best-fitting label ("Tadej Pogacar" rather than
    "Paris"). None when that label occurs more than once: which one is not known."""
    if not best.answers:
        return None
    before_verb = [e for e in best.answers if verb_at is not None and e.end <= verb_at]
    if before_verb:
        candidates = [max(before_verb, key=lambda e: e.end)]
    else:

        def rank(e) -> int:
            return LABEL_PREFERENCE.index(e.label) if e.label in LABEL_PREFERENCE else len(LABEL_PREFERENCE)

        top = min(rank(e) for e in best.answers)
        candidates = [e for e in best.answers if rank(e) == top]
    if len(candidates) != 1:
        return None
    sentence, entity = best.sentence, candidates[0]
    start, end = entity.start - sentence.start, entity.end - sentence.start
    if entity.label == "CARDINAL" and (unit := _UNIT.match(sentence.text, end)) and unit[1] not in STOP_WORDS:
        end = unit.end()  # "40 million" -> "40 million euros": the number with what it counts
    return ShortAnswer(sentence.text[start:end], sentence.article_id, sentence.start + start, sentence.start + end)


_UNIT = re.compile(r" ([a-z]+)\b")


def lead_id(chunk_id: str) -> str:
    """The id of the first chunk of a chunk's article: chunk ids are `article:version:cN` (index/splitters.py)."""
    return f"{chunk_id.rsplit(':c', 1)[0]}:c0"


def previous_id(sentence: Sentence) -> str:
    """The id of the sentence before this one: sentence ids are `article:version:sN` (index/splitters.py)."""
    prefix = sentence.id.rsplit(":s", 1)[0]
    return f"{prefix}:s{sentence.index - 1}"
