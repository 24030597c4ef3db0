"""Generated requests to every operation of the served OpenAPI document never get a 5xx.

Requests come from tests/openapi_requests.py, signed in as the role each operation admits
(found by asking it once) or signed as a data source, so they get past the auth check. Each
answer is checked: below 500; a refusal is problem+json whose `errors` maps field paths to lists
of messages, Chinese unless English was asked for; a JSON success has no null, and no value of
another type, where the document declares a type that is not nullable.

Bounded for CI: a few examples per operation (a few hundred requests over the document), a seed
derived from the test (derandomize), no example database; split in shards for the xdist workers.
"""
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings

from tests.coupons_support import create_campaign, open_shop
from tests.openapi_requests import Generator, Operation, operations
from tests.support import ApiClient, SourceClient

SHARDS = 4
EXAMPLES_PER_OPERATION = 8
CJK = re.compile(r"[\u4e00-\u9fff]")
PROBLEM = "application/problem+json"
# The document declares a batch's events loosely (each is checked on its own, so one bad event
# sinks no other); the IngestEvent component describes them.
BODIES = {"/api/v1/ingest/events": {"type": "object", "required": ["events"], "properties": {
    "events": {"type": "array", "items": {"$ref": "#/components/schemas/IngestEvent"}}}}}
JSON_TYPES = {"integer": int, "number": (int, float), "string": str, "boolean": bool, "array": list, "object": dict}


class Actors:
    """Who sends the requests: a resident, an auditor, a merchant's cashier, a data source."""

    def __init__(self, app):
        api = ApiClient(app)
        self.http = api.http
        self.resident = api.register()
        self.shop = open_shop(app, api)
        create_campaign(api, self.shop)
        self.source = SourceClient.filed(app, "BZFUZZ", "transit")
        self.http.put("/api/v1/me/sources/BZFUZZ", headers=self.resident.auth())
        self.throwaway = api.register()  # for /auth/logout, which ends the session it is sent with
        self.bearers = {"resident": self.resident.auth(), "auditor": self.shop.auditor,
                        "merchant_staff": self.shop.cashier}

    def headers_for(self, operation: Operation) -> dict:
        """The Authorization the operation's role check admits (asked once per operation)."""
        if not any("bearerAuth" in requirement for requirement in operation.security):
            return {}
        if operation.path.endswith("/auth/logout"):
            return self.throwaway.auth()
        if operation.path.endswith("/auth/refresh"):
            return {"Authorization": f"Bearer {self.resident.refresh_token}"}
        probe_path = re.sub(r"\{\w+\}", "1", operation.path)
        for headers in self.bearers.values():
            status = self.http.open(probe_path, method=operation.method, headers=headers).status_code
            if status not in (401, 403):
                return headers
        return self.resident.auth()

    def send(self, operation: Operation, auth: dict, path: str, query: str, body: bytes | None, headers: dict):
        headers = {**headers, **auth}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if operation.path.endswith("/ingest/events"):
                # Signed like a partner signs; a body seen in the same second is a replay (401), also fine.
                headers |= self.source.signed_headers(body, int(time.time()))
        return self.http.open(path, method=operation.method, query_string=query, data=body, headers=headers)


def nonconforming(value, schema: dict, generator: Generator, where: str = "$") -> list[str]:
    """Where a JSON answer is null or of another type than its declared, non-nullable schema."""
    schema = generator.resolve(schema)
    kind = schema.get("type") or ("object" if "properties" in schema else None)
    if value is None:
        return [] if schema.get("nullable") or kind is None else [f"{where}: null, declared {kind}"]
    expected = JSON_TYPES.get(kind)
    if expected and (not isinstance(value, expected) or (kind in ("integer", "number") and isinstance(value, bool))):
        return [f"{where}: {type(value).__name__}, declared {kind}"]
    found = []
    if kind == "array":
        for index, item in enumerate(value):
            found += nonconforming(item, schema.get("items", {}), generator, f"{where}[{index}]")
    elif kind == "object":
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                found += nonconforming(value[name], sub, generator, f"{where}.{name}")
    return found


def check_answer(response, operation: Operation, generator: Generator) -> None:
    label = f"{operation.method} {operation.path} → {response.status_code}"
    assert response.status_code < 500, f"{label}: {response.get_data(as_text=True)[:500]}"
    if response.status_code >= 400:
        assert response.mimetype == PROBLEM, label
        errors = response.get_json().get("errors")
        if errors is None:
            return
        assert isinstance(errors, dict), label
        for path, messages in errors.items():
            assert isinstance(path, str) and isinstance(messages, list) and messages, (label, errors)
            assert all(isinstance(message, str) for message in messages), (label, errors)
            if response.headers["Content-Language"] == "zh-CN":
                assert all(CJK.search(message) for message in messages), (label, errors)
    elif response.mimetype == "application/json":
        documented = generator.resolve(operation.responses.get(str(response.status_code), {}))
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            assert nonconforming(response.get_json(), schema, generator) == [], label


@pytest.mark.parametrize("shard", range(SHARDS))
def test_generated_requests_to_every_operation_never_get_a_5xx(app, shard):
    actors = Actors(app)
    spec = actors.http.get("/api/v1/openapi.json").get_json()
    generator = Generator(spec)
    every = operations(spec)
    assert len(every) > 50
    for operation in every[shard::SHARDS]:
        auth = actors.headers_for(operation)

        @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(request=generator.request(operation, BODIES.get(operation.path)))
        def fuzz(request):
            check_answer(actors.send(operation, auth, *request), operation, generator)

        fuzz()
