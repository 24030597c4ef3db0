"""The refresh token as an httpOnly cookie, for browser clients (api/identity/refresh_cookie.py):
asked for with X-Refresh-Cookie: 1, read by /auth/refresh only and only with that header."""
from tests.support import RESIDENT_PASSWORD, next_phone
from tests.test_identity import LOGIN, LOGOUT, ME, REFRESH, REGISTER, assert_problem, bearer

COOKIE_MODE = {"X-Refresh-Cookie": "1"}
COOKIE, PATH = "bz_refresh", "/api/v1/auth"


def set_cookie_header(response) -> str:
    [header] = [value for value in response.headers.getlist("Set-Cookie") if value.startswith(COOKIE + "=")]
    return header


def sign_in_with_cookie(api, phone):
    return api.http.post(LOGIN, json={"phone": phone, "password": RESIDENT_PASSWORD}, headers=COOKIE_MODE)


def test_sign_in_sets_an_httponly_strict_cookie_for_the_auth_paths_only(app, api):
    resident = api.register()
    response = sign_in_with_cookie(api, resident.phone)
    assert response.status_code == 200
    assert set(response.get_json()) == {"user", "access_token"}  # no refresh token a script could read
    header = set_cookie_header(response)
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in header.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= set(attributes)
    assert attributes["samesite"] == "SameSite=Strict" and attributes["path"] == f"Path={PATH}"
    assert attributes["max-age"] == f"Max-Age={30 * 24 * 3600}"
    assert "secure" not in attributes  # only in production: the embedded mode is plain http on loopback
    assert api.http.get(ME, headers=bearer(response.get_json()["access_token"])).status_code == 200


def test_sign_up_in_cookie_mode(api):
    response = api.http.post(REGISTER, headers=COOKIE_MODE, json={
        "phone": next_phone(), "password": RESIDENT_PASSWORD, "display_name": "曲奇"})
    assert response.status_code == 201
    assert set(response.get_json()) == {"user", "account", "access_token"}
    assert api.http.get_cookie(COOKIE, path=PATH) is not None
    assert api.http.post(REFRESH, headers=COOKIE_MODE).status_code == 200


def test_refresh_reads_the_cookie_only_with_the_header(api):
    resident = api.register()
    sign_in_with_cookie(api, resident.phone)
    # Without the header the cookie is not even looked at: a cross-site form cannot refresh.
    assert_problem(api.http.post(REFRESH), 401, "unauthorized")
    refreshed = api.http.post(REFRESH, headers=COOKIE_MODE)
    assert refreshed.status_code == 200 and set(refreshed.get_json()) == {"access_token"}
    me = api.http.get(ME, headers=bearer(refreshed.get_json()["access_token"]))
    assert me.get_json()["user"]["id"] == resident.user_id


def test_no_other_operation_takes_the_cookie(api):
    resident = api.register()
    sign_in_with_cookie(api, resident.phone)
    refresh = api.http.get_cookie(COOKIE, path=PATH).value
    # The browser sends it nowhere else (its path), and were it sent, nothing else reads it.
    assert_problem(api.http.get(ME, headers=COOKIE_MODE), 401, "unauthorized")
    api.http.set_cookie(COOKIE, refresh, path="/")
    assert_problem(api.http.get(ME, headers=COOKIE_MODE), 401, "unauthorized")


def test_sign_out_ends_the_session_and_deletes_the_cookie(api):
    resident = api.register()
    access = sign_in_with_cookie(api, resident.phone).get_json()["access_token"]
    signed_out = api.http.post(LOGOUT, headers=bearer(access))
    assert signed_out.status_code == 204
    assert "Max-Age=0" in set_cookie_header(signed_out) or "Expires=Thu, 01 Jan 1970" in set_cookie_header(signed_out)
    assert api.http.get_cookie(COOKIE, path=PATH) is None
    assert_problem(api.http.get(ME, headers=bearer(access)), 401, "token_revoked")


def test_a_revoked_cookie_is_refused_and_deleted(api):
    resident = api.register()
    access = sign_in_with_cookie(api, resident.phone).get_json()["access_token"]
    refresh = api.http.get_cookie(COOKIE, path=PATH).value
    other = api.app.test_client()  # signs the session out elsewhere, keeping our cookie jar
    assert other.post(LOGOUT, headers=bearer(access)).status_code == 204
    refused = api.http.post(REFRESH, headers=COOKIE_MODE)
    assert_problem(refused, 401, "token_revoked")
    assert api.http.get_cookie(COOKIE, path=PATH) is None
    # The bearer form still works for clients that keep the token themselves.
    assert_problem(api.http.post(REFRESH, headers=bearer(refresh)), 401, "token_revoked")


def test_without_the_header_nothing_changes(api):
    resident = api.register()
    body = api.http.post(LOGIN, json={"phone": resident.phone, "password": RESIDENT_PASSWORD}).get_json()
    assert set(body) == {"user", "access_token", "refresh_token"}
    assert api.http.get_cookie(COOKIE, path=PATH) is None
