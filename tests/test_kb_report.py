"""`supportbot kb report`: article helpfulness and knowledge gaps, from a real store after real journeys."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.config import ConfigError
from knowledge import report
from knowledge.index import Article, load_articles
from tests.harness import Desk, desk_settings, open_desk

DAY = 86400.0
ARTICLES = {
    "reset-password": "Reset a forgotten password",
    "export-reports": "Export reports",
    "csv-format": "CSV format",
    "billing-faq": "Billing questions",
}


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    """The harness finder's three articles, one nobody asks about, and an agent-only one."""
    folder = tmp_path / "articles"
    folder.mkdir()
    for stem, title in ARTICLES.items():
        (folder / f"{stem}.md").write_text(f"---\ntitle: {title}\n---\nSteps.\n", encoding="utf-8")
    (folder / "refund-policy.md").write_text("---\ntitle: Refunds\naudience: agent\n---\nInternal.\n", encoding="utf-8")
    return folder


async def offered(desk: Desk, text: str) -> str:
    """A new customer says `text`, skips the intake question, and is offered whatever matches."""
    conversation = await desk.customer()
    await desk.say(conversation, text)
    await desk.say(conversation, "skip")
    return conversation


async def kb_report(desk: Desk, folder: Path, **options: Any) -> dict[str, Any]:
    loaded, _ = load_articles(folder)
    settings = report.ReportOptions(now=desk.clock.now(), **options)
    return report.build(await desk.store.records("offers"), loaded, settings)


async def test_report_counts_every_outcome_and_lists_the_gaps(tmp_path: Path, articles: Path) -> None:
    desk = await open_desk(tmp_path)
    try:
        solved = await offered(desk, "I forgot my password")
        await desk.press(solved, "This solved it")
        await desk.advance(2 * DAY)
        await desk.say(solved, "I forgot my password again")  # came back: the same article, two days later
        await desk.say(solved, "skip")
        await desk.press(solved, "I still need help")
        export = await offered(desk, "my export is broken")
        await desk.say(export, "/new")  # left the offer unanswered
        for email in ("ann@school.org", "bob@school.org"):
            await offered(desk, f"Where is my invoice for {email}?")
        await offered(desk, "where is my INVOICE for +61 412 555 123")
        numbers = await kb_report(desk, articles)
    finally:
        await desk.store.close()

    assert numbers["articles"] == {
        "reset-password": {"offered": 2, "helped": 1, "not_helped": 1, "no_answer": 0, "came_back": 1, "helpful": 0.0},
        "export-reports": {"offered": 1, "helped": 0, "not_helped": 0, "no_answer": 1, "came_back": 0, "helpful": None},
    }
    gaps = numbers["gaps"]
    assert gaps["unanswered_questions"] == [
        {"text": "where is my invoice for <email>", "count": 2},
        {"text": "where is my invoice for <phone>", "count": 1},
    ]
    assert gaps["never_offered"] == ["billing-faq", "csv-format"]  # never the agent-only article
    assert gaps["rarely_helpful"] == []  # two offers are too few to judge


async def test_no_customer_detail_reaches_the_gaps_list(tmp_path: Path, articles: Path) -> None:
    desk = await open_desk(tmp_path)
    try:
        await offered(desk, "my invoice never came, user ID 48213, ann@school.org, call +1 312 555 0199")
        await offered(desk, "invoice never came for jo.smith@example.com 48213")
        numbers = await kb_report(desk, articles)
    finally:
        await desk.store.close()

    listed = json.dumps(numbers["gaps"]["unanswered_questions"])
    assert "invoice" in listed
    for detail in ("48213", "ann", "school.org", "jo.smith", "example.com", "312", "0199"):
        assert detail not in listed


async def test_feedback_changes_the_articles_helpful_rate(tmp_path: Path, articles: Path) -> None:
    desk = await open_desk(tmp_path)
    rates: list[float | None] = []
    try:
        first = await offered(desk, "I forgot my password")
        rates.append((await kb_report(desk, articles))["articles"]["reset-password"]["helpful"])
        await desk.press(first, "This solved it")
        rates.append((await kb_report(desk, articles))["articles"]["reset-password"]["helpful"])
        await desk.press(await offered(desk, "password reset link expired"), "I still need help")
        rates.append((await kb_report(desk, articles))["articles"]["reset-password"]["helpful"])
        await desk.advance(DAY)
        await desk.say(first, "I forgot my password again")
        await desk.say(first, "skip")
        rates.append((await kb_report(desk, articles))["articles"]["reset-password"]["helpful"])
    finally:
        await desk.store.close()

    assert rates == [None, 1.0, 0.5, 0.0]  # unanswered, helped, then not helped, then the help did not last


