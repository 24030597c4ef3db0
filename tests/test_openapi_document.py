"""The served OpenAPI document keeps API.md's conventions for client generators, and every change
to it shows in review as a change to tests/openapi_snapshot.json."""
import inspect
import os
import re
from pathlib import Path

import pytest

from api.problems import PROBLEM_JSON
from api.registry.requests import ledger_idempotency

DOCUMENT = "/api/v1/openapi.json"
SNAPSHOT = Path(__file__).with_name("openapi_snapshot.json")
REFRESH = "UPDATE_OPENAPI_SNAPSHOT"
METHODS = ("get", "put", "post", "delete", "patch")
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}

# The POSTs that move credits or create a thing (API.md): each honours Idempotency-Key.
IDEMPOTENT_OPERATIONS = {
    "record_trip", "claim_coupon", "transfer_credits", "retire_credits", "retire_merchant_credits",
    "apply_as_merchant", "create_campaign", "create_methodology", "draft_methodology_version",
    "propose_issuance_batches", "revoke_units", "donate_to_pool",
    # the market: everything that moves credits or money, or changes who may trade
    "apply_as_enterprise", "approve_enterprise", "reject_enterprise", "record_deposit", "ask_withdrawal",
    "pay_withdrawal", "create_market_listing", "cancel_market_listing", "place_market_order",
    "open_market_auction", "place_market_bid", "clear_market_auction",
}
MEDIA = {  # path: (media type, body schema)
    "/api/v1/me/account-code.png": ("image/png", {"type": "string", "format": "binary"}),
    "/api/v1/me/coupons/{coupon_id}/qr.png": ("image/png", {"type": "string", "format": "binary"}),
    "/api/v1/me/coupons/{coupon_id}/qr.svg": ("image/svg+xml", {"type": "string"}),
    "/api/v1/retirements/{number}/certificate.svg": ("image/svg+xml", {"type": "string"}),
    "/api/v1/merchants/{merchant_id}/statement.csv": ("text/csv", {"type": "string"}),
    "/api/v1/enterprises/{enterprise_id}/statement.csv": ("text/csv", {"type": "string"}),
}


@pytest.fixture
def served(app):
    return app.test_client().get(DOCUMENT)


@pytest.fixture
def document(served):
    return served.get_json()


def operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolved(document, maybe_reference: dict) -> dict:
    reference = maybe_reference.get("$ref")
    if reference is None:
        return maybe_reference
    section, name = reference.split("/")[-2:]
    return document["components"][section][name]


def parameter_names(document, operation) -> list[str]:
    return [resolved(document, parameter)["name"] for parameter in operation.get("parameters", [])]


def test_the_served_document_matches_the_snapshot(served):
    text = served.get_data(as_text=True) + "\n"
    if os.environ.get(REFRESH) == "1":
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.exists() and SNAPSHOT.read_text(encoding="utf-8") == text, (
        f"The served OpenAPI document differs from {SNAPSHOT.name}. If the change to the contract is meant, "
        f"refresh the snapshot and commit it with the change: {REFRESH}=1 platform/test.sh -k snapshot")


def test_the_title_is_ascii_and_the_description_keeps_the_chinese_name(document):
    assert document["info"]["title"] == "Binzhou Carbon Inclusion Platform API"
    assert document["info"]["title"].isascii()
    assert "滨州碳普惠平台" in document["info"]["description"]


def test_every_operation_has_a_unique_snake_case_operation_id(document):
    ids = [operation.get("operationId") for _, _, operation in operations(document)]
    assert all(isinstance(name, str) and SNAKE_CASE.match(name) for name in ids), ids
    assert len(ids) == len(set(ids)), sorted(name for name in ids if ids.count(name) > 1)
    assert {"claim_coupon", "list_my_events", "get_me", "record_trip"} <= set(ids)


def test_every_error_response_is_problem_json(document):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status != "default" and int(status) < 400:
                assert "$ref" not in response, (path, method, status)  # success bodies are declared inline
                continue
            content = resolved(document, response).get("content", {})
            assert list(content) == [PROBLEM_JSON], (path, method, status, content)
            assert content[PROBLEM_JSON]["schema"] == PROBLEM_SCHEMA, (path, method, status)
        assert "default" in operation["responses"], (path, method)
    for name, response in document["components"]["responses"].items():
        assert list(response["content"]) == [PROBLEM_JSON], name


def test_component_schemas_have_no_unions_and_nullable_objects_stay_typed(document):
    def unions(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("anyOf", "oneOf"):
                    yield where
                yield from unions(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from unions(value, f"{where}[{index}]")

    assert list(unions(document["components"]["schemas"], "schemas")) == []
    account = document["components"]["schemas"]["Me"]["properties"]["account"]
    assert account == {"allOf": [{"$ref": "#/components/schemas/Account"}], "nullable": True}


def test_images_and_csv_are_declared_with_their_media_types(document):
    for path, (media_type, schema) in MEDIA.items():
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert content == {media_type: {"schema": schema}}, path


def test_accept_language_on_every_operation_and_idempotency_key_where_it_is_honoured(document):
    keyed = set()
    for path, method, operation in operations(document):
        names = parameter_names(document, operation)
        assert "Accept-Language" in names, (path, method)
        if "Idempotency-Key" in names:
            keyed.add(operation["operationId"])
    assert keyed == IDEMPOTENT_OPERATIONS
    language = resolved(document, document["components"]["parameters"]["AcceptLanguage"]["schema"])
    assert language["enum"] == ["zh-CN", "en"]


def test_every_view_that_reads_the_key_for_the_ledger_is_declared_idempotent(app):
    """ledger_idempotency() passes the client's Idempotency-Key on to the ledger; such a view must be
    wrapped by `idempotent`, which is what puts the header in the document."""
    readers = 0
    for endpoint, view in app.view_functions.items():
        view_class = getattr(view, "view_class", None)
        for method in METHODS:
            handler = getattr(view_class, method, None)
            if handler is None:
                continue
            if f"{ledger_idempotency.__name__}()" in inspect.getsource(inspect.unwrap(handler)):
                readers += 1
                assert getattr(handler, "honours_idempotency_key", False), (endpoint, method)
    assert readers >= 5  # claim, transfer, both retirements, revocation
