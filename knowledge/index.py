"""Help-article knowledge base: load Markdown articles and rank them for a message.

The bot offers an article only when the ranking is confident, because a wrong
article in a support chat costs more than handing the customer to a person.

Ranking has two stages (see `knowledge/ranking.py` for the numbers behind each
choice and `knowledge/tune.py` for how they were fitted):

1. Candidates: BM25 (bm25s) over spaCy lemmas without stop words, each article
   indexed as one document with field weights (title x3, questions x2, tags x2,
   summary, body) plus half the BM25 score of its best-matching question.
2. Re-ranking: for the top 20 candidates, named signals combined by a linear
   re-ranker (conditional logit) fitted on held-out questions:
   * TF-IDF cosines of the message with each article's questions (nearest question
     and centroid) and title, on lemma unigrams+bigrams with stop words kept ("why"
     and "how long" separate intents) plus pairs of nearby content lemmas, and on
     character 3-5-grams (spelling variants, typos);
   * naive Bayes in the same two spaces: how likely the message's features are
     under the article's (rewards covering many of them, not matching a few well);
   * LSA over the articles' word features and content lemmas: the message's topic
     compared with the article's and its nearest question's, so related wording
     counts without shared words.
   Signals are keyed by name (`R.SIGNALS`, `R.RANK_WEIGHTS`), so another weight set
   can add signals from elsewhere, such as an optional embeddings extra.

Questions come from the front matter's `questions` and from a bulleted list
under a "Common questions"/"FAQ" heading in the body.

Confidence is a logistic calibration of the re-ranker's probability, the
absolute similarity levels, word coverage (share and number of the message's
words the article has) and how typical the message is of the article's own
questions; it estimates the probability that the hit is the right article,
including for messages no article covers.

Articles are reloaded when the folder changes (checked at most every
`reload_interval` seconds, rebuilt in a background thread and swapped in
atomically); articles outside their `valid_from`/`expires` dates or with
`replaced_by` set are never returned.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import bm25s
import numpy as np
import numpy.typing as npt
import yaml

from knowledge import ranking as R
from knowledge.embeddings import Encoder, UnitVectors, torch_hidden

with torch_hidden():  # spaCy would load the embeddings extra's torch for nothing (see torch_hidden)
    import spacy

__all__ = ["Article", "ArticleError", "ArticleHit", "KnowledgeBase", "load_articles"]

logger = logging.getLogger(__name__)

AUDIENCES = frozenset({"customer", "agent"})

DEFAULT_THRESHOLD = 0.4
PREPARED_MAX = 1024  # message vectors encoded ahead of their search (KnowledgeBase.prepare), newest kept

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?$\n?", re.DOTALL | re.MULTILINE)
_URL = re.compile(r"https?://\S+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+(.*\S)\s*$")
# Headings whose bullet list holds questions the article answers.
_QUESTION_HEADING = re.compile(r"\b(questions?|faqs?|frequently asked)\b", re.IGNORECASE)
_SUMMARY_MAX = 200
# libyaml's loader when PyYAML was built with it: much faster on big folders.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Article:
    """One help article; `id` is the file stem, so links and logs stay stable.

    `questions` are the front matter's; questions listed in the body under a
    heading such as "Common questions" or "FAQ" are indexed as well.
    An article is offered only on days d with valid_from <= d < expires, and
    never once `replaced_by` names its successor.
    """

    id: str
    title: str
    summary: str
    url: str
    tags: tuple[str, ...]
    audience: str  # "customer" | "agent"
    questions: tuple[str, ...]
    body: str
    valid_from: dt.date | None = None
    expires: dt.date | None = None
    replaced_by: str = ""

    def is_live(self, today: dt.date) -> bool:
        """Whether the article may be offered on `today`."""
        if self.replaced_by:
            return False
        if self.valid_from is not None and today < self.valid_from:
            return False
        return self.expires is None or today < self.expires


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


def _opt_date(meta: dict[str, Any], field: str, name: str) -> dt.date | None:
    value = meta.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ArticleError(f"{name}: '{field}' must be a date (YYYY-MM-DD)")


def _first_paragraph(body: str) -> str:
    """Fallback summary: the first prose paragraph, for articles written without one."""
    for block in re.split(r"\n\s*\n", body):
        text = " ".join(block.split())
        if text and not text.startswith(("#", "-", "*", "|", ">", "```")):
            return text if len(text) <= _SUMMARY_MAX else text[: _SUMMARY_MAX - 1].rstrip() + "…"
    return ""


def split_body(body: str) -> tuple[tuple[str, ...], str]:
    """(questions listed under a "Common questions"/"FAQ" heading, the rest of the body)."""
    questions: list[str] = []
    rest: list[str] = []
    in_questions = False
    for line in body.splitlines():
        heading = _HEADING.match(line)
        if heading:
            in_questions = bool(_QUESTION_HEADING.search(heading.group(1)))
            if in_questions:
                continue
        elif in_questions:
            bullet = _BULLET.match(line)
            if bullet:
                questions.append(bullet.group(1).strip())
                continue
            if not line.strip():
                continue
            in_questions = False  # prose after the list ends it
        rest.append(line)
    return tuple(questions), "\n".join(rest)


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
    if title is not None and not isinstance(title, str):
        raise ArticleError(f"{name}: 'title' must be text (put it in quotes)")
    if not isinstance(title, str) or not title.strip():
        raise ArticleError(f"{name}: missing or empty 'title'")
    audience = _opt_str(meta, "audience", name) or "customer"
    if audience not in AUDIENCES:
        raise ArticleError(f"{name}: 'audience' must be one of {sorted(AUDIENCES)}")
    valid_from = _opt_date(meta, "valid_from", name)
    expires = _opt_date(meta, "expires", name)
    if valid_from is not None and expires is not None and expires <= valid_from:
        raise ArticleError(f"{name}: 'expires' must be after 'valid_from'")
    replaced_by = _opt_str(meta, "replaced_by", name).removesuffix(".md")
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
        valid_from=valid_from,
        expires=expires,
        replaced_by=replaced_by,
    )


def load_articles(folder: Path) -> tuple[list[Article], list[str]]:
    """Loads every *.md; a malformed file (bad YAML, missing title, non-mapping front matter) is skipped and reported as a problem string naming the file; never raises for one bad file."""
    articles: list[Article] = []
    problems: list[str] = []
    if not Path(folder).is_dir():  # a mistyped [knowledge] folder would otherwise mean a bot that never offers an article
        return articles, [f"{folder}: no such folder, so no article can be offered (it is loaded once it exists)"]
    for path in sorted(Path(folder).glob("*.md")):
        try:
            articles.append(_parse_article(path))
        except ArticleError as exc:
            problems.append(str(exc))
    return articles, problems


def replacement_problems(articles: Sequence[Article]) -> list[str]:
    """Articles loaded but lost to a `replaced_by` that leads nowhere: a successor missing from the
    folder (often a typo), or a chain that comes back to itself. Neither article is offered then,
    and nothing takes their place, which no search would ever show an admin."""
    by_id = {a.id: a for a in articles}
    problems: list[str] = []
    cycles: set[frozenset[str]] = set()
    for article in articles:
        if not article.replaced_by:
            continue
        if article.replaced_by not in by_id:
            problems.append(f"{article.id}.md: replaced_by '{article.replaced_by}' names no article in the folder, "
                            "so it is never offered and nothing takes its place")
            continue
        chain = [article.id]
        successor = by_id.get(article.replaced_by)
        while successor is not None and successor.id not in chain:
            chain.append(successor.id)
            successor = by_id.get(successor.replaced_by) if successor.replaced_by else None
        if successor is not None and successor.id == article.id and frozenset(chain) not in cycles:
            cycles.add(frozenset(chain))
            problems.append(f"{article.id}.md: replaced_by leads back to it ({' -> '.join(chain + [article.id])}), "
                            "so none of them is offered")
    return problems


def _folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of the folder's *.md files: changes when any is edited."""
    entries: list[tuple[str, int, int]] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.endswith(".md"):
                    try:
                        st = entry.stat()
                    except OSError:
                        continue
                    entries.append((entry.name, st.st_size, st.st_mtime_ns))
    except OSError:
        return ()
    return tuple(sorted(entries))


# ---------------------------------------------------------------- text analysis


