"""The quantification engine (核算): pure functions from an action and a methodology version
to a reduction in whole grams, or a rejection with a stable reason code.

ER = BE − PE = quantity × reduction factor, computed exactly with Decimal and rounded
down (methodologies require conservativeness). Caps never reject: the part above a
daily cap is kept as `capped_g`, so the resident sees why.
"""
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache

from accounting.business_day import claim_window

KM = Decimal(1000)
KG = Decimal(1000)


@dataclass(frozen=True)
class Action:
    kind: str  # trip | recycling
    started_at: datetime
    ended_at: datetime
    received_at: datetime
    mode: str | None = None
    distance_m: int | None = None
    steps: int | None = None
    category: str | None = None
    weight_g: int | None = None


@dataclass
class DayTally:
    """What one resident has already been credited on one Asia/Shanghai day."""

    trip_g: int = 0
    walk_g: int = 0
    recycling_weight_g: int = 0
    capped_g: int = 0
    implausible_count: int = 0  # trips refused as too fast or too long: a pattern worth a look


@dataclass(frozen=True)
class Result:
    status: str  # quantified | capped | rejected
    reduction_g: int = 0
    capped_g: int = 0
    reason: str | None = None
    factor: str | None = None
    rationale: str = ""


def floor_grams(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_FLOOR))


def rejected(reason: str, rationale: str = "") -> Result:
    return Result(status="rejected", reason=reason, rationale=rationale or reason)


def _memo(convert):
    """`convert` remembered per (type, value): a version's few limits and factors are converted
    once, to the very values converting them on every call gives. Unhashable values, or
    ones `convert` refuses, go through `convert` every time and fail as it fails."""
    cached = lru_cache(maxsize=256, typed=True)(convert)

    def converted(value):
        try:
            return cached(value)
        except TypeError:
            return convert(value)
    return converted


_decimal = _memo(Decimal)
_metres_per_hour = _memo(lambda max_kmh: Decimal(str(max_kmh)) * KM)


def window_violation(action: Action, parameters: dict) -> str | None:
    """Older than the version's claim window when received, or further in the future than it tolerates."""
    return claim_window(parameters).violation(action.started_at, action.ended_at, action.received_at)


def trip_implausibility(action: Action, p: dict) -> str | None:
    """The first plausibility limit a trip breaks, or None."""
    seconds = Decimal(max((action.ended_at - action.started_at).total_seconds(), 0))
    if action.mode == "walk":
        steps = action.steps or 0
        if steps < p["min_steps"]:
            return "trip_too_short"
        if steps > p["max_steps"]:
            return "trip_too_long"
        if seconds == 0 or Decimal(steps) * 60 > p["max_steps_per_minute"] * seconds:
            return "too_fast"
        if action.distance_m is not None and _over_speed(action.distance_m, seconds, p["max_speed_kmh"]["walk"]):
            return "too_fast"
        return None
    distance = action.distance_m or 0
    if distance < p["min_distance_m"]:
        return "trip_too_short"
    if distance > p["max_distance_m"]:
        return "trip_too_long"
    if seconds == 0 or _over_speed(distance, seconds, p["max_speed_kmh"][action.mode]):
        return "too_fast"
    return None


def _over_speed(distance_m: int, seconds: Decimal, max_kmh) -> bool:
    # distance/seconds > max km/h  ⇔  distance_m × 3600 > max × 1000 × seconds (exact, no division)
    return Decimal(distance_m) * 3600 > _metres_per_hour(max_kmh) * seconds


def trip_reduction(action: Action, p: dict) -> tuple[Decimal, str, str]:
    """Exact reduction before rounding, the factor used, and how it was computed."""
    mode = action.mode
    factor = p["factors"][mode]
    if mode == "walk":
        steps = action.steps
        exact = Decimal(steps) * _decimal(factor)
        return exact, factor, f"{steps} steps × {factor} g/step = {exact} g"
    km = Decimal(action.distance_m) / KM
    exact = km * _decimal(factor)
    return exact, factor, f"{km} km × {factor} g/km = {exact} g"


def quantify_trip(action: Action, p: dict, tally: DayTally) -> Result:
    """A trip against its version and the resident's day so far; updates `tally` when credited."""
    reason = window_violation(action, p) or trip_implausibility(action, p)
    if reason:
        return rejected(reason)
    exact, factor, how = trip_reduction(action, p)
    full = floor_grams(exact)
    room = max(p["daily_cap_g"]["all_trips"] - tally.trip_g, 0)
    if action.mode == "walk":
        room = min(room, max(p["daily_cap_g"]["walk"] - tally.walk_g, 0))
    credited = min(full, room)
    tally.trip_g += credited
    if action.mode == "walk":
        tally.walk_g += credited
    return _credited(full, credited, factor, how, tally)


def quantify_recycling(action: Action, p: dict, tally: DayTally) -> Result:
    """A drop-off: only the material within the day's weight cap earns credit."""
    reason = window_violation(action, p)
    if reason:
        return rejected(reason)
    factor = p["factors"][action.category]
    per_kg = _decimal(factor)
    weight = action.weight_g
    counted_weight = min(weight, max(p["daily_cap_weight_g"] - tally.recycling_weight_g, 0))
    kg = Decimal(weight) / KG
    exact = kg * per_kg
    full = floor_grams(exact)
    credited = full if counted_weight == weight else floor_grams(Decimal(counted_weight) / KG * per_kg)
    tally.recycling_weight_g += weight
    how = f"{kg} kg × {factor} g/kg = {exact} g"
    if counted_weight < weight:
        how += f"; {Decimal(counted_weight) / KG} kg within the daily {p['daily_cap_weight_g'] // 1000} kg"
    return _credited(full, credited, factor, how, tally)


def _credited(full: int, credited: int, factor: str, how: str, tally: DayTally) -> Result:
    capped = full - credited
    tally.capped_g += capped
    rationale = f"{how} → {full} g" + (f"; {capped} g above the daily cap" if capped else "")
    return Result(status="capped" if capped else "quantified", reduction_g=credited, capped_g=capped,
                  factor=factor, rationale=rationale)


def quantify(action: Action, parameters: dict, tally: DayTally) -> Result:
    if action.kind == "trip":
        return quantify_trip(action, parameters, tally)
    return quantify_recycling(action, parameters, tally)
