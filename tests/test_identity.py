"""Sign-up, sign-in, tokens, staff users and filed sources (API.md "Auth"; DOMAIN.md §4)."""
import json
import re
from contextlib import contextmanager

import sqlalchemy as sa

from accounting.ledger.account_numbers import is_valid_account_number
from config.extensions import db
from tests.conftest import build_app
from tests.support import RESIDENT_PASSWORD, SourceClient, next_phone

REGISTER, LOGIN = "/api/v1/auth/register", "/api/v1/auth/login"
REFRESH, LOGOUT, ME = "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/me"
PROBLEM = "application/problem+json"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def assert_problem(response, status: int, code: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith("/" + code) and body["title"] and body["detail"]
    return body


def login(http, phone, password=RESIDENT_PASSWORD, **kwargs):
    return http.post(LOGIN, json={"phone": phone, "password": password}, **kwargs)


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


# --- registration -------------------------------------------------------------------------

def test_register_answers_user_account_and_working_tokens(api):
    phone = next_phone()
    response = api.http.post(REGISTER, json={"phone": phone, "password": RESIDENT_PASSWORD,
                                             "display_name": "王小绿", "district": "邹平市"})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"user", "account", "access_token", "refresh_token"}
    assert set(body["user"]) == {"id", "role", "phone_masked", "display_name"}
    assert body["user"]["role"] == "resident"
    assert body["user"]["display_name"] == "王小绿"
    assert body["user"]["phone_masked"] == masked(phone)
    assert body["account"] == {"number": body["account"]["number"], "balance_g": 0}
    number = body["account"]["number"]
    assert re.fullmatch(r"BZ\d{10}", number) and is_valid_account_number(number)
    # PIPL: the full phone number and the password never come back.
    text = response.get_data(as_text=True)
    assert phone not in text and RESIDENT_PASSWORD not in text

    me = api.http.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["user"]["id"] == body["user"]["id"]
    assert me.get_json()["account"]["number"] == number
    assert phone not in me.get_data(as_text=True)


def test_every_resident_gets_a_distinct_valid_account_number(api):
    numbers = [api.register().account_number for _ in range(6)]
    assert len(set(numbers)) == 6
    assert all(is_valid_account_number(number) for number in numbers)


def test_register_refuses_bad_fields_with_field_errors(api):
    base = {"phone": next_phone(), "password": RESIDENT_PASSWORD, "display_name": "居民"}
    for change, field in [({"phone": "12345"}, "phone"), ({"password": "short"}, "password"),
                          ({"district": "北京市"}, "district"), ({"display_name": "   "}, "display_name")]:
        body = assert_problem(api.http.post(REGISTER, json=base | change), 422, "validation_failed")
        assert field in body["errors"], (change, body)


def test_duplicate_phone_is_409_phone_taken_and_no_second_user(app, api):
    resident = api.register()
    again = api.http.post(REGISTER, json={"phone": resident.phone, "password": "another password",
                                          "display_name": "冒名"})
    assert_problem(again, 409, "phone_taken")
    with app.app_context():
        count = db.session.scalar(sa.text("SELECT count(*) FROM users WHERE phone = :p"), {"p": resident.phone})
    assert count == 1


# --- login, refresh, logout -------------------------------------------------------------------

def test_wrong_password_and_unknown_phone_answer_the_same(api):
    resident = api.register()
    for headers in ({}, {"Accept-Language": "en"}):
        wrong = login(api.http, resident.phone, "not the password", headers=headers)
        unknown = login(api.http, next_phone(), RESIDENT_PASSWORD, headers=headers)
        assert_problem(wrong, 401, "bad_credentials")
        assert_problem(unknown, 401, "bad_credentials")
        assert wrong.get_data() == unknown.get_data()
        assert wrong.headers["Content-Type"] == unknown.headers["Content-Type"]


def test_login_answers_tokens_and_masked_user(api):
    resident = api.register(display_name="李骑行")
    response = login(api.http, resident.phone)
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"] == {"id": resident.user_id, "role": "resident",
                            "phone_masked": masked(resident.phone), "display_name": "李骑行"}
    assert body["access_token"] and body["refresh_token"]
    assert resident.phone not in response.get_data(as_text=True)