@dataclass(frozen=True)
class _Pipeline:
    tokenizer: Any  # spacy.tokenizer.Tokenizer
    lemmas: Any  # spaCy lookups Table, or None when spacy-lookups-data is missing
    stop_words: frozenset[str]


_shared: _Pipeline | None = None
_shared_lock = threading.RLock()
_local = threading.local()


def _pipeline() -> tuple[_Pipeline, Any]:
    """The blank English pipeline (no model download) and the lock to hold while using it.

    One pipeline is shared (built once, e.g. on the service's warm-up thread) and used
    under a lock, since spaCy's tokenizer and vocabulary are not meant for concurrent
    use. A background reload gets a private one (`_local.private`), so a long re-index
    never makes a customer's search wait.
    """
    global _shared
    if getattr(_local, "private", False):
        pipe: _Pipeline | None = getattr(_local, "pipeline", None)
        if pipe is None:
            pipe = _local.pipeline = _new_pipeline()
        return pipe, contextlib.nullcontext()
    with _shared_lock:
        if _shared is None:
            _shared = _new_pipeline()
    return _shared, _shared_lock


def _new_pipeline() -> _Pipeline:
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


# A token of one whitespace-separated chunk: its lemma, and whether it is a
# content term (indexed by BM25) rather than a stop word.
_Token = tuple[str, bool]

# Analysed tokens of each whitespace-separated chunk. spaCy's tokenizer splits
# on whitespace first and handles each chunk independently, so caching per
# chunk gives the same tokens as tokenising whole texts, several times faster.
_chunk_cache: dict[str, tuple[_Token, ...]] = {}
_CHUNK_CACHE_MAX = 1_000_000
# Distinct new chunks are tokenised together in one spaCy Doc of about this
# many characters: one Doc per chunk would spend most time creating Docs.
_BATCH_CHARS = 50_000


def _token(tok: Any, pipe: _Pipeline) -> _Token | None:
    """(lemma, is content term) for one spaCy token, or None for punctuation."""
    if tok.is_space or tok.is_punct:
        return None
    lower: str = tok.lower_
    if not any(ch.isalnum() for ch in lower):
        return None
    if lower in R.NEGATIONS:
        return ("not", False)
    lemma = lower
    if pipe.lemmas is not None:
        # The lemmatizer component looks up token.text, which misses capitalised
        # words ("Passwords"); looking up the lower-case form avoids that.
        found = pipe.lemmas.get(lower, lower)
        if isinstance(found, str) and found:
            lemma = found
    content = not ((tok.is_stop and lower not in R.KEEP_WORDS) or lower in R.DROP_WORDS)
    # "going" -> "go", "got" -> "get": stop words only once lemmatised.
    if content and lemma != lower and lemma in pipe.stop_words and lemma not in R.KEEP_WORDS:
        content = False
    if len(lower) == 1 and not lower.isdigit():
        content = False
    return (lemma, content)


def _fill_cache(todo: Collection[str]) -> dict[str, tuple[_Token, ...]]:
    """Tokenises the given chunks into the cache, many chunks per spaCy Doc; returns them too."""
    done: dict[str, tuple[_Token, ...]] = {}
    pipe, guard = _pipeline()
    pending = list(todo)
    start = 0
    while start < len(pending):
        end, size = start, 0
        while end < len(pending) and (size < _BATCH_CHARS or end == start):
            size += len(pending[end]) + 1
            end += 1
        batch = pending[start:end]
        tokens: list[list[_Token]] = [[] for _ in batch]
        # Tokens come in text order and never span the joining spaces, so a
        # moving pointer over the chunk start offsets finds each token's chunk.
        bounds = [0]
        for chunk in batch:
            bounds.append(bounds[-1] + len(chunk) + 1)
        j = 0
        with guard:
            for tok in pipe.tokenizer(" ".join(batch)):
                while tok.idx >= bounds[j + 1]:
                    j += 1
                token = _token(tok, pipe)
                if token is not None:
                    tokens[j].append(token)
        for chunk, chunk_tokens in zip(batch, tokens):
            done[chunk] = tuple(chunk_tokens)
        start = end
    _chunk_cache.update(done)
    return done


def _chunks(text: str) -> list[str]:
    return (_URL.sub(" ", text) if "://" in text else text).split()


def _analyse_many(texts: Sequence[str]) -> list[list[_Token]]:
    """Tokens (lemma, is content term) of each text."""
    split = [_chunks(t) for t in texts]
    todo = {c for chunks in split for c in chunks if c not in _chunk_cache}
    if len(_chunk_cache) + len(todo) > _CHUNK_CACHE_MAX:
        _chunk_cache.clear()  # bounded memory for a long-running bot
    fresh = _fill_cache(todo) if todo else {}
    out: list[list[_Token]] = []
    for chunks in split:
        tokens: list[_Token] = []
        for c in chunks:
            found = fresh.get(c) or _chunk_cache.get(c)
            if found is None:  # cleared by another thread meanwhile
                found = _fill_cache([c])[c]
            tokens.extend(found)
        out.append(tokens)
    return out


def _word_features(tokens: Sequence[_Token]) -> list[str]:
    """Lemma unigrams and bigrams, stop words included (they tell "why" from "how"), and pairs of
    nearby content lemmas ("card" & "arrive" in "my card hasn't arrived yet")."""
    lemmas = [lemma for lemma, _ in tokens]
    return lemmas + [f"{a} {b}" for a, b in zip(lemmas, lemmas[1:])] + _pair_features(tokens)


def _pair_features(tokens: Sequence[_Token]) -> list[str]:
    """Unordered pairs of content lemmas up to R.CONTENT_PAIRS apart ("card" & "arrive")."""
    content = [lemma for lemma, c in tokens if c]
    return [f"{a}&{b}" if a < b else f"{b}&{a}" for i, a in enumerate(content) for b in content[i + 1 : i + 1 + R.CONTENT_PAIRS]]


# Character n-grams of each lower-case whitespace chunk (bounded like _chunk_cache).
_gram_cache: dict[str, tuple[str, ...]] = {}


def _chunk_grams(chunk: str) -> tuple[str, ...]:
    """Character n-grams (R.CHAR_MIN..R.CHAR_MAX) of one space-padded lower-case chunk, as char_wb."""
    grams = _gram_cache.get(chunk)
    if grams is None:
        w = f" {chunk} "
        size = len(w)
        out: list[str] = []
        for n in range(R.CHAR_MIN, R.CHAR_MAX + 1):
            if size <= n:
                out.append(w)
                break
            out.extend(w[i : i + n] for i in range(size - n + 1))
        grams = tuple(out)
        if len(_gram_cache) >= _CHUNK_CACHE_MAX:
            _gram_cache.clear()
        _gram_cache[chunk] = grams
    return grams


def _char_features(text: str) -> list[str]:
    """Character n-grams of each space-padded lower-case word of the text."""
    return [g for chunk in _chunks(text.lower()) for g in _chunk_grams(chunk)]


def _concat_ranges(starts: npt.NDArray[np.int64], lens: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lens)]), vectorised."""
    total = int(lens.sum())
    return np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total, dtype=np.int64)


def _char_ids(texts: Sequence[str], vocab: dict[str, int]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Character n-gram ids of all texts, growing `vocab`: (ids, texts' lengths in ids).

    Each distinct chunk is turned into grams once; texts are then assembled with array operations.
    """
    chunk_no: dict[str, int] = {}
    seq: list[int] = []  # chunk numbers of all texts, in order
    n_chunks = np.zeros(len(texts), dtype=np.int64)
    for k, text in enumerate(texts):
        chunks = _chunks(text.lower())
        n_chunks[k] = len(chunks)
        seq.extend(chunk_no.setdefault(c, len(chunk_no)) for c in chunks)
    gram_ids: list[int] = []
    gram_len = np.zeros(len(chunk_no), dtype=np.int64)
    for c, i in chunk_no.items():
        grams = _chunk_grams(c)
        gram_len[i] = len(grams)
        gram_ids.extend(vocab.setdefault(g, len(vocab)) for g in grams)
    gram_start = np.cumsum(gram_len) - gram_len
    order = np.asarray(seq, dtype=np.int64)
    ids = np.asarray(gram_ids, dtype=np.int64)[_concat_ranges(gram_start[order], gram_len[order])]
    per_text = np.bincount(np.repeat(np.arange(len(texts), dtype=np.int64), n_chunks), weights=gram_len[order], minlength=len(texts))
    return ids, per_text.astype(np.int64)


