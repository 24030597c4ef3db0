"""The quantification engine (核算) as pure functions: DOMAIN.md §2–§3 with the default version 1.

No database, no app: accounting.quantification_rules against TRIP_V1 / RECYCLING_V1.
Expected grams are recomputed here with exact fractions, independently of the engine.
"""
import copy
import math
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounting.quantification.defaults import RECYCLING_V1, TRIP_V1
from accounting.quantification.rules import Action, DayTally, quantify, quantify_recycling, quantify_trip

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
MODES = ("bus", "metro", "bike", "ev", "walk")
DISTANCE_MODES = ("bus", "metro", "bike", "ev")
CATEGORIES = tuple(RECYCLING_V1["factors"])
UNCAPPED = TRIP_V1 | {"daily_cap_g": {"walk": 10**9, "all_trips": 10**9}}


# --- private helpers -------------------------------------------------------------------------

def _trip(mode, *, distance_m=None, steps=None, seconds=3600, start=None, received=None):
    start = start or NOW - timedelta(seconds=seconds + 600)  # ended ten minutes before NOW
    return Action(kind="trip", started_at=start, ended_at=start + timedelta(seconds=seconds),
                  received_at=received or NOW, mode=mode, distance_m=distance_m, steps=steps)


def _walk(steps, minutes=60, **kwargs):
    return _trip("walk", steps=steps, seconds=minutes * 60, **kwargs)


def _drop(category, weight_g, *, at=None, received=None):
    at = at or NOW - timedelta(hours=1)
    return Action(kind="recycling", started_at=at, ended_at=at, received_at=received or NOW,
                  category=category, weight_g=weight_g)


def _exact(action) -> Fraction:
    """ER = quantity × factor, exactly (the test's own arithmetic, not the engine's)."""
    if action.kind == "recycling":
        return Fraction(action.weight_g, 1000) * Fraction(RECYCLING_V1["factors"][action.category])
    if action.mode == "walk":
        return action.steps * Fraction(TRIP_V1["factors"]["walk"])
    return Fraction(action.distance_m, 1000) * Fraction(TRIP_V1["factors"][action.mode])


def _run(action, tally=None, trip_parameters=TRIP_V1):
    tally = tally if tally is not None else DayTally()
    parameters = trip_parameters if action.kind == "trip" else RECYCLING_V1
    return quantify(action, parameters, tally), tally


def _trip_room(action, tally) -> int:
    room = max(3000 - tally.trip_g, 0)
    if action.mode == "walk":
        room = min(room, max(300 - tally.walk_g, 0))
    return room


# --- worked examples (DOMAIN.md §3: "must hold") ----------------------------------------------

@pytest.mark.parametrize("action, grams, factor", [
    (_trip("metro", distance_m=10_000, seconds=20 * 60), 468, "46.8"),
    (_trip("bus", distance_m=5_000, seconds=20 * 60), 134, "26.9"),  # 134.5 rounded down
    (_trip("bike", distance_m=1_000, seconds=5 * 60), 40, "40"),
    (_trip("ev", distance_m=24_000, seconds=30 * 60), 168, "7"),
    (_walk(7_250, minutes=40), 145, "0.02"),
    (_drop("cardboard", 2_500), 255, "102"),
    (_drop("aluminium", 300), 2435, "8118"),  # 2435.4 rounded down
    (_drop("textile", 1_200), 4320, "3600"),
], ids=["metro-10km", "bus-5km", "bike-1km", "ev-24km", "walk-7250", "cardboard-2.5kg", "alu-0.3kg",
        "textile-1.2kg"])
def test_worked_examples(action, grams, factor):
    result, tally = _run(action)
    assert (result.status, result.reduction_g, result.capped_g, result.reason) == ("quantified", grams, 0, None)
    assert result.factor == factor
    assert f"→ {grams} g" in result.rationale and factor in result.rationale
    if action.kind == "trip":
        assert tally.trip_g == grams
    else:
        assert tally.recycling_weight_g == action.weight_g


