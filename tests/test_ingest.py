"""POST /api/v1/ingest/events: a filed source's signed batch (DOMAIN.md §4, API.md "Data sources")."""
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from accounting.ledger.account_numbers import luhn_check_digit
from accounting.ledger.models import Account, Holder
from accounting.record import credentials as source_credentials
from accounting.record.models import DataSource, GreenEvent, Station
from accounting.record.rules import RECYCLING_CATEGORIES
from accounting.record.sources import file_station
from config.extensions import db
from tests.conftest import build_app
from tests.coupons_support import run_together
from tests.support import ago, iso


@pytest.fixture(autouse=True)
def _recording_only(quantification_deferred):
    """These tests are about recording: quantification is queued, not run, so rows stay `received`."""

PATH = "/api/v1/ingest/events"
PROBLEM = "application/problem+json"
MODES = ("bus", "metro", "bike", "walk", "ev")
EN, ZH = {"Accept-Language": "en"}, {"Accept-Language": "zh-CN"}


# --- private helpers -------------------------------------------------------------------------

def _body(events) -> bytes:
    return json.dumps({"events": events}).encode()


def _post_raw(source, body: bytes, headers: dict):
    return source.http.post(PATH, data=body, headers=headers)


def _authorize(api, resident, code):
    response = api.http.put(f"/api/v1/me/sources/{code}", headers=resident.auth())
    assert response.status_code == 200, response.get_json()


def _event_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(GreenEvent))


def _stored(app) -> dict:
    """Every recorded event as plain values, keyed by (source code, external_id)."""
    with app.app_context():
        rows = db.session.execute(
            select(DataSource.code.label("source"), GreenEvent.external_id, Account.number.label("account"),
                   GreenEvent.kind, GreenEvent.mode, GreenEvent.category, GreenEvent.distance_m,
                   GreenEvent.steps, GreenEvent.weight_g, Station.code.label("station"), GreenEvent.status,
                   GreenEvent.started_at, GreenEvent.ended_at)
            .join(DataSource, GreenEvent.source_id == DataSource.id)
            .join(Account, GreenEvent.account_id == Account.id)
            .outerjoin(Station, GreenEvent.station_id == Station.id)
        ).all()
    return {(r.source, r.external_id): {k: v for k, v in r._mapping.items() if k not in ("source", "external_id")}
            for r in rows}


def _expected(event: dict, station: str | None = None) -> dict:
    """The row an accepted event must become."""
    trip = event["kind"] == "trip"
    start = datetime.fromisoformat(event["started_at" if trip else "occurred_at"])
    end = datetime.fromisoformat(event["ended_at"]) if trip else start
    return {"account": event["account_number"], "kind": event["kind"], "mode": event.get("mode"),
            "category": event.get("category"), "distance_m": event.get("distance_m"), "steps": event.get("steps"),
            "weight_g": event.get("weight_g"), "station": station, "status": "received",
            "started_at": start, "ended_at": end}


def _mixed_batch(source, numbers: list[str], size=1000, prefix="ev") -> list[dict]:
    """Trips in every mode and recycling drop-offs at the source's own code, spread over residents."""
    events = []
    for i in range(size):
        number, external_id = numbers[i % len(numbers)], f"{prefix}-{i:04d}"
        if i % 6 == 5:
            events.append(source.recycling_event(number, external_id, weight_g=300 + i,
                                                 category=RECYCLING_CATEGORIES[i % len(RECYCLING_CATEGORIES)]))
        else:
            events.append(source.trip_event(number, external_id, mode=MODES[i % 6], distance_m=1000 + i,
                                            start=ago(hours=1, minutes=i % 300)))
    return events


def _unregistered_number(body="000000017") -> str:
    return f"BZ{body}{luhn_check_digit(body)}"


def _assert_refused(response, code: str, status=401):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["code"] == code and problem["status"] == status
    assert problem["type"].endswith("/" + code)
    return problem


@pytest.fixture
def bus(file_source):
    return file_source("BZBUS", "transit", name="滨州公交")


@pytest.fixture
def rider(api, resident, bus):
    """A resident who authorized BZBUS to report for them."""
    _authorize(api, resident, bus.code)
    return resident


# --- the happy path at full size ----------------------------------------------------------------

