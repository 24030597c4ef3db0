"""Bad input is never a 500: always problem+json with type, title, status, detail (API.md)."""
import json
from datetime import datetime, timedelta

import jwt as pyjwt
from flask_jwt_extended import create_access_token
from hypothesis import given, settings
from hypothesis import strategies as st

from accounting.record.rules import TRIP_MODES
from api.schemas_common import DISTRICTS
from tests.support import RESIDENT_PASSWORD, ApiClient, ago, iso, next_phone

TRIPS, REGISTER, LOGIN, ME = "/api/v1/me/trips", "/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/me"
PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    body = json.loads(response.get_data(as_text=True))
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status and body["title"] and body["detail"]
    if code:
        assert body["code"] == code and body["type"].endswith("/" + code)
    return body


def good_trip(**changes) -> dict:
    start = ago(hours=2)
    return {"mode": "bus", "started_at": iso(start), "ended_at": iso(start + timedelta(minutes=20)),
            "distance_m": 5000} | changes


def post_raw(api, resident, data, content_type="application/json", **headers):
    return api.http.post(TRIPS, data=data, content_type=content_type, headers=resident.auth(**headers))


# --- bodies -------------------------------------------------------------------------------------

def test_malformed_json_is_400(api, resident):
    for raw in (b"{bad", b'{"mode": "bus",}', b"\xff\xfe\x00", b"{" * 50):
        assert_problem(post_raw(api, resident, raw), 400, "bad_request")
    assert_problem(api.http.post(REGISTER, data=b"{bad", content_type="application/json"), 400, "bad_request")


def test_wrong_types_are_422_naming_the_field(api, resident):
    # 10**29 is the longest integer (30 digits) that reaches validation; a longer one is refused unparsed.
    for value in ("5000", 5000.5, True, None, [5000], {"m": 5000}, -1, 2_000_001, 10**29):
        body = assert_problem(api.http.post(TRIPS, json=good_trip(distance_m=value), headers=resident.auth()),
                              422, "validation_failed")
        assert "distance_m" in body["errors"], value
    assert_problem(api.http.post(TRIPS, json=good_trip(distance_m=10**40), headers=resident.auth()),
                   400, "bad_request")
    for field, value in (("mode", 3), ("started_at", 1700000000), ("ended_at", True), ("external_id", 12)):
        body = assert_problem(api.http.post(TRIPS, json=good_trip(**{field: value}), headers=resident.auth()), 422)
        assert field in body["errors"], field


def test_missing_or_non_object_bodies_are_422(api, resident):
    assert_problem(api.http.post(TRIPS, headers=resident.auth()), 422, "validation_failed")
    assert_problem(post_raw(api, resident, b""), 422, "validation_failed")
    for document in ([good_trip()], [], "bus", 5000, None):
        assert_problem(post_raw(api, resident, json.dumps(document)), 422, "validation_failed")


def test_unknown_mode_unknown_field_and_naive_datetime_are_422(api, resident):
    body = assert_problem(api.http.post(TRIPS, json=good_trip(mode="rocket"), headers=resident.auth()), 422)
    assert "mode" in body["errors"]
    body = assert_problem(api.http.post(TRIPS, json=good_trip(gps_track=[[37.38, 117.97]]),
                                        headers=resident.auth()), 422)
    assert "gps_track" in body["errors"]  # PIPL: raw tracks are refused, not stored
    naive = datetime.now().replace(microsecond=0) - timedelta(hours=1)
    body = assert_problem(api.http.post(TRIPS, json=good_trip(started_at=naive.isoformat()),
                                        headers=resident.auth(**{"Accept-Language": "en"})), 422)
    assert body["errors"]["started_at"] == ["Not a valid aware datetime."]


def test_dates_at_the_ends_of_the_calendar_are_refused_not_crashed(api, resident):
    for started, ended in (("9999-12-31T23:00:00-05:00", "9999-12-31T23:30:00-05:00"),
                           ("0001-01-01T00:00:00+05:00", "0001-01-01T00:30:00+05:00"),
                           ("0001-01-01T00:00:00+14:00", iso(ago(hours=1)))):
        response = api.http.post(TRIPS, json=good_trip(started_at=started, ended_at=ended), headers=resident.auth())
        # Refused as input (the platform's calendar is 2000-01-01…2100-12-31), before any rule runs.
        body = assert_problem(response, 422, "validation_failed")
        assert "started_at" in body["errors"]


