"""RFC 9457 problem+json for every error, in the client's language; never a bare 500."""
import logging

import marshmallow as ma
import psycopg
from flask import json, make_response
from flask_smorest import Api
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from accounting.errors import DomainError
from api.field_errors import encodable, field_errors, request_field_errors
from api.locales import language
from api.messages import status_of, title_and_detail

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://carbon.binzhou.gov.cn/problems/"
PROBLEM_JSON = "application/problem+json"

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_failed",
    429: "rate_limited", 500: "internal_error",
}


class ProblemSchema(ma.Schema):
    """The problem+json body (documentation only)."""

    type = ma.fields.String(metadata={"description": "URI naming the kind of problem; its last part is the code"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    code = ma.fields.String(metadata={"description": "Stable machine-readable code"})
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()), metadata={
        "description": "A field's dotted path (`events.3.started_at`, `limit`) → messages in the request's "
                       "language, for validation failures; `_schema` is the body as a whole"})


def problem_response(code: str, status: int | None = None, params: dict | None = None,
                     errors=None, headers: dict | None = None, **extra):
    """A problem+json response for `code`, titled and detailed in the client's language.

    `errors` is a marshmallow-shaped tree or field → code; it goes out as field path → messages.
    """
    status = status or status_of(code)
    title, detail = title_and_detail(code, params)
    body = {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status, "detail": detail, "code": code}
    if errors:
        body["errors"] = field_errors(errors)
    body.update(extra)
    # A detail may quote the input; the answer to bad input must itself be valid UTF-8.
    response = make_response(encodable(json.dumps(body, ensure_ascii=False)), status)
    response.mimetype = PROBLEM_JSON
    response.headers["Content-Language"] = language()
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class ProblemApi(Api):
    """flask-smorest's Api with its error handler answering in problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        code = data.get("code") or HTTP_CODES.get(error.code, "http_error")
        # webargs's messages are keyed by location ("json", "query"); the paths drop it.
        errors = request_field_errors(data["messages"]) if data.get("messages") else data.get("errors")
        if error.code == 400 and errors:
            # webargs answers 400 for a body that is not JSON, 422 for one that does not validate.
            code = "bad_request" if "Invalid JSON body." in str(data.get("messages")) else "validation_failed"
            return problem_response(code, status=400 if code == "bad_request" else 422, errors=errors)
        headers = dict(data.get("headers") or {})
        allow = error.get_response().headers.get("Allow")
        if allow:  # a 405 says which methods the path does accept
            headers["Allow"] = allow
        return problem_response(code, status=error.code, errors=errors, headers=headers)


def register_problem_handlers(app):
    """Domain errors and anything unexpected also become problem+json."""

    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        errors = error.params.get("errors")
        params = {k: v for k, v in error.params.items() if k != "errors"}
        return problem_response(error.code, params=params, errors=errors)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return app.extensions["problem_api"].handle_http_exception(error)
        busy = database_busy(error)
        if busy is not None:
            log.warning("database %s: %s", busy, error)
            return problem_response(busy, headers={"Retry-After": "1"})
        log.exception("unhandled error")
        return problem_response("internal_error", status=500)


def database_busy(error: Exception) -> str | None:
    """`database_busy` when a lock or statement timeout cut the request short, `database_unavailable`
    when the connection was lost: both retryable (503 with Retry-After); None for anything else."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(cause, (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)):
        return "database_busy"
    if isinstance(cause, psycopg.OperationalError) or (isinstance(error, DBAPIError) and error.connection_invalidated):
        return "database_unavailable"
    return None
