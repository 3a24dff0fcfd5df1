"""Help-article knowledge base: load Markdown articles and rank them for a message.

The bot offers an article only when the ranking is confident, because a wrong
article in a support chat costs more than handing the customer to a person.
Ranking is BM25 (bm25s) over spaCy tokens; confidence combines how much of the
message the best article covers with how clearly it beats the other articles.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import numpy.typing as npt
import spacy
import yaml

__all__ = ["Article", "ArticleError", "ArticleHit", "KnowledgeBase", "load_articles"]

logger = logging.getLogger(__name__)

AUDIENCES = frozenset({"customer", "agent"})

# Title and questions say what an article is *for*, so they outweigh the body;
# each field's tokens are repeated this many times in the indexed document.
_FIELD_WEIGHTS = {"title": 3, "questions": 2, "tags": 2, "summary": 1, "body": 1}

# spaCy lists these as stop words, but in support questions they carry the
# topic: "change my name", "can't see my class", "sign up" vs "sign in",
# "log out", "the site is down", "turn off emails", "top up".
_KEEP_WORDS = frozenset(
    {"back", "bottom", "call", "down", "empty", "first", "front", "full", "last", "move", "name",
     "off", "out", "see", "show", "top", "up"}
)

# Not spaCy stop words, but carrying no topic in a support chat: greetings
# and filler ("I want to...", "can you help me", "is there a way to") would
# otherwise match whichever article happens to use the same filler. Also the
# stems spaCy splits off contractions ("won't" -> "wo" + "n't"; "ca" from
# "can't" already is a stop word).
_DROP_WORDS = frozenset(
    {"able", "help", "hello", "hey", "hi", "know", "let", "like", "need", "ok", "okay", "tell",
     "thank", "thanks", "try", "want", "way", "wonder", "wo", "sha"}
)

# BM25 settings: the bm25s defaults; k1 0.8-2.0 and b 0.5-0.9 all scored
# within noise of each other on the banking77 check.
_K1 = 1.5
_B = 0.75
# An article's score is its BM25 score as one document plus this share of its
# best-matching listed question, each question indexed on its own: a message
# close to one listed question should win even when another article mentions
# the same words more often. (Tried 0.25-1.0; 0.5 was best on held-out
# phrasings and neutral on banking77, whose articles list no questions.)
_QUESTION_WEIGHT = 0.5
# Confidence looks at this many top-scoring articles, whatever `limit` is, so
# one article's confidence doesn't change with how many hits were asked for.
_CONF_DEPTH = 10
# Softmax temperature, relative to the top score: an article scoring 10% below
# the best gets exp(-0.1 / _TAU) = 0.61 of the best one's weight.
_TAU = 0.2

DEFAULT_THRESHOLD = 0.4

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?$\n?", re.DOTALL | re.MULTILINE)
_URL = re.compile(r"https?://\S+")
_SUMMARY_MAX = 200
# libyaml's loader when PyYAML was built with it: much faster on big folders.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Article:
    """One help article; `id` is the file stem, so links and logs stay stable."""

    id: str
    title: str
    summary: str
    url: str
    tags: tuple[str, ...]
    audience: str  # "customer" | "agent"
    questions: tuple[str, ...]
    body: str


@dataclass(frozen=True)
class ArticleHit:
    """A ranked article: `score` orders hits, `confidence` (0..1) decides whether to offer it."""

    article: Article
    score: float
    confidence: float


class ArticleError(Exception):
    """A malformed article file (message names the file)."""


# ---------------------------------------------------------------- loading


def _str_list(value: object, field: str, name: str) -> tuple[str, ...]:
    """A YAML list of strings (or one string) as a tuple, so bad types fail loudly."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ArticleError(f"{name}: '{field}' must be a list of strings")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _opt_str(meta: dict[str, Any], field: str, name: str) -> str:
    value = meta.get(field)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        raise ArticleError(f"{name}: '{field}' must be a string")
    return str(value).strip()


def _first_paragraph(body: str) -> str:
    """Fallback summary: the first prose paragraph, for articles written without one."""
    for block in re.split(r"\n\s*\n", body):
        text = " ".join(block.split())
        if text and not text.startswith(("#", "-", "*", "|", ">", "```")):
            return text if len(text) <= _SUMMARY_MAX else text[: _SUMMARY_MAX - 1].rstrip() + "…"
    return ""


