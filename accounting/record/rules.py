"""What a green-action report must look like before it is recorded.

These are shape and range checks, plus the claim window of the methodology version that will
quantify the action (given by the caller: the record sits below quantification); whether a
trip is plausible and how much it reduces is the methodology's business (quantification).
"""
from collections.abc import Callable
from datetime import datetime, timedelta

from accounting.business_day import ClaimWindow

TRIP_MODES = ("bus", "metro", "bike", "walk", "ev")
RECYCLING_CATEGORIES = (
    "paper", "cardboard", "plastic", "pet", "metal", "aluminium", "steel", "glass", "textile",
)

# Bounds that keep integers sane; anything past them is not a trip or a drop-off at all.
MAX_DISTANCE_M = 2_000_000
MAX_STEPS = 1_000_000
MAX_WEIGHT_G = 5_000_000
MAX_TRIP_DURATION = timedelta(days=1)

# kind ("trip", "recycling") and the action's start → the claim window of the version in
# force then, or None when none is (quantification then refuses it with its own reason).
WindowOf = Callable[[str, datetime], ClaimWindow | None]


def time_errors(kind: str, started_at: datetime, ended_at: datetime, now: datetime,
                window_of: WindowOf) -> dict[str, str]:
    """Field → error code for the time window of an action ({} when acceptable)."""
    errors = {}
    if ended_at < started_at:
        errors["ended_at"] = "ends_before_start"
    elif ended_at - started_at > MAX_TRIP_DURATION:
        errors["ended_at"] = "lasts_over_a_day"
    window = window_of(kind, started_at)
    reason = window.violation(started_at, ended_at, now) if window is not None else None
    if reason == "outside_claim_window":
        errors["started_at"] = reason
    elif reason == "in_future":
        errors["ended_at"] = reason
    return errors
