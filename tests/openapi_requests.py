"""Hypothesis strategies for the requests the served OpenAPI document describes, as a fuzzer sends them.

Each value is either of its declared type and format (an enum's members, integers within or just
past the bounds, recent and far-off times) or one of the inputs that broke the API before: ids
beyond a column, cursors decoding to them, lone surrogates and non-characters, the calendar's
ends, the wrong type. Bodies are sometimes not the schema at all: deeply nested, a 5,000-digit
integer, not JSON. What is checked of the answers is in tests/test_openapi_fuzz.py.
"""
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from hypothesis import strategies as st

from api.pagination import encode_cursor

NASTY_INTEGERS = (0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**30, -(10**30))
NASTY_TEXT = (
    "", " ", "\ud800", "a\udfffb", "\ufffe", "\uffff", "\ufdd0", "\U0010ffff", "\x00", "line\nbreak", "滨州",
    "🌱" * 40, "9999-12-31", "0001-01-01", "1900-01-01T00:00:00+08:00", "0243-05-01T12:00:00+08:00",
    "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "2026-02-30", "NaN", "1e400", "null",
    encode_cursor(2**31), encode_cursor(2**63), encode_cursor(2**63 - 1), "../../etc/passwd", "%00",
)
NASTY_VALUES = st.one_of(st.sampled_from(NASTY_INTEGERS), st.sampled_from(NASTY_TEXT), st.none(), st.booleans(),
                         st.floats(allow_nan=False, allow_infinity=False), st.just([]), st.just({}))
PRINTABLE = st.characters(categories=["L", "N", "P", "S", "Zs"])
BAD_CHARACTERS = st.sampled_from(["\ud800", "\udfff", "\ufffe", "\uffff", "\ufdd0", "\U0010ffff", "\x00"])
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)  # surrogates too
OFFSETS = st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-12)),
                           timezone(timedelta(hours=14))])
RAW_BODIES = st.sampled_from([
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 40 + b"1" + b"}" * 40, b'{"x": ' + b"9" * 5_000 + b"}",
    b'{"x": -' + b"1" * 31 + b"}", b"{bad", b"", b"[]", b'"text"', b"\xff\xfe", b"null",
])


@dataclass
class Operation:
    method: str
    path: str
    parameters: list[dict]
    body_schema: dict | None
    security: list[dict]
    responses: dict


def operations(spec: dict) -> list[Operation]:
    """Every operation of the document, with its path item's parameters and its JSON body schema."""
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            parameters = [_resolved(spec, p) for p in item.get("parameters", []) + operation.get("parameters", [])]
            found.append(Operation(method.upper(), path, parameters, body, operation.get("security", []),
                                   operation.get("responses", {})))
    return found


def _resolved(spec: dict, parameter: dict) -> dict:
    """A parameter declared once under components (the headers every operation takes) and referred to."""
    if "$ref" not in parameter:
        return parameter
    name = parameter["$ref"].rsplit("/", 1)[-1]
    return spec["components"]["parameters"][name]


