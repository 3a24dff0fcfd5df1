"""Business hours and business days: when chat is staffed and when promised replies fall due."""

from __future__ import annotations

from datetime import datetime, time, timedelta
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
        """`start` plus `days` business days, counting only business days' hours (24 each).

        1.5 business days from Friday 10:00 is Monday 22:00 with Mon-Fri business days (14 h on
        Friday, 22 h on Monday).
        """
        remaining = timedelta(days=days)
        moment = self.local(start)
        while remaining > timedelta(0):
            midnight = datetime.combine(moment.date() + timedelta(days=1), time(0), self._zone)
            if moment.weekday() in self._business_days:
                step = min(remaining, midnight - moment)
                remaining -= step
                moment += step
            else:
                moment = midnight
        return moment.timestamp()

    def describe(self, when: float) -> str:
        """A deadline as customers read it: 'Tuesday 24 November, 9:00 AM CST'."""
        moment = self.local(when)
        hour = moment.strftime("%I:%M %p").lstrip("0")
        return f"{moment.strftime('%A')} {moment.day} {moment.strftime('%B')}, {hour} {moment.strftime('%Z')}"


def _clock_time(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))
