"""What a fuzzer over the OpenAPI document found: each is a 4xx with the one error shape, never a 500.

Ids beyond their column, cursors decoding to them, lone surrogates and non-characters, dates at the
calendar's ends, JSON nested too deep or with too long a number; times out with +08:00; `errors`
always a field's dotted path → messages in the request's language.
"""
import json

import pytest

from accounting.quantification.defaults import TRIP_V1
from api.pagination import encode_cursor
from tests.console_support import signed_in
from tests.console_support import staff as console_staff
from tests.coupons_support import create_campaign, open_shop, post_campaign
from tests.support import ago, iso
from tests.test_robustness import assert_problem

EN = {"Accept-Language": "en"}
INTEGER_BEYOND, BIGINT_BEYOND, THOUSANDS_OF_DIGITS = 2**31, 2**63, int("9" * 4000)
CALENDAR_EDGES = ("9999-12-31", "0001-01-01")


@pytest.fixture
def shop(app, api):
    return open_shop(app, api)


def _json(api, method, path, headers, body: str):
    return api.http.open(path, method=method, data=body.encode(), content_type="application/json", headers=headers)


# --- ids and cursors beyond their column ----------------------------------------------------------

def test_path_ids_beyond_their_column_are_404(api, resident, shop):
    auditor = shop.auditor
    integer_paths = [  # PostgreSQL integer ids: up to 2**31 - 1
        ("GET", "/api/v1/campaigns/{}", resident.auth()),
        ("POST", "/api/v1/campaigns/{}/claim", resident.auth()),
        ("GET", "/api/v1/merchants/{}", auditor),
        ("POST", "/api/v1/merchants/{}/approve", auditor),
        ("POST", f"/api/v1/merchants/{shop.id}/campaigns/{{}}/pause", shop.cashier),
        ("GET", "/api/v1/issuance/batches/{}", auditor),
        ("POST", "/api/v1/issuance/batches/{}/approve", auditor),
        ("GET", "/api/v1/methodologies/{}", auditor),
        ("POST", "/api/v1/methodologies/1/versions/{}/approve", auditor),
    ]
    bigint_paths = [  # bigint ids: up to 2**63 - 1
        ("GET", "/api/v1/me/coupons/{}", resident.auth()),
        ("GET", "/api/v1/me/coupons/{}/qr.png", resident.auth()),
        ("GET", "/api/v1/me/events/{}", resident.auth()),
    ]
    for method, path, headers in integer_paths:
        for beyond in (INTEGER_BEYOND, BIGINT_BEYOND, THOUSANDS_OF_DIGITS):
            assert_problem(api.http.open(path.format(beyond), method=method, headers=headers), 404, "not_found")
        assert api.http.open(path.format(INTEGER_BEYOND - 1), method=method, headers=headers).status_code == 404
    for method, path, headers in bigint_paths:
        for beyond in (BIGINT_BEYOND, THOUSANDS_OF_DIGITS):
            assert_problem(api.http.open(path.format(beyond), method=method, headers=headers), 404, "not_found")
        for within in (INTEGER_BEYOND, BIGINT_BEYOND - 1):  # a real bigint id that names nothing
            assert api.http.open(path.format(within), method=method, headers=headers).status_code == 404


def test_the_openapi_document_gives_each_path_id_its_columns_maximum(api):
    paths = api.http.get("/api/v1/openapi.json").get_json()["paths"]
    maximum = {param["name"]: param["schema"].get("maximum")
               for item in paths.values() for param in item.get("parameters", []) if param["in"] == "path"}
    assert maximum["campaign_id"] == maximum["merchant_id"] == maximum["batch_id"] == 2**31 - 1
    assert maximum["coupon_id"] == maximum["event_id"] == 2**63 - 1


def test_console_pages_with_ids_beyond_their_column_are_404(app):
    console_staff(app, "13900000001")
    console = signed_in(app, "13900000001")
    for path in ("/console/batches/{}", "/console/merchants/{}", "/console/methodology-versions/{}",
                 "/console/exports/merchants/{}/statement.csv"):
        for beyond in (INTEGER_BEYOND, BIGINT_BEYOND):
            assert console.http.get(path.format(beyond)).status_code == 404, path
    assert console.http.get(f"/console/coupons/{BIGINT_BEYOND}").status_code == 404
    assert console.http.get(f"/console/coupons/{INTEGER_BEYOND}").status_code == 404
    for before in (BIGINT_BEYOND, -1):
        body = assert_problem(console.http.get(f"/console/audit?before={before}"), 422, "validation_failed")
        assert list(body["errors"]) == ["before"]


