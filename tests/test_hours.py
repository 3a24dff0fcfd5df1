"""Business days count business hours: promises fall due while the team is at work."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import BusinessHours
from bot.hours import BusinessCalendar

CHICAGO = ZoneInfo("America/Chicago")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO).timestamp()


def test_one_and_a_half_business_days_from_thursday_afternoon_fall_due_on_monday_morning() -> None:
    calendar = BusinessCalendar(BusinessHours())  # 07:00-19:00, Monday to Friday
    due = calendar.add_business_days(at("2026-11-26T13:01"), 1.5)  # a Thursday
    assert calendar.local(due) == datetime(2026, 11, 30, 7, 1, tzinfo=CHICAGO)
    assert calendar.describe(due) == "Monday 30 November, 7:01 AM CST"


def test_business_days_start_counting_when_the_team_opens() -> None:
    calendar = BusinessCalendar(BusinessHours())
    assert calendar.add_business_days(at("2026-11-23T05:00"), 1.0) == at("2026-11-23T19:00")  # before opening
    assert calendar.add_business_days(at("2026-11-23T21:00"), 0.5) == at("2026-11-24T13:00")  # after closing
    assert calendar.add_business_days(at("2026-11-28T10:00"), 1.0) == at("2026-11-30T19:00")  # a Saturday


def test_an_always_open_desk_counts_whole_days() -> None:
    calendar = BusinessCalendar(BusinessHours(open="00:00", close="24:00"))
    assert calendar.add_business_days(at("2026-11-27T10:00"), 1.5) == at("2026-11-30T22:00")  # Friday 14 h, Monday 22 h
