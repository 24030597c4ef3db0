"""The business calendar: an issuance or cap day is a calendar day in Asia/Shanghai, and the
claim window (how old, or how far in the future, an action may be) is a methodology version's.

The one home of both rules: quantification, issuance, reports, statements and the record all
ask here.
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai_day(moment: datetime) -> date:
    """The Asia/Shanghai calendar day a moment falls on."""
    return moment.astimezone(SHANGHAI).date()


def day_start(day: date) -> datetime:
    """00:00 Asia/Shanghai of `day`, as an aware datetime."""
    return datetime.combine(day, time(), SHANGHAI)


def today(now: datetime) -> date:
    return shanghai_day(now)


@dataclass(frozen=True)
class ClaimWindow:
    """An action older than `days` when received, or ending more than `future_tolerance` after it,
    is refused (DOMAIN.md §3: 7 days and 5 minutes in Binzhou's version 1)."""

    days: timedelta
    future_tolerance: timedelta

    def violation(self, started_at: datetime, ended_at: datetime, received_at: datetime) -> str | None:
        """The reason code the window refuses the action with, or None."""
        if received_at - started_at > self.days:
            return "outside_claim_window"
        if ended_at - received_at > self.future_tolerance:
            return "in_future"
        return None


@lru_cache(maxsize=64)
def _window(days: int, future_minutes: int) -> ClaimWindow:
    return ClaimWindow(timedelta(days=days), timedelta(minutes=future_minutes))


def claim_window(parameters: dict) -> ClaimWindow:
    """The claim window a methodology version's parameters set."""
    return _window(parameters["claim_window_days"], parameters["future_tolerance_minutes"])