def test_a_cursor_decoding_to_an_id_beyond_the_column_is_422(api, resident, shop):
    for path, beyond, headers in (("/api/v1/campaigns", INTEGER_BEYOND, resident.auth()),
                                  ("/api/v1/issuance/batches", INTEGER_BEYOND, shop.auditor),
                                  ("/api/v1/me/events", BIGINT_BEYOND, resident.auth()),
                                  ("/api/v1/me/coupons", BIGINT_BEYOND, resident.auth()),
                                  ("/api/v1/audit-log", BIGINT_BEYOND, shop.auditor)):
        for cursor in (encode_cursor(beyond), encode_cursor(THOUSANDS_OF_DIGITS)):
            body = assert_problem(api.http.get(path, query_string={"cursor": cursor}, headers=headers), 422)
            assert body["errors"] == {"cursor": ["分页游标无效。"]}, path
        within = api.http.get(path, query_string={"cursor": encode_cursor(beyond - 1)}, headers=headers)
        assert within.status_code == 200, path


# --- text the database cannot hold ----------------------------------------------------------------

def test_a_lone_surrogate_in_sign_in_or_sign_up_is_422_naming_the_field(api, resident):
    for field in ("phone", "password"):
        body = {"phone": resident.phone, "password": "x"} | {field: "13\ud800"}
        problem = assert_problem(_json(api, "POST", "/api/v1/auth/login", EN, json.dumps(body)), 422)
        assert list(problem["errors"]) == [field]
        assert problem["errors"][field] == [
            "Contains characters that are not text (NUL, a lone surrogate or a non-character)."]
    raw = '{"phone": "13800000001", "password": "\\udfff", "display_name": "\\ud83c"}'
    problem = assert_problem(_json(api, "POST", "/api/v1/auth/register", {}, raw), 422, "validation_failed")
    assert problem["errors"]["display_name"] == ["含有非文本字符（空字符、孤立代理项或非字符）。"]
    # An unknown field named by a lone surrogate is echoed escaped: the answer is valid UTF-8.
    unknown = _json(api, "POST", "/api/v1/auth/login", {}, '{"phone": "1", "password": "x", "\\ud800": 1}')
    assert assert_problem(unknown, 422)["errors"]["\\ud800"] == ["未知字段。"]


@pytest.mark.parametrize("character", ["\ufffe", "\uffff", "\ufdd0", "\ufdef", "\U0001fffe", "\U0010ffff", "\x00"])
def test_non_characters_are_422(api, resident, character):
    signup = {"phone": "13812345678", "password": "long enough", "display_name": f"王{character}"}
    problem = assert_problem(api.http.post("/api/v1/auth/register", json=signup), 422)
    assert list(problem["errors"]) == ["display_name"]
    transfer = {"to_account_number": f"BZ{character}", "amount_g": 1, "memo": "ok"}
    assert "to_account_number" in assert_problem(
        api.http.post("/api/v1/transfers", json=transfer, headers=resident.auth()), 422)["errors"]


def test_a_lone_surrogate_rejects_only_its_event_in_a_signed_batch(api, resident, file_source):
    bus = file_source("BZBUS", "transit")
    assert api.http.put("/api/v1/me/sources/BZBUS", headers=resident.auth()).status_code == 200
    events = [bus.trip_event(resident.account_number, f"t-{i}") for i in range(3)]
    events[1]["external_id"] = "t-\ud800"
    events.append(bus.recycling_event(resident.account_number, "r-1") | {"station_code": "\ufffe"})
    result = bus.post_events(events, headers=EN)
    assert result.status_code == 200, result.get_data(as_text=True)
    assert result.get_json()["accepted"] == 2
    text = "Contains characters that are not text (NUL, a lone surrogate or a non-character)."
    assert result.get_json()["rejected"] == [{"index": 1, "errors": {"external_id": [text]}, "reasons": {}},
                                             {"index": 3, "errors": {"station_code": [text]}, "reasons": {}}]


# --- dates at the calendar's edges ----------------------------------------------------------------

