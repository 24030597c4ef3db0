"""Quantification (核算) end to end through HTTP: DOMAIN.md §3 worked examples, rejections,
caps, the Asia/Shanghai day, review flags and methodology versions.

Quantification runs in-process right after each request commits, so events are already
quantified when the resident reads them back.
"""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from accounting.ledger.models import Account
from accounting.quantification.defaults import TRIP_V1, TRIP_V1_SOURCES
from accounting.quantification.methodologies import approve_version, draft_version, file_version, retire_version
from accounting.quantification.models import DailyTally, Methodology, MethodologyVersion, ReviewFlag
from accounting.quantification.tasks import quantify_received
from accounting.record.models import DataSource, GreenEvent
from config.extensions import db

SHANGHAI = ZoneInfo("Asia/Shanghai")
EN = {"Accept-Language": "en"}
REASON_TEXTS = {  # api/messages.py, as a resident reads them
    "too_fast": ("速度超出该出行方式的合理范围。", "Faster than this mode of travel allows."),
    "trip_too_short": ("行程过短，未达到最低里程（步数）。", "Shorter than the minimum trip."),
    "trip_too_long": ("单次行程超过最大里程（步数）。", "Longer than the maximum single trip."),
    "overlapping_trip": ("与您同一时段的另一次出行重叠。", "Overlaps another of your trips in time."),
    "duplicate_claim": ("同一行程已由其他来源申报。", "The same trip was already claimed by another report."),
    "source_not_approved": ("数据源未获批准。", "The data source is not approved."),
    "no_methodology_in_force": ("行为发生时没有生效的已批准方法学。",
                                "No approved methodology was in force at the time."),
}


# --- private helpers -------------------------------------------------------------------------

def _shanghai(days_ago: int, hour: int, minute: int = 0) -> datetime:
    """hh:mm Asia/Shanghai on the Shanghai calendar day `days_ago` before today, in UTC."""
    day = datetime.now(SHANGHAI).date() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


def _post_trip(api, resident, mode, start, minutes, **amount) -> int:
    response = api.trip(resident, mode=mode, start=start, minutes=minutes, **amount)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def _events(api, resident, headers=None) -> dict:
    response = api.http.get("/api/v1/me/events?limit=100", headers=resident.auth(**(headers or {})))
    assert response.status_code == 200, response.get_json()
    return {event["id"]: event for event in response.get_json()["items"]}


def _by_external_id(api, resident) -> dict:
    return {event["external_id"]: event for event in _events(api, resident).values()}


def _pending(api, resident) -> int:
    return api.http.get("/api/v1/me", headers=resident.auth()).get_json()["account"]["pending_g"]


def _source(api, file_source, resident, code, kind):
    source = file_source(code, kind)
    assert api.http.put(f"/api/v1/me/sources/{code}", headers=resident.auth()).status_code == 200
    return source


def _ingest(source, events):
    response = source.post_events(events)
    assert response.status_code == 200 and response.get_json()["accepted"] == len(events), response.get_json()


def _version_id(app, code: str, number: int = 1) -> int:
    with app.app_context():
        return db.session.scalar(select(MethodologyVersion.id).join(Methodology)
                                 .where(Methodology.code == code, MethodologyVersion.version == number))


def _account_id(app, resident) -> int:
    with app.app_context():
        return db.session.scalar(select(Account.id).where(Account.number == resident.account_number))


def _flags(app, code: str) -> list[tuple]:
    with app.app_context():
        return [(f.account_id, f.day) for f in db.session.scalars(select(ReviewFlag).where(ReviewFlag.code == code))]


def _assert_rejected(api, resident, event_id, reason):
    zh, en = REASON_TEXTS[reason]
    event = _events(api, resident)[event_id]
    assert (event["status"], event["reason"], event["reason_text"]) == ("rejected", reason, zh)
    assert (event["reduction_g"], event["capped_g"]) == (0, 0)
    assert _events(api, resident, EN)[event_id]["reason_text"] == en