def test_refresh_needs_the_refresh_token(api):
    resident = api.register()
    assert_problem(api.http.post(REFRESH, headers=resident.auth()), 401, "token_invalid")
    assert_problem(api.http.post(REFRESH), 401, "unauthorized")
    # ...and a refresh token is no access token either.
    assert_problem(api.http.get(ME, headers=bearer(resident.refresh_token)), 401, "token_invalid")

    refreshed = api.http.post(REFRESH, headers=bearer(resident.refresh_token))
    assert refreshed.status_code == 200
    assert set(refreshed.get_json()) == {"access_token"}
    me = api.http.get(ME, headers=bearer(refreshed.get_json()["access_token"]))
    assert me.status_code == 200 and me.get_json()["user"]["id"] == resident.user_id


def test_logout_revokes_the_token_and_its_session(api):
    resident = api.register()
    assert api.http.post(LOGOUT, headers=resident.auth()).status_code == 204
    assert_problem(api.http.get(ME, headers=resident.auth()), 401, "token_revoked")
    assert_problem(api.http.post(REFRESH, headers=bearer(resident.refresh_token)), 401, "token_revoked")
    assert_problem(api.http.post(LOGOUT, headers=resident.auth()), 401, "token_revoked")
    # Signing in again opens a new session that works.
    fresh = login(api.http, resident.phone).get_json()
    assert api.http.get(ME, headers=bearer(fresh["access_token"])).status_code == 200


def test_logout_with_the_refresh_token_ends_the_sessions_access_tokens(api):
    resident = api.register()
    session = login(api.http, resident.phone).get_json()
    minted = api.http.post(REFRESH, headers=bearer(session["refresh_token"])).get_json()["access_token"]
    assert api.http.post(LOGOUT, headers=bearer(session["refresh_token"])).status_code == 204
    for token in (session["access_token"], minted):
        assert_problem(api.http.get(ME, headers=bearer(token)), 401, "token_revoked")
    # The session opened at registration is another one and lives on.
    assert api.http.get(ME, headers=resident.auth()).status_code == 200


def test_an_expired_token_is_refused(app, api):
    """Expiry is checked on every request: a token past its `exp` is refused, however valid its signature."""
    from datetime import timedelta

    from flask_jwt_extended import create_access_token, decode_token

    resident = api.register()
    with app.app_context():
        claims = decode_token(resident.access_token)
        extra = {key: claims[key] for key in ("role", "hid", "aid", "sid")}
        fresh = create_access_token(identity=claims["sub"], additional_claims=extra)
        expired = create_access_token(identity=claims["sub"], expires_delta=timedelta(seconds=-1),
                                      additional_claims=extra)
    assert api.http.get(ME, headers=bearer(fresh)).status_code == 200
    assert_problem(api.http.get(ME, headers=bearer(expired)), 401, "token_expired")


def test_a_token_verified_by_one_app_is_not_taken_by_an_app_with_another_secret(app, api, postgres_database,
                                                                                 redis_url):
    resident = api.register()
    assert api.http.get(ME, headers=resident.auth()).status_code == 200
    other = build_app(postgres_database, redis_url)
    other.config["JWT_SECRET_KEY"] = "another-secret-for-another-deployment"
    try:
        assert_problem(other.test_client().get(ME, headers=resident.auth()), 401, "token_invalid")
    finally:
        with other.app_context():
            db.engine.dispose()
        app.extensions["celery"].set_current()
        app.extensions["celery"].set_default()


@contextmanager
def app_with(postgres_database, redis_url, app, **limits):
    """An app of its own with these rate limits (and its own counters, in a Redis db emptied first)."""
    limited = build_app(postgres_database, redis_url)
    limited.config.update(limits)
    limited.extensions["redis"].flushdb()
    try:
        yield limited.test_client()
    finally:
        with limited.app_context():
            db.engine.dispose()
        # Building `limited` made its Celery app the current and default one; shared tasks follow that.
        app.extensions["celery"].set_current()
        app.extensions["celery"].set_default()


def test_sign_in_is_limited_per_phone_number_wherever_the_attempts_come_from(app, api, postgres_database,
                                                                            redis_url):
    target, neighbour = api.register(), api.register()
    with app_with(postgres_database, redis_url, app, LOGIN_PHONE_RATE_LIMIT="3 per minute") as http:
        answers = [login(http, target.phone, "wrong password", environ_base={"REMOTE_ADDR": f"10.9.9.{n}"}).status_code
                   for n in range(3)]
        assert answers == [401, 401, 401]
        # A fourth try at this number is refused, even with the right password and from a fresh address.
        blocked = login(http, target.phone, environ_base={"REMOTE_ADDR": "10.9.9.99"})
        body = assert_problem(blocked, 429, "rate_limited")
        assert "Retry-After" in blocked.headers and body["title"] == "请求过于频繁"
        # The attacker's address does not lock out a neighbour behind it.
        assert login(http, neighbour.phone, environ_base={"REMOTE_ADDR": "10.9.9.0"}).status_code == 200


