"""A resident sees only their own events; lists paginate by cursor; Idempotency-Key on trips."""
import base64
import threading
from datetime import timedelta

import sqlalchemy as sa

from config.extensions import db
from tests.support import ago, iso

EVENTS, TRIPS = "/api/v1/me/events", "/api/v1/me/trips"
PROBLEM = "application/problem+json"


def trip_body(minutes_ago=120, distance_m=5000, mode="bus") -> dict:
    start = ago(minutes=minutes_ago)
    return {"mode": mode, "started_at": iso(start), "ended_at": iso(start + timedelta(minutes=15)),
            "distance_m": distance_m}


def post_trips(api, resident, count: int) -> list[int]:
    ids = []
    for n in range(count):
        # 20-minute trips half an hour apart: plausible, never overlapping.
        response = api.trip(resident, distance_m=1000 + n, minutes=20, start=ago(minutes=30 * (n + 1)))
        assert response.status_code == 202, response.get_json()
        ids.append(response.get_json()["id"])
    return ids


def scalar(app, sql: str, **params):
    with app.app_context():
        return db.session.scalar(sa.text(sql), params)


def event_count(app, resident) -> int:
    return scalar(app, "SELECT count(*) FROM green_events e JOIN accounts a ON a.id = e.account_id "
                       "WHERE a.number = :n", n=resident.account_number)


def assert_validation_problem(response, field: str):
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["code"] == "validation_failed"
    assert field in str(body["errors"])


def test_another_residents_event_is_404_as_if_it_did_not_exist(api):
    alice, bob = api.register(), api.register()
    [bobs] = post_trips(api, bob, 1)
    theirs = api.http.get(f"{EVENTS}/{bobs}", headers=alice.auth())
    missing = api.http.get(f"{EVENTS}/{bobs + 1000}", headers=alice.auth())
    assert theirs.status_code == 404 and theirs.mimetype == PROBLEM
    assert theirs.get_json(force=True)["code"] == "not_found"
    # Nothing tells "someone else's" from "no such event".
    assert theirs.get_data() == missing.get_data()
    # The owner does see it.
    own = api.http.get(f"{EVENTS}/{bobs}", headers=bob.auth())
    assert own.status_code == 200 and own.get_json()["id"] == bobs


def test_lists_never_include_other_residents_events(api):
    alice, bob = api.register(), api.register()
    alices = post_trips(api, alice, 3)
    bobs = post_trips(api, bob, 4)
    for resident, own in ((alice, alices), (bob, bobs)):
        listed = api.http.get(f"{EVENTS}?limit=100", headers=resident.auth()).get_json()
        assert sorted(e["id"] for e in listed["items"]) == sorted(own)
        # A cursor above someone else's ids still pages through one's own events only.
        cursor = base64.urlsafe_b64encode(f"id:{max(alices + bobs) + 1}".encode()).decode()
        paged = api.http.get(f"{EVENTS}?cursor={cursor}", headers=resident.auth()).get_json()
        assert sorted(e["id"] for e in paged["items"]) == sorted(own)