def test_a_batch_of_1000_is_recorded_once_and_sending_it_again_records_only_duplicates(app, api, bus, rider):
    neighbour = api.register()
    _authorize(api, neighbour, bus.code)
    events = _mixed_batch(bus, [rider.account_number, neighbour.account_number])
    now = int(time.time())

    first = bus.post_events(events, timestamp=now)
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"accepted": 1000, "duplicates": 0, "rejected": []}
    # Re-signed with another timestamp (the same second would be the same signature: a replay).
    again = bus.post_events(events, timestamp=now - 1)
    assert again.status_code == 200, again.get_json()
    assert again.get_json() == {"accepted": 0, "duplicates": 1000, "rejected": []}

    assert _event_count(app) == 1000
    assert _stored(app) == {("BZBUS", e["external_id"]): _expected(e) for e in events}


def test_three_bad_events_in_a_thousand_are_rejected_by_index_and_the_rest_recorded(app, bus, rider):
    events = _mixed_batch(bus, [rider.account_number])
    events[7]["distance_m"] = -5  # a metro trip
    events[420]["mode"] = "rocket"  # a bus trip
    events[998]["ended_at"] = iso(datetime.fromisoformat(events[998]["started_at"]) - timedelta(minutes=1))

    response = bus.post_events(events, headers=EN)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert (result["accepted"], result["duplicates"]) == (997, 0)
    assert [r["index"] for r in result["rejected"]] == [7, 420, 998]
    negative, rocket, backwards = result["rejected"]
    assert list(negative["errors"]) == ["distance_m"] and negative["reasons"] == {}
    assert list(rocket["errors"]) == ["mode"] and rocket["reasons"] == {}
    assert backwards["errors"] == {"ended_at": ["Ends before it starts."]}
    assert backwards["reasons"] == {"ended_at": ["ends_before_start"]}

    stored = _stored(app)
    assert len(stored) == _event_count(app) == 997
    assert not {("BZBUS", events[i]["external_id"]) for i in (7, 420, 998)} & stored.keys()
    assert stored[("BZBUS", events[5]["external_id"])] == _expected(events[5])


# --- signatures ---------------------------------------------------------------------------------

def _signed_with_another_secret(source, body):
    headers = source.signed_headers(body)
    return headers | {"X-Signature": source_credentials.sign("not-the-secret", headers["X-Timestamp"], body)}


def _signed_at(offset):
    return lambda source, body: source.signed_headers(body, int(time.time()) + offset)


def _without(name):
    return lambda source, body: {k: v for k, v in source.signed_headers(body).items() if k != name}


def _with(**replaced):
    return lambda source, body: source.signed_headers(body) | {k.replace("_", "-"): v for k, v in replaced.items()}


def _timestamped(stamp):
    def headers(source, body):
        return source.signed_headers(body) | {"X-Timestamp": stamp,
                                              "X-Signature": source_credentials.sign(source.secret, stamp, body)}
    return headers


@pytest.mark.parametrize("make_headers, code", [
    pytest.param(_signed_with_another_secret, "bad_signature", id="wrong-secret"),
    pytest.param(_with(X_Source_Key="bzk_" + "0" * 32), "bad_signature", id="unknown-key"),
    pytest.param(_with(X_Signature="0" * 64), "bad_signature", id="made-up-signature"),
    pytest.param(_with(X_Signature="é" * 64), "bad_signature", id="signature-not-hex"),
    pytest.param(_signed_at(-301), "stale_timestamp", id="older-than-300s"),
    pytest.param(_signed_at(+301), "stale_timestamp", id="more-than-300s-ahead"),
    pytest.param(_timestamped("9" * 400), "bad_timestamp", id="absurd-timestamp"),
    pytest.param(_timestamped("yesterday"), "bad_timestamp", id="timestamp-not-seconds"),
    pytest.param(_without("X-Signature"), "missing_signature_headers", id="no-signature"),
    pytest.param(_without("X-Timestamp"), "missing_signature_headers", id="no-timestamp"),
    pytest.param(_without("X-Source-Key"), "missing_signature_headers", id="no-key"),
])
def test_an_unauthenticated_request_is_refused_and_stores_nothing(app, bus, rider, make_headers, code):
    body = _body([bus.trip_event(rider.account_number, "t-1")])
    _assert_refused(_post_raw(bus, body, make_headers(bus, body)), code)
    assert _event_count(app) == 0


def test_a_request_signed_four_minutes_ago_is_still_accepted(bus, rider):
    response = bus.post_events([bus.trip_event(rider.account_number, "t-1")], timestamp=int(time.time()) - 240)
    assert response.status_code == 200 and response.get_json()["accepted"] == 1