def test_one_address_has_a_loose_allowance_of_its_own(app, api, postgres_database, redis_url):
    residents = [api.register() for _ in range(3)]
    with app_with(postgres_database, redis_url, app, LOGIN_ADDRESS_RATE_LIMIT="3 per minute") as http:
        office = {"REMOTE_ADDR": "10.8.8.8"}
        assert [login(http, r.phone, environ_base=office).status_code for r in residents] == [200, 200, 200]
        assert_problem(login(http, residents[0].phone, environ_base=office), 429, "rate_limited")
        assert login(http, residents[0].phone, environ_base={"REMOTE_ADDR": "10.8.8.9"}).status_code == 200


def test_sign_up_has_an_allowance_apart_from_sign_in(app, api, postgres_database, redis_url):
    resident = api.register()
    with app_with(postgres_database, redis_url, app, REGISTER_RATE_LIMIT="2 per minute") as http:
        office = {"REMOTE_ADDR": "10.7.7.7"}

        def sign_up():
            return http.post("/api/v1/auth/register", environ_base=office, json={
                "phone": next_phone(), "password": RESIDENT_PASSWORD, "display_name": "同事"})
        assert [sign_up().status_code for _ in range(2)] == [201, 201]
        assert_problem(sign_up(), 429, "rate_limited")
        assert login(http, resident.phone, environ_base=office).status_code == 200


# --- staff users and data sources through the CLI ---------------------------------------------

def test_cli_creates_a_staff_user_who_signs_in_without_an_account(app, api):
    phone = next_phone()
    result = cli(app, "users", "create", "--role", "auditor", "--phone", phone, "--password", "auditor pass 1")
    assert result.exit_code == 0, result.output
    assert masked(phone) in result.output and phone not in result.output

    signed_in = login(api.http, phone, "auditor pass 1")
    assert signed_in.status_code == 200
    user = signed_in.get_json()["user"]
    assert user["role"] == "auditor" and user["phone_masked"] == masked(phone)
    token = signed_in.get_json()["access_token"]
    me = api.http.get(ME, headers=bearer(token))
    assert me.status_code == 200 and me.get_json()["account"] is None

    # Staff act on no personal account: the resident endpoints refuse them.
    trip = {"mode": "bus", "started_at": "2026-01-01T08:00:00+08:00",
            "ended_at": "2026-01-01T08:20:00+08:00", "distance_m": 5000}
    assert_problem(api.http.post("/api/v1/me/trips", json=trip, headers=bearer(token)), 403, "forbidden_role")
    assert_problem(api.http.get("/api/v1/me/events", headers=bearer(token)), 403, "forbidden_role")


def test_cli_refuses_a_taken_phone_and_the_resident_role(app, api):
    resident = api.register()
    taken = cli(app, "users", "create", "--role", "admin", "--phone", resident.phone, "--password", "x" * 10)
    assert taken.exit_code != 0 and "phone_taken" in taken.output
    as_resident = cli(app, "users", "create", "--role", "resident", "--phone", next_phone(), "--password", "x" * 10)
    assert as_resident.exit_code != 0


def test_cli_files_a_source_whose_secret_is_shown_once_and_stored_encrypted(app, api):
    result = cli(app, "sources", "create", "--code", "BZBUS", "--kind", "transit", "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert set(printed) == {"code", "key", "secret"} and printed["code"] == "BZBUS"
    secret = printed["secret"]

    with app.app_context():
        row = db.session.execute(sa.text("SELECT * FROM data_sources WHERE code = 'BZBUS'")).mappings().one()
    assert row["api_key"] == printed["key"]
    for column, value in row.items():
        if isinstance(value, (bytes, memoryview)):
            assert secret.encode() not in bytes(value), column
        else:
            assert secret not in str(value), column

    # The printed credentials are the real ones: a request signed with them is accepted.
    resident = api.register()
    assert api.http.put("/api/v1/me/sources/BZBUS", headers=resident.auth()).status_code == 200
    source = SourceClient(app, printed["code"], printed["key"], secret)
    answer = source.post_events([source.trip_event(resident.account_number, "cli-1")])
    assert answer.status_code == 200 and answer.get_json()["accepted"] == 1

    again = cli(app, "sources", "create", "--code", "BZBUS", "--kind", "transit", "--json")
    assert again.exit_code != 0 and "source_exists" in again.output