def test_dates_outside_2000_to_2100_are_422_naming_the_field(api, resident, shop):
    auditor = shop.auditor
    for day in CALENDAR_EDGES + ("1999-12-31", "2101-01-01"):
        for path, field, headers in ((f"/api/v1/reports/summary?from={day}", "from", auditor),
                                     (f"/api/v1/reports/summary?to={day}", "to", auditor),
                                     (f"/api/v1/bureau/events?from={day}", "from", auditor),
                                     (f"/api/v1/issuance/batches?vintage={day}", "vintage", auditor),
                                     (f"/api/v1/merchants/{shop.id}/statement.csv?from={day}&to=2026-01-01",
                                      "from", shop.cashier),
                                     (f"/api/v1/merchants/{shop.id}/statement.csv?from=2026-01-01&to={day}",
                                      "to", shop.cashier)):
            body = assert_problem(api.http.get(path, headers=headers), 422, "validation_failed")
            assert body["errors"] == {field: ["必须在 2000-01-01 至 2100-12-31 之间。"]}, path
        proposed = api.http.post("/api/v1/issuance/batches", json={"date": day}, headers={**auditor, **EN})
        assert assert_problem(proposed, 422)["errors"] == {"date": ["Must lie between 2000-01-01 and 2100-12-31."]}
    for day in ("2000-01-01", "2100-12-31"):
        assert api.http.get(f"/api/v1/reports/summary?from={day}&to={day}", headers=auditor).status_code == 200


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00",
                                    "1900-01-01T00:00:00+08:00", "0243-05-01T12:00:00+08:00",
                                    "1999-12-31T23:59:59+08:00", "2101-01-01T00:00:00+08:00"])
def test_campaign_and_methodology_times_outside_2000_to_2100_are_422(api, shop, moment):
    for field in ("valid_from", "valid_until"):
        problem = assert_problem(post_campaign(api, shop, **{field: moment}), 422, "validation_failed")
        assert list(problem["errors"]) == [field]
    version = {"parameters": TRIP_V1, "effective_from": moment}
    problem = assert_problem(api.http.post("/api/v1/methodologies/1/versions", json=version,
                                           headers=shop.auditor), 422, "validation_failed")
    assert list(problem["errors"]) == ["effective_from"]


def test_console_exports_at_the_calendars_edges_are_422(app):
    console_staff(app, "13900000001")
    console = signed_in(app, "13900000001")
    for day in CALENDAR_EDGES:
        for export in ("batches.csv", "retirements.csv"):
            answer = console.http.get(f"/console/exports/{export}?from={day}&to={day}")
            assert assert_problem(answer, 422, "validation_failed")["errors"].keys() == {"from", "to"}


def test_times_go_out_with_a_fixed_plus_eight_offset(api, resident, shop):
    campaign = create_campaign(api, shop, valid_from="2000-01-01T00:00:00+08:00",
                               valid_until="2100-12-31T15:59:59Z")
    assert (campaign["valid_from"], campaign["valid_until"]) == ("2000-01-01T00:00:00+08:00",
                                                                 "2100-12-31T23:59:59+08:00")
    assert api.trip(resident, start=ago(hours=3)).status_code == 202
    [event] = api.http.get("/api/v1/me/events", headers=resident.auth()).get_json()["items"]
    for field in ("started_at", "ended_at", "received_at"):
        assert event[field].endswith("+08:00"), event


# --- JSON the parser should never see -------------------------------------------------------------

def test_json_nested_deeper_than_32_levels_is_400(api, resident, file_source):
    for body in ("[" * 100_000 + "]" * 100_000, "[" * 100_000, '{"a":' * 33 + "1" + "}" * 33,
                 '{"mode": ' + "[" * 33 + "]" * 33 + "}"):
        for path, headers in (("/api/v1/me/trips", resident.auth(**EN)), ("/api/v1/auth/login", EN)):
            problem = assert_problem(_json(api, "POST", path, headers, body), 400, "bad_request")
            assert problem["errors"] in ({"_schema": ["Nested deeper than 32 levels."]},
                                         {"_schema": ["Invalid JSON body."]})
    at_the_limit = '{"mode": ' + "[" * 31 + "]" * 31 + "}"  # 32 levels: parsed, then refused by the schema
    assert "mode" in assert_problem(_json(api, "POST", "/api/v1/me/trips", resident.auth(), at_the_limit), 422)[
        "errors"]
    bus = file_source("BZBUS", "transit")
    deep = json.dumps({"events": []})[:-2] + "[" * 50_000 + "]" * 50_000 + "]}"
    assert_problem(api.http.post("/api/v1/ingest/events", data=deep, headers=bus.signed_headers(deep.encode())),
                   400, "bad_request")


