"""Business hours and business days: when chat is staffed and when promised replies fall due."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import BusinessHours

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessCalendar:
    def __init__(self, hours: BusinessHours) -> None:
        self._zone = ZoneInfo(hours.timezone)
        self._open_days = {_DAY_NAMES.index(d) for d in hours.days}
        self._business_days = {_DAY_NAMES.index(d) for d in hours.business_days}
        self._open = _clock_time(hours.open)
        self._close = hours.close

    def local(self, when: float) -> datetime:
        return datetime.fromtimestamp(when, self._zone)

    def is_open(self, when: float) -> bool:
        moment = self.local(when)
        if moment.weekday() not in self._open_days:
            return False
        now = moment.time()
        if self._close == "24:00":
            return now >= self._open
        return self._open <= now < _clock_time(self._close)

    def add_business_days(self, start: float, days: float) -> float:
        """`start` plus `days` business days, a business day being one day's business hours.

        Time counts only within business hours on business days, so a promise always falls due
        while the team is at work: with 07:00-19:00, Monday to Friday, 1.5 business days from
        Thursday 13:01 are 18 business hours, due Monday 07:01 (5 h 59 on Thursday, 12 h on
        Friday, a minute on Monday), never in the small hours.
        """
        remaining = timedelta(seconds=days * self._day_length().total_seconds())
        moment = self.local(start)
        while True:
            opens, closes = self._business_window(moment.date())
            if moment.weekday() in self._business_days and moment < closes:
                moment = max(moment, opens)
                step = min(remaining, closes - moment)
                moment += step
                remaining -= step
                if remaining <= timedelta(0):
                    return moment.timestamp()
            moment = datetime.combine(moment.date() + timedelta(days=1), time(0), self._zone)

    def _business_window(self, day: date) -> tuple[datetime, datetime]:
        opens = datetime.combine(day, self._open, self._zone)
        if self._close == "24:00":
            return opens, datetime.combine(day + timedelta(days=1), time(0), self._zone)
        return opens, datetime.combine(day, _clock_time(self._close), self._zone)

    def _day_length(self) -> timedelta:
        opens, closes = self._business_window(date(2001, 1, 1))
        return closes - opens

    def describe(self, when: float) -> str:
        """A deadline as customers read it: 'Tuesday 24 November, 9:00 AM CST'."""
        moment = self.local(when)
        hour = moment.strftime("%I:%M %p").lstrip("0")
        return f"{moment.strftime('%A')} {moment.day} {moment.strftime('%B')}, {hour} {moment.strftime('%Z')}"


def _clock_time(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))
