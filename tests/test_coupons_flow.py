"""From credits to a discount: a merchant is approved, a resident claims a coupon, the cashier
scans its QR and redeems it once, the merchant retires what it absorbed."""
import io

import pytest
import zxingcpp
from PIL import Image

from accounting.business_day import shanghai_day
from accounting.issuance.tasks import run_issuance_day
from merchants.tasks import expire_coupons
from tests.support import ago, iso

PASSWORD = "staff-password-1"


def _login(api, phone):
    token = api.http.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD}).get_json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def _user(app, api, phone, role, *extra):
    result = app.test_cli_runner().invoke(args=["users", "create", "--role", role, "--phone", phone,
                                                "--password", PASSWORD, *extra])
    assert result.exit_code == 0, result.output
    return _login(api, phone)


@pytest.fixture
def shop(app, api):
    """An approved merchant with one published campaign: 3 coupons at 100 g, 1 per resident."""
    cashier = _user(app, api, "13700000001", "merchant_staff")
    auditor = _user(app, api, "13900000001", "auditor")
    applied = api.http.post("/api/v1/merchants", headers=cashier, json={
        "name": "黄河路面馆", "district": "滨城区", "address": "黄河五路 1 号", "category": "food"})
    assert applied.status_code == 201 and applied.get_json()["status"] == "pending"
    merchant_id = applied.get_json()["id"]
    approved = api.http.post(f"/api/v1/merchants/{merchant_id}/approve", headers=auditor, json={})
    assert approved.status_code == 200 and approved.get_json()["account_number"]
    campaign = api.http.post(f"/api/v1/merchants/{merchant_id}/campaigns", headers=cashier, json={
        "title": "绿色出行满减券", "face_value_fen": 500, "price_g": 100, "stock": 3, "per_resident_limit": 1,
        "valid_from": iso(ago(hours=1)), "valid_until": iso(ago(hours=-48))})
    assert campaign.status_code == 201, campaign.get_json()
    return {"id": merchant_id, "cashier": cashier, "auditor": auditor, "campaign": campaign.get_json()}


def _rich_resident(app, api, km=10):
    """A resident holding the credits of a metro trip yesterday."""
    resident = api.register()
    start = ago(days=1, minutes=api_counter())
    assert api.trip(resident, mode="metro", distance_m=km * 1000, start=start).status_code == 202
    with app.app_context():
        run_issuance_day(shanghai_day(start))
    return resident


_count = iter(range(1000))


def api_counter():
    return next(_count) * 40  # separate trips, so no overlap between residents' fixtures


def _scan(api, resident, coupon_id):
    png = api.http.get(f"/api/v1/me/coupons/{coupon_id}/qr.png", headers=resident.auth())
    assert png.mimetype == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    return decoded.text