# --- worked examples ---------------------------------------------------------------------------

def test_worked_trip_examples(app, api, resident):
    trips = [("metro", 10_000, 468, "46.8"), ("bus", 5_000, 134, "26.9"), ("bike", 1_000, 40, "40"),
             ("ev", 24_000, 168, "7")]
    posted = {_post_trip(api, resident, mode, _shanghai(2, 8 + i), 30, distance_m=distance): (grams, factor)
              for i, (mode, distance, grams, factor) in enumerate(trips)}
    posted[_post_trip(api, resident, "walk", _shanghai(2, 14), 40, steps=7_250)] = (145, "0.02")

    version = _version_id(app, "TRIP")
    events = _events(api, resident)
    for event_id, (grams, factor) in posted.items():
        event = events[event_id]
        assert (event["status"], event["reduction_g"], event["capped_g"]) == ("quantified", grams, 0)
        assert (event["factor"], event["methodology_version_id"], event["reason"]) == (factor, version, None)
        assert f"→ {grams} g" in event["rationale"]
        assert api.http.get(f"/api/v1/me/events/{event_id}", headers=resident.auth()).get_json() == event
    assert _pending(api, resident) == 468 + 134 + 40 + 168 + 145


def test_worked_recycling_examples(app, api, resident, file_source):
    station = _source(api, file_source, resident, "BZRECY", "recycling")
    drops = {"r-cardboard": ("cardboard", 2_500, 255, "102"), "r-alu": ("aluminium", 300, 2435, "8118"),
             "r-textile": ("textile", 1_200, 4320, "3600")}
    _ingest(station, [station.recycling_event(resident.account_number, external_id, category=category,
                                              weight_g=weight, occurred_at=_shanghai(1, 9 + i))
                      for i, (external_id, (category, weight, _, _)) in enumerate(drops.items())])

    version = _version_id(app, "RECYCLE")
    events = _by_external_id(api, resident)
    for external_id, (_, _, grams, factor) in drops.items():
        event = events[external_id]
        assert (event["status"], event["reduction_g"], event["capped_g"]) == ("quantified", grams, 0)
        assert (event["factor"], event["methodology_version_id"]) == (factor, version)
        assert f"→ {grams} g" in event["rationale"]
    assert _pending(api, resident) == 255 + 2435 + 4320


# --- rejections ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, minutes, amount, reason", [
    ("bus", 20, {"distance_m": 20_001}, "too_fast"),  # just above 60 km/h
    ("walk", 40, {"steps": 8_001}, "too_fast"),  # just above 200 steps/min
    ("bike", 5, {"distance_m": 299}, "trip_too_short"),
    ("walk", 10, {"steps": 499}, "trip_too_short"),
    ("metro", 120, {"distance_m": 100_001}, "trip_too_long"),
])
def test_implausible_trips_are_rejected_with_a_localized_reason(api, resident, mode, minutes, amount, reason):
    event_id = _post_trip(api, resident, mode, _shanghai(1, 9), minutes, **amount)
    _assert_rejected(api, resident, event_id, reason)
    assert _pending(api, resident) == 0


def test_boundary_trips_are_accepted(api, resident):
    accepted = [_post_trip(api, resident, "bus", _shanghai(1, 8), 20, distance_m=20_000),  # exactly 60 km/h
                _post_trip(api, resident, "bike", _shanghai(1, 9), 5, distance_m=300),
                _post_trip(api, resident, "walk", _shanghai(1, 10), 40, steps=8_000)]  # 200 steps/min
    events = _events(api, resident)
    assert [events[i]["reduction_g"] for i in accepted] == [538, 12, 160]


def test_overlapping_trip_of_another_mode_is_rejected(api, resident):
    bike = _post_trip(api, resident, "bike", _shanghai(1, 10), 30, distance_m=5_000)
    bus = _post_trip(api, resident, "bus", _shanghai(1, 10, 15), 30, distance_m=8_000)
    assert _events(api, resident)[bike]["reduction_g"] == 200
    _assert_rejected(api, resident, bus, "overlapping_trip")
    assert _pending(api, resident) == 200