def test_a_suspended_source_is_refused(app, bus, rider):
    with app.app_context():
        db.session.execute(update(DataSource).where(DataSource.code == "BZBUS").values(status="suspended"))
        db.session.commit()
    _assert_refused(bus.post_events([bus.trip_event(rider.account_number, "t-1")]), "source_suspended")
    assert _event_count(app) == 0


def test_a_body_tampered_after_signing_is_refused(app, bus, rider):
    event = bus.trip_event(rider.account_number, "t-1", distance_m=5000)
    headers = bus.signed_headers(_body([event]))
    tampered = _body([event | {"distance_m": 50_000}])
    _assert_refused(_post_raw(bus, tampered, headers), "bad_signature")
    assert _event_count(app) == 0


def test_replayed_request_is_refused_and_stores_nothing(app, api, resident, bus):
    # Captured while the resident had not yet authorized the source: every event was refused.
    body = _body([bus.trip_event(resident.account_number, "t-1")])
    headers = bus.signed_headers(body)
    first = _post_raw(bus, body, headers)
    assert first.status_code == 200
    assert first.get_json()["rejected"][0]["reasons"] == {"account_number": ["source_not_authorized"]}

    _authorize(api, resident, bus.code)
    _assert_refused(_post_raw(bus, body, headers), "replayed_request")
    shouted = headers | {"X-Signature": headers["X-Signature"].upper()}  # hex case changes nothing
    _assert_refused(_post_raw(bus, body, shouted), "replayed_request")
    assert _event_count(app) == 0

    fresh = bus.post_events([bus.trip_event(resident.account_number, "t-1")], timestamp=int(time.time()) - 1)
    assert fresh.get_json()["accepted"] == 1


def test_a_replay_is_refused_by_another_worker_without_redis(app, api, resident, bus, postgres_database):
    """The guard lives in PostgreSQL: a second web process, with no Redis at all, refuses it too."""
    _authorize(api, resident, bus.code)
    body = _body([bus.trip_event(resident.account_number, "t-other-worker")])
    headers = bus.signed_headers(body)
    assert _post_raw(bus, body, headers).get_json()["accepted"] == 1
    other = build_app(postgres_database, None)
    try:
        replayed = other.test_client().post("/api/v1/ingest/events", data=body, headers=headers)
        _assert_refused(replayed, "replayed_request")
    finally:
        with other.app_context():
            db.engine.dispose()
        app.extensions["celery"].set_current()
        app.extensions["celery"].set_default()
    assert _event_count(app) == 1


def test_the_same_signed_request_at_once_on_two_workers_is_stored_once(app, api, resident, bus):
    _authorize(api, resident, bus.code)
    body = _body([bus.trip_event(resident.account_number, "t-twin")])
    headers = bus.signed_headers(body)
    answers = run_together([lambda: app.test_client().post("/api/v1/ingest/events", data=body, headers=headers)
                                for _ in range(2)])
    assert sorted(answer.status_code for answer in answers) == [200, 401]
    assert _event_count(app) == 1


# --- consent and accounts -----------------------------------------------------------------------

def test_events_for_a_resident_who_has_not_authorized_the_source_are_refused(app, api, file_source, bus, rider):
    file_source("BZBIKE", "bikeshare")
    stranger = api.register()
    _authorize(api, stranger, "BZBIKE")  # consent to another source is not consent to this one
    events = [bus.trip_event(rider.account_number, "t-1"), bus.trip_event(stranger.account_number, "t-2")]
    result = bus.post_events(events, headers=ZH).get_json()
    assert result["accepted"] == 1
    assert result["rejected"] == [{"index": 1, "errors": {"account_number": ["该居民未授权此数据源。"]},
                                   "reasons": {"account_number": ["source_not_authorized"]}}]
    assert list(_stored(app)) == [("BZBUS", "t-1")]


def test_after_the_resident_revokes_the_sources_events_are_refused_again(app, api, bus, rider):
    assert bus.post_events([bus.trip_event(rider.account_number, "t-1")]).get_json()["accepted"] == 1
    assert api.http.delete("/api/v1/me/sources/BZBUS", headers=rider.auth()).status_code == 204

    result = bus.post_events([bus.trip_event(rider.account_number, "t-2")]).get_json()
    assert result["accepted"] == 0
    assert result["rejected"][0]["reasons"] == {"account_number": ["source_not_authorized"]}
    assert list(_stored(app)) == [("BZBUS", "t-1")]