def test_walks_count_steps_and_only_walks_do(api, resident):
    body = assert_problem(api.http.post(TRIPS, json=good_trip(mode="walk", distance_m=3000),
                                        headers=resident.auth()), 422)
    assert "steps" in body["errors"]
    body = assert_problem(api.http.post(TRIPS, json=good_trip(steps=4000), headers=resident.auth()), 422)
    assert "steps" in body["errors"]
    walk = good_trip(mode="walk", steps=7250)
    del walk["distance_m"]
    assert api.http.post(TRIPS, json=walk, headers=resident.auth()).status_code == 202


def test_a_body_over_two_mebibytes_is_413(api, resident):
    huge = b'{"mode": "' + b"x" * (2 * 1024 * 1024 + 10) + b'"}'
    assert_problem(post_raw(api, resident, huge), 413, "payload_too_large")
    assert_problem(api.http.post(REGISTER, data=huge, content_type="application/json"), 413, "payload_too_large")


def test_unicode_display_names_round_trip(api):
    for name in ("王小绿", "🌱 绿色出行 🚲", "👩‍👩‍👧‍👦 家庭", "Zoë Ørsted", "  滨州  "):
        resident = api.register(display_name=name)
        me = api.http.get(ME, headers=resident.auth())
        assert me.get_json()["user"]["display_name"] == name.strip()
        assert name.strip() in me.get_data(as_text=True)  # UTF-8 as is, not \\u escapes


def test_control_characters_in_display_name_are_422(api):
    for name in ("a\x00b", "a\x01b", "line\nbreak", "tab\there", "a\x1fb", "del\x7f"):
        body = {"phone": next_phone(), "password": RESIDENT_PASSWORD, "display_name": name}
        problem = assert_problem(api.http.post(REGISTER, json=body), 422, "validation_failed")
        assert "display_name" in problem["errors"], repr(name)


# --- routes, methods, NUL bytes, ids out of range -------------------------------------------------

def test_unknown_route_and_wrong_method(api, resident):
    assert_problem(api.http.get("/api/v1/nothing-here"), 404, "not_found")
    assert_problem(api.http.get("/no/such/page", headers={"Accept": "text/html"}), 404, "not_found")
    wrong = api.http.delete(TRIPS, headers=resident.auth())
    assert_problem(wrong, 405, "method_not_allowed")
    assert "POST" in wrong.headers["Allow"]
    assert_problem(api.http.get(LOGIN), 405, "method_not_allowed")


def test_nul_bytes_and_oversized_ids_are_client_errors(api, resident):
    assert_problem(api.http.put("/api/v1/me/sources/BZ%00BUS", headers=resident.auth()), 400, "bad_request")
    assert_problem(api.http.post(TRIPS, json=good_trip(), headers=resident.auth(**{"Idempotency-Key": "k\x00"})),
                   400, "bad_request")
    body = assert_problem(api.http.post(LOGIN, json={"phone": "1380\x000000001", "password": "x"}), 422)
    assert "phone" in body["errors"]
    for event_id in ("9223372036854775807", "9223372036854775808", "99999999999999999999999"):
        assert_problem(api.http.get(f"/api/v1/me/events/{event_id}", headers=resident.auth()), 404, "not_found")


def test_an_unknown_source_is_404_naming_it(api, resident):
    for method in (api.http.put, api.http.delete):
        body = assert_problem(method("/api/v1/me/sources/NOPE", headers=resident.auth(**{"Accept-Language": "en"})),
                              404, "source_not_found")
        assert "NOPE" in body["detail"]


def test_odd_signature_headers_are_401_not_500(app, api, resident, file_source):
    source = file_source("BZBUS", "transit")
    event = [source.trip_event(resident.account_number, "odd-1")]
    assert_problem(source.post_events(event, headers={"X-Signature": "é" * 64}), 401, "bad_signature")
    assert_problem(source.post_events(event, headers={"X-Timestamp": "9" * 400}), 401, "bad_timestamp")
    assert_problem(source.post_events(event, headers={"X-Timestamp": "soon"}), 401, "bad_timestamp")
    assert_problem(source.post_events(event, headers={"X-Source-Key": "bzk_\x00"}), 400, "bad_request")


# --- tokens ---------------------------------------------------------------------------------------

