"""Suspicious patterns flagged for an auditor's review; flagged events still count.

- capped_streak: a resident hit a daily cap on CAPPED_STREAK_DAYS days in a row.
- repeated_implausible_trips: IMPLAUSIBLE_PER_DAY or more trips in one day refused as
  faster or longer than any real trip.
"""
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from accounting.quantification.models import DailyTally, ReviewFlag
from config.extensions import db

CAPPED_STREAK_DAYS = 3
IMPLAUSIBLE_PER_DAY = 3


def flag_patterns(outcomes, tallies) -> None:
    """Flag the (account, day)s whose tallies, with the days before, look wrong."""
    first_event = {}
    for outcome in outcomes:
        first_event.setdefault((outcome.account_id, outcome.day), outcome.event_id)
    flags = {}  # (account, day, code) → (detail, event id)
    capped_now = {key for key, tally in tallies.items() if tally.capped_g > 0}
    capped = _capped_days(capped_now) | capped_now
    for (account_id, day), tally in tallies.items():
        if tally.implausible_count >= IMPLAUSIBLE_PER_DAY:
            flags[(account_id, day, "repeated_implausible_trips")] = (
                f"{tally.implausible_count} trips refused as implausible on {day}", first_event[(account_id, day)])
        if (account_id, day) not in capped_now:
            continue
        # The streak may end on this day or, when a late report fills a gap, on a later day.
        for last in (day + timedelta(days=n) for n in range(CAPPED_STREAK_DAYS)):
            if all((account_id, last - timedelta(days=n)) in capped for n in range(CAPPED_STREAK_DAYS)):
                flags.setdefault((account_id, last, "capped_streak"), (
                    f"daily cap reached {CAPPED_STREAK_DAYS} days in a row up to {last}",
                    first_event[(account_id, day)]))
    if not flags:
        return
    db.session.execute(
        postgresql.insert(ReviewFlag.__table__).on_conflict_do_nothing(index_elements=["account_id", "day", "code"]),
        [{"account_id": a, "day": d, "code": code, "detail": detail, "event_id": event_id}
         for (a, d, code), (detail, event_id) in flags.items()],
    )


def _capped_days(candidates: set) -> set:
    """(account, day) pairs on which a cap was reached, in the streak windows around the candidates."""
    if not candidates:
        return set()
    accounts = {account_id for account_id, _ in candidates}
    days = [day for _, day in candidates]
    reach = timedelta(days=CAPPED_STREAK_DAYS - 1)
    return set(db.session.execute(select(DailyTally.account_id, DailyTally.day).where(
        DailyTally.account_id.in_(accounts), DailyTally.capped_g > 0,
        DailyTally.day.between(min(days) - reach, max(days) + reach))).all())


def open_flags(limit: int, before_id: int | None = None) -> list[ReviewFlag]:
    query = select(ReviewFlag).where(ReviewFlag.resolved_at.is_(None))
    if before_id is not None:
        query = query.where(ReviewFlag.id < before_id)
    return list(db.session.scalars(query.order_by(ReviewFlag.id.desc()).limit(limit)))