# ---------------------------------------------------------------- sparse vectors

# Rows multiplied by a dense matrix at a time in `_Rows.times` (bounds the temporary products).
_BLOCK_ENTRIES = 1 << 20


@dataclass(frozen=True)
class _Rows:
    """Sparse rows in CSR form (feature ids ascending within each row)."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int32]
    data: npt.NDArray[np.float32]

    @property
    def n(self) -> int:
        return int(self.indptr.size - 1)

    @classmethod
    def of_sorted(cls, row: npt.NDArray[np.integer[Any]], col: npt.NDArray[np.integer[Any]], data: npt.NDArray[Any], n_rows: int) -> _Rows:
        """From entries sorted by row, then column."""
        indptr = np.searchsorted(row, np.arange(n_rows + 1, dtype=np.int64)).astype(np.int64)
        return cls(indptr=indptr, indices=col.astype(np.int32), data=data.astype(np.float32, copy=False))

    def row_of(self) -> npt.NDArray[np.int64]:
        """The row of each stored entry."""
        return np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.indptr))

    def with_data(self, data: npt.NDArray[Any]) -> _Rows:
        return _Rows(indptr=self.indptr, indices=self.indices, data=data.astype(np.float32, copy=False))

    def take(self, rows: npt.NDArray[np.int64]) -> _Rows:
        """The given rows, in that order."""
        lens = self.indptr[rows + 1] - self.indptr[rows]
        at = _concat_ranges(self.indptr[rows], lens)
        indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        return _Rows(indptr=indptr, indices=self.indices[at], data=self.data[at])

    def transposed(self, n_cols: int) -> _Rows:
        order = np.argsort(self.indices, kind="stable")
        return _Rows.of_sorted(self.indices[order], self.row_of()[order], self.data[order], n_cols)

    def times(self, m: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """This matrix times the dense matrix m (of m's type), a block of rows at a time."""
        out = np.zeros((self.n, m.shape[1]), dtype=m.dtype)
        start = 0
        while start < self.n:
            end = max(int(np.searchsorted(self.indptr, self.indptr[start] + _BLOCK_ENTRIES, side="right")) - 1, start + 1)
            lo, hi = int(self.indptr[start]), int(self.indptr[end])
            nonempty = np.flatnonzero(np.diff(self.indptr[start : end + 1]))
            if nonempty.size:
                products = self.data[lo:hi, None] * m[self.indices[lo:hi]]
                out[start + nonempty] = np.add.reduceat(products, self.indptr[start:end][nonempty] - lo, axis=0)
            start = end
        return out


def _unit_rows(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """Each row scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return out


@dataclass(frozen=True)
class _Terms:
    """A message in one feature space: its known feature ids (ascending, distinct), their counts and weights."""

    ids: npt.NDArray[np.int64]
    counts: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]


_NO_TERMS = _Terms(np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float64))


def _count_ids(known: list[int]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    ids, counts = np.unique(np.array(known, dtype=np.int64), return_counts=True)
    return ids, counts.astype(np.float64)


class _Space:
    """One TF-IDF feature space (sublinear tf, smoothed idf, L2 norm), as scikit-learn's TfidfVectorizer.

    Rows are given as arrays of feature ids of `vocab`; with `keep_counts`, `counts` holds each stored
    entry's raw count (for LSA).
    """

    def __init__(self, feats: npt.NDArray[np.int64], lens: npt.NDArray[np.int64], vocab: dict[str, int], *, keep_counts: bool = False) -> None:
        self.vocab = vocab
        n_rows, n_feats = lens.size, max(len(vocab), 1)
        row_of = np.repeat(np.arange(n_rows, dtype=np.int64), lens)
        key, counts = np.unique(row_of * n_feats + feats, return_counts=True)  # sorted by row, then feature
        r, f = key // n_feats, key % n_feats
        df = np.bincount(f, minlength=len(vocab)).astype(np.float64)
        self.idf: npt.NDArray[np.float64] = np.log((1.0 + n_rows) / (1.0 + df)) + 1.0
        val = (1.0 + np.log(counts)) * self.idf[f]
        norms = np.sqrt(np.bincount(r, weights=val * val, minlength=n_rows))
        norms[norms == 0] = 1.0
        self.rows = _Rows.of_sorted(r, f, val / norms[r], n_rows)
        self.counts = self.rows.with_data(counts) if keep_counts else None
        self.idf_max_sq = float(self.idf.max()) ** 2 if self.idf.size else 0.0
        # Known feature ids and number of unknown grams of each lower-case chunk (char spaces).
        self._chunk_ids: dict[str, tuple[list[int], int]] = {}

    @classmethod
    def of_features(cls, docs: Sequence[Sequence[str]], *, keep_counts: bool = False) -> _Space:
        vocab: dict[str, int] = {}
        lens = np.array([len(doc) for doc in docs], dtype=np.int64)
        ids = np.fromiter((vocab.setdefault(f, len(vocab)) for doc in docs for f in doc), dtype=np.int64, count=int(lens.sum()))
        return cls(ids, lens, vocab, keep_counts=keep_counts)

    @classmethod
    def of_char_grams(cls, texts: Sequence[str]) -> _Space:
        vocab: dict[str, int] = {}
        return cls(*_char_ids(texts, vocab), vocab)

    def query(self, feats: Sequence[str]) -> _Terms:
        """The message's normalised vector; unknown features are dropped."""
        vocab = self.vocab
        known = [vocab[f] for f in feats if f in vocab]
        return self._vector(known, len(feats) - len(known))

    def query_chars(self, text: str) -> _Terms:
        """`query(_char_features(text))`, with each chunk's known gram ids cached."""
        cache = self._chunk_ids
        known: list[int] = []
        unknown = 0
        for chunk in _chunks(text.lower()):
            hit = cache.get(chunk)
            if hit is None:
                grams = _chunk_grams(chunk)
                ids = [self.vocab[g] for g in grams if g in self.vocab]
                hit = (ids, len(grams) - len(ids))
                if len(cache) >= _CHUNK_CACHE_MAX:
                    cache.clear()
                cache[chunk] = hit
            known.extend(hit[0])
            unknown += hit[1]
        return self._vector(known, unknown)

    def _vector(self, known: list[int], unknown: int) -> _Terms:
        if not known:
            return _NO_TERMS
        ids, counts = _count_ids(known)
        val = (1.0 + np.log(counts)) * self.idf[ids]
        # Normalised over *all* the message's features, unknown ones at the
        # highest idf, so a message that is mostly unknown words scores low.
        extra = unknown * self.idf_max_sq
        norm = math.sqrt(float(val @ val) + extra) or 1.0
        return _Terms(ids, counts, val / norm)


class _Grouped:
    """Sparse rows grouped by article (article k's rows are starts[k]..starts[k+1]-1), for dot products
    of a message with the rows of a few candidate articles.

    With `postings`, also indexed by feature: a message whose features occur in fewer stored entries
    than the candidates' rows hold is scored through its features' postings instead (the same sums).
    """

    def __init__(self, rows: _Rows, starts: npt.NDArray[np.int64], n_features: int, *, postings: bool) -> None:
        self.rows = rows
        self.starts = starts
        self.counts = np.diff(starts)
        self.row_nnz = np.diff(rows.indptr)
        self.n_features = n_features
        # Postings: the entries of feature f, in storage order, are col_ptr[f]..col_ptr[f + 1] - 1
        # of col_data (their values) and col_row (their rows).
        self.col_ptr: npt.NDArray[np.int64] | None = None
        if postings:
            col_pos = np.argsort(rows.indices, kind="stable")
            self.col_ptr = np.searchsorted(rows.indices[col_pos], np.arange(n_features + 1)).astype(np.int64)
            self.col_data = rows.data[col_pos]
            self.col_row = rows.row_of()[col_pos]

    def dots(self, q: _Terms, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Dot products of the message with each row of the candidates, the candidates' rows in order."""
        rows = _concat_ranges(self.starts[cand], self.counts[cand])
        if q.ids.size == 0:
            return np.zeros(rows.size, dtype=np.float64)
        lo = self.rows.indptr[self.starts[cand]]
        lens = self.rows.indptr[self.starts[cand + 1]] - lo  # the candidates' rows are stored contiguously
        if self.col_ptr is not None:
            c_lo = self.col_ptr[q.ids]
            c_lens = self.col_ptr[q.ids + 1] - c_lo
            if int(c_lens.sum()) < int(lens.sum()):
                at = _concat_ranges(c_lo, c_lens)
                products = self.col_data[at] * np.repeat(q.weights, c_lens)
                every = np.bincount(self.col_row[at], weights=products, minlength=self.rows.n)
                return every[rows].astype(np.float64, copy=False)
        dense = np.zeros(self.n_features, dtype=np.float64)
        dense[q.ids] = q.weights
        pos = _concat_ranges(lo, lens)
        # Products row by row, with a trailing 0 so that empty rows (zeroed below) index within the array.
        contrib = np.append(self.rows.data[pos] * dense[self.rows.indices[pos]], 0.0)
        nnz = self.row_nnz[rows]
        result = np.add.reduceat(contrib, np.cumsum(nnz) - nnz)
        result[nnz == 0] = 0.0
        return result.astype(np.float64, copy=False)


@dataclass(frozen=True)
class _GroupSums:
    """The sum of each article's rows as one row per article (`sums`), and how the rows' entries map onto it:
    `order` sorts the entries by (article, feature) and runs of equal keys start at `run_starts` in that order."""

    sums: _Rows
    order: npt.NDArray[np.int64]
    run_starts: npt.NDArray[np.int64]


def _sum_runs(values: npt.NDArray[Any], order: npt.NDArray[np.int64], run_starts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Sums of values[order] over runs starting at run_starts."""
    if run_starts.size == 0:
        return np.zeros(0, dtype=np.float64)
    result: npt.NDArray[np.float64] = np.add.reduceat(values[order].astype(np.float64), run_starts)
    return result


def _group_sums(rows: _Rows, starts: npt.NDArray[np.int64], n_features: int) -> _GroupSums:
    """Sums each article's rows (article k: rows starts[k]..starts[k + 1] - 1): centroids, naive Bayes, LSA."""
    n_groups = starts.size - 1
    n_feats = max(n_features, 1)
    group_of_row = np.repeat(np.arange(n_groups, dtype=np.int64), np.diff(starts))
    key = group_of_row[rows.row_of()] * n_feats + rows.indices
    # Rows are sorted by feature and a group's rows are adjacent, so the keys
    # are a few sorted runs per group: a stable (merge) sort is quick here.
    order = np.argsort(key, kind="stable")
    key = key[order]
    run_starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.zeros(0, dtype=np.int64)
    run_key = key[run_starts]
    sums = _Rows.of_sorted(run_key // n_feats, run_key % n_feats, _sum_runs(rows.data, order, run_starts), n_groups)
    return _GroupSums(sums, order, run_starts)


def _centroid_stats(rows: _Rows, starts: npt.NDArray[np.int64], grouped: _GroupSums) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per article (its questions' rows, then its title's, consecutive from starts[k]):

    * the L2 norm of the rows' sum (the centroid's cosine with a message is the sum of the rows' cosines over it);
    * cohesion: the mean cosine of each question with the centroid of the group's other rows, i.e. how
      close a typical question of the article is to the rest; NaN for an article with fewer than 2 questions.
    """
    n_groups = starts.size - 1
    summed = grouped.sums.data.astype(np.float64)
    sq = np.bincount(grouped.sums.row_of(), weights=summed * summed, minlength=n_groups)
    norms = np.sqrt(sq)
    norms[norms == 0] = 1.0
    cohesion = np.full(n_groups, np.nan)
    if rows.indices.size == 0:
        return norms, cohesion
    # Leave-one-out cosine of each row u with S - u (S: its group's sum): (u.S - |u|^2) / |S - u|.
    row_of = rows.row_of()
    group_of_row = np.repeat(np.arange(n_groups, dtype=np.int64), np.diff(starts))
    data = rows.data.astype(np.float64)
    run_len = np.diff(np.r_[grouped.run_starts, row_of.size])
    u_dot_s = np.bincount(row_of[grouped.order], weights=data[grouped.order] * np.repeat(summed, run_len), minlength=rows.n)
    u_sq = np.bincount(row_of, weights=data * data, minlength=rows.n)
    rest = np.sqrt(np.maximum(sq[group_of_row] - 2.0 * u_dot_s + u_sq, 1e-12))
    loo = (u_dot_s - u_sq) / rest
    is_title = np.zeros(rows.n, dtype=bool)
    is_title[starts[1:] - 1] = True
    questions = ~is_title & (u_sq > 0)
    n_q = np.bincount(group_of_row[questions], minlength=n_groups)
    total = np.bincount(group_of_row[questions], weights=loo[questions], minlength=n_groups)
    ok = n_q >= 2
    cohesion[ok] = total[ok] / n_q[ok]
    return norms, cohesion


class _NaiveBayes:
    """Multinomial naive Bayes over one TF-IDF space: the log-likelihood of the message's weighted features
    under each article's feature distribution (the sum of its questions' and title's vectors, smoothed).

    Unlike a cosine, which a few strongly matching features can dominate, it rewards an article for
    covering many of the message's features at all, and penalises it for each one it lacks.
    """

    def __init__(self, sums: _Rows, n_features: int) -> None:
        alpha = R.NB_ALPHA
        total = np.bincount(sums.row_of(), weights=sums.data.astype(np.float64), minlength=sums.n)
        # log P(f | article) = log(sum_f + alpha) - log(total + alpha * V): the part that depends on
        # the feature is stored only where the article has it, as log(1 + sum_f / alpha).
        self.present = _Grouped(sums.with_data(np.log1p(sums.data / alpha)), np.arange(sums.n + 1, dtype=np.int64), n_features, postings=False)
        self.absent: npt.NDArray[np.float64] = math.log(alpha) - np.log(total + alpha * max(n_features, 1))

    def scores(self, q: _Terms, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Per candidate: its log-likelihood minus the best candidate's (<= 0)."""
        ll = self.present.dots(q, cand) + self.absent[cand] * float(q.weights.sum())
        return ll - ll.max() if ll.size else ll


class _Lsa:
    """Latent semantic analysis over the articles' questions and titles (one term set).

    Articles are TF-IDF rows of their summed term counts (sublinear tf, idf over articles), reduced to
    their top singular directions: terms that the same articles use end up close, so a message can
    match an article's topic without sharing its words, and articles on one topic rank together.
    The message is compared with each candidate as a whole and with its nearest question.
    """

    def __init__(self, units: _Rows, articles: _Rows, n_terms: int, starts: npt.NDArray[np.int64]) -> None:
        n = articles.n
        df = np.bincount(articles.indices, minlength=n_terms)
        self.idf: npt.NDArray[np.float64] = np.log((1.0 + n) / (1.0 + df)) + 1.0
        articles, units = self._tfidf(articles), self._tfidf(units)
        dims = min(R.LSA_MAX_DIMS, max(1, round(n / R.LSA_ARTICLES_PER_DIM)))
        self.basis = _svd_basis(_row_normalised(articles), df, dims)
        # Projections are normalised afterwards, so rows need no normalising before.
        self.articles = _unit_rows(articles.times(self.basis))
        self.units = _unit_rows(units.times(self.basis))
        self.starts = starts
        self.counts = np.diff(starts)

    def _tfidf(self, counts: _Rows) -> _Rows:
        return counts.with_data((1.0 + np.log(np.maximum(counts.data, 1.0))) * self.idf[counts.indices])

    def project(self, q: _Terms) -> npt.NDArray[np.float32]:
        """The message in the reduced space, length 1 (zero when none of its terms is known)."""
        z = ((1.0 + np.log(q.counts)) * self.idf[q.ids]).astype(np.float32) @ self.basis[q.ids]
        norm = float(np.linalg.norm(z))
        return z / norm if norm > 0 else np.zeros(self.basis.shape[1], dtype=np.float32)

    def cosines(self, z: npt.NDArray[np.float32], cand: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per candidate: cosine with the article, and with its nearest question or title."""
        counts = self.counts[cand]
        unit_cos = self.units[_concat_ranges(self.starts[cand], counts)] @ z
        nearest = np.maximum.reduceat(unit_cos, np.cumsum(counts) - counts) if cand.size else unit_cos
        return (self.articles[cand] @ z).astype(np.float64), nearest.astype(np.float64)


def _row_normalised(x: _Rows) -> _Rows:
    """Each row scaled to length 1, so every article weighs alike in the decomposition."""
    norms = np.sqrt(np.bincount(x.row_of(), weights=x.data.astype(np.float64) ** 2, minlength=x.n))
    return x.with_data(x.data / np.where(norms > 0, norms, 1.0)[x.row_of()])


def _svd_basis(x: _Rows, df: npt.NDArray[np.int64], dims: int) -> npt.NDArray[np.float32]:
    """Top `dims` right singular vectors of x (one row per term), from at most R.LSA_SAMPLE evenly spaced rows.

    The decomposition is of a dense block: those rows and the R.LSA_DENSE_TERMS terms most of the articles
    share (a randomised range finder with power iterations, Halko, Martinsson & Tropp 2011, seeded so an index
    is rebuilt identically); every other term the rows use is then folded in (v = x^T u / s), as LSA folds in
    new documents. A term that only unsampled articles use stays out (a zero row).
    """
    step = max(1, math.ceil(x.n / R.LSA_SAMPLE))
    sample = x.take(np.arange(0, x.n, step, dtype=np.int64))
    shared = np.argsort(-df, kind="stable")[: R.LSA_DENSE_TERMS]
    shared = shared[df[shared] >= 2]
    column = np.full(df.size, -1, dtype=np.int64)
    column[shared] = np.arange(shared.size)
    in_block = column[sample.indices] >= 0
    block = np.zeros((sample.n, shared.size), dtype=np.float32)
    block[sample.row_of()[in_block], column[sample.indices[in_block]]] = sample.data[in_block]
    width = min(dims + R.LSA_OVERSAMPLE, *block.shape)
    if width == 0:
        return np.zeros((df.size, dims), dtype=np.float32)
    y = block @ np.random.default_rng(0).standard_normal((shared.size, width)).astype(np.float32)
    for _ in range(R.LSA_POWER_ITERATIONS):
        y = block @ np.linalg.qr(block.T @ np.linalg.qr(y)[0])[0]
    q = np.linalg.qr(y)[0]
    u, s, _ = np.linalg.svd(q.T @ block, full_matrices=False)
    kept = min(dims, int((s > 1e-6 * s[0]).sum()))
    left = np.zeros((sample.n, dims), dtype=np.float32)
    left[:, :kept] = (q @ u[:, :kept]) / s[:kept]
    result: npt.NDArray[np.float32] = sample.transposed(df.size).times(left)
    return result


def _bm25_index(ids: list[list[int]], vocab: dict[str, int]) -> Any:
    """A bm25s index over documents given as term ids of a shared vocabulary."""
    bm25 = bm25s.BM25(k1=R.K1, b=R.B)
    bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), create_empty_token=False, show_progress=False)
    return bm25


@dataclass
class _Query:
    """Everything the ranking needs from one message."""

    known: list[int]  # BM25 term ids of its distinct content terms in the vocabulary
    n_unknown: int  # its distinct content terms missing from the vocabulary
    vectors: dict[str, _Terms]  # per TF-IDF space
    lemmas: _Terms  # its content terms with their counts (for the lemma LSA; no weights)


@dataclass(frozen=True)
class _Analysed:
    """The articles' texts as the index needs them: BM25 documents and the TF-IDF units."""

    docs: list[list[int]]  # per article: its BM25 term ids, fields repeated by weight
    vocab: dict[str, int]  # BM25 terms (content lemmas)
    q_ids: list[list[int]]  # per question with content terms: its BM25 term ids
    q_owner: list[int]  # the article of each of those questions
    unit_lemmas: list[list[int]]  # per unit: its BM25 term ids
    unit_start: list[int]  # units of article k: unit_start[k]..unit_start[k + 1] - 1 (questions, then title)
    unit_tokens: list[list[_Token]]
    unit_text: list[str]


def _analyse_articles(articles: Sequence[Article]) -> _Analysed:
    """Analyses each field once: BM25 documents over all fields, and as TF-IDF units each article's
    questions (front matter, then those listed in the body) and its title with tags."""
    questions: list[tuple[str, ...]] = []
    bodies: list[str] = []
    for a in articles:
        listed, rest = split_body(a.body)
        seen = {" ".join(q.lower().split()) for q in a.questions}
        extra = tuple(q for q in listed if " ".join(q.lower().split()) not in seen)
        questions.append(a.questions + extra)
        bodies.append(rest)
    title_texts = [" ".join([a.title, *(t.replace("-", " ") for t in a.tags)]) for a in articles]
    texts: list[str] = []
    for a, qs, body in zip(articles, questions, bodies):
        texts += [a.title, " ".join(t.replace("-", " ") for t in a.tags), a.summary, body, *qs]
    texts += title_texts
    analysed = _analyse_many(texts)
    content = iter([[lemma for lemma, c in toks if c] for toks in analysed])
    titles_analysed = analysed[len(analysed) - len(title_texts) :]

    vocab: dict[str, int] = {}

    def to_ids(field_terms: list[str]) -> list[int]:
        return [vocab.setdefault(t, len(vocab)) for t in field_terms]

    out = _Analysed(docs=[], vocab=vocab, q_ids=[], q_owner=[], unit_lemmas=[], unit_start=[0], unit_tokens=[], unit_text=[])
    pos = 0
    for k, qs in enumerate(questions):
        fields = {name: to_ids(next(content)) for name in ("title", "tags", "summary", "body")}
        qterms = [to_ids(next(content)) for _ in qs]
        fields["questions"] = [t for q in qterms for t in q]
        out.docs.append([t for name, weight in R.FIELD_WEIGHTS.items() for t in fields[name] * weight])
        for q_text, q, toks in zip(qs, qterms, analysed[pos + 4 : pos + 4 + len(qs)]):
            if q:
                out.q_ids.append(q)
                out.q_owner.append(k)
            out.unit_lemmas.append(q)
            out.unit_tokens.append(toks)
            out.unit_text.append(q_text)
        out.unit_lemmas.append(fields["title"] + fields["tags"])
        out.unit_tokens.append(titles_analysed[k])
        out.unit_text.append(title_texts[k])
        out.unit_start.append(len(out.unit_tokens))
        pos += 4 + len(qs)
    return out


def _count_rows(docs: Sequence[Sequence[int]], n_features: int) -> _Rows:
    """Term counts of each document given as feature ids."""
    lens = np.array([len(d) for d in docs], dtype=np.int64)
    feats = np.fromiter((f for d in docs for f in d), dtype=np.int64, count=int(lens.sum()))
    n_feats = max(n_features, 1)
    key, counts = np.unique(np.repeat(np.arange(lens.size, dtype=np.int64), lens) * n_feats + feats, return_counts=True)
    return _Rows.of_sorted(key // n_feats, key % n_feats, counts, lens.size)


class _Index:
    """An immutable ranking index over one list of articles (swapped whole on reload)."""

    def __init__(self, articles: Sequence[Article], encoder: Encoder | None = None, previous: UnitVectors | None = None) -> None:
        self.articles: tuple[Article, ...] = tuple(articles)
        self.by_id: dict[str, Article] = {}
        for article in self.articles:
            if article.id in self.by_id:
                raise ValueError(f"duplicate article id {article.id!r}")
            self.by_id[article.id] = article
        self.audience = np.array([a.audience for a in self.articles], dtype=object)
        self._masks: dict[frozenset[str], npt.NDArray[np.bool_]] = {}
        self._live: tuple[int, npt.NDArray[np.bool_]] | None = None
        self.dated = any(a.valid_from or a.expires for a in self.articles)
        self.replaced = np.array([bool(a.replaced_by) for a in self.articles], dtype=bool)
        analysed = _analyse_articles(self.articles)
        self._build_bm25(analysed)
        self._build_spaces(analysed)
        # With the embeddings extra: sentence vectors of the same units (see knowledge/embeddings.py).
        self.encoder = encoder
        self.vectors = UnitVectors(encoder, analysed.unit_text, self.unit_start, previous) if encoder is not None else None

    def _build_bm25(self, analysed: _Analysed) -> None:
        n = len(self.articles)
        self.vocab = analysed.vocab
        n_terms = len(self.vocab)
        docs = analysed.docs
        # Postings: doc numbers containing term t are post_docs[post_start[t]:post_start[t + 1]].
        flat = np.fromiter((t for d in docs for t in d), dtype=np.int64, count=sum(map(len, docs)))
        doc_of = np.repeat(np.arange(n, dtype=np.int64), [len(d) for d in docs])
        pairs = np.unique(flat * max(n, 1) + doc_of)  # distinct (term, doc), sorted by term then doc
        self.post_docs: npt.NDArray[np.int64] = pairs % max(n, 1)
        self.post_start: npt.NDArray[np.int64] = np.searchsorted(pairs // max(n, 1), np.arange(n_terms + 1, dtype=np.int64)).astype(np.int64)
        df = np.diff(self.post_start).astype(np.float64)
        self.idf: npt.NDArray[np.float64] = np.log1p((n - df + 0.5) / (df + 0.5))
        self.idf_unseen = math.log1p((n + 0.5) / 0.5)
        self.bm25: Any = _bm25_index(docs, self.vocab) if n_terms else None
        q_owner = np.array(analysed.q_owner, dtype=np.int64)
        # Runs of questions per article (q_owner is non-decreasing): starts and owners.
        self.q_runs = np.flatnonzero(np.r_[True, q_owner[1:] != q_owner[:-1]]) if q_owner.size else np.zeros(0, np.int64)
        self.q_articles = q_owner[self.q_runs]
        self.q_bm25: Any = _bm25_index(analysed.q_ids, self.vocab) if analysed.q_ids else None

    def _build_spaces(self, analysed: _Analysed) -> None:
        """TF-IDF spaces, naive Bayes and LSA, fitted on the questions and titles (the texts that say
        what an article is for; bodies would drown them)."""
        word = _Space.of_features([_word_features(t) for t in analysed.unit_tokens], keep_counts=True)
        self.spaces = {"word": word, "char": _Space.of_char_grams(analysed.unit_text)}
        # Units of article k are rows unit_start[k]..unit_start[k + 1] - 1, the last one its title.
        self.unit_start = np.array(analysed.unit_start, dtype=np.int64)
        self.unit_count: npt.NDArray[np.int64] = np.diff(self.unit_start)
        self.units: dict[str, _Grouped] = {}
        # An article's centroid is the normalised sum of its units' vectors; its
        # cosine with a message is the sum of the units' cosines over this norm.
        self.norms: dict[str, npt.NDArray[np.float64]] = {}
        # How close an article's questions are to each other: a message is compared
        # with that (a loose article's questions are far from any one phrasing).
        self.cohesion: dict[str, npt.NDArray[np.float64]] = {}
        self.nb: dict[str, _NaiveBayes] = {}
        sums = {name: self._add_space(name, space) for name, space in self.spaces.items()}
        assert word.counts is not None
        word_articles = sums["word"].sums.with_data(_sum_runs(word.counts.data, sums["word"].order, sums["word"].run_starts))
        lemmas = _count_rows(analysed.unit_lemmas, len(self.vocab))
        lemma_articles = _group_sums(lemmas, self.unit_start, len(self.vocab)).sums
        self.lsa = {
            "word": _Lsa(word.counts, word_articles, len(word.vocab), self.unit_start),
            "lemma": _Lsa(lemmas, lemma_articles, len(self.vocab), self.unit_start),
        }

    def _add_space(self, name: str, space: _Space) -> _GroupSums:
        """Per-candidate scoring, centroid norms, cohesion and naive Bayes of one TF-IDF space; returns its article sums."""
        n_feats = len(space.vocab)
        # Character n-grams are common to many articles: walking the candidates' rows is
        # nearly always cheaper than their postings, so they get none (build time, memory).
        self.units[name] = _Grouped(space.rows, self.unit_start, n_feats, postings=name == "word")
        grouped = _group_sums(space.rows, self.unit_start, n_feats)
        norms, cohesion = _centroid_stats(space.rows, self.unit_start, grouped)
        known = cohesion[~np.isnan(cohesion)]
        self.norms[name] = norms
        self.cohesion[name] = np.where(np.isnan(cohesion), float(known.mean()) if known.size else R.DEFAULT_COHESION, cohesion)
        self.nb[name] = _NaiveBayes(grouped.sums, n_feats)
        return grouped

    # ------------------------------------------------------------ masks

    def mask(self, audiences: Collection[str], today: dt.date | None) -> npt.NDArray[np.bool_]:
        key = frozenset(audiences)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.isin(self.audience, list(key)) if key else np.zeros(len(self.articles), dtype=bool)
            mask &= ~self.replaced
            self._masks[key] = mask
        if self.dated:
            mask = mask & self._live_mask(today or dt.date.today())
        return mask

    def _live_mask(self, today: dt.date) -> npt.NDArray[np.bool_]:
        cached = self._live
        if cached is not None and cached[0] == today.toordinal():
            return cached[1]
        live = np.array([a.is_live(today) for a in self.articles], dtype=bool)
        self._live = (today.toordinal(), live)
        return live

    # ------------------------------------------------------------ scoring

    def query(self, text: str) -> _Query | None:
        tokens = _analyse_many([text])[0]
        content = [lemma for lemma, c in tokens if c]
        terms = list(dict.fromkeys(content))
        known = [self.vocab[t] for t in terms if t in self.vocab]
        if not known:
            return None
        ids, counts = _count_ids([self.vocab[t] for t in content if t in self.vocab])
        return _Query(
            known=known,
            n_unknown=len(terms) - len(known),
            vectors={"word": self.spaces["word"].query(_word_features(tokens)), "char": self.spaces["char"].query_chars(text)},
            lemmas=_Terms(ids, counts, counts),
        )

    def candidates(
        self, q: _Query, mask: npt.NDArray[np.bool_], depth: int, extra: npt.NDArray[np.int64] | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Top BM25 candidates: (article numbers, whole-article BM25, best-question BM25).

        `extra` (allowed articles found otherwise, e.g. by sentence embeddings) are appended after them.
        """
        doc = np.asarray(self.bm25.get_scores(q.known), dtype=np.float64)
        best_q = np.zeros_like(doc)
        if self.q_bm25 is not None:
            # Questions are numbered article by article: a max over each article's run.
            per_question = np.asarray(self.q_bm25.get_scores(q.known), dtype=np.float64)
            best_q[self.q_articles] = np.maximum.reduceat(per_question, self.q_runs)
        total = np.where(mask, doc + R.QUESTION_WEIGHT * best_q, 0.0)
        cand = np.flatnonzero(total > 0.0)
        if cand.size > depth:
            cand = cand[np.argpartition(-total[cand], depth - 1)[:depth]]
        cand = cand[np.lexsort((cand, -total[cand]))]
        if extra is not None:
            cand = np.concatenate([cand, extra[~np.isin(extra, cand)]])
        return cand, doc[cand], best_q[cand]

    def message_vector(self, text: str) -> npt.NDArray[np.float32] | None:
        """The message's sentence vector when the embeddings extra is on (one encode per search), else None."""
        return None if self.encoder is None else self.encoder.encode([text])[0]

    def nearest_by_meaning(self, qvec: npt.NDArray[np.float32] | None, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64] | None:
        """Extra candidates closest in meaning (embeddings extra): paraphrases BM25 cannot find."""
        if qvec is None or self.vectors is None:
            return None
        return self.vectors.nearest_articles(qvec, mask, R.EMBEDDING_CANDIDATES)

    def signals(
        self,
        q: _Query,
        cand: npt.NDArray[np.int64],
        bm25: npt.NDArray[np.float64],
        bm25_question: npt.NDArray[np.float64],
        qvec: npt.NDArray[np.float32] | None = None,
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Every re-ranking signal of each candidate, by name (see R.SIGNALS; with the embeddings
        extra and the message's vector `qvec`, also the sentence-embedding ones)."""
        out = {"bm25": bm25, "bm25_question": bm25_question}
        out.update(self.similarities(q, cand))
        for name, nb in self.nb.items():
            out[f"nb_{name}"] = nb.scores(q.vectors[name], cand)
        for name, lsa in self.lsa.items():
            z = lsa.project(q.lemmas if name == "lemma" else q.vectors[name])
            out[f"lsa_cent_{name}"], out[f"lsa_near_{name}"] = lsa.cosines(z, cand)
        if qvec is not None and self.vectors is not None:
            out.update(self.vectors.signals(qvec, cand))
        return out

    def similarities(self, q: _Query, cand: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.float64]]:
        """TF-IDF cosines of the message with each candidate's centroid, nearest question and title."""
        out: dict[str, npt.NDArray[np.float64]] = {}
        counts = self.unit_count[cand]
        ends = np.cumsum(counts)
        base = ends - counts  # first unit of each candidate among all candidates' units
        group = np.repeat(np.arange(cand.size), counts)
        title_at = ends - 1
        has_questions = counts > 1
        q_base = base - np.arange(cand.size)  # first question of each candidate among all questions
        is_question = np.ones(int(ends[-1]) if ends.size else 0, dtype=bool)
        is_question[title_at] = False
        for name, units in self.units.items():
            dots = units.dots(q.vectors[name], cand)
            cent = np.bincount(group, weights=dots, minlength=cand.size) / self.norms[name][cand]
            out[f"cent_{name}"] = cent
            out[f"fit_{name}"] = cent - self.cohesion[name][cand]
            title = dots[title_at]
            out[f"title_{name}"] = title
            if has_questions.all():
                nearest = np.maximum.reduceat(dots[is_question], q_base) if cand.size else title
                out[f"near_{name}"] = np.maximum(nearest, -1.0)
            else:
                nearest = np.full(cand.size, -1.0)
                if has_questions.any():
                    nearest[has_questions] = np.maximum(np.maximum.reduceat(dots[is_question], q_base[has_questions]), -1.0)
                out[f"near_{name}"] = np.where(has_questions, nearest, title)
        return out

    def coverage(self, q: _Query, docs: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per article: the IDF-weighted share of the message's content terms it contains, and their number."""
        weights = self.idf[q.known]
        total = float(weights.sum()) + q.n_unknown * self.idf_unseen
        covered = np.zeros(docs.size, dtype=np.float64)
        matched = np.zeros(docs.size, dtype=np.float64)
        for term, weight in zip(q.known, weights):
            having = self.post_docs[self.post_start[term] : self.post_start[term + 1]]  # ascending, never empty
            found = having[np.minimum(np.searchsorted(having, docs), having.size - 1)] == docs
            covered += found * weight
            matched += found
        return (covered / total if total > 0 else covered), matched


class _Fitted(NamedTuple):
    """The re-ranker's weights (by signal name) and the confidence's features and weights in use."""

    rank_weights: Mapping[str, Sequence[float]]
    conf_features: tuple[str, ...]
    conf_weights: npt.NDArray[np.float64]
    conf_bias: float


def _fitted(index: _Index) -> _Fitted:
    """The lexical settings, or those fitted with the sentence-embedding signals when the extra is on
    (read at call time, so the tuning modules can swap them)."""
    if index.vectors is None:
        return _Fitted(R.RANK_WEIGHTS, R.CONF_FEATURES, R.CONF_WEIGHTS, R.CONF_BIAS)
    return _Fitted(R.RANK_WEIGHTS_WITH_EMBEDDINGS, R.CONF_FEATURES_WITH_EMBEDDINGS,
                   R.CONF_WEIGHTS_WITH_EMBEDDINGS, R.CONF_BIAS_WITH_EMBEDDINGS)


def rank_features(signals: dict[str, npt.NDArray[np.float64]], names: Sequence[str]) -> npt.NDArray[np.float64]:
    """Per candidate, for each named signal: its value, relative to the best candidate's, and 1/(1 + rank)."""
    v = np.stack([np.asarray(signals[name], dtype=np.float64) for name in names])  # (signals, candidates)
    n_sig, n = v.shape
    out = np.empty((n, 3 * n_sig), dtype=np.float64)
    if n == 0:
        return out
    top = v.max(axis=1)
    rank = (v[:, None, :] > v[:, :, None]).sum(axis=2)
    pos = top > 0
    rel = np.zeros_like(v)
    rel[pos] = v[pos] / top[pos, None]
    out[:, 0::3] = v.T
    out[:, 1::3] = rel.T
    out[:, 2::3] = (1.0 / (1.0 + rank)).T
    return out


def _rerank(signals: dict[str, npt.NDArray[np.float64]], weights: Mapping[str, Sequence[float]]) -> npt.NDArray[np.float64]:
    """The re-ranker's score of each candidate: a linear function of the features of the signals `weights` names."""
    flat = np.array([w for name in weights for w in weights[name]], dtype=np.float64)
    scores: npt.NDArray[np.float64] = rank_features(signals, list(weights)) @ flat
    return scores


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))
    return out


class KnowledgeBase:
    """Ranks help articles for a customer's message, with a calibrated confidence.

    `search` returns hits best first without a threshold; `suggest` returns
    only customer articles whose confidence reaches `threshold` ([] when
    unsure: the customer goes to a person). Confidence estimates the
    probability that the hit is the right article (see knowledge/ranking.py
    for how it was calibrated and how the default threshold was chosen).

    Built with `from_folder`, the knowledge base watches its folder: at most
    every `reload_interval` seconds a search starts a background check, and
    changed articles are re-indexed and swapped in without a restart.
    """

    def __init__(
        self, articles: Sequence[Article], *, threshold: float = DEFAULT_THRESHOLD, embeddings: Encoder | None = None
    ) -> None:
        self.threshold = threshold
        self.problems: list[str] = []  # files skipped
        self.warnings: list[str] = []  # articles loaded but never offered by mistake (replacement_problems)
        self._articles = list(articles)  # as written, without what was learnt
        self._prepared: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()  # message vectors, see prepare()
        self._prepared_lock = threading.Lock()
        self._learned: dict[str, tuple[str, ...]] = {}
        self._index = _Index(articles, embeddings)
        self._folder: Path | None = None
        self._signature: tuple[tuple[str, int, int], ...] = ()
        self.reload_interval = 2.0
        self._next_check = math.inf
        self._reload_lock = threading.Lock()
        self._reloading: threading.Thread | None = None
        self.reloads = 0

    @classmethod
    def from_folder(
        cls,
        folder: Path,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        reload_interval: float | None = 2.0,
        embeddings: Encoder | None = None,
    ) -> KnowledgeBase:
        """Loads and indexes a folder; bad files are logged (by name) and kept in `problems`.

        With a `reload_interval` (seconds; None turns watching off), searches
        notice edited, added and removed files and re-index in the background.
        With an `embeddings` encoder (the optional extra, knowledge/embeddings.py),
        sentence-embedding signals join the ranking and the confidence.
        """
        folder = Path(folder)
        signature = _folder_signature(folder)
        articles, problems = load_articles(folder)
        kb = cls(articles, threshold=threshold, embeddings=embeddings)
        kb._report(articles, problems)
        kb._folder = folder
        kb._signature = signature
        if reload_interval is not None:
            kb.reload_interval = reload_interval
            kb._next_check = time.monotonic() + reload_interval
        return kb

    @property
    def threshold(self) -> float:
        """Confidence (0..1) a hit needs for `suggest`; each knowledge base has its own, settable at run time."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold must be within 0..1, got {value}")
        self._threshold = float(value)

    # ------------------------------------------------------------ reloading

    @property
    def folder(self) -> Path | None:
        """The folder the articles come from (None when built from a list)."""
        return self._folder

    def reload(self, *, force: bool = False) -> bool:
        """Re-reads the folder now if any article file changed (or `force`); True when re-indexed.

        A folder that fails to load keeps the current index.
        """
        if self._folder is None:
            return False
        with self._reload_lock:
            signature = _folder_signature(self._folder)
            if not force and signature == self._signature:
                return False
            articles, problems = load_articles(self._folder)
            try:
                index = _Index(self._with_learned(articles), self._index.encoder, self._index.vectors)
            except ValueError as exc:  # e.g. duplicate ids can't happen from one folder, but be safe
                logger.error("help articles not reloaded: %s", exc)
                return False
            self._index = index
            self._articles = articles
            self._report(articles, problems)
            self._signature = signature
            self.reloads += 1
            logger.info("help articles reloaded: %d articles, %d skipped", len(articles), len(problems))
            return True

    def _report(self, articles: Sequence[Article], problems: list[str]) -> None:
        """Keeps and logs (by file name) the files skipped and the articles lost to a bad `replaced_by`."""
        self.problems, self.warnings = problems, replacement_problems(articles)
        for problem in self.problems:
            logger.warning("help articles: %s", problem)
        for warning in self.warnings:
            logger.warning("help article never offered: %s", warning)

    def learn(self, questions: Mapping[str, Sequence[str]]) -> bool:
        """Customers' own words for the articles that answered them (knowledge/feedback.py) join
        those articles' questions, replacing what was learnt before; re-indexes (seconds for a
        large knowledge base: call it off the event loop) only when they changed. True if it did."""
        known = {a.id for a in self._articles}
        learned = {aid: tuple(dict.fromkeys(q.strip() for q in qs if q.strip())) for aid, qs in questions.items() if aid in known}
        learned = {aid: qs for aid, qs in learned.items() if qs}
        with self._reload_lock:
            if learned == self._learned:
                return False
            self._learned = learned
            self._index = _Index(self._with_learned(self._articles), self._index.encoder, self._index.vectors)
        logger.info("learnt questions from answers: %d articles, %d questions", len(learned), sum(map(len, learned.values())))
        return True

    def _with_learned(self, articles: Sequence[Article]) -> list[Article]:
        return [
            replace(a, questions=a.questions + tuple(q for q in self._learned[a.id] if q not in a.questions))
            if a.id in self._learned
            else a
            for a in articles
        ]

    @property
    def encodes_messages(self) -> bool:
        """Whether a search encodes the message (the embeddings extra): worth `prepare`-ing."""
        return self._index.encoder is not None

    def prepare(self, texts: Sequence[str]) -> None:
        """Encodes messages ahead of their search, on the caller's thread: the runtime calls it on a
        worker thread, so the ~20 ms encode never holds up the event loop, and the search that
        follows on the loop finds the vector ready. The newest PREPARED_MAX are kept."""
        encoder = self._index.encoder
        with self._prepared_lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._prepared))
        if encoder is None or not todo:
            return
        vectors = encoder.encode(todo)
        with self._prepared_lock:
            for text, vector in zip(todo, vectors, strict=True):
                self._prepared[text] = vector
            while len(self._prepared) > PREPARED_MAX:
                self._prepared.popitem(last=False)

    def _message_vector(self, index: _Index, text: str) -> npt.NDArray[np.float32] | None:
        with self._prepared_lock:
            prepared = self._prepared.get(text)
        return prepared if prepared is not None and index.encoder is not None else index.message_vector(text)

    def _maybe_reload(self) -> None:
        """Starts a background check of the folder when one is due (never blocks a search)."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.reload_interval
        running = self._reloading
        if running is not None and running.is_alive():
            return
        thread = threading.Thread(target=self._background_reload, name="knowledge-reload", daemon=True)
        self._reloading = thread
        thread.start()

    def _background_reload(self) -> None:
        _local.private = True  # tokenise with this thread's own spaCy pipeline
        try:
            self.reload()
        except Exception:  # noqa: BLE001 - a reload must never take the bot down
            logger.exception("help article reload failed")

    def wait_for_reload(self, timeout: float | None = None) -> None:
        """Waits for a background reload in progress (tests and tools)."""
        running = self._reloading
        if running is not None:
            running.join(timeout)

    # ------------------------------------------------------------ lookups

    @property
    def articles(self) -> tuple[Article, ...]:
        """All indexed articles, in load order."""
        return self._index.articles

    def get(self, article_id: str) -> Article | None:
        """The article with this id (file stem), if any."""
        return self._index.by_id.get(article_id)

    def search(
        self,
        text: str,
        *,
        limit: int = 3,
        audiences: Collection[str] = ("customer",),
        today: dt.date | None = None,
    ) -> list[ArticleHit]:
        """Ranked hits, best first, no threshold applied.

        Only articles for the given audiences that are live on `today`
        (default: the current date) and not replaced are returned.
        """
        if isinstance(audiences, str):
            raise TypeError("audiences must be a collection of strings, not a string")
        self._maybe_reload()
        index = self._index
        if limit <= 0 or index.bm25 is None:
            return []
        q = index.query(text)
        if q is None:
            return []
        fitted = _fitted(index)
        mask = index.mask(audiences, today)
        qvec = self._message_vector(index, text)
        cand, doc, best_q = index.candidates(q, mask, max(limit, R.CANDIDATES), index.nearest_by_meaning(qvec, mask))
        if cand.size == 0:
            return []
        signals = index.signals(q, cand, doc, best_q, qvec)
        scores = _rerank(signals, fitted.rank_weights)
        order = np.lexsort((np.arange(cand.size), -scores))
        cand, scores = cand[order], scores[order]
        signals = {k: v[order] for k, v in signals.items()}
        confidence = self._confidence(index, q, cand, scores, signals, limit)
        return [
            ArticleHit(article=index.articles[int(d)], score=float(s), confidence=float(c))
            for d, s, c in zip(cand[:limit], scores[:limit], confidence[:limit])
        ]

    @staticmethod
    def _confidence(
        index: _Index,
        q: _Query,
        cand: npt.NDArray[np.int64],
        scores: npt.NDArray[np.float64],
        signals: dict[str, npt.NDArray[np.float64]],
        limit: int,
    ) -> npt.NDArray[np.float64]:
        """Calibrated probability that each of the first `limit` hits is the right article (see knowledge/ranking.py)."""
        fitted = _fitted(index)
        x = _calibration_features(index, q, cand, scores, signals, limit, fitted.conf_features)
        return _sigmoid(x @ fitted.conf_weights + fitted.conf_bias)

    def suggest(self, text: str, *, limit: int = 3, today: dt.date | None = None) -> list[ArticleHit]:
        """Customer-facing hits whose confidence is >= threshold; [] when unsure (never offer an article the ranking is unsure of)."""
        return [
            h
            for h in self.search(text, limit=limit, audiences=("customer",), today=today)
            if h.confidence >= self.threshold
        ]


def _calibration_features(
    index: _Index,
    q: _Query,
    cand: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    signals: dict[str, npt.NDArray[np.float64]],
    n: int | None = None,
    names: Sequence[str] | None = None,
) -> npt.NDArray[np.float64]:
    """For the first `n` hits (default all): what the confidence is computed from (`names`, default R.CONF_FEATURES)."""
    names = R.CONF_FEATURES if names is None else names
    n = cand.size if n is None else min(n, cand.size)
    head = scores[: min(cand.size, R.CONF_DEPTH)]
    z = np.exp((head - head[0]) / R.CONF_TAU)
    share = np.zeros(cand.size, dtype=np.float64)
    share[: head.size] = z / z.sum()
    coverage, matched = index.coverage(q, cand[:n])
    cols = {
        "log_share": np.log(np.maximum(share[:n], 1e-6)),
        "coverage": coverage,
        "matched": matched,
        **{name: signals[name][:n] for name in names if name in signals},
    }
    return np.stack([cols[name] for name in names], axis=1)


def iter_signals(
    kb: KnowledgeBase, texts: Iterable[str], *, audiences: Collection[str] = ("customer",)
) -> Iterable[tuple[list[str], dict[str, npt.NDArray[np.float64]], npt.NDArray[np.float64]]]:
    """For tuning (knowledge/tune.py, knowledge/embeddings_tune.py): per message, the candidate ids in the
    current re-ranker's order, every signal of each (by name) and the calibration features (as `search`
    computes them, with the embeddings extra's candidates and signals when the index has an encoder)."""
    index = kb._index
    fitted = _fitted(index)
    for text in texts:
        q = index.query(text)
        if q is None:
            yield [], {}, np.zeros((0, len(fitted.conf_features)))
            continue
        mask = index.mask(audiences, None)
        qvec = index.message_vector(text)
        cand, doc, best_q = index.candidates(q, mask, R.CANDIDATES, index.nearest_by_meaning(qvec, mask))
        if cand.size == 0:
            yield [], {}, np.zeros((0, len(fitted.conf_features)))
            continue
        signals = index.signals(q, cand, doc, best_q, qvec)
        scores = _rerank(signals, fitted.rank_weights)
        order = np.lexsort((np.arange(cand.size), -scores))
        cand, scores = cand[order], scores[order]
        signals = {k: v[order] for k, v in signals.items()}
        yield [index.articles[int(d)].id for d in cand], signals, _calibration_features(index, q, cand, scores, signals, None, fitted.conf_features)