def test_same_trip_from_the_app_and_a_transit_source_is_a_duplicate_claim(api, resident, file_source):
    bus = _source(api, file_source, resident, "BZBUS", "transit")
    mine = _post_trip(api, resident, "bus", _shanghai(1, 10), 20, distance_m=5_000)
    _ingest(bus, [bus.trip_event(resident.account_number, "bus-1", start=_shanghai(1, 10, 2), distance_m=5_100)])
    theirs = _by_external_id(api, resident)["bus-1"]["id"]
    assert _events(api, resident)[mine]["status"] == "quantified"
    _assert_rejected(api, resident, theirs, "duplicate_claim")
    assert _pending(api, resident) == 134


def test_same_trip_from_two_sources_is_a_duplicate_claim(api, resident, file_source):
    first = _source(api, file_source, resident, "BZBUS", "transit")
    second = _source(api, file_source, resident, "BZCARD", "transit")
    _ingest(first, [first.trip_event(resident.account_number, "t-1", mode="metro", distance_m=10_000,
                                     start=_shanghai(1, 8))])
    _ingest(second, [second.trip_event(resident.account_number, "t-1", mode="metro", distance_m=10_000,
                                       start=_shanghai(1, 8))])
    events = {(e["source"], e["external_id"]): e for e in _events(api, resident).values()}
    assert events[("BZBUS", "t-1")]["reduction_g"] == 468
    _assert_rejected(api, resident, events[("BZCARD", "t-1")]["id"], "duplicate_claim")
    assert _pending(api, resident) == 468


def test_event_of_a_source_suspended_before_quantification(app, api, resident, file_source, quantification_deferred):
    bus = _source(api, file_source, resident, "BZBUS", "transit")
    _ingest(bus, [bus.trip_event(resident.account_number, "late", start=_shanghai(1, 9))])
    assert _by_external_id(api, resident)["late"]["status"] == "received"
    with app.app_context():
        db.session.execute(update(DataSource).where(DataSource.code == "BZBUS").values(status="suspended"))
        db.session.commit()
        quantify_received()
    _assert_rejected(api, resident, _by_external_id(api, resident)["late"]["id"], "source_not_approved")


def test_no_methodology_in_force(app, api, resident, file_source):
    with app.app_context():
        trip = db.session.scalar(select(Methodology.id).where(Methodology.code == "TRIP"))
        retire_version(trip, 1, actor_id=2)
        db.session.commit()
    event_id = _post_trip(api, resident, "metro", _shanghai(1, 9), 20, distance_m=10_000)
    _assert_rejected(api, resident, event_id, "no_methodology_in_force")
    assert _events(api, resident)[event_id]["methodology_version_id"] is None
    station = _source(api, file_source, resident, "BZRECY", "recycling")  # recycling is still in force
    _ingest(station, [station.recycling_event(resident.account_number, "r-1", occurred_at=_shanghai(1, 12))])
    assert _by_external_id(api, resident)["r-1"]["reduction_g"] == 255


# --- daily caps and the Asia/Shanghai day --------------------------------------------------------

def test_trips_of_one_day_are_capped_at_3000_g(app, api, resident):
    posted = [_post_trip(api, resident, "metro", _shanghai(1, 7 + i), 30, distance_m=20_000) for i in range(5)]
    events = _events(api, resident)
    assert [events[i]["status"] for i in posted] == ["quantified"] * 3 + ["capped"] * 2
    assert [(events[i]["reduction_g"], events[i]["capped_g"]) for i in posted] == [
        (936, 0), (936, 0), (936, 0), (192, 744), (0, 936)]
    assert "above the daily cap" in events[posted[3]]["rationale"]
    assert sum(e["reduction_g"] for e in events.values()) == _pending(api, resident) == 3000
    with app.app_context():
        tally = db.session.get(DailyTally, (_account_id(app, resident), _shanghai(1, 12).astimezone(SHANGHAI).date()))
        assert (tally.trip_g, tally.capped_g) == (3000, 744 + 936)