def test_missing_garbled_and_forged_tokens_are_401(app, api, resident):
    assert_problem(api.http.get(ME), 401, "unauthorized")
    assert_problem(api.http.get(ME, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401, "unauthorized")
    claims = pyjwt.decode(resident.access_token, options={"verify_signature": False})
    forged = pyjwt.encode(claims | {"sub": "1", "role": "admin"}, "not-the-server-key" * 2, algorithm="HS256")
    unsigned = pyjwt.encode(claims, None, algorithm="none")
    for token in ("garbage", "a.b.c", resident.access_token[:-4] + "AAAA", forged, unsigned, "é"):
        assert_problem(api.http.get(ME, headers={"Authorization": f"Bearer {token}"}), 401, "token_invalid")


def test_an_expired_token_is_401_token_expired(app, api, resident):
    claims = pyjwt.decode(resident.access_token, options={"verify_signature": False})
    with app.app_context():
        expired = create_access_token(identity=str(resident.user_id), expires_delta=timedelta(seconds=-1),
                                      additional_claims={k: claims[k] for k in ("role", "hid", "aid", "sid")})
    body = assert_problem(api.http.get(ME, headers={"Authorization": f"Bearer {expired}"}), 401, "token_expired")
    assert body["title"] == "令牌已过期"


# --- language -------------------------------------------------------------------------------------

def test_accept_language_picks_the_language_of_titles_and_field_errors(api, resident):
    cases = [({"Accept-Language": "en"}, "en", "Invalid request", "Missing data for required field."),
             ({"Accept-Language": "en-US,en;q=0.8"}, "en", "Invalid request", "Missing data for required field."),
             ({"Accept-Language": "zh-CN"}, "zh-CN", "请求数据有误", "缺少必填字段。"),
             ({"Accept-Language": "en;q=0.1, zh-CN;q=0.9"}, "zh-CN", "请求数据有误", "缺少必填字段。"),
             ({}, "zh-CN", "请求数据有误", "缺少必填字段。")]
    for headers, language, title, message in cases:
        response = api.http.post(TRIPS, json={"mode": "bus"}, headers=resident.auth(**headers))
        body = assert_problem(response, 422, "validation_failed")
        assert body["title"] == title and body["errors"]["started_at"] == [message]
        assert response.headers["Content-Language"] == language
    assert assert_problem(api.http.get("/nope", headers={"Accept-Language": "en"}), 404)["title"] == "Not found"
    assert assert_problem(api.http.get("/nope"), 404)["title"] == "未找到"


# --- property: arbitrary JSON never breaks the API -------------------------------------------------

LEAVES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
          | st.text(max_size=20))
JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
OFFSET = st.sampled_from(["", "Z", "+08:00", "-05:00", "+14:00", "-12:00"])
TIMESTAMP = st.builds(lambda moment, offset: moment.isoformat() + offset,
                      st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), OFFSET)
TRIP_LIKE = st.fixed_dictionaries({}, optional={
    "mode": st.sampled_from(TRIP_MODES) | JSON, "started_at": TIMESTAMP | JSON, "ended_at": TIMESTAMP | JSON,
    "distance_m": st.integers() | JSON, "steps": st.integers() | JSON, "external_id": st.text() | JSON,
})
REGISTER_LIKE = st.fixed_dictionaries({}, optional={
    "phone": st.from_regex(r"1[3-9]\d{9}", fullmatch=True) | JSON, "password": st.text() | JSON,
    "display_name": st.text() | JSON, "district": st.sampled_from(DISTRICTS) | JSON,
})
QUERY = st.dictionaries(st.sampled_from(["limit", "cursor", "status"]), st.text(max_size=40), max_size=3)


def assert_sane(response):
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        body = json.loads(response.get_data(as_text=True))
        assert response.mimetype == PROBLEM and body["status"] == response.status_code
        assert {"type", "title", "status", "detail"} <= set(body)


def test_arbitrary_json_never_breaks_the_api(app):
    api = ApiClient(app)
    resident = api.register()

    @settings(max_examples=60, deadline=None)
    @given(trip=JSON | TRIP_LIKE, signup=JSON | REGISTER_LIKE, query=QUERY)
    def check(trip, signup, query):
        assert_sane(api.http.post(TRIPS, data=json.dumps(trip), content_type="application/json",
                                  headers=resident.auth()))
        assert_sane(api.http.post(REGISTER, data=json.dumps(signup), content_type="application/json"))
        assert_sane(api.http.get("/api/v1/me/events", query_string=query, headers=resident.auth()))

    check()
