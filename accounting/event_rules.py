"""What a green-action report must look like before it is recorded.

These are shape and range checks only; whether a trip is plausible and how much it
reduces is the methodology's business (quantification).
"""
from datetime import datetime, timedelta

TRIP_MODES = ("bus", "metro", "bike", "walk", "ev")
RECYCLING_CATEGORIES = (
    "paper", "cardboard", "plastic", "pet", "metal", "aluminium", "steel", "glass", "textile",
)

# DOMAIN.md §3: an action older than 7 days, or more than 5 minutes in the future, is refused.
CLAIM_WINDOW = timedelta(days=7)
FUTURE_TOLERANCE = timedelta(minutes=5)

# Bounds that keep integers sane; anything past them is not a trip or a drop-off at all.
MAX_DISTANCE_M = 2_000_000
MAX_STEPS = 1_000_000
MAX_WEIGHT_G = 5_000_000
MAX_TRIP_DURATION = timedelta(days=1)


def time_errors(started_at: datetime, ended_at: datetime, now: datetime) -> dict[str, str]:
    """Field → error code for the time window of an action ({} when acceptable)."""
    errors = {}
    if ended_at < started_at:
        errors["ended_at"] = "ends_before_start"
    elif ended_at - started_at > MAX_TRIP_DURATION:
        errors["ended_at"] = "lasts_over_a_day"
    if started_at < now - CLAIM_WINDOW:
        errors["started_at"] = "outside_claim_window"
    if ended_at > now + FUTURE_TOLERANCE:
        errors["ended_at"] = "in_future"
    return errors