def test_integers_longer_than_30_digits_are_400(api, resident):
    trip = {"mode": "bus", "started_at": iso(ago(hours=2)), "ended_at": iso(ago(hours=1))}
    for digits in (5_000, 4_301, 31):
        body = json.dumps(trip)[:-1] + ', "distance_m": -' + "7" * digits + "}"
        problem = assert_problem(_json(api, "POST", "/api/v1/me/trips", resident.auth(), body), 400, "bad_request")
        assert problem["errors"] == {"_schema": ["数字超过 30 位。"]}
    # 30 digits reach validation; digits inside strings, fractions and exponents are no integers.
    for value in ("7" * 30, '"' + "7" * 40 + '"', "0." + "7" * 40, "1e" + "7" * 40):
        body = json.dumps(trip)[:-1] + f', "distance_m": {value}}}'
        assert "distance_m" in assert_problem(_json(api, "POST", "/api/v1/me/trips", resident.auth(), body), 422)[
            "errors"]


# --- one error shape ------------------------------------------------------------------------------

def test_errors_map_dotted_paths_to_lists_of_messages_in_the_requests_language(api, resident, shop):
    auditor = shop.auditor
    bad_factors = TRIP_V1 | {"factors": TRIP_V1["factors"] | {"bus": "fast"}, "daily_cap_g": {"walk": 0}}
    version = {"parameters": bad_factors, "effective_from": iso(ago(days=1))}
    problem = assert_problem(api.http.post("/api/v1/methodologies/1/versions", json=version,
                                           headers={**auditor, **EN}), 422, "validation_failed")
    assert problem["errors"] == {"parameters.factors.bus.value": ['Not a decimal string like "26.9".'],
                                 "parameters.daily_cap_g.walk": ["Must be greater than or equal to 1 and less "
                                                                 "than or equal to 1000000."],
                                 "parameters.daily_cap_g.all_trips": ["Missing data for required field."]}
    # Query errors are not nested under "query"; enum and range messages are Chinese under zh-CN.
    problem = assert_problem(api.http.get("/api/v1/me/events?limit=0&status=lost", headers=resident.auth()), 422)
    assert problem["errors"] == {"limit": ["必须大于或等于 1 且小于或等于 100。"],
                                 "status": ["必须是以下之一：received, quantified, capped, rejected, issued。"]}
    # The record's own refusal: a code per field becomes a list of messages.
    old = api.trip(resident, start=ago(days=30))
    assert assert_problem(old, 422, "invalid_event")["errors"] == {"started_at": ["超过所适用方法学规定的申报期限。"]}
    # A body that is not an object at all: `_schema`, the body as a whole.
    problem = assert_problem(_json(api, "POST", "/api/v1/me/trips", resident.auth(), "[1, 2]"), 422)
    assert problem["errors"] == {"_schema": ["输入类型无效。"]}
    key = api.http.post("/api/v1/me/trips", json={}, headers=resident.auth(**{"Idempotency-Key": "k" * 129}))
    assert assert_problem(key, 422)["errors"] == {"Idempotency-Key": ["长度不能超过 128。"]}


# --- what events say about mode and category ------------------------------------------------------

def test_a_trip_has_a_mode_and_a_null_category_and_the_document_says_so(api, resident, file_source):
    assert api.trip(resident, mode="metro", start=ago(hours=3)).status_code == 202
    depot = file_source("BZRECY", "recycling")
    assert api.http.put("/api/v1/me/sources/BZRECY", headers=resident.auth()).status_code == 200
    assert depot.post_events([depot.recycling_event(resident.account_number, "r-1")]).get_json()["accepted"] == 1
    items = api.http.get("/api/v1/me/events", headers=resident.auth()).get_json()["items"]
    assert sorted((e["kind"], e["mode"], e["category"]) for e in items) == [
        ("recycling", None, "cardboard"), ("trip", "metro", None)]
    event = api.http.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["Event"]["properties"]
    assert event["mode"]["nullable"] is True and event["category"]["nullable"] is True
