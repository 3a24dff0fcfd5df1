"""Tests for knowledge.index loading: front matter errors, validity dates, replacements, body questions, reload."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path

import pytest

from knowledge.index import Article, KnowledgeBase, load_articles, split_body


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _article(title: str, questions: list[str], extra: str = "", body: str = "Some body text.") -> str:
    qs = "".join(f"  - {q}\n" for q in questions)
    return f"---\ntitle: {title}\n{extra}questions:\n{qs}---\n{body}\n"


PASSWORD = _article("Reset a forgotten password", ["I forgot my password", "reset link never arrived"])
REFUND = _article("Ask for a refund", ["I want my money back", "how do I get a refund"])
CARD = _article("Card delivery", ["when will my card arrive", "my new card has not come yet"])


# ---------------------------------------------------------------- front matter


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("---\ntitle: [unclosed\n---\nBody.\n", "YAML"),
        ("---\nsummary: no title\n---\nBody.\n", "title"),
        ("---\ntitle: '   '\n---\nBody.\n", "title"),
        ("---\ntitle: 42\n---\nBody.\n", "'title' must be text"),
        ("---\n- a\n- list\n---\nBody.\n", "mapping"),
        ("# No front matter\n", "front matter"),
        ("---\ntitle: x\nquestions: {a: 1}\n---\nBody.\n", "questions"),
        ("---\ntitle: x\ntags: 5\n---\nBody.\n", "tags"),
        ("---\ntitle: x\nurl: [1, 2]\n---\nBody.\n", "url"),
        ("---\ntitle: x\naudience: staff\n---\nBody.\n", "audience"),
        ("---\ntitle: x\nexpires: next tuesday\n---\nBody.\n", "expires"),
        ("---\ntitle: x\nvalid_from: 2024-13-45\n---\nBody.\n", "YAML"),
        ("---\ntitle: x\nvalid_from: 2025-02-01\nexpires: 2025-01-01\n---\nBody.\n", "expires"),
        ("---\ntitle: x\nreplaced_by: [a, b]\n---\nBody.\n", "replaced_by"),
    ],
)
def test_malformed_article_is_reported_by_name_and_skipped(tmp_path: Path, text: str, fragment: str) -> None:
    _write(tmp_path, "good.md", PASSWORD)
    _write(tmp_path, "bad-one.md", text)
    articles, problems = load_articles(tmp_path)
    assert [a.id for a in articles] == ["good"]
    assert len(problems) == 1
    assert problems[0].startswith("bad-one.md:")
    assert fragment in problems[0]


def test_undecodable_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "binary.md").write_bytes(b"---\ntitle: \xff\xfe\n---\n")
    articles, problems = load_articles(tmp_path)
    assert articles == [] and len(problems) == 1 and problems[0].startswith("binary.md:")


def test_dates_and_replacement_are_parsed(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "old-pricing.md",
        "---\ntitle: Old pricing\nvalid_from: 2024-01-01\nexpires: '2025-01-01'\nreplaced_by: new-pricing.md\n---\nBody.\n",
    )
    [article], problems = load_articles(tmp_path)
    assert problems == []
    assert article.valid_from == dt.date(2024, 1, 1)
    assert article.expires == dt.date(2025, 1, 1)
    assert article.replaced_by == "new-pricing"
    assert not article.is_live(dt.date(2024, 6, 1))  # replaced: never offered


def test_is_live_window() -> None:
    a = Article(
        id="a", title="t", summary="", url="", tags=(), audience="customer", questions=(), body="",
        valid_from=dt.date(2025, 1, 1), expires=dt.date(2025, 2, 1),
    )
    assert not a.is_live(dt.date(2024, 12, 31))
    assert a.is_live(dt.date(2025, 1, 1))
    assert a.is_live(dt.date(2025, 1, 31))
    assert not a.is_live(dt.date(2025, 2, 1))


def test_body_questions_are_found_under_a_questions_heading() -> None:
    body = (
        "# Card arrival\n\nIntro paragraph.\n\n## Common questions\n\n- Where is my card?\n"
        "* When will it come?\n1. Can I track it?\n\n## Details\n\n- not a question list\nMore text.\n"
    )
    questions, rest = split_body(body)
    assert questions == ("Where is my card?", "When will it come?", "Can I track it?")
    assert "Where is my card" not in rest
    assert "Intro paragraph." in rest and "not a question list" in rest


def test_body_questions_are_ranked(tmp_path: Path) -> None:
    _write(tmp_path, "card-arrival.md", '---\ntitle: "Card arrival"\n---\n# Card arrival\n\n## Common questions\n\n'
           "- Why has my new card still not come?\n- How can I track the card you sent?\n")
    _write(tmp_path, "refund.md", REFUND)
    kb = KnowledgeBase.from_folder(tmp_path, reload_interval=None)
    hits = kb.search("how do I track my card")
    assert hits and hits[0].article.id == "card-arrival"


# ---------------------------------------------------------------- validity at search time


def test_expired_future_and_replaced_articles_are_never_offered(tmp_path: Path) -> None:
    _write(tmp_path, "refund-2024.md", _article("Ask for a refund (old rules)", ["how do I get a refund", "I want my money back"],
                                                extra="expires: 2025-01-01\n"))
    _write(tmp_path, "refund-2025.md", _article("Ask for a refund", ["how do I get a refund", "I want my money back"],
                                                extra="valid_from: 2025-01-01\n"))
    _write(tmp_path, "refund-draft.md", _article("Refund draft", ["how do I get a refund", "I want my money back"],
                                                 extra="replaced_by: refund-2025\n"))
    _write(tmp_path, "password.md", PASSWORD)
    kb = KnowledgeBase.from_folder(tmp_path, threshold=0.0, reload_interval=None)
    query = "how do I get a refund"
    in_2024 = [h.article.id for h in kb.search(query, limit=5, today=dt.date(2024, 6, 1))]
    in_2025 = [h.article.id for h in kb.search(query, limit=5, today=dt.date(2025, 6, 1))]
    assert "refund-2024" in in_2024 and "refund-2025" not in in_2024
    assert "refund-2025" in in_2025 and "refund-2024" not in in_2025
    assert "refund-draft" not in in_2024 + in_2025
    assert "refund-draft" not in [h.article.id for h in kb.suggest(query, today=dt.date(2025, 6, 1))]
    assert kb.get("refund-draft") is not None  # still loaded, for links and tools
    # Without `today`, the current date decides.
    assert "refund-2024" not in [h.article.id for h in kb.search(query, limit=5)]


# ---------------------------------------------------------------- reload


def _bump(path: Path) -> None:
    """Make sure the modification time moves even on coarse-grained file systems."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_reload_picks_up_added_edited_and_removed_files(tmp_path: Path) -> None:
    _write(tmp_path, "password.md", PASSWORD)
    kb = KnowledgeBase.from_folder(tmp_path, reload_interval=None)
    assert kb.reload() is False  # nothing changed
    assert [a.id for a in kb.articles] == ["password"]

    _write(tmp_path, "refund.md", REFUND)
    assert kb.reload() is True
    assert {a.id for a in kb.articles} == {"password", "refund"}
    assert kb.search("how do I get a refund")[0].article.id == "refund"

    path = _write(tmp_path, "refund.md", REFUND.replace("Ask for a refund", "Get your money back"))
    _bump(path)
    assert kb.reload() is True
    article = kb.get("refund")
    assert article is not None and article.title == "Get your money back"

    (tmp_path / "password.md").unlink()
    assert kb.reload() is True
    assert kb.get("password") is None