def test_cursor_pagination_walks_45_events_newest_first(api):
    resident = api.register()
    posted = post_trips(api, resident, 45)
    pages, cursor = [], None
    while True:
        url = f"{EVENTS}?limit=20" + (f"&cursor={cursor}" if cursor else "")
        response = api.http.get(url, headers=resident.auth())
        assert response.status_code == 200
        body = response.get_json()
        pages.append([e["id"] for e in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 5, "pagination does not end"
    assert [len(p) for p in pages] == [20, 20, 5]
    walked = [i for p in pages for i in p]
    assert len(set(walked)) == 45  # no overlap
    assert walked == sorted(posted, reverse=True)  # newest first, nothing skipped


def test_default_and_bounded_limits(api):
    resident = api.register()
    post_trips(api, resident, 21)
    default = api.http.get(EVENTS, headers=resident.auth()).get_json()
    assert len(default["items"]) == 20 and default["next_cursor"]
    assert len(api.http.get(f"{EVENTS}?limit=100", headers=resident.auth()).get_json()["items"]) == 21
    for bad in ("0", "101", "-1", "abc", "1.5"):
        assert_validation_problem(api.http.get(f"{EVENTS}?limit={bad}", headers=resident.auth()), "limit")


def test_status_filter(app, api, quantification_deferred):
    resident = api.register()
    ids = post_trips(api, resident, 5)
    # Whatever quantification made of them, give the five events known statuses.
    with app.app_context():
        db.session.execute(sa.text("UPDATE green_events SET status = 'received' WHERE id IN (:a, :b, :c)"),
                           {"a": ids[0], "b": ids[2], "c": ids[4]})
        db.session.execute(sa.text("UPDATE green_events SET status = 'rejected', reason = 'implausible_speed' "
                                   "WHERE id IN (:a, :b)"), {"a": ids[1], "b": ids[3]})
        db.session.commit()
    received = api.http.get(f"{EVENTS}?status=received", headers=resident.auth()).get_json()
    assert [e["id"] for e in received["items"]] == [ids[4], ids[2], ids[0]]
    assert {e["status"] for e in received["items"]} == {"received"}
    rejected = api.http.get(f"{EVENTS}?status=rejected&limit=1", headers=resident.auth()).get_json()
    assert [e["id"] for e in rejected["items"]] == [ids[3]]
    rest = api.http.get(f"{EVENTS}?status=rejected&cursor={rejected['next_cursor']}",
                        headers=resident.auth()).get_json()
    assert [(e["id"], e["reason"]) for e in rest["items"]] == [(ids[1], "implausible_speed")]
    assert rest["next_cursor"] is None
    assert_validation_problem(api.http.get(f"{EVENTS}?status=lost", headers=resident.auth()), "status")


def test_a_tampered_cursor_is_422(api):
    resident = api.register()
    post_trips(api, resident, 3)
    real = api.http.get(f"{EVENTS}?limit=1", headers=resident.auth()).get_json()["next_cursor"]
    encoded = lambda text: base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")  # noqa: E731
    tampered = [
        real[:2], "not a cursor", "%%%%", encoded("ID:3"), encoded("id:3x"), encoded("row:1"),
        encoded("id:abc"), encoded("id:"), encoded("id:0"), encoded("id:-5"), encoded("1"),
        encoded("id:" + "9" * 40),  # past bigint: refused here, not a database error (500)
    ]
    for cursor in tampered:
        response = api.http.get(EVENTS, query_string={"cursor": cursor}, headers=resident.auth())
        assert_validation_problem(response, "cursor")


# --- Idempotency-Key ----------------------------------------------------------------------------

def post_keyed(http, resident, body: dict, key: str):
    return http.post(TRIPS, json=body, headers=resident.auth(**{"Idempotency-Key": key}))


def test_same_key_and_body_replays_the_first_answer(app, api):
    resident = api.register()
    body = trip_body()
    first = post_keyed(api.http, resident, body, "trip-key-1")
    second = post_keyed(api.http, resident, body, "trip-key-1")
    assert first.status_code == second.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json()
    assert event_count(app, resident) == 1


def test_same_key_with_another_body_is_422(app, api):
    resident = api.register()
    assert post_keyed(api.http, resident, trip_body(distance_m=5000), "k").status_code == 202
    reused = post_keyed(api.http, resident, trip_body(distance_m=5001), "k")
    assert reused.status_code == 422 and reused.mimetype == PROBLEM
    assert reused.get_json(force=True)["code"] == "idempotency_key_reused"
    assert event_count(app, resident) == 1


def test_keys_belong_to_their_resident(app, api):
    alice, bob = api.register(), api.register()
    body = trip_body()
    for_alice = post_keyed(api.http, alice, body, "shared-key")
    for_bob = post_keyed(api.http, bob, body, "shared-key")
    assert for_alice.status_code == for_bob.status_code == 202
    assert "Idempotent-Replayed" not in for_bob.headers
    assert for_alice.get_json()["id"] != for_bob.get_json()["id"]
    assert event_count(app, alice) == event_count(app, bob) == 1


def test_a_refused_request_does_not_burn_its_key(app, api):
    resident = api.register()
    bad = trip_body() | {"distance_m": "far"}
    assert post_keyed(api.http, resident, bad, "retry-me").status_code == 422
    fixed = post_keyed(api.http, resident, trip_body(), "retry-me")
    assert fixed.status_code == 202 and "Idempotent-Replayed" not in fixed.headers
    assert_validation_problem(post_keyed(api.http, resident, trip_body(), "x" * 129), "Idempotency-Key")
    assert event_count(app, resident) == 1


def test_concurrent_requests_with_one_key_record_one_event(app, api):
    """On PostgreSQL, eight requests racing with one key: one wins, seven replay its answer."""
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    resident = api.register()
    for round_ in range(3):
        key, body = f"race-{round_}", trip_body(minutes_ago=100 + round_)
        barrier, answers = threading.Barrier(8), []

        def send():
            client = app.test_client()
            barrier.wait()
            answers.append(post_keyed(client, resident, body, key))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(answers) == 8
        assert [a.status_code for a in answers] == [202] * 8, [a.get_data(as_text=True) for a in answers]
        assert len({a.get_json()["id"] for a in answers}) == 1
        assert sum("Idempotent-Replayed" not in a.headers for a in answers) == 1
        assert event_count(app, resident) == round_ + 1
    assert scalar(app, "SELECT count(*) FROM idempotency_records") == 3


def test_a_trip_sent_again_with_its_external_id_answers_that_event_as_a_duplicate(app, api):
    resident = api.register()
    body = trip_body() | {"external_id": "phone-trip-7"}
    first = api.http.post(TRIPS, json=body, headers=resident.auth())
    again = api.http.post(TRIPS, json=body, headers=resident.auth())
    assert first.status_code == again.status_code == 202
    assert first.get_json() == {"id": first.get_json()["id"], "status": "received", "duplicate": False}
    # Quantified in-process after the first commit: the second answer shows the event as it stands.
    assert again.get_json() == {"id": first.get_json()["id"], "status": "quantified", "duplicate": True}
    assert event_count(app, resident) == 1