def _parse_article(path: Path) -> Article:
    """Parses one file; raises ArticleError naming the file (never its contents)."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArticleError(f"{name}: cannot read file ({type(exc).__name__})") from exc
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if match is None:
        raise ArticleError(f"{name}: no YAML front matter between '---' lines")
    try:
        meta = yaml.load(match.group(1), Loader=_YAML_LOADER)
    except Exception as exc:  # noqa: BLE001 - YAMLError, or ValueError for e.g. a date like 2024-13-45
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise ArticleError(f"{name}: front matter is not valid YAML{where}") from exc
    if not isinstance(meta, dict):
        raise ArticleError(f"{name}: front matter is not a mapping")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ArticleError(f"{name}: missing or empty 'title'")
    audience = _opt_str(meta, "audience", name) or "customer"
    if audience not in AUDIENCES:
        raise ArticleError(f"{name}: 'audience' must be one of {sorted(AUDIENCES)}")
    body = text.lstrip("\ufeff")[match.end() :].strip()
    return Article(
        id=path.stem,
        title=title.strip(),
        summary=_opt_str(meta, "summary", name) or _first_paragraph(body),
        url=_opt_str(meta, "url", name),
        tags=_str_list(meta.get("tags"), "tags", name),
        audience=audience,
        questions=_str_list(meta.get("questions"), "questions", name),
        body=body,
    )


def load_articles(folder: Path) -> tuple[list[Article], list[str]]:
    """Loads every *.md; a malformed file (bad YAML, missing title, non-mapping front matter) is skipped and reported as a problem string naming the file; never raises for one bad file."""
    articles: list[Article] = []
    problems: list[str] = []
    for path in sorted(Path(folder).glob("*.md")):
        try:
            articles.append(_parse_article(path))
        except ArticleError as exc:
            problems.append(str(exc))
    return articles, problems


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Pipeline:
    tokenizer: Any  # spacy.tokenizer.Tokenizer
    lemmas: Any  # spaCy lookups Table, or None when spacy-lookups-data is missing
    stop_words: frozenset[str]


@cache
def _pipeline() -> _Pipeline:
    """The one blank English pipeline (no model download), built on first use."""
    nlp = spacy.blank("en")
    lemmas: Any = None
    try:
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
        lemmatizer: Any = nlp.get_pipe("lemmatizer")
        lemmas = lemmatizer.lookups.get_table("lemma_lookup")
    except Exception as exc:  # noqa: BLE001 - any failure just means no lemmas
        logger.warning("spaCy lookup lemmatizer unavailable (%s); matching on lower-case words", type(exc).__name__)
    return _Pipeline(tokenizer=nlp.tokenizer, lemmas=lemmas, stop_words=frozenset(nlp.Defaults.stop_words))


# Normalised terms of each whitespace-separated chunk. spaCy's tokenizer splits
# on whitespace first and handles each chunk independently, so caching per
# chunk gives the same tokens as tokenising whole texts, several times faster.
_chunk_cache: dict[str, tuple[str, ...]] = {}
_CHUNK_CACHE_MAX = 1_000_000
# Distinct new chunks are tokenised together in one spaCy Doc of about this
# many characters: one Doc per chunk would spend most time creating Docs.
_BATCH_CHARS = 200_000


def _term(tok: Any, pipe: _Pipeline) -> str | None:
    """The index term for one spaCy token, or None for stop words and punctuation."""
    if tok.is_space or tok.is_punct:
        return None
    lower: str = tok.lower_
    if (tok.is_stop and lower not in _KEEP_WORDS) or lower in _DROP_WORDS:
        return None
    if not any(ch.isalnum() for ch in lower) or (len(lower) == 1 and not lower.isdigit()):
        return None
    # The lemmatizer component looks up token.text, which misses capitalised
    # words ("Passwords"); looking up the lower-case form avoids that.
    if pipe.lemmas is not None:
        lemma = pipe.lemmas.get(lower, lower)
        if isinstance(lemma, str) and lemma and lemma != lower:
            # "going" -> "go", "got" -> "get": stop words only once lemmatised.
            if lemma in pipe.stop_words and lemma not in _KEEP_WORDS:
                return None
            return lemma
    return lower


def _fill_cache(todo: Collection[str]) -> None:
    """Tokenises the given chunks into the cache, many chunks per spaCy Doc."""
    pipe = _pipeline()
    pending = list(todo)
    start = 0
    while start < len(pending):
        end, size = start, 0
        while end < len(pending) and (size < _BATCH_CHARS or end == start):
            size += len(pending[end]) + 1
            end += 1
        batch = pending[start:end]
        terms: list[list[str]] = [[] for _ in batch]
        # Tokens come in text order and never span the joining spaces, so a
        # moving pointer over the chunk start offsets finds each token's chunk.
        bounds = [0]
        for chunk in batch:
            bounds.append(bounds[-1] + len(chunk) + 1)
        j = 0
        for tok in pipe.tokenizer(" ".join(batch)):
            while tok.idx >= bounds[j + 1]:
                j += 1
            term = _term(tok, pipe)
            if term is not None:
                terms[j].append(term)
        for chunk, chunk_terms in zip(batch, terms):
            _chunk_cache[chunk] = tuple(chunk_terms)
        start = end


def _tokenize_many(texts: Sequence[str]) -> list[list[str]]:
    """Index terms of each text: lower-case lemmas without stop words or punctuation."""
    split = [(_URL.sub(" ", t) if "://" in t else t).split() for t in texts]
    todo = {c for chunks in split for c in chunks if c not in _chunk_cache}
    if len(_chunk_cache) + len(todo) > _CHUNK_CACHE_MAX:
        _chunk_cache.clear()  # bounded memory for a long-running bot
        todo = {c for chunks in split for c in chunks}
    if todo:
        _fill_cache(todo)
    lookup = _chunk_cache.__getitem__
    return [list(chain.from_iterable(map(lookup, chunks))) for chunks in split]


# ---------------------------------------------------------------- ranking


def _bm25_index(ids: list[list[int]], vocab: dict[str, int]) -> Any:
    """A bm25s index over documents given as term ids of a shared vocabulary."""
    bm25 = bm25s.BM25(k1=_K1, b=_B)
    bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), create_empty_token=False, show_progress=False)
    return bm25


class KnowledgeBase:
    """An in-memory BM25 index over help articles with a confidence threshold.

    Score of an article = BM25 of the whole article (title x3, questions x2,
    tags x2, summary, body) + 0.5 x BM25 of its best-matching listed question.

    Confidence of a hit = coverage x share, both in 0..1:

    * coverage: the IDF-weighted fraction of the message's distinct terms that
      appear in the article; a term no article contains counts as maximally
      rare. Off-topic messages ("what's the weather in Paris") match nothing
      or only a word or two, so coverage stays low.
    * share: a softmax over the top-10 scores with a temperature of 20% of
      the top score (scale-free, since BM25 grows with message length). A
      message matching many articles about equally ("my account") gives no
      article a large share.

    How the default threshold (0.4) was chosen: 124 customer phrasings of
    the shipped articles' topics, none copied from the articles, were scored
    against 52 off-topic messages (chit-chat, keyboard mashing, weather,
    cooking, other products). No off-topic message reached 0.3 (the highest
    was 0.29). At 0.4, 68% of the phrasings were offered the right article,
    and 5 of 124 were offered a wrong one (precision 0.94). 0.3 offers more
    (75%) but is wrong twice as often, and 0.5 offers fewer (64%) for
    almost no gain in precision. tests/test_knowledge_index.py keeps samples
    of both lists as regression checks.
    """

    def __init__(self, articles: Sequence[Article], *, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within 0..1, got {threshold}")
        self.threshold = threshold
        self.problems: list[str] = []
        self._articles: tuple[Article, ...] = tuple(articles)
        self._by_id: dict[str, Article] = {}
        for article in self._articles:
            if article.id in self._by_id:
                raise ValueError(f"duplicate article id {article.id!r}")
            self._by_id[article.id] = article
        self._audience = np.array([a.audience for a in self._articles], dtype=object)
        self._masks: dict[frozenset[str], npt.NDArray[np.bool_]] = {}
        self._build_index()

    def _build_index(self) -> None:
        """Builds the vocabulary, BM25 matrices and per-term document lists."""
        # Each field is tokenised once; weighting repeats its term ids.
        texts: list[str] = []
        for a in self._articles:
            texts += [a.title, " ".join(t.replace("-", " ") for t in a.tags), a.summary, a.body, *a.questions]
        terms = iter(_tokenize_many(texts))
        vocab: dict[str, int] = {}

        def to_ids(field_terms: list[str]) -> list[int]:
            return [vocab.setdefault(t, len(vocab)) for t in field_terms]

        ids: list[list[int]] = []
        q_ids: list[list[int]] = []
        q_owner: list[int] = []
        for k, a in enumerate(self._articles):
            fields = {name: to_ids(next(terms)) for name in ("title", "tags", "summary", "body")}
            questions = [to_ids(next(terms)) for _ in a.questions]
            fields["questions"] = [t for q in questions for t in q]
            ids.append([t for name, weight in _FIELD_WEIGHTS.items() for t in fields[name] * weight])
            # Listed questions are also indexed on their own (see _QUESTION_WEIGHT).
            for q in questions:
                if q:
                    q_ids.append(q)
                    q_owner.append(k)
        self._vocab = vocab
        n_docs, n_terms = len(ids), len(vocab)
        # Postings: doc numbers containing term t are _post_docs[_post_start[t]:_post_start[t + 1]].
        uniq = [np.unique(np.asarray(d, dtype=np.int64)) for d in ids]
        terms_flat = np.concatenate(uniq) if uniq else np.zeros(0, dtype=np.int64)
        docs_flat = np.repeat(np.arange(n_docs, dtype=np.int64), [u.size for u in uniq])
        order = np.argsort(terms_flat, kind="stable")
        self._post_docs: npt.NDArray[np.int64] = docs_flat[order]
        self._post_start: npt.NDArray[np.int64] = np.searchsorted(
            terms_flat[order], np.arange(n_terms + 1, dtype=np.int64)
        ).astype(np.int64)
        df = np.diff(self._post_start).astype(np.float64)
        self._idf: npt.NDArray[np.float64] = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        self._idf_unseen = math.log1p((n_docs + 0.5) / 0.5)
        self._bm25: Any = _bm25_index(ids, vocab) if n_terms else None
        self._q_owner: npt.NDArray[np.int64] = np.array(q_owner, dtype=np.int64)
        self._q_bm25: Any = _bm25_index(q_ids, vocab) if q_ids else None

    @classmethod
    def from_folder(cls, folder: Path, *, threshold: float = DEFAULT_THRESHOLD) -> KnowledgeBase:
        """Loads and indexes a folder; bad files are logged (by name) and kept in `problems`."""
        articles, problems = load_articles(folder)
        for problem in problems:
            logger.warning("skipped help article %s", problem)
        kb = cls(articles, threshold=threshold)
        kb.problems = problems
        return kb

    @property
    def articles(self) -> tuple[Article, ...]:
        """All indexed articles, in load order."""
        return self._articles

    def get(self, article_id: str) -> Article | None:
        """The article with this id (file stem), if any."""
        return self._by_id.get(article_id)

    def _mask(self, audiences: Collection[str]) -> npt.NDArray[np.bool_]:
        key = frozenset(audiences)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.isin(self._audience, list(key)) if key else np.zeros(len(self._articles), dtype=bool)
            self._masks[key] = mask
        return mask

    def search(self, text: str, *, limit: int = 3, audiences: Collection[str] = ("customer",)) -> list[ArticleHit]:
        """Ranked hits, best first, no threshold applied."""
        if isinstance(audiences, str):
            raise TypeError("audiences must be a collection of strings, not a string")
        if limit <= 0 or self._bm25 is None:
            return []
        terms = list(dict.fromkeys(_tokenize_many([text])[0]))
        known = [self._vocab[t] for t in terms if t in self._vocab]
        if not known:
            return []
        scores = np.asarray(self._bm25.get_scores(known), dtype=np.float64)
        if self._q_bm25 is not None:
            best_question = np.zeros_like(scores)
            np.maximum.at(best_question, self._q_owner, np.asarray(self._q_bm25.get_scores(known), dtype=np.float64))
            scores += _QUESTION_WEIGHT * best_question
        scores = np.where(self._mask(audiences), scores, 0.0)
        candidates = np.flatnonzero(scores > 0.0)
        if candidates.size == 0:
            return []
        depth = max(limit, _CONF_DEPTH)
        if candidates.size > depth:
            part = np.argpartition(-scores[candidates], depth - 1)[:depth]
            candidates = candidates[part]
        # Best first; ties keep load order so results are deterministic.
        top = candidates[np.lexsort((candidates, -scores[candidates]))]
        top_scores = scores[top]
        confidence = self._confidence(top, top_scores, known, len(terms) - len(known))
        return [
            ArticleHit(article=self._articles[int(d)], score=float(s), confidence=float(c))
            for d, s, c in zip(top[:limit], top_scores[:limit], confidence[:limit])
        ]

    def _confidence(
        self,
        top: npt.NDArray[np.int64],
        top_scores: npt.NDArray[np.float64],
        known: list[int],
        n_unknown: int,
    ) -> npt.NDArray[np.float64]:
        """coverage x share for each of the top documents (see the class docstring)."""
        head = top_scores[:_CONF_DEPTH]
        z = np.exp((head - head[0]) / (_TAU * head[0]))
        share = np.zeros(top_scores.size, dtype=np.float64)
        share[: head.size] = z / z.sum()
        weights = self._idf[known]
        total = float(weights.sum()) + n_unknown * self._idf_unseen
        covered = np.zeros(top.size, dtype=np.float64)
        for term, weight in zip(known, weights):
            postings = self._post_docs[self._post_start[term] : self._post_start[term + 1]]
            covered += np.isin(top, postings, assume_unique=True) * weight
        result: npt.NDArray[np.float64] = np.clip(share * covered / total, 0.0, 1.0)
        return result

    def suggest(self, text: str, *, limit: int = 3) -> list[ArticleHit]:
        """Customer-facing hits whose confidence is >= threshold; [] when unsure (never offer an article the ranking is unsure of)."""
        return [h for h in self.search(text, limit=limit, audiences=("customer",)) if h.confidence >= self.threshold]