def test_walks_are_capped_at_300_g(api, resident):
    walks = [_post_trip(api, resident, "walk", _shanghai(1, 7 + i), 40, steps=7_250) for i in range(3)]
    bike = _post_trip(api, resident, "bike", _shanghai(1, 12), 30, distance_m=5_000)
    events = _events(api, resident)
    assert [(events[i]["status"], events[i]["reduction_g"], events[i]["capped_g"]) for i in walks] == [
        ("quantified", 145, 0), ("quantified", 145, 0), ("capped", 10, 135)]
    assert (events[bike]["status"], events[bike]["reduction_g"]) == ("quantified", 200)
    assert _pending(api, resident) == 500


def test_recycling_is_capped_at_20_kg_of_material_a_day(api, resident, file_source):
    station = _source(api, file_source, resident, "BZRECY", "recycling")
    _ingest(station, [station.recycling_event(resident.account_number, "p-15", category="paper", weight_g=15_000,
                                              occurred_at=_shanghai(1, 9))])
    _ingest(station, [station.recycling_event(resident.account_number, "p-10", category="paper", weight_g=10_000,
                                              occurred_at=_shanghai(1, 10))])
    events = _by_external_id(api, resident)
    assert (events["p-15"]["status"], events["p-15"]["reduction_g"], events["p-15"]["capped_g"]) == (
        "quantified", 2700, 0)
    assert (events["p-10"]["status"], events["p-10"]["reduction_g"], events["p-10"]["capped_g"]) == (
        "capped", 900, 900)  # only 5 kg of the 10 count
    assert _pending(api, resident) == 3600


def test_the_cap_day_is_the_asia_shanghai_calendar_day(app, api, resident):
    before_midnight, after_midnight = _shanghai(2, 23, 50), _shanghai(1, 0, 10)
    assert before_midnight.date() == after_midnight.date()  # one UTC day (15:50Z and 16:10Z)...
    early = _post_trip(api, resident, "metro", _shanghai(2, 10), 50, distance_m=60_000)
    late = _post_trip(api, resident, "metro", before_midnight, 15, distance_m=15_000)
    next_day = _post_trip(api, resident, "metro", after_midnight, 15, distance_m=15_000)
    events = _events(api, resident)  # ...but two Shanghai days, with caps of their own
    assert (events[early]["status"], events[early]["reduction_g"]) == ("quantified", 2808)
    assert (events[late]["status"], events[late]["reduction_g"], events[late]["capped_g"]) == ("capped", 192, 510)
    assert (events[next_day]["status"], events[next_day]["reduction_g"], events[next_day]["capped_g"]) == (
        "quantified", 702, 0)
    account = _account_id(app, resident)
    with app.app_context():
        tallies = {t.day: t.trip_g
                   for t in db.session.scalars(select(DailyTally).where(DailyTally.account_id == account))}
    assert tallies == {before_midnight.astimezone(SHANGHAI).date(): 3000,
                       after_midnight.astimezone(SHANGHAI).date(): 702}


# --- review flags --------------------------------------------------------------------------------

def test_three_capped_days_in_a_row_are_flagged(app, api, resident):
    for days_ago in (3, 2):
        _post_trip(api, resident, "metro", _shanghai(days_ago, 10), 60, distance_m=70_000)
    assert _flags(app, "capped_streak") == []
    _post_trip(api, resident, "metro", _shanghai(1, 10), 60, distance_m=70_000)
    assert all(e["status"] == "capped" and e["capped_g"] == 276 for e in _events(api, resident).values())
    assert _flags(app, "capped_streak") == [(_account_id(app, resident), _shanghai(1, 10).astimezone(SHANGHAI).date())]


