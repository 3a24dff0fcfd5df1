"""The managers' numbers, from a real store after real journeys."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import cli, report
from tests.harness import desk_settings, open_desk

DETAILS = "user ID 48213, Chrome, ann@school.org, the error says 'Invalid password', steps: I typed it twice"


async def test_report_counts_volume_resolution_csat_articles_and_repeat_consults(tmp_path: Path) -> None:
    settings = desk_settings(sme_groups=[{"name": "accounts", "classifications": ["Accounts"], "members": ["sam"]}])
    desk = await open_desk(tmp_path, settings)
    try:
        await desk.agent_online("ana")
        helped = await desk.customer()
        await desk.say(helped, f"I forgot my password. {DETAILS}")
        await desk.press(helped, "This solved it")
        await desk.press(helped, "5")

        consulted = await desk.customer()
        await desk.say(consulted, "My export is broken. user ID 48213, Chrome, ann@school.org, the error says 'Timeout', steps: export")
        await desk.press(consulted, "I still need help")
        case = await desk.case_of(consulted)
        await desk.staff("ana", "accept", case.id)
        await desk.staff("ana", "sme", case.id, fields={"classification": "Accounts", "notes": "export fails"})
        await desk.staff("sam", "claim", case.id)
        await desk.advance(30)
        await desk.staff("sam", "endconsult", case.id)
        await desk.staff("ana", "sme", case.id, fields={"classification": "Accounts", "notes": "again", "reason": "new error after the fix"})
        await desk.advance(600)
        await desk.staff("ana", "resolve", case.id)
        await desk.press(consulted, "2")

        numbers = report.build(
            await desk.store.all_cases(), await desk.store.records("surveys"), await desk.store.records("offers"),
            timezone=settings.business_hours.timezone,
        )
    finally:
        await desk.store.close()

    assert numbers["cases"] == 2 and numbers["resolved"] == 2 and numbers["self_service"] == 1
    assert numbers["first_contact_resolution"] == 0.5  # the consulted case needed an SME
    assert numbers["busiest_day"] == {"date": "2026-11-23", "cases": 2}
    assert numbers["csat"] == {"surveys": 2, "average": 3.5}
    assert numbers["articles"]["reset-password"] == {"offered": 1, "helped": 1, "helpful": 1.0}
    assert numbers["articles"]["export-reports"]["helped"] == 0
    assert numbers["consults"]["total"] == 2
    assert numbers["consults"]["repeat_on_same_contact"] == 1
    assert numbers["consults"]["repeat_reasons"] == ["new error after the fix"]
    assert numbers["consults"]["unclaimed"] == 1


@pytest.mark.parametrize("store", ["sqlite:///{tmp}/missing.db", "postgres://reports", "sqlite:///{tmp}/not-a-db.db"])
def test_a_bad_store_is_a_clear_error_and_none_is_created(tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped path used to create an empty store and report zeros, as if nothing had happened."""
    (tmp_path / "not-a-db.db").write_text("hello", encoding="utf-8")
    (tmp_path / "supportbot.toml").write_text("", encoding="utf-8")

    code = cli.main(["report", "--config", str(tmp_path / "supportbot.toml"), "--store", store.format(tmp=tmp_path)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("supportbot") and "store" in err and "Traceback" not in err  # (a URL of another kind: a configuration error)
    assert not (tmp_path / "missing.db").exists()