class Generator:
    """Strategies for one document: `$ref`s are resolved against its components."""

    def __init__(self, spec: dict):
        self.spec = spec

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            section = "responses" if "/responses/" in schema["$ref"] else "schemas"
            schema = self.spec["components"][section][name]
        return schema

    def value(self, schema: dict, depth: int = 0):
        """A value of the schema's type, or a nasty one."""
        return st.one_of(self.typed(schema, depth), NASTY_VALUES)

    def typed(self, schema: dict, depth: int = 0):
        schema = self.resolve(schema)
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if kind == "integer":
            low, high = schema.get("minimum"), schema.get("maximum")
            near = [bound + step for bound in (low, high) if bound is not None for step in (-1, 0, 1)]
            return st.integers(low, high) | st.sampled_from(near or [0])
        if kind == "number":
            return st.floats(allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "string":
            return self.text(schema)
        if kind == "array" and depth < 3:
            return st.lists(self.value(schema.get("items", {}), depth + 1), max_size=3)
        if (kind == "object" or "properties" in schema) and depth < 3:
            return self.obj(schema, depth)
        return NASTY_VALUES

    def text(self, schema: dict):
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True) | ANY_TEXT
        form = schema.get("format")
        if form == "date-time":
            recent = st.integers(-600, 60 * 24 * 10).map(
                lambda minutes: (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat())
            anywhen = st.builds(lambda moment, offset: moment.replace(tzinfo=offset).isoformat(),
                                st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)), OFFSETS)
            return recent | anywhen
        if form == "date":
            return st.dates().map(lambda day: day.isoformat())
        shortest, longest = schema.get("minLength", 0), max(1, min(schema.get("maxLength", 40), 40))
        plain = st.text(PRINTABLE, min_size=shortest, max_size=max(shortest, longest))
        # Of a length the schema allows, with a character no text column takes at the end.
        tainted = st.builds(lambda text, bad: (text[1:] if len(text) >= longest else text) + bad,
                            plain, BAD_CHARACTERS)
        return plain | tainted | ANY_TEXT

    def obj(self, schema: dict, depth: int):
        """Fields of their types; often one of them nasty, or one field more, so that the others
        are valid and the nasty value is what the API has to deal with."""
        properties = {name: self.typed(sub, depth + 1) for name, sub in schema.get("properties", {}).items()}
        required = set(schema.get("required", []))
        fields = st.fixed_dictionaries({name: s for name, s in properties.items() if name in required},
                                       optional={name: s for name, s in properties.items() if name not in required})
        return one_nasty(fields, sorted(properties) or ["value"])

    def request(self, operation: Operation, body_schema: dict | None = None):
        """(path, query string, body bytes or None, headers) for one request to the operation."""
        body_schema = body_schema or operation.body_schema
        path_params = {p["name"]: self.path_value(p["schema"]) for p in operation.parameters if p["in"] == "path"}
        query = {p["name"]: self.typed(p.get("schema", {})) for p in operation.parameters if p["in"] == "query"}
        body = st.none()
        if body_schema is not None:
            body = self.typed(body_schema).map(encode_json) | RAW_BODIES
        headers = st.fixed_dictionaries({}, optional={
            "Accept-Language": st.sampled_from(["en", "zh-CN", "fr", "en;q=0.1, zh-CN"]),
            "Idempotency-Key": st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=140),
        })
        return st.tuples(st.fixed_dictionaries(path_params).map(lambda values: fill_path(operation.path, values)),
                         one_nasty(st.fixed_dictionaries({}, optional=query), sorted(query) or ["q"]).map(encode_query),
                         body, headers)

    def path_value(self, schema: dict):
        schema = self.resolve(schema)
        if schema.get("type") == "integer":
            # 1–3 name rows the test made (a shop, its campaign, the default methodologies)
            return st.integers(1, 3) | st.sampled_from(NASTY_INTEGERS) | st.just(int("9" * 4_000))
        return ANY_TEXT.filter(bool) | st.sampled_from([t for t in NASTY_TEXT if t])


def one_nasty(fields, names: list[str]):
    """The fields as drawn, or with one of them (or an unknown one) set to a nasty value."""
    def replace(drawn: dict, name: str, value) -> dict:
        return {**drawn, name: value}

    return st.one_of(fields, fields, st.builds(replace, fields, st.sampled_from(names), NASTY_VALUES),
                     st.builds(replace, fields, ANY_TEXT, NASTY_VALUES))


def encode_json(value) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: a lone surrogate travels as \ud800


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def fill_path(path: str, values: dict) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(_text(value), safe="", errors="surrogatepass"))
    return path


def encode_query(values: dict) -> str:
    return "&".join(f"{name}={quote(_text(value), safe='', errors='surrogatepass')}"
                    for name, value in values.items() if value is not None)