def test_reload_reports_a_broken_edit_and_keeps_the_others(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path, "password.md", PASSWORD)
    _write(tmp_path, "refund.md", REFUND)
    kb = KnowledgeBase.from_folder(tmp_path, reload_interval=None)
    path = _write(tmp_path, "refund.md", "---\ntitle: [broken\n---\nBody.\n")
    _bump(path)
    with caplog.at_level(logging.WARNING, logger="knowledge.index"):
        assert kb.reload() is True
    assert [a.id for a in kb.articles] == ["password"]
    assert len(kb.problems) == 1 and kb.problems[0].startswith("refund.md:")
    assert any("refund.md" in r.getMessage() for r in caplog.records)


def test_search_reloads_in_the_background_without_a_restart(tmp_path: Path) -> None:
    _write(tmp_path, "password.md", PASSWORD)
    kb = KnowledgeBase.from_folder(tmp_path, reload_interval=0.05)
    assert all(h.article.id != "card" for h in kb.search("when will my card arrive"))
    _write(tmp_path, "card.md", CARD)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.06)
        kb.search("when will my card arrive")  # a due check starts a background reload
        kb.wait_for_reload(5)
        if kb.get("card") is not None:
            break
    assert kb.get("card") is not None
    hits = kb.search("when will my card arrive")
    assert hits and hits[0].article.id == "card"
    assert kb.reloads >= 1


def test_kb_built_from_a_list_never_reloads() -> None:
    kb = KnowledgeBase([])
    assert kb.folder is None
    assert kb.reload() is False
    assert kb.reload(force=True) is False


def test_a_missing_folder_is_reported_and_loaded_once_it_exists(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "articels"  # a typo in [knowledge] folder
    with caplog.at_level(logging.WARNING, logger="knowledge.index"):
        kb = KnowledgeBase.from_folder(folder, reload_interval=None)
    assert not kb.articles and kb.problems == [f"{folder}: no such folder, so no article can be offered (it is loaded once it exists)"]
    assert any("no such folder" in r.getMessage() for r in caplog.records)
    folder.mkdir()
    _write(folder, "password.md", PASSWORD)
    assert kb.reload() and [a.id for a in kb.articles] == ["password"] and kb.problems == []
