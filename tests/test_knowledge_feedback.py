"""Learning from answers: customers' words for the articles that helped them strengthen those articles."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from knowledge.feedback import confirmed_questions, keep_learning
from knowledge.index import KnowledgeBase
from tests.harness import Desk, open_desk

BILLING = "---\ntitle: Invoices and receipts\nquestions:\n  - where is my invoice\n  - download a receipt\n---\nBilling documents.\n"
SITE = "---\ntitle: The site will not load\nquestions:\n  - the page is blank\n  - the site does not open\n---\nLoading problems.\n"
CUSTOMER_WORDS = "the portal just spins forever with a grey box"


def row(case_id: int, event: str, ids: list[str], query: str = "") -> dict[str, Any]:
    return {"case_id": case_id, "event": event, "article_ids": json.dumps(ids), "query": query}


def test_only_answers_that_named_an_offered_article_and_lasted_are_learnt() -> None:
    offers = [
        row(1, "offered", ["site", "billing"], "blank page"),
        row(1, "helped", ["site"]),
        row(2, "offered", ["billing", "site"], "two at once"),
        row(2, "helped", []),  # "that worked" to two articles: which one is not known
        row(3, "offered", ["billing"], "invoice missing"),
        row(3, "helped", ["billing"]),
        row(3, "came_back", ["billing"]),  # it did not last
        row(4, "offered", ["site"], "grey box"),
        row(4, "not_helped", []),
        row(5, "offered", ["site"], "still blank"),
        row(5, "helped", ["billing"]),  # never offered to that case
    ]

    assert confirmed_questions(offers, per_article=5) == {"site": ["blank page"]}


def test_only_the_newest_questions_per_article_are_kept() -> None:
    offers = []
    for case_id, query in enumerate(["one", "two", "three", "one"], start=1):
        offers += [row(case_id, "offered", ["site"], query), row(case_id, "helped", ["site"])]

    assert confirmed_questions(offers, per_article=2) == {"site": ["three", "one"]}  # "one" again: newest
    assert confirmed_questions(offers, per_article=0) == {}


def knowledge_base(tmp_path: Path) -> KnowledgeBase:
    folder = tmp_path / "articles"
    folder.mkdir(exist_ok=True)
    (folder / "billing.md").write_text(BILLING, encoding="utf-8")
    (folder / "site.md").write_text(SITE, encoding="utf-8")
    return KnowledgeBase.from_folder(folder, reload_interval=None)


def top(kb: KnowledgeBase, text: str) -> tuple[str, float]:
    hit = kb.search(text, limit=1)[0]
    return hit.article.id, hit.confidence


def test_a_learnt_question_strengthens_its_article_and_survives_a_reload(tmp_path: Path) -> None:
    kb = knowledge_base(tmp_path)
    assert kb.search(CUSTOMER_WORDS) == [] and kb.suggest("the portal spins forever") == []  # no shared words

    assert kb.learn({"site": [CUSTOMER_WORDS], "no-such-article": ["ignored"]}) is True

    assert top(kb, CUSTOMER_WORDS)[0] == "site"
    assert [h.article.id for h in kb.suggest("the portal spins forever")] == ["site"]  # the next customer's phrasing
    assert kb.learn({"site": [CUSTOMER_WORDS]}) is False  # nothing new: no re-index
    assert kb.reload(force=True) and top(kb, CUSTOMER_WORDS)[0] == "site"  # an edit keeps what was learnt
    assert kb.learn({}) is True and kb.get("site") is not None and CUSTOMER_WORDS not in kb.get("site").questions  # type: ignore[union-attr]


async def test_answers_in_the_store_reach_the_ranking(tmp_path: Path) -> None:
    desk: Desk = await open_desk(tmp_path)
    kb = knowledge_base(tmp_path)
    try:
        conversation = await desk.customer()
        await desk.say(conversation, "I forgot my password")
        await desk.say(conversation, "skip")
        await desk.press(conversation, "This solved it")  # the harness offers reset-password for "password"
        learnt: dict[str, list[str]] = {}

        class Recorder:
            def learn(self, questions: Any) -> bool:
                learnt.update(questions)
                return True

        job = asyncio.ensure_future(keep_learning(lambda: desk.store.records("offers"), Recorder(), every=3600, per_article=20))
        for _ in range(200):
            if learnt:
                break
            await asyncio.sleep(0.01)
        job.cancel()
    finally:
        await desk.store.close()

    assert learnt == {"reset-password": ["I forgot my password"]}
    assert kb.learn({"site": learnt["reset-password"]}) is True  # a real knowledge base takes them
