"""The registry through HTTP: an auditor issues a day, residents move and retire credits,
anyone checks a retirement, the bureau traces, freezes, revokes and verifies."""
import re

import pytest
import zxingcpp  # noqa: F401  (a real decoder; the certificate's QR is SVG, checked as text here)

from accounting.business_day import shanghai_day
from tests.support import ago

PASSWORD = "auditor-password-1"


def _staff(app, api, phone, role="auditor"):
    result = app.test_cli_runner().invoke(args=["users", "create", "--role", role, "--phone", phone,
                                                "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    token = api.http.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD}).get_json()
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.fixture
def day_issued(app, api):
    """Two residents' metro trips of yesterday, proposed and (auto-)approved and issued by an auditor."""
    start = ago(days=1)
    alice, bob = api.register(), api.register()
    for resident, km in ((alice, 10), (bob, 5)):
        assert api.trip(resident, mode="metro", distance_m=km * 1000, start=start).status_code == 202
    auditor = _staff(app, api, "13900000001")
    proposed = api.http.post("/api/v1/issuance/batches", json={"date": shanghai_day(start).isoformat()},
                             headers=auditor)
    assert proposed.status_code == 201, proposed.get_json()
    [batch] = proposed.get_json()["items"]
    assert batch["auto_approved"] and batch["quantity_g"] == 702
    return alice, bob, auditor, batch


def test_issued_credits_show_in_balances_and_ledgers(api, day_issued):
    alice, bob, auditor, batch = day_issued
    me = api.http.get("/api/v1/me", headers=alice.auth()).get_json()["account"]
    assert (me["balance_g"], me["issued_total_g"], me["pending_g"]) == (468, 468, 0)
    [line] = api.http.get("/api/v1/me/ledger", headers=alice.auth()).get_json()["items"]
    assert line["type"] == "issue" and line["amount_g"] == 468
    assert re.fullmatch(r"BZ-TRIP1-\d{8}-0001-\d{9}-\d{9}", line["serials"][0])
    listed = api.http.get("/api/v1/issuance/batches?status=issued", headers=auditor).get_json()["items"]
    assert [b["serial_prefix"] for b in listed] == [batch["serial_prefix"]]
    detail = api.http.get(f"/api/v1/issuance/batches/{batch['id']}", headers=auditor).get_json()
    assert detail["accounts_count"] == 2 and len(detail["sample_events"]) == 2
    assert detail["top_accounts"][0] == {"account_number": alice.account_number, "quantity_g": 468}


def test_transfer_retire_and_public_certificate(api, day_issued):
    alice, bob, auditor, batch = day_issued
    sent = api.http.post("/api/v1/transfers", json={"to_account_number": bob.account_number, "amount_g": 100},
                         headers=alice.auth(**{"Idempotency-Key": "gift-1"}))
    assert sent.status_code == 201, sent.get_json()
    again = api.http.post("/api/v1/transfers", json={"to_account_number": bob.account_number, "amount_g": 100},
                          headers=alice.auth(**{"Idempotency-Key": "gift-1"}))
    assert again.get_json() == sent.get_json()
    short = api.http.post("/api/v1/transfers", json={"to_account_number": bob.account_number, "amount_g": 369},
                          headers=alice.auth())
    assert short.status_code == 422 and short.get_json()["code"] == "insufficient_balance"

    retired = api.http.post("/api/v1/retirements",
                            json={"amount_g": 300, "beneficiary": "滨州市第一中学", "purpose": "校运会碳中和"},
                            headers=bob.auth())
    assert retired.status_code == 201, retired.get_json()
    number = retired.get_json()["number"]
    public = api.http.get(f"/api/v1/retirements/{number}")  # no sign-in: anyone can check
    assert public.status_code == 200 and public.get_json()["beneficiary"] == "滨州市第一中学"
    assert sum(int(s[-9:]) - int(s[-19:-10]) + 1 for s in public.get_json()["serials"]) == 300
    certificate = api.http.get(f"/api/v1/retirements/{number}/certificate.svg")
    assert certificate.mimetype == "image/svg+xml" and "滨州市第一中学" in certificate.get_data(as_text=True)
    bob_now = api.http.get("/api/v1/me", headers=bob.auth()).get_json()["account"]
    assert (bob_now["balance_g"], bob_now["retired_g"]) == (234 + 100 - 300, 300)
    verified = api.http.get("/api/v1/registry/verify", headers=auditor).get_json()
    assert verified["ok"], verified


def test_trace_freeze_and_revoke(api, day_issued):
    alice, bob, auditor, batch = day_issued
    serial = f"{batch['serial_prefix']}-000000001"
    traced = api.http.get(f"/api/v1/registry/units/{serial}", headers=auditor).get_json()
    assert [h["account_number"] for h in traced["holders"]] == [alice.account_number]
    assert traced["event"]["mode"] == "metro" and traced["event"]["reduction_g"] == 468

    frozen = api.http.post(f"/api/v1/registry/accounts/{alice.account_number}/freeze",
                           json={"reason": "suspected fraud"}, headers=auditor)
    assert frozen.status_code == 200 and frozen.get_json()["frozen"]
    blocked = api.http.post("/api/v1/transfers", json={"to_account_number": bob.account_number, "amount_g": 1},
                            headers=alice.auth())
    assert blocked.status_code == 409 and blocked.get_json()["code"] == "account_frozen"

    revoked = api.http.post("/api/v1/registry/revocations", headers=auditor, json={
        "serial_prefix": batch["serial_prefix"], "first": 1, "last": 468, "reason": "fraud confirmed"})
    assert revoked.status_code == 201 and revoked.get_json()["revoked_g"] == 468
    assert api.http.get("/api/v1/me", headers=alice.auth()).get_json()["account"]["balance_g"] == 0
    log = api.http.get("/api/v1/audit-log?limit=100", headers=auditor).get_json()["items"]
    assert {"freeze", "revoke", "batch_issued", "batch_proposed"} <= {record["action"] for record in log}
    assert api.http.get("/api/v1/registry/verify", headers=auditor).get_json()["ok"]


def test_residents_cannot_reach_the_bureau_and_bad_input_is_a_problem(api, day_issued):
    alice, bob, auditor, batch = day_issued
    for path in ("/api/v1/issuance/batches", "/api/v1/registry/verify", "/api/v1/audit-log",
                 f"/api/v1/registry/units/{batch['serial_prefix']}-000000001"):
        assert api.http.get(path, headers=alice.auth()).status_code == 403
    assert api.http.get("/api/v1/registry/units/not-a-serial", headers=auditor).status_code == 404
    assert api.http.get(f"/api/v1/registry/units/{batch['serial_prefix']}-000999999",
                        headers=auditor).status_code == 404
    for body in ({"to_account_number": bob.account_number, "amount_g": 0},
                 {"to_account_number": bob.account_number, "amount_g": 1.5},
                 {"to_account_number": alice.account_number, "amount_g": 1}):
        answer = api.http.post("/api/v1/transfers", json=body, headers=alice.auth())
        assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    unknown = api.http.post("/api/v1/transfers", json={"to_account_number": "BZ0000000000", "amount_g": 1},
                            headers=alice.auth())
    assert unknown.status_code == 404
    assert api.http.get("/api/v1/retirements/BZR-2026-NOPE").status_code == 404