async def test_articles_that_rarely_help_need_enough_offers_and_a_low_rate(tmp_path: Path, articles: Path) -> None:
    desk = await open_desk(tmp_path)
    try:
        for n in range(5):
            label = "This solved it" if n == 0 else "I still need help"
            await desk.press(await offered(desk, "my export is broken"), label)
        await desk.press(await offered(desk, "my password is lost"), "I still need help")
        strict = await kb_report(desk, articles)
        lenient = await kb_report(desk, articles, min_offers=1, below=0.1)
    finally:
        await desk.store.close()

    assert strict["gaps"]["rarely_helpful"] == [{"article": "export-reports", "offered": 5, "helpful": 0.2}]
    assert lenient["gaps"]["rarely_helpful"] == [{"article": "reset-password", "offered": 1, "helpful": 0.0}]


async def test_the_period_keeps_only_cases_offered_in_it_with_their_later_outcomes(tmp_path: Path, articles: Path) -> None:
    desk = await open_desk(tmp_path)
    try:
        await desk.press(await offered(desk, "my export is broken"), "I still need help")
        await desk.advance(40 * DAY)
        solved = await offered(desk, "I forgot my password")
        await desk.press(solved, "This solved it")
        await desk.advance(3 * DAY)
        await desk.say(solved, "I forgot my password again")
        await desk.say(solved, "skip")
        recent = await kb_report(desk, articles, days=30)
        ever = await kb_report(desk, articles, days=None)
    finally:
        await desk.store.close()

    assert set(recent["articles"]) == {"reset-password"}
    assert recent["articles"]["reset-password"]["came_back"] == 1
    assert "export-reports" in recent["gaps"]["never_offered"]
    assert set(ever["articles"]) == {"reset-password", "export-reports"} and ever["since"] is None


def test_text_output_names_every_section() -> None:
    offers = [
        {"case_id": 1, "event": "offered", "article_ids": '["a"]', "query": "q", "at": 0.0},
        {"case_id": 1, "event": "helped", "article_ids": '["a"]', "query": "", "at": 1.0},
        {"case_id": 2, "event": "offered", "article_ids": "[]", "query": "Where is it?", "at": 2.0},
    ]
    loose = Article("b", "B", "", "", (), "customer", (), "")
    text = report.format_text(report.build(offers, [loose], report.ReportOptions(now=10.0, days=None)))

    assert "Help articles, all time" in text
    assert "a " in text and "1.00" in text
    assert "     1  where is it" in text
    assert "Articles never offered:\n  b" in text


async def store_with_offers(tmp_path: Path) -> str:
    desk = await open_desk(tmp_path)
    try:
        await desk.press(await offered(desk, "I forgot my password"), "This solved it")
        await offered(desk, "where is my invoice")
    finally:
        await desk.store.close()
    return f"sqlite:///{tmp_path / 'desk.db'}"


def test_cli_json_has_one_object_with_articles_and_gaps(tmp_path: Path, articles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = asyncio.run(store_with_offers(tmp_path))  # the command runs its own event loop
    config = tmp_path / "supportbot.toml"
    config.write_text(f'[knowledge]\nfolder = "{articles}"\n', encoding="utf-8")

    code = cli.main(["kb", "report", "--config", str(config), "--store", store, "--json", "--days", "0"])

    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"since", "days", "articles", "gaps", "rarely_helpful_rule"}
    assert out["articles"]["reset-password"] == {
        "offered": 1, "helped": 1, "not_helped": 0, "no_answer": 0, "came_back": 0, "helpful": 1.0,
    }
    assert set(out["gaps"]) == {"unanswered_questions", "rarely_helpful", "never_offered"}
    assert out["gaps"]["unanswered_questions"] == [{"text": "where is my invoice", "count": 1}]
    assert out["rarely_helpful_rule"] == {"min_offers": 5, "below": 0.5}


@pytest.mark.parametrize("store", ["sqlite:///{tmp}/missing.db", "postgres://reports", "sqlite:///{tmp}/not-a-db.db"])
def test_cli_bad_store_is_a_clear_error_with_exit_code_2(tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "not-a-db.db").write_text("hello", encoding="utf-8")
    (tmp_path / "supportbot.toml").write_text("", encoding="utf-8")

    code = cli.main(["kb", "report", "--config", str(tmp_path / "supportbot.toml"), "--store", store.format(tmp=tmp_path)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("supportbot kb report: ") and "Traceback" not in err
    assert not (tmp_path / "missing.db").exists()


def test_came_back_days_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="knowledge.came_back_days"):
        desk_settings(knowledge={"came_back_days": -1})