def test_unknown_closed_and_malformed_account_numbers(app, api, bus, rider):
    closed = api.register()
    _authorize(api, closed, bus.code)
    with app.app_context():
        holder_id = select(Account.holder_id).where(Account.number == closed.account_number).scalar_subquery()
        db.session.execute(update(Holder).where(Holder.id == holder_id).values(closed_at=ago(minutes=1)))
        db.session.commit()
    typo = rider.account_number[:-1] + str((int(rider.account_number[-1]) + 1) % 10)
    numbers = [_unregistered_number(), closed.account_number, typo, "BZ123", rider.account_number.lower()]
    assert rider.account_number not in numbers
    result = bus.post_events([bus.trip_event(n, f"t-{i}") for i, n in enumerate(numbers)], headers=EN).get_json()

    assert result["accepted"] == 0 and [r["index"] for r in result["rejected"]] == [0, 1, 2, 3, 4]
    for unknown in result["rejected"][:2]:
        assert unknown["reasons"] == {"account_number": ["unknown_account"]}
        assert unknown["errors"] == {"account_number": ["No such carbon account."]}
    for malformed in result["rejected"][2:]:
        assert list(malformed["errors"]) == ["account_number"] and malformed["reasons"] == {}
    assert _event_count(app) == 0


# --- recycling stations -------------------------------------------------------------------------

def test_recycling_is_accepted_at_the_sources_own_code_or_a_station_filed_under_it(app, api, resident, file_source):
    depot = file_source("BZRECY", "recycling")
    file_source("BZGREEN", "recycling")
    _authorize(api, resident, "BZRECY")
    with app.app_context():
        file_station("BZRECY", "BZRECY-01", "黄河五路站", district="滨城区")
        file_station("BZGREEN", "BZGREEN-01", "渤海七路站")
        db.session.commit()
    stations = ["BZRECY", "BZRECY-01", "BZGREEN-01", "BZGREEN", "NOWHERE-9"]
    events = [depot.recycling_event(resident.account_number, f"r-{i}", station_code=code, category="pet",
                                    weight_g=1200 + i) for i, code in enumerate(stations)]

    result = depot.post_events(events).get_json()
    assert (result["accepted"], result["duplicates"]) == (2, 0)
    assert [(r["index"], r["reasons"]) for r in result["rejected"]] == [
        (i, {"station_code": ["unknown_station"]}) for i in (2, 3, 4)
    ]
    assert _stored(app) == {("BZRECY", "r-0"): _expected(events[0], station=None),
                            ("BZRECY", "r-1"): _expected(events[1], station="BZRECY-01")}


# --- times --------------------------------------------------------------------------------------

def test_actions_outside_the_claim_window_in_the_future_or_without_an_offset_are_refused(app, bus, rider):
    n = rider.account_number
    soon = datetime.now(timezone.utc) + timedelta(minutes=10)
    naive = bus.trip_event(n, "naive") | {"started_at": ago(hours=2).replace(tzinfo=None).isoformat()}
    events = [
        bus.trip_event(n, "eight-days-ago", start=ago(days=8)),
        bus.trip_event(n, "ahead", start=soon),
        naive,
        bus.recycling_event(n, "old-drop", occurred_at=ago(days=8)),
        bus.recycling_event(n, "future-drop", occurred_at=soon),
        bus.trip_event(n, "six-days-ago", start=ago(days=6, hours=23)),
        bus.trip_event(n, "in-tolerance", start=ago(minutes=1), minutes=4),  # ends 3 min from now
    ]
    result = bus.post_events(events, headers=EN).get_json()

    assert result["accepted"] == 2
    rejected = {r["index"]: r for r in result["rejected"]}
    assert rejected[0]["reasons"] == {"started_at": ["outside_claim_window"]}
    assert rejected[0]["errors"] == {"started_at": ["Older than the claim window of the methodology in force."]}
    assert rejected[1]["reasons"] == {"ended_at": ["in_future"]}
    assert rejected[2] == {"index": 2, "errors": {"started_at": ["Not a valid aware datetime."]}, "reasons": {}}
    # A drop-off has only occurred_at: that is the field its errors must name.
    assert rejected[3]["reasons"] == {"occurred_at": ["outside_claim_window"]}
    assert rejected[4]["reasons"] == {"occurred_at": ["in_future"]}
    assert sorted(k[1] for k in _stored(app)) == ["in-tolerance", "six-days-ago"]


# --- idempotency --------------------------------------------------------------------------------