def test_bus_rationale_shows_the_exact_value_before_rounding():
    result, _ = _run(_trip("bus", distance_m=5_000, seconds=1200))
    assert "134.5" in result.rationale and result.reduction_g == 134


# --- caps ------------------------------------------------------------------------------------

def test_all_trips_cap_keeps_the_excess_as_capped():
    tally = DayTally()
    results = [_run(_trip("metro", distance_m=20_000, seconds=1800), tally)[0] for _ in range(5)]
    assert [r.reduction_g for r in results] == [936, 936, 936, 192, 0]
    assert [r.capped_g for r in results] == [0, 0, 0, 744, 936]
    assert [r.status for r in results] == ["quantified"] * 3 + ["capped"] * 2
    assert tally.trip_g == 3000 and tally.capped_g == 744 + 936


def test_walk_cap_is_300_g_and_counts_towards_all_trips():
    tally = DayTally(trip_g=2000)
    results = [_run(_walk(7_250, minutes=40), tally)[0] for _ in range(3)]
    assert [(r.reduction_g, r.capped_g) for r in results] == [(145, 0), (145, 0), (10, 135)]
    assert (tally.trip_g, tally.walk_g) == (2300, 300)
    bike, _ = _run(_trip("bike", distance_m=10_000), tally)  # walk room is gone, trip room is not
    assert (bike.status, bike.reduction_g) == ("quantified", 400)


def test_recycling_cap_counts_only_the_material_within_20_kg():
    tally = DayTally()
    first, _ = _run(_drop("paper", 15_000), tally)
    second, _ = _run(_drop("paper", 10_000), tally)
    assert (first.status, first.reduction_g, first.capped_g) == ("quantified", 2700, 0)
    assert (second.status, second.reduction_g, second.capped_g) == ("capped", 900, 900)
    assert tally.recycling_weight_g == 25_000 and tally.trip_g == 0
    third, _ = _run(_drop("aluminium", 100), tally)
    assert (third.status, third.reduction_g, third.capped_g) == ("capped", 0, 811)


# --- rejections on their boundaries ------------------------------------------------------------

@pytest.mark.parametrize("action, reason", [
    (_trip("bus", distance_m=300, seconds=600), None),
    (_trip("bus", distance_m=299, seconds=600), "trip_too_short"),
    (_walk(500, minutes=10), None),
    (_walk(499, minutes=10), "trip_too_short"),
    (_trip("metro", distance_m=100_000, seconds=2 * 3600), None),
    (_trip("metro", distance_m=100_001, seconds=2 * 3600), "trip_too_long"),
    (_walk(40_000, minutes=200), None),
    (_walk(40_001, minutes=300), "trip_too_long"),
    (_trip("bus", distance_m=20_000, seconds=1200), None),  # exactly 60 km/h
    (_trip("bus", distance_m=20_001, seconds=1200), "too_fast"),
    (_trip("bus", distance_m=20_000, seconds=1199), "too_fast"),
    (_walk(8_000, minutes=40), None),  # exactly 200 steps/min
    (_walk(8_001, minutes=40), "too_fast"),
    (_trip("walk", steps=1_000, distance_m=7_000, seconds=3600), None),  # exactly 7 km/h
    (_trip("walk", steps=1_000, distance_m=7_001, seconds=3600), "too_fast"),
    (_trip("bike", distance_m=1_000, seconds=0), "too_fast"),
    (_walk(1_000, minutes=0), "too_fast"),
])
def test_plausibility_boundaries(action, reason):
    result, tally = _run(action)
    if reason is None:  # accepted (100 km of metro, 40,000 steps are above the daily caps: capped)
        assert result.status in ("quantified", "capped") and result.reason is None and result.reduction_g > 0
    else:
        assert (result.status, result.reason, result.reduction_g, result.capped_g) == ("rejected", reason, 0, 0)
        assert tally == DayTally()