def test_a_capped_streak_reported_out_of_order_is_flagged_too(app, api, resident):
    for days_ago in (1, 3, 2):  # a late upload fills the gap in the middle
        _post_trip(api, resident, "metro", _shanghai(days_ago, 10), 60, distance_m=70_000)
    assert _flags(app, "capped_streak") == [(_account_id(app, resident), _shanghai(1, 10).astimezone(SHANGHAI).date())]


def test_three_too_fast_trips_in_a_day_are_flagged(app, api, resident):
    for hour in (8, 9):
        _post_trip(api, resident, "bike", _shanghai(1, hour), 10, distance_m=9_000)
    assert _flags(app, "repeated_implausible_trips") == []
    _post_trip(api, resident, "bike", _shanghai(1, 10), 10, distance_m=9_000)
    assert all(e["reason"] == "too_fast" for e in _events(api, resident).values())
    assert _flags(app, "repeated_implausible_trips") == [
        (_account_id(app, resident), _shanghai(1, 10).astimezone(SHANGHAI).date())]


# --- methodology versions -------------------------------------------------------------------------

def _full_rows(app) -> list[tuple]:
    with app.app_context():
        return [tuple(row) for row in db.session.execute(select(GreenEvent.__table__).order_by(GreenEvent.id))]


def test_each_trip_uses_the_version_in_force_when_it_happened(app, api, resident):
    v1 = _version_id(app, "TRIP")
    first = _post_trip(api, resident, "bus", _shanghai(1, 8), 20, distance_m=5_000)
    before_v2_approved = _post_trip(api, resident, "bus", _shanghai(1, 11), 20, distance_m=5_000)
    moment = _shanghai(1, 10)
    with app.app_context():
        trip = db.session.scalar(select(Methodology.id).where(Methodology.code == "TRIP"))
        parameters = TRIP_V1 | {"factors": TRIP_V1["factors"] | {"bus": "30"}}
        version = draft_version(trip, parameters, TRIP_V1_SOURCES, moment, None, actor_id=1)
        file_version(trip, version.version, actor_id=1)
        approve_version(trip, version.version, actor_id=2)
        db.session.commit()
        v2 = version.id
    rows = _full_rows(app)
    with app.app_context():
        quantify_received()
    assert _full_rows(app) == rows  # results already computed keep the version that produced them

    earlier = _post_trip(api, resident, "bus", _shanghai(1, 9), 20, distance_m=5_000)
    later = _post_trip(api, resident, "bus", _shanghai(1, 12), 20, distance_m=5_000)
    events = _events(api, resident)
    seen = {i: (events[i]["methodology_version_id"], events[i]["factor"], events[i]["reduction_g"])
            for i in (first, before_v2_approved, earlier, later)}
    assert seen == {first: (v1, "26.9", 134), before_v2_approved: (v1, "26.9", 134),
                    earlier: (v1, "26.9", 134), later: (v2, "30", 150)}
    assert _pending(api, resident) == 134 * 3 + 150


def test_the_claim_window_a_report_is_held_to_is_the_versions(app, api, resident):
    """Not a constant: a version that allows 14 days lets a 10-day-old trip in, at the door and when quantified."""
    ten_days_ago = _shanghai(10, 8)
    refused = api.trip(resident, mode="bus", start=ten_days_ago, minutes=20, distance_m=5_000)
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == {"started_at": ["超过所适用方法学规定的申报期限。"]}
    with app.app_context():
        trip = db.session.scalar(select(Methodology.id).where(Methodology.code == "TRIP"))
        version = draft_version(trip, TRIP_V1 | {"claim_window_days": 14}, TRIP_V1_SOURCES, _shanghai(30, 0), None,
                                actor_id=1)
        file_version(trip, version.version, actor_id=1)
        approve_version(trip, version.version, actor_id=2)
        db.session.commit()
        v2 = version.id
    accepted = _post_trip(api, resident, "bus", ten_days_ago, 20, distance_m=5_000)
    event = _events(api, resident)[accepted]
    assert (event["status"], event["methodology_version_id"], event["reduction_g"]) == ("quantified", v2, 134)
