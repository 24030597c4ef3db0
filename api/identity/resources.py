"""/auth: register, login, refresh, logout."""
from flask.views import MethodView
from flask_jwt_extended import jwt_required
from flask_smorest import Blueprint

from api.identity import limits, operations, tokens
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


@blp.route("/register")
class Register(MethodView):
    decorators = [limiter.limit(limits.sign_up)]

    @blp.arguments(RegisterSchema())
    @blp.response(201, RegisteredSchema)
    @blp.alt_response(409, description="Phone already registered", **PROBLEM)
    @blp.alt_response(429, description="Too many attempts from this address", **PROBLEM)
    @blp.doc(operationId="register")
    def post(self, args):
        """Sign up as a resident: a user and a personal carbon account."""
        user, account = operations.register_resident(**args)
        return {"user": user, "account": account, **tokens.issue_tokens(user, account.id)}


@blp.route("/login")
class Login(MethodView):
    decorators = SIGN_IN_LIMITS

    @blp.arguments(LoginSchema())
    @blp.response(200, LoggedInSchema)
    @blp.alt_response(401, description="Wrong phone or password", **PROBLEM)
    @blp.alt_response(429, description="Too many attempts from this address", **PROBLEM)
    @blp.doc(operationId="login")
    def post(self, args):
        """Sign in with phone and password (rate-limited per phone number, and loosely per client address)."""
        user, account_id = operations.authenticate(args["phone"], args["password"])
        return {"user": user, **tokens.issue_tokens(user, account_id)}


@blp.route("/refresh")
class Refresh(MethodView):
    @jwt_required(refresh=True)
    @blp.response(200, AccessTokenSchema)
    @blp.doc(security=[{"bearerAuth": []}], operationId="refresh_access_token")
    def post(self):
        """A new access token, with the refresh token as bearer."""
        return {"access_token": tokens.refreshed_access_token()}


@blp.route("/logout")
class Logout(MethodView):
    @jwt_required(verify_type=False)
    @blp.response(204)
    @blp.doc(security=[{"bearerAuth": []}], operationId="logout")
    def post(self):
        """Sign out: this token and its session stop working."""
        tokens.revoke_current_session()