@pytest.mark.parametrize("mode", DISTANCE_MODES)
def test_every_mode_at_its_speed_limit(mode):
    limit_m = TRIP_V1["max_speed_kmh"][mode] * 1000  # metres in one hour
    limit_m = min(limit_m, 100_000)
    seconds = 3600 * limit_m // (TRIP_V1["max_speed_kmh"][mode] * 1000)
    assert _run(_trip(mode, distance_m=limit_m, seconds=seconds))[0].status in ("quantified", "capped")
    assert _run(_trip(mode, distance_m=limit_m, seconds=seconds - 1))[0].reason == "too_fast"


@pytest.mark.parametrize("kind", ["trip", "recycling"])
def test_claim_window_boundaries(kind):
    def action(started, received):
        if kind == "trip":
            return _trip("bus", distance_m=5_000, seconds=1200, start=started, received=received)
        return _drop("paper", 1_000, at=started, received=received)

    start = NOW - timedelta(days=7)
    assert _run(action(start, NOW))[0].status == "quantified"  # exactly 7 days old
    assert _run(action(start - timedelta(seconds=1), NOW))[0].reason == "outside_claim_window"
    ends = 1200 if kind == "trip" else 0
    future = NOW + timedelta(minutes=5) - timedelta(seconds=ends)  # ends exactly 5 minutes ahead
    assert _run(action(future, NOW))[0].status == "quantified"
    assert _run(action(future + timedelta(seconds=1), NOW))[0].reason == "in_future"


def test_window_is_checked_before_plausibility():
    old_and_fast = _trip("bus", distance_m=99_000, seconds=60, start=NOW - timedelta(days=8))
    assert _run(old_and_fast)[0].reason == "outside_claim_window"


# --- properties ------------------------------------------------------------------------------

def _trip_strategy(min_seconds=0):
    @st.composite
    def build(draw):
        mode = draw(st.sampled_from(MODES))
        seconds = draw(st.integers(min_seconds, 12 * 3600))
        start = NOW - timedelta(seconds=draw(st.integers(0, 8 * 86400)))
        if mode == "walk":
            steps = draw(st.integers(0, 50_000))
            distance = draw(st.none() | st.integers(0, 50_000))
            return _trip("walk", steps=steps, distance_m=distance, seconds=seconds, start=start)
        return _trip(mode, distance_m=draw(st.integers(0, 150_000)), seconds=seconds, start=start)
    return build()


def _tally_strategy():
    return st.builds(DayTally, trip_g=st.integers(0, 3500), walk_g=st.integers(0, 400),
                     recycling_weight_g=st.integers(0, 30_000), capped_g=st.integers(0, 5000))


def _drop_strategy():
    return st.builds(lambda c, w: _drop(c, w), st.sampled_from(CATEGORIES), st.integers(1, 60_000))


@settings(max_examples=300, deadline=None)
@given(action=_trip_strategy() | _drop_strategy(), tally=_tally_strategy())
def test_result_is_never_negative_never_above_the_room_and_adds_up(action, tally):
    before = copy.deepcopy(tally)
    result, after = _run(action, tally)
    assert result.reduction_g >= 0 and result.capped_g >= 0
    if result.status == "rejected":
        assert result.reason and (result.reduction_g, result.capped_g) == (0, 0)
        assert after == before
        return
    full = math.floor(_exact(action))
    assert result.reduction_g + result.capped_g == full
    assert result.status == ("capped" if result.capped_g else "quantified")
    if action.kind == "trip":
        assert result.reduction_g <= _trip_room(action, before)
        assert result.reduction_g == min(full, _trip_room(action, before))
    else:
        counted = min(action.weight_g, max(20_000 - before.recycling_weight_g, 0))
        assert result.reduction_g == math.floor(Fraction(counted, 1000) * Fraction(result.factor))


