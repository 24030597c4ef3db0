"""The refresh token in an httpOnly cookie, for browser clients (the resident app at /app).

A client that sends `X-Refresh-Cookie: 1` with sign-up or sign-in gets its refresh token as a
cookie script cannot read (httpOnly, SameSite=Strict, Path=/api/v1/auth) instead of in the body,
and keeps only the short-lived access token, in memory. It then refreshes by POSTing
/auth/refresh with the same header and no bearer; nothing else in the API reads the cookie.

CSRF: a request from another site never carries the cookie (SameSite=Strict), and even if it
did, it could not add the custom header without a CORS preflight, which this server never
grants. So the cookie is read only when the header is there, and the library's double-submit
check (its second cookie, readable by script) is off.
"""
from functools import wraps

from flask import after_this_request, current_app, request
from flask_jwt_extended import set_refresh_cookies, unset_refresh_cookies, verify_jwt_in_request

HEADER = "X-Refresh-Cookie"
COOKIE_NAME = "bz_refresh"
COOKIE_PATH = "/api/v1/auth"


def configure(app) -> None:
    """Flask-JWT-Extended's settings for the refresh cookie (before jwt.init_app); only the views
    below ever read the cookie, every other view takes bearer tokens alone."""
    for key, value in {
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_REFRESH_COOKIE_NAME": COOKIE_NAME,
        "JWT_REFRESH_COOKIE_PATH": COOKIE_PATH,
        "JWT_COOKIE_SAMESITE": "Strict",
        "JWT_COOKIE_SECURE": app.config["APP_ENV"] == "production",
        "JWT_COOKIE_CSRF_PROTECT": False,  # the custom header stands in for it (module docstring)
    }.items():
        app.config.setdefault(key, value)


def wanted() -> bool:
    """Whether this request asks for (or presents) the refresh token as a cookie."""
    return request.headers.get(HEADER) == "1"


def deliver(tokens: dict) -> dict:
    """The tokens as the client asked for them: the refresh token moves to a cookie when wanted."""
    if not wanted():
        return tokens
    refresh = tokens.pop("refresh_token")
    lifetime = int(current_app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds())

    @after_this_request
    def set_cookie(response):
        if response.status_code < 400:
            set_refresh_cookies(response, refresh, max_age=lifetime)
        return response

    return tokens


def _locations() -> list[str]:
    return ["headers", "cookies"] if wanted() else ["headers"]


def refresh_token_required(view):
    """Like flask_jwt_extended.jwt_required(refresh=True), but a request with the header may present
    the refresh cookie instead of a bearer token (a bearer token, when sent too, wins)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        verify_jwt_in_request(refresh=True, locations=_locations())
        return view(*args, **kwargs)

    return honoured(wrapper)


def honoured(view):
    """Mark a view that honours the header; the OpenAPI document declares it on exactly those."""
    view.honours_refresh_cookie = True
    return view


def forget(response):
    """Delete the cookie (sign-out; a refresh it could not pass): a dead token is no use kept."""
    if request.cookies.get(current_app.config["JWT_REFRESH_COOKIE_NAME"]):
        unset_refresh_cookies(response)
    return response
