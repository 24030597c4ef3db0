"""The OpenAPI document as client generators need it (API.md, Conventions).

Resources declare their own operationId, responses and media types (blp.doc, blp.response,
blp.alt_response); what holds for every operation is declared here once, through apispec's
public hooks:

- errors: flask-smorest's reusable error responses (one per HTTP status, and the default every
  operation refers to) are sent as application/problem+json, so they are declared so;
- request headers: Accept-Language on every operation; Idempotency-Key on the operations whose
  view is wrapped by `api.idempotency.idempotent`, and X-Refresh-Cookie on those marked by
  `api.identity.refresh_cookie`, read off the view itself so the document cannot drift from
  what the server honours;
- nullable nested objects: `Nested(..., allow_none=True)` as `allOf: [$ref]` with
  `nullable: true` rather than apispec's OpenAPI 3.0 rendering, an `anyOf` with an untyped
  object beside the reference, which generators turn into a union (the field loses its type).

The document stays OpenAPI 3.0.3: under 3.1 apispec renders the same field as `anyOf` with
`{"type": "null"}`, which openapi-python-client reads well but openapi-generator's Kotlin and
Swift targets (3.1 support still partial) do not; the 3.0 form below both read as one
nullable model.
"""
from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin

from api.idempotency import MAX_KEY_LENGTH
from api.identity import refresh_cookie
from api.locales import BABEL_LOCALES, DEFAULT_LANGUAGE
from api.problems import PROBLEM_JSON, ProblemSchema

CHINESE_NAME = "滨州碳普惠平台"
DESCRIPTION = (
    f"{CHINESE_NAME} (Binzhou carbon-inclusion platform): residents earn certified carbon-reduction "
    "credits for green trips and recycling and spend them as coupons at local merchants; the city's "
    "environment bureau audits every credit. Errors are application/problem+json in the language "
    "Accept-Language asks for (zh-CN unless en is preferred). What anyone can check without signing in "
    "(totals, the market, the pool, the audit chain's head, the last verification, every retirement) is "
    "on the public page, [/public](/public), with a CSV per table."
)

LANGUAGE_SCHEMA = "Language"
ACCEPT_LANGUAGE = "AcceptLanguage"
IDEMPOTENCY_KEY = "IdempotencyKey"
REFRESH_COOKIE = "RefreshCookie"

# Response bodies that are not JSON: bytes for images, text for SVG and CSV.
BINARY = {"type": "string", "format": "binary"}
TEXT = {"type": "string"}

# For blp.alt_response: an error response, declared as it is sent.
PROBLEM = {"content_type": PROBLEM_JSON, "schema": ProblemSchema}


def spec_kwargs(app, **components) -> dict:
    """flask-smorest's spec_kwargs: the description, our plugins, and any other components."""
    return {
        "info": {"description": DESCRIPTION},
        "marshmallow_plugin": MarshmallowPlugin(),
        "extra_plugins": [ProblemJsonErrors(), ConventionHeaders(app)],
        "components": components,
    }


def declare_conventions(api) -> None:
    """Register the shared header parameters and the nullable-object rendering (before any blueprint)."""
    api.ma_plugin.converter.add_attribute_function(nullable_nested_as_all_of)
    api.spec.components.schema(LANGUAGE_SCHEMA, {
        "type": "string", "enum": list(BABEL_LOCALES),
        "description": f"A language the API speaks; {DEFAULT_LANGUAGE} unless another is asked for",
    })
    api.spec.components.parameter(ACCEPT_LANGUAGE, "header", {
        "name": "Accept-Language", "required": False,
        "schema": {"$ref": f"#/components/schemas/{LANGUAGE_SCHEMA}"},
        "description": f"The language of problem titles and details and of reason texts; {DEFAULT_LANGUAGE} if absent",
    })
    api.spec.components.parameter(IDEMPOTENCY_KEY, "header", {
        "name": "Idempotency-Key", "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        "description": ("Repeating a request with the same key and body replays the first answer "
                        "(header Idempotent-Replayed: true); the same key with another body is 422 "
                        "idempotency_key_reused. Keys are the signed-in user's own; send a new key per request."),
    })
    api.spec.components.parameter(REFRESH_COOKIE, "header", {
        "name": refresh_cookie.HEADER, "required": False, "schema": {"type": "string", "enum": ["1"]},
        "description": ("For browser clients: with 1, sign-up and sign-in set the refresh token as an httpOnly, "
                        f"SameSite=Strict cookie for Path={refresh_cookie.COOKIE_PATH} instead of returning it, "
                        "and refresh reads that cookie when no bearer token is sent. Nothing else reads the cookie; "
                        "refresh reads it only with this header (no other site can send it without a CORS "
                        "preflight, which is never granted)."),
    })


class ProblemJsonErrors(BasePlugin):
    """flask-smorest's reusable responses are its error responses (ERROR_SCHEMA, one per status and
    DEFAULT_ERROR); it registers them under its default JSON type, but ours are problem+json."""

    def response_helper(self, response, **kwargs):
        content = response.get("content", {})
        if set(content) == {"application/json"}:
            return {"content": {PROBLEM_JSON: content["application/json"]}}
        return None


class ConventionHeaders(BasePlugin):
    """Accept-Language on every operation; Idempotency-Key and X-Refresh-Cookie where the view honours them."""

    def __init__(self, app):
        super().__init__()
        self.app = app

    def operation_helper(self, path=None, operations=None, rule=None, **kwargs):
        view_class = getattr(self.app.view_functions.get(rule.endpoint), "view_class", None) if rule else None
        for method, operation in operations.items():
            parameters = operation.setdefault("parameters", [])
            view = getattr(view_class, method, None)
            if getattr(view, "honours_idempotency_key", False):
                parameters.append(IDEMPOTENCY_KEY)
            if getattr(view, "honours_refresh_cookie", False):
                parameters.append(REFRESH_COOKIE)
            parameters.append(ACCEPT_LANGUAGE)


def nullable_nested_as_all_of(self, field, ret, **kwargs) -> dict:
    """An apispec attribute function: a nullable Nested field as `{allOf: [$ref], nullable: true}`.

    It runs after apispec's own field2nullable, which leaves `anyOf: [$ref…, {type: object,
    nullable: true}]`; the untyped object is what made generated clients lose the field's type.
    """
    any_of = ret.get("anyOf")
    if not field.allow_none or not any_of:
        return {}
    references = [member for member in any_of if "$ref" in member]
    if len(references) != len(any_of) - 1 or {"type": "object", "nullable": True} not in any_of:
        return {}
    del ret["anyOf"]  # attribute functions can only add keys through their answer
    return {"allOf": references, "nullable": True}
