"""/auth: register, login, refresh, logout."""
from flask import request
from flask.views import MethodView
from flask_jwt_extended import jwt_required
from flask_smorest import Blueprint

from api.identity import limits, operations, refresh_cookie, tokens
from api.identity.schemas import (
    AccessTokenSchema,
    LoggedInSchema,
    LoginSchema,
    RegisteredSchema,
    RegisterSchema,
)
from api.openapi import PROBLEM
from config.extensions import limiter

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-up and sign-in")


# Sign-in counts against the phone number it names and, loosely, the client address; sign-up
# against the address alone, with an allowance of its own (api/identity/limits.py says why).
SIGN_IN_LIMITS = [limiter.limit(limits.per_phone, key_func=limits.phone_in_body),
                  limiter.limit(limits.per_address)]

# What sign-up and sign-in answer with, in either mode (api/identity/refresh_cookie.py).
SETS_REFRESH_COOKIE = {"Set-Cookie": {
    "description": f"With {refresh_cookie.HEADER}: 1, the refresh token as an httpOnly, SameSite=Strict cookie "
                   f"for Path={refresh_cookie.COOKIE_PATH} (and no refresh_token in the body)",
    "schema": {"type": "string"}}}
# Refresh takes the refresh token as bearer, or as the cookie with the header.
BEARER_OR_COOKIE = [{"bearerAuth": []}, {"refreshCookie": []}]


@blp.route("/register")
class Register(MethodView):
    decorators = [limiter.limit(limits.sign_up)]

    @refresh_cookie.honoured
    @blp.arguments(RegisterSchema())
    @blp.response(201, RegisteredSchema, headers=SETS_REFRESH_COOKIE)
    @blp.alt_response(409, description="Phone already registered", **PROBLEM)
    @blp.alt_response(429, description="Too many attempts from this address", **PROBLEM)
    @blp.doc(operationId="register")
    def post(self, args):
        """Sign up as a resident: a user and a personal carbon account."""
        user, account = operations.register_resident(**args)
        return {"user": user, "account": account, **refresh_cookie.deliver(tokens.issue_tokens(user, account.id))}


@blp.route("/login")
class Login(MethodView):
    decorators = SIGN_IN_LIMITS

    @refresh_cookie.honoured
    @blp.arguments(LoginSchema())
    @blp.response(200, LoggedInSchema, headers=SETS_REFRESH_COOKIE)
    @blp.alt_response(401, description="Wrong phone or password", **PROBLEM)
    @blp.alt_response(429, description="Too many attempts from this address", **PROBLEM)
    @blp.doc(operationId="login")
    def post(self, args):
        """Sign in with phone and password (rate-limited per phone number, and loosely per client address)."""
        user, account_id = operations.authenticate(args["phone"], args["password"])
        return {"user": user, **refresh_cookie.deliver(tokens.issue_tokens(user, account_id))}


@blp.route("/refresh")
class Refresh(MethodView):
    @refresh_cookie.refresh_token_required
    @blp.response(200, AccessTokenSchema)
    @blp.doc(security=BEARER_OR_COOKIE, operationId="refresh_access_token")
    def post(self):
        """A new access token, with the refresh token as bearer (or its cookie, with X-Refresh-Cookie: 1)."""
        return {"access_token": tokens.refreshed_access_token()}


@blp.route("/logout")
class Logout(MethodView):
    @jwt_required(verify_type=False)
    @blp.response(204, headers={"Set-Cookie": {
        "description": "Deletes the refresh cookie, when the request had one", "schema": {"type": "string"}}})
    @blp.doc(security=[{"bearerAuth": []}], operationId="logout")
    def post(self):
        """Sign out: this token and its session stop working (and the refresh cookie is deleted)."""
        tokens.revoke_current_session()


@blp.after_request
def forget_a_dead_refresh_cookie(response):
    """Sign-out deletes the cookie, whatever its answer (the resident asked to be signed out here);
    so does a refresh the cookie could not pass (expired, revoked)."""
    signing_out = request.endpoint == "auth.Logout"
    refused = request.endpoint == "auth.Refresh" and response.status_code == 401 and refresh_cookie.wanted()
    return refresh_cookie.forget(response) if signing_out or refused else response