@settings(max_examples=300, deadline=None)
@given(action=_trip_strategy() | _drop_strategy(), tally=_tally_strategy())
def test_tally_moves_exactly_by_the_result(action, tally):
    before = copy.deepcopy(tally)
    result, after = _run(action, tally)
    if result.status == "rejected":
        return
    credited_trip = result.reduction_g if action.kind == "trip" else 0
    assert after.trip_g == before.trip_g + credited_trip
    assert after.walk_g == before.walk_g + (result.reduction_g if action.mode == "walk" else 0)
    assert after.capped_g == before.capped_g + result.capped_g
    assert after.recycling_weight_g == before.recycling_weight_g + (action.weight_g or 0)
    assert after.implausible_count == before.implausible_count


@settings(max_examples=200, deadline=None)
@given(action=_trip_strategy() | _drop_strategy(), tally=_tally_strategy())
def test_deterministic(action, tally):
    first_tally, second_tally = copy.deepcopy(tally), copy.deepcopy(tally)
    assert _run(action, first_tally)[0] == _run(action, second_tally)[0]
    assert first_tally == second_tally


@settings(max_examples=300, deadline=None)
@given(mode=st.sampled_from(DISTANCE_MODES), distance=st.integers(300, 100_000))
def test_floor_rounding_without_a_cap(mode, distance):
    """Conservative: the result is the exact value rounded down, never up (DOMAIN.md §2)."""
    result, _ = _run(_trip(mode, distance_m=distance, seconds=12 * 3600), trip_parameters=UNCAPPED)
    exact = _exact(_trip(mode, distance_m=distance))
    assert result.reduction_g <= exact < result.reduction_g + 1
    assert result.capped_g == 0


@settings(max_examples=300, deadline=None)
@given(steps=st.integers(500, 40_000), weight=st.integers(1, 20_000), category=st.sampled_from(CATEGORIES))
def test_floor_rounding_of_steps_and_weights(steps, weight, category):
    walk, _ = _run(_walk(steps, minutes=240), trip_parameters=UNCAPPED)
    assert walk.reduction_g <= _exact(_walk(steps)) < walk.reduction_g + 1
    drop = _drop(category, weight)
    result, _ = _run(drop)
    assert result.reduction_g <= _exact(drop) < result.reduction_g + 1


@settings(max_examples=300, deadline=None)
@given(mode=st.sampled_from(DISTANCE_MODES), distances=st.lists(st.integers(300, 100_000), min_size=2, max_size=2),
       used=st.integers(0, 3500))
def test_monotone_in_distance_up_to_the_cap(mode, distances, used):
    shorter, longer = sorted(distances)
    results = [_run(_trip(mode, distance_m=d, seconds=12 * 3600), DayTally(trip_g=used))[0] for d in (shorter, longer)]
    assert results[0].reduction_g <= results[1].reduction_g <= max(3000 - used, 0)
    assert results[0].reduction_g + results[0].capped_g <= results[1].reduction_g + results[1].capped_g


@settings(max_examples=150, deadline=None)
@given(actions=st.lists(_trip_strategy(min_seconds=60) | _drop_strategy(), max_size=25))
def test_a_day_of_actions_never_exceeds_the_caps(actions):
    tally = DayTally()
    results = [_run(action, tally)[0] for action in actions]
    credited = [(a, r) for a, r in zip(actions, results) if r.status != "rejected"]
    assert sum(r.reduction_g for a, r in credited if a.kind == "trip") == tally.trip_g <= 3000
    assert sum(r.reduction_g for a, r in credited if a.mode == "walk") == tally.walk_g <= 300
    assert sum(r.capped_g for _, r in credited) == tally.capped_g
    assert sum(r.reduction_g + r.capped_g for _, r in credited) == sum(math.floor(_exact(a)) for a, _ in credited)
    assert tally.recycling_weight_g == sum(a.weight_g for a, _ in credited if a.kind == "recycling")


def test_direct_entry_points_agree_with_quantify():
    trip, drop = _trip("bus", distance_m=5_000, seconds=1200), _drop("glass", 1_000)
    assert quantify_trip(trip, TRIP_V1, DayTally()) == _run(trip)[0]
    assert quantify_recycling(drop, RECYCLING_V1, DayTally()) == _run(drop)[0]