def test_claim_scan_redeem_once_and_retire(app, api, shop):
    resident = _rich_resident(app, api)
    campaign_id = shop["campaign"]["id"]
    listed = api.http.get("/api/v1/campaigns", headers=resident.auth()).get_json()["items"]
    assert [(c["id"], c["remaining"]) for c in listed] == [(campaign_id, 3)]

    claimed = api.http.post(f"/api/v1/campaigns/{campaign_id}/claim", headers=resident.auth(**{"Idempotency-Key": "t1"}))
    assert claimed.status_code == 201 and claimed.get_json()["status"] == "claimed"
    double_tap = api.http.post(f"/api/v1/campaigns/{campaign_id}/claim",
                               headers=resident.auth(**{"Idempotency-Key": "t1"}))
    assert double_tap.get_json() == claimed.get_json()
    over = api.http.post(f"/api/v1/campaigns/{campaign_id}/claim", headers=resident.auth())
    assert over.status_code == 409 and over.get_json()["code"] == "over_limit"
    assert api.http.get("/api/v1/me", headers=resident.auth()).get_json()["account"]["balance_g"] == 368

    token = _scan(api, resident, claimed.get_json()["id"])
    checked = api.http.post("/api/v1/redemptions/verify", json={"token": token}, headers=shop["cashier"])
    assert checked.status_code == 200 and checked.get_json()["valid"] is True
    redeemed = api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop["cashier"])
    assert redeemed.status_code == 200 and redeemed.get_json()["status"] == "redeemed"
    again = api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop["cashier"])
    assert again.status_code == 409 and again.get_json()["code"] == "already_redeemed"
    assert "黄河路面馆" in again.get_json()["detail"]

    merchant = api.http.get(f"/api/v1/merchants/{shop['id']}", headers=shop["cashier"]).get_json()
    retired = api.http.post(f"/api/v1/merchants/{shop['id']}/retirements", headers=shop["cashier"],
                            json={"amount_g": 100, "beneficiary": merchant["name"], "purpose": "消纳"})
    assert retired.status_code == 201, retired.get_json()
    statement = api.http.get(f"/api/v1/merchants/{shop['id']}/statement.csv?from={shanghai_day(ago(days=2))}"
                             f"&to={shanghai_day(ago(days=-1))}", headers=shop["cashier"])
    assert statement.mimetype == "text/csv"
    kinds = [line.split(",")[1] for line in statement.get_data(as_text=True).splitlines()[1:4]]
    assert kinds == ["claim", "redeem", "redeem"] or set(kinds) >= {"claim", "redeem"}
    assert api.http.get("/api/v1/registry/verify", headers=shop["auditor"]).get_json()["ok"]


def test_tampered_expired_and_foreign_tokens_are_refused(app, api, shop):
    resident = _rich_resident(app, api)
    coupon = api.http.post(f"/api/v1/campaigns/{shop['campaign']['id']}/claim", headers=resident.auth()).get_json()
    token = _scan(api, resident, coupon["id"])
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    answer = api.http.post("/api/v1/redemptions/verify", json={"token": forged}, headers=shop["cashier"])
    assert answer.status_code == 422 and answer.get_json()["code"] == "qr_invalid"
    other_cashier = _user(app, api, "13700000002", "merchant_staff")
    other = api.http.post("/api/v1/merchants", headers=other_cashier, json={
        "name": "渤海超市", "district": "邹平市", "address": "1 号", "category": "goods"}).get_json()
    api.http.post(f"/api/v1/merchants/{other['id']}/approve", headers=shop["auditor"], json={})
    foreign = api.http.post("/api/v1/redemptions", json={"token": token}, headers=other_cashier)
    assert foreign.status_code == 403 and foreign.get_json()["code"] == "coupon_of_another_merchant"
    assert api.http.post("/api/v1/redemptions", json={"token": token}, headers=resident.auth()).status_code == 403
    statement = api.http.get(f"/api/v1/merchants/{shop['id']}/statement.csv?from=2026-01-01&to=2026-12-31",
                             headers=other_cashier)
    assert statement.status_code == 404


def test_stock_never_oversells_and_expiry_returns_credits_once(app, api, shop):
    residents = [_rich_resident(app, api) for _ in range(4)]
    answers = [api.http.post(f"/api/v1/campaigns/{shop['campaign']['id']}/claim", headers=r.auth()) for r in residents]
    assert sorted(a.status_code for a in answers) == [201, 201, 201, 409]
    assert api.http.get(f"/api/v1/campaigns/{shop['campaign']['id']}",
                        headers=residents[0].auth()).get_json()["remaining"] == 0
    with app.app_context():
        from sqlalchemy import update

        from config.extensions import db
        from merchants.models import Coupon
        db.session.execute(update(Coupon).values(expires_at=ago(minutes=1)))
        db.session.commit()
        assert expire_coupons() == 3
        assert expire_coupons() == 0
    balances = [api.http.get("/api/v1/me", headers=r.auth()).get_json()["account"]["balance_g"] for r in residents]
    assert balances == [468] * 4
    assert api.http.get("/api/v1/registry/verify", headers=shop["auditor"]).get_json()["ok"]