def test_the_same_external_id_twice_in_one_batch_is_one_event(app, bus, rider):
    events = [bus.trip_event(rider.account_number, "t-1", mode="metro", distance_m=9000),
              bus.trip_event(rider.account_number, "t-1", mode="metro", distance_m=9000)]
    assert bus.post_events(events).get_json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    assert _stored(app) == {("BZBUS", "t-1"): _expected(events[0])}


def test_the_same_external_id_from_two_sources_is_two_events(app, api, file_source, bus, rider):
    bike = file_source("BZBIKE", "bikeshare")
    _authorize(api, rider, "BZBIKE")
    bus_trip = bus.trip_event(rider.account_number, "42", mode="bus", distance_m=7000)
    bike_trip = bike.trip_event(rider.account_number, "42", mode="bike", distance_m=3000)
    assert bus.post_events([bus_trip]).get_json()["accepted"] == 1
    assert bike.post_events([bike_trip]).get_json()["accepted"] == 1
    assert _stored(app) == {("BZBUS", "42"): _expected(bus_trip), ("BZBIKE", "42"): _expected(bike_trip)}


# --- the envelope -------------------------------------------------------------------------------

def test_more_than_1000_events_are_refused_whole(app, bus, rider):
    events = _mixed_batch(bus, [rider.account_number], size=1001)
    problem = _assert_refused(bus.post_events(events, headers=EN), "too_many_events", status=422)
    assert "1000" in problem["detail"]
    assert _event_count(app) == 0


@pytest.mark.parametrize("payload", [{"events": []}, {"events": {"external_id": "t-1"}}, {"events": "t-1"}, {}],
                         ids=["empty", "an-object", "a-string", "missing"])
def test_a_batch_without_a_list_of_events_is_refused(app, bus, payload):
    body = json.dumps(payload).encode()
    problem = _assert_refused(_post_raw(bus, body, bus.signed_headers(body)), "validation_failed", status=422)
    assert "events" in problem["errors"]


def test_a_signed_body_that_is_not_json_is_a_bad_request(app, bus):
    body = b'{"events": [ not json'
    _assert_refused(_post_raw(bus, body, bus.signed_headers(body)), "bad_request", status=400)
    assert _event_count(app) == 0


# --- language and privacy -----------------------------------------------------------------------

def test_refusals_and_event_errors_speak_the_clients_language(api, bus, rider):
    body = _body([bus.trip_event(rider.account_number, "t-1")])
    forged = bus.signed_headers(body) | {"X-Signature": "0" * 64}
    english = _assert_refused(_post_raw(bus, body, forged | EN), "bad_signature")
    chinese = _assert_refused(_post_raw(bus, body, forged | ZH), "bad_signature")
    default = _assert_refused(_post_raw(bus, body, forged), "bad_signature")
    assert (english["title"], chinese["title"], default["title"]) == ("Bad signature", "签名无效", "签名无效")

    stranger = api.register()
    naive = bus.trip_event(rider.account_number, "t-2") | {"ended_at": "2025-01-01T08:00:00"}
    events = [bus.trip_event(stranger.account_number, "t-1"), naive]
    now = int(time.time())
    errors = {lang: [r["errors"] for r in bus.post_events(events, timestamp=now - i, headers=h).get_json()["rejected"]]
              for i, (lang, h) in enumerate([("en", EN), ("zh", ZH)])}
    assert errors["en"] == [{"account_number": ["The resident has not authorized this source."]},
                            {"ended_at": ["Not a valid aware datetime."]}]
    assert errors["zh"] == [{"account_number": ["该居民未授权此数据源。"]},
                            {"ended_at": ["日期时间须带时区偏移（如 +08:00）。"]}]


def test_a_raw_gps_track_and_other_unknown_fields_are_dropped_not_stored(app, bus, rider):
    event = bus.trip_event(rider.account_number, "t-1", mode="bike", distance_m=4200)
    track = [[37.3815, 117.9707], [37.3822, 117.9731]]
    result = bus.post_events([event | {"gps_track": track, "device_imei": "865432101234567"}]).get_json()
    assert result == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert _stored(app) == {("BZBUS", "t-1"): _expected(event)}
    with app.app_context():
        row = db.session.execute(select(GreenEvent.__table__)).one()._mapping
    assert not {"gps_track", "device_imei"} & set(row)
    assert not any(needle in str(value) for value in row.values() for needle in ("117.97", "865432101234567"))
