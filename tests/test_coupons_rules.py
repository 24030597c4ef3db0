"""The rules of the coupon side (价值兑现), one at a time, through the HTTP API.

Who may approve merchants, what one shop's staff may see of another, how a campaign moves
from draft to ended, when a claim is refused (and that a refusal changes nothing), what the
QR code holds and when it is refused, redeeming once, and the merchant's statement.
"""
import base64
import csv
import io
import json
import time
import xml.etree.ElementTree as ElementTree
import zlib
from datetime import timedelta

import pytest
import zxingcpp
from itsdangerous import TimestampSigner
from PIL import Image
from sqlalchemy import func, select, update

from accounting.business_day import shanghai_day
from accounting.errors import DomainError
from accounting.ledger.models import AuditRecord, JournalTransaction
from merchants import qr_tokens
from merchants.models import Campaign, Coupon, Merchant
from merchants.qr_tokens import TOKEN_MAX_AGE_SECONDS, coupon_token, read_token
from merchants.tasks import expire_coupons
from tests.coupons_support import (
    METRO_10_KM_G,
    Shop,
    account_balance,
    apply_as_merchant,
    balance,
    claim,
    count_rows,
    create_campaign,
    escrow_balance,
    open_shop,
    post_campaign,
    qr_token,
    registry_ok,
    residents_with_credits,
    staff,
)
from tests.support import ago, iso


@pytest.fixture
def shop(app, api):
    return open_shop(app, api)


@pytest.fixture
def holder(app, api):
    """A resident holding 468 g."""
    [resident] = residents_with_credits(app, api, 1)
    return resident


def _listed(api, resident, query=""):
    answer = api.http.get(f"/api/v1/campaigns{query}", headers=resident.auth())
    assert answer.status_code == 200, answer.get_json()
    return {c["id"]: c for c in answer.get_json()["items"]}


def _payload(token: str):
    """What anyone who scans the QR can read without the secret: the token's payload, decoded."""
    body = token.rsplit(".", 2)[0]
    compressed, body = body.startswith("."), body.lstrip(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


def _encode_payload(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def _claimed(api, resident, campaign_id, **kw) -> dict:
    answer = claim(api.http, resident, campaign_id, **kw)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


# --- applications: the bureau decides --------------------------------------------------------

def test_application_waits_for_an_auditor_and_only_the_bureau_approves(app, api, holder):
    cashier = staff(app, api, "merchant_staff")
    applied = apply_as_merchant(api, cashier)
    assert applied.status_code == 201
    merchant = applied.get_json()
    assert merchant["status"] == "pending" and merchant["account_number"] is None

    assert apply_as_merchant(api, holder.auth()).status_code == 403  # residents do not apply
    again = apply_as_merchant(api, cashier, name="第二家店")
    assert again.status_code == 409 and again.get_json()["code"] == "already_member"

    other_staff = staff(app, api, "merchant_staff", merchant_id=merchant["id"])
    for who in (holder.auth(), cashier, other_staff):
        refused = api.http.post(f"/api/v1/merchants/{merchant['id']}/approve", headers=who, json={})
        assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden_role"
        assert api.http.post(f"/api/v1/merchants/{merchant['id']}/reject", headers=who, json={}).status_code == 403
    assert api.http.get(f"/api/v1/merchants/{merchant['id']}", headers=cashier).get_json()["status"] == "pending"

    # a pending merchant may prepare drafts but not publish them
    assert post_campaign(api, _pending(merchant, cashier), status="published").get_json()["code"] == \
        "merchant_not_approved"
    draft = post_campaign(api, _pending(merchant, cashier), status="draft")
    assert draft.status_code == 201 and draft.get_json()["status"] == "draft"
    publish = api.http.post(f"/api/v1/merchants/{merchant['id']}/campaigns/{draft.get_json()['id']}/publish",
                            headers=cashier)
    assert publish.status_code == 409 and publish.get_json()["code"] == "merchant_not_approved"

    auditor = staff(app, api, "auditor")
    approved = api.http.post(f"/api/v1/merchants/{merchant['id']}/approve", headers=auditor,
                             json={"note": "证照齐全"})
    assert approved.status_code == 200
    assert approved.get_json()["status"] == "approved" and approved.get_json()["account_number"]
    twice = api.http.post(f"/api/v1/merchants/{merchant['id']}/approve", headers=auditor, json={})
    assert twice.status_code == 409 and twice.get_json()["code"] == "merchant_not_in_state"
    published = api.http.post(f"/api/v1/merchants/{merchant['id']}/campaigns/{draft.get_json()['id']}/publish",
                              headers=cashier)
    assert published.status_code == 200 and published.get_json()["status"] == "published"
    audit_actions = _audit_actions(app)
    assert {"merchant_applied", "merchant_approved"} <= audit_actions
    assert registry_ok(api, auditor)


def _pending(merchant, cashier):
    return Shop(merchant["id"], merchant["name"], cashier, {}, None)


def _audit_actions(app) -> set:
    from config.extensions import db

    with app.app_context():
        return set(db.session.scalars(select(AuditRecord.action)))


def test_auditor_rejects_applications_and_suspends_then_reinstates_a_merchant(app, api, shop, holder):
    auditor = shop.auditor
    late = staff(app, api, "merchant_staff")
    rejected_id = apply_as_merchant(api, late, name="无证小店").get_json()["id"]
    rejected = api.http.post(f"/api/v1/merchants/{rejected_id}/reject", headers=auditor, json={"note": "无营业执照"})
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    assert rejected.get_json()["decision_note"] == "无营业执照"
    for action in ("approve", "reject", "suspend"):
        after = api.http.post(f"/api/v1/merchants/{rejected_id}/{action}", headers=auditor, json={})
        assert after.status_code == 409 and after.get_json()["code"] == "merchant_not_in_state", action
    assert api.http.post(f"/api/v1/merchants/{shop.id}/reject", headers=auditor, json={}).status_code == 409

    offer = create_campaign(api, shop, stock=5)
    coupon = _claimed(api, holder, offer["id"])
    token = qr_token(api, holder, coupon["id"])
    assert api.http.post(f"/api/v1/merchants/{shop.id}/suspend", headers=shop.cashier, json={}).status_code == 403
    suspended = api.http.post(f"/api/v1/merchants/{shop.id}/suspend", headers=auditor, json={"note": "投诉核查"})
    assert suspended.status_code == 200 and suspended.get_json()["status"] == "suspended"

    assert offer["id"] not in _listed(api, holder)
    refused = claim(api.http, holder, offer["id"])
    assert refused.status_code == 409 and refused.get_json()["code"] == "campaign_not_open"
    checked = api.http.post("/api/v1/redemptions/verify", json={"token": token}, headers=shop.cashier).get_json()
    assert (checked["valid"], checked["reason"]) == (False, "merchant_not_approved")
    till = api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop.cashier)
    assert till.status_code == 409 and till.get_json()["code"] == "merchant_not_approved"
    republish = api.http.post(f"/api/v1/merchants/{shop.id}/campaigns/{offer['id']}/pause", headers=shop.cashier)
    assert republish.status_code == 200  # pausing is still the shop's own business
    publish = api.http.post(f"/api/v1/merchants/{shop.id}/campaigns/{offer['id']}/publish", headers=shop.cashier)
    assert publish.status_code == 409 and publish.get_json()["code"] == "merchant_not_approved"

    reinstated = api.http.post(f"/api/v1/merchants/{shop.id}/approve", headers=auditor, json={})
    assert reinstated.status_code == 200 and reinstated.get_json()["account_number"] == shop.account_number
    assert api.http.post(f"/api/v1/merchants/{shop.id}/campaigns/{offer['id']}/publish",
                         headers=shop.cashier).status_code == 200
    assert api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop.cashier).status_code == 200
    assert {"merchant_rejected", "merchant_suspended"} <= _audit_actions(app)
    assert registry_ok(api, auditor)


# --- one shop never sees another ---------------------------------------------------------------

def test_staff_of_one_merchant_cannot_reach_another(app, api, shop, holder):
    other = open_shop(app, api, shop.auditor, name="渤海超市", district="邹平市", category="goods")
    theirs = create_campaign(api, other, title="超市券")
    _claimed(api, holder, theirs["id"])
    day = shanghai_day(ago(hours=0))
    period = f"?from={day - timedelta(days=1)}&to={day + timedelta(days=1)}"

    answers = {
        "campaign for another": post_campaign(api, shop, merchant_id=other.id),
        "read another": api.http.get(f"/api/v1/merchants/{other.id}", headers=shop.cashier),
        "statement of another": api.http.get(f"/api/v1/merchants/{other.id}/statement.csv{period}",
                                             headers=shop.cashier),
        "pause another's": api.http.post(f"/api/v1/merchants/{other.id}/campaigns/{theirs['id']}/pause",
                                         headers=shop.cashier),
        "retire from another": api.http.post(f"/api/v1/merchants/{other.id}/retirements", headers=shop.cashier,
                                             json={"amount_g": 1, "beneficiary": "x", "purpose": "消纳"}),
    }
    for what, answer in answers.items():
        assert answer.status_code == 404, what
        assert answer.get_json()["code"] == "merchant_not_found", what
    # its campaign under our own merchant's path is as unknown as it would be anywhere
    sideways = api.http.post(f"/api/v1/merchants/{shop.id}/campaigns/{theirs['id']}/end", headers=shop.cashier)
    assert sideways.status_code == 404 and sideways.get_json()["code"] == "campaign_not_found"
    assert _listed(api, holder)[theirs["id"]]["status"] == "published"

    # the bureau reads both; each shop reads its own
    assert api.http.get(f"/api/v1/merchants/{other.id}/statement.csv{period}", headers=shop.auditor).status_code == 200
    own = api.http.get(f"/api/v1/merchants/{other.id}/statement.csv{period}", headers=other.cashier)
    assert own.status_code == 200 and "超市券" in own.get_data(as_text=True)
    assert api.http.get(f"/api/v1/merchants/{shop.id}", headers=shop.cashier).get_json()["name"] == shop.name
    # a staff member of no merchant acts for none
    loose = staff(app, api, "merchant_staff")
    assert post_campaign(api, shop, headers=loose).get_json()["code"] == "no_merchant"
    # residents neither create campaigns nor read merchants
    assert post_campaign(api, shop, headers=holder.auth()).status_code == 403
    assert api.http.get(f"/api/v1/merchants/{shop.id}", headers=holder.auth()).status_code == 403


# --- campaigns: draft → published → paused → ended ---------------------------------------------

def test_campaign_moves_from_draft_to_published_to_paused_to_ended(app, api, shop, holder):
    draft = create_campaign(api, shop, status="draft")
    assert draft["status"] == "draft" and draft["remaining"] == 10
    path = f"/api/v1/merchants/{shop.id}/campaigns/{draft['id']}"

    def act(action):
        return api.http.post(f"{path}/{action}", headers=shop.cashier)

    assert draft["id"] not in _listed(api, holder)
    assert claim(api.http, holder, draft["id"]).get_json()["code"] == "campaign_not_open"
    assert act("pause").get_json()["code"] == "campaign_not_in_state"

    assert act("publish").get_json()["status"] == "published"
    assert _listed(api, holder)[draft["id"]]["remaining"] == 10
    assert act("publish").get_json()["code"] == "campaign_not_in_state"
    assert act("pause").get_json()["status"] == "paused"
    assert draft["id"] not in _listed(api, holder)
    assert claim(api.http, holder, draft["id"]).get_json()["code"] == "campaign_not_open"
    assert act("publish").get_json()["status"] == "published"
    _claimed(api, holder, draft["id"])
    assert _listed(api, holder)[draft["id"]]["remaining"] == 9
    assert act("end").get_json()["status"] == "ended"
    for action in ("publish", "pause", "end"):
        refused = act(action)
        assert refused.status_code == 409 and refused.get_json()["code"] == "campaign_not_in_state", action
    assert draft["id"] not in _listed(api, holder)
    ended = api.http.get(f"/api/v1/campaigns/{draft['id']}", headers=holder.auth()).get_json()
    assert (ended["status"], ended["remaining"]) == ("ended", 9)
    # residents cannot drive a shop's campaigns
    assert api.http.post(f"{path}/publish", headers=holder.auth()).status_code == 403


def test_campaign_fields_are_validated(api, shop):
    backwards = post_campaign(api, shop, valid_from=iso(ago(hours=-2)), valid_until=iso(ago(hours=-1)))
    assert backwards.status_code == 422 and backwards.get_json()["code"] == "invalid_validity"
    for field, value in (("price_g", 0), ("stock", -1), ("face_value_fen", "5"), ("per_resident_limit", 0),
                         ("valid_from", "2026-01-01T00:00:00")):
        answer = post_campaign(api, shop, **{field: value})
        assert answer.status_code == 422, (field, answer.get_json())
        assert field in answer.get_json()["errors"], field


def test_residents_list_open_campaigns_by_district_and_category_with_remaining_stock(app, api, shop, holder):
    market = open_shop(app, api, shop.auditor, name="渤海超市", district="邹平市", category="goods")
    noodles = create_campaign(api, shop, title="面馆券", stock=3)
    groceries = create_campaign(api, market, title="超市券", stock=7)
    create_campaign(api, shop, title="明天开始", valid_from=iso(ago(hours=-24)), valid_until=iso(ago(hours=-48)))
    create_campaign(api, shop, title="已结束", valid_from=iso(ago(hours=48)), valid_until=iso(ago(hours=1)))
    create_campaign(api, shop, title="草稿", status="draft")

    everything = _listed(api, holder)
    assert set(everything) == {noodles["id"], groceries["id"]}
    assert everything[groceries["id"]]["district"] == "邹平市" and everything[groceries["id"]]["category"] == "goods"
    assert set(_listed(api, holder, "?district=邹平市")) == {groceries["id"]}
    assert set(_listed(api, holder, "?category=food")) == {noodles["id"]}
    assert set(_listed(api, holder, "?district=滨城区&category=food")) == {noodles["id"]}
    assert _listed(api, holder, "?district=邹平市&category=food") == {}

    _claimed(api, holder, noodles["id"])
    assert _listed(api, holder)[noodles["id"]]["remaining"] == 2
    assert _listed(api, holder)[groceries["id"]]["remaining"] == 7

    first = api.http.get("/api/v1/campaigns?limit=1", headers=holder.auth()).get_json()
    second = api.http.get(f"/api/v1/campaigns?limit=1&cursor={first['next_cursor']}", headers=holder.auth()).get_json()
    assert [c["id"] for c in first["items"] + second["items"]] == [groceries["id"], noodles["id"]]
    assert second["next_cursor"] is None
    for bad in ("?district=北京", "?category=weapons", "?limit=0", "?cursor=not-a-cursor", "?cursor=aWQ6LTE"):
        answer = api.http.get(f"/api/v1/campaigns{bad}", headers=holder.auth())
        assert answer.status_code == 422, (bad, answer.status_code)
    assert api.http.get("/api/v1/campaigns").status_code == 401


# --- claims: refused unless open, within the limit, and paid for -------------------------------

def test_claim_is_refused_unless_the_campaign_is_open_and_the_refusal_changes_nothing(app, api, shop, holder):
    paused = create_campaign(api, shop, title="暂停")
    api.http.post(f"/api/v1/merchants/{shop.id}/campaigns/{paused['id']}/pause", headers=shop.cashier)
    ended = create_campaign(api, shop, title="结束")
    api.http.post(f"/api/v1/merchants/{shop.id}/campaigns/{ended['id']}/end", headers=shop.cashier)
    draft = create_campaign(api, shop, title="草稿", status="draft")
    early = create_campaign(api, shop, title="未开始", valid_from=iso(ago(minutes=-5)), valid_until=iso(ago(hours=-5)))
    over = create_campaign(api, shop, title="已过期", valid_from=iso(ago(hours=5)), valid_until=iso(ago(seconds=1)))

    for offer in (paused, ended, draft, early, over):
        refused = claim(api.http, holder, offer["id"])
        assert refused.status_code == 409, offer["title"]
        assert refused.get_json()["code"] == "campaign_not_open", offer["title"]
        assert refused.mimetype == "application/problem+json"
    assert claim(api.http, holder, 999_999).status_code == 404
    assert balance(api, holder) == METRO_10_KM_G
    assert count_rows(app, Coupon) == 0
    assert count_rows(app, Campaign, Campaign.claimed_count != 0) == 0
    assert count_rows(app, JournalTransaction, JournalTransaction.kind == "claim") == 0


def test_claims_over_the_per_resident_limit_are_409(app, api, shop, holder):
    offer = create_campaign(api, shop, per_resident_limit=2)
    _claimed(api, holder, offer["id"])
    _claimed(api, holder, offer["id"])
    third = claim(api.http, holder, offer["id"])
    assert third.status_code == 409 and third.get_json()["code"] == "over_limit"
    english = api.http.post(f"/api/v1/campaigns/{offer['id']}/claim",
                            headers=holder.auth(**{"Accept-Language": "en"})).get_json()
    assert "at most 2" in english["detail"]
    assert balance(api, holder) == METRO_10_KM_G - 200
    assert _listed(api, holder)[offer["id"]]["remaining"] == 8
    # the limit is per resident: someone else still gets one
    [neighbour] = residents_with_credits(app, api, 1)
    _claimed(api, neighbour, offer["id"])
    assert registry_ok(api, shop.auditor)


def test_claim_with_too_few_credits_is_422_and_leaves_stock_and_balance_intact(app, api, shop, holder):
    dear = create_campaign(api, shop, price_g=METRO_10_KM_G + 1, stock=2)
    short = claim(api.http, holder, dear["id"], key="dear-1")
    assert short.status_code == 422 and short.get_json()["code"] == "insufficient_balance"
    assert balance(api, holder) == METRO_10_KM_G
    assert _listed(api, holder)[dear["id"]]["remaining"] == 2
    assert api.http.get("/api/v1/me/coupons", headers=holder.auth()).get_json()["items"] == []
    assert [line["type"] for line in api.http.get("/api/v1/me/ledger", headers=holder.auth()).get_json()["items"]] \
        == ["issue"]
    assert escrow_balance(app, shop.id) == 0
    assert count_rows(app, JournalTransaction, JournalTransaction.kind == "claim") == 0
    # a refusal is not remembered: the same key works once the price fits
    exact = create_campaign(api, shop, price_g=METRO_10_KM_G, stock=1)
    assert claim(api.http, holder, exact["id"], key="dear-2").status_code == 201
    assert balance(api, holder) == 0
    again = claim(api.http, holder, dear["id"], key="dear-1")
    assert again.status_code == 422 and again.get_json()["code"] == "insufficient_balance"
    assert registry_ok(api, shop.auditor)


def test_a_double_tap_with_one_idempotency_key_claims_once(app, api, shop, holder):
    offer = create_campaign(api, shop, per_resident_limit=3)
    first = claim(api.http, holder, offer["id"], key="tap-1")
    second = claim(api.http, holder, offer["id"], key="tap-1")
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json() and second.headers.get("Idempotent-Replayed") == "true"
    assert balance(api, holder) == METRO_10_KM_G - 100
    assert _listed(api, holder)[offer["id"]]["remaining"] == 9
    assert count_rows(app, Coupon) == 1
    other = create_campaign(api, shop, title="另一个活动")
    reused = claim(api.http, holder, other["id"], key="tap-1")
    assert reused.status_code == 422 and reused.get_json()["code"] == "idempotency_key_reused"
    assert count_rows(app, Coupon) == 1
    assert claim(api.http, holder, offer["id"], key="tap-2").get_json()["id"] != first.get_json()["id"]
    assert registry_ok(api, shop.auditor)


def test_claim_idempotency_at_the_service_returns_the_first_coupon(app, api, shop, holder):
    """The service alone (no HTTP replay record) never makes a second coupon for one key."""
    from accounting.ledger.accounts import account_by_number
    from accounting.ledger.idempotency import Idempotency
    from config.db_types import utcnow
    from config.extensions import db
    from merchants.coupons import claim as claim_coupon

    offer = create_campaign(api, shop, per_resident_limit=5)
    other = create_campaign(api, shop, title="别的活动")
    with app.app_context():
        account_id = account_by_number(holder.account_number).id
        key = Idempotency("test", "k1", "h1")
        first = claim_coupon(offer["id"], account_id, key, now=utcnow()).id
        db.session.commit()
        assert claim_coupon(offer["id"], account_id, key, now=utcnow()).id == first
        db.session.commit()
        with pytest.raises(DomainError) as refused:
            claim_coupon(other["id"], account_id, key, now=utcnow())
        assert refused.value.code == "idempotency_key_reused"
        db.session.rollback()
    assert count_rows(app, Coupon) == 1 and balance(api, holder) == METRO_10_KM_G - 100
    assert _listed(api, holder)[offer["id"]]["remaining"] == 9


# --- the QR code: what it holds and when it is refused -----------------------------------------

def test_qr_is_served_as_png_and_svg_and_both_hold_the_token(app, api, shop, holder):
    coupon = _claimed(api, holder, create_campaign(api, shop)["id"])
    detail = api.http.get(f"/api/v1/me/coupons/{coupon['id']}", headers=holder.auth()).get_json()
    assert detail["qr_png_url"].endswith("/qr.png") and detail["qr_svg_url"].endswith("/qr.svg")

    png = api.http.get(detail["qr_png_url"], headers=holder.auth())
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no-store" in png.headers["Cache-Control"]
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert decoded.format == zxingcpp.BarcodeFormat.QRCode
    assert read_token(decoded.text, app.config["SECRET_KEY"]) == read_token(detail["qr_token"],
                                                                            app.config["SECRET_KEY"])

    svg = api.http.get(detail["qr_svg_url"], headers=holder.auth())
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    root = ElementTree.fromstring(svg.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.findall(".//{http://www.w3.org/2000/svg}path")  # the modules, drawn as one path

    for token in (decoded.text, detail["qr_token"]):
        checked = api.http.post("/api/v1/redemptions/verify", json={"token": token}, headers=shop.cashier)
        assert checked.status_code == 200 and checked.get_json()["coupon"]["id"] == coupon["id"]

    # only the holder sees its QR; staff have no /me/coupons
    [stranger] = residents_with_credits(app, api, 1)
    for path in (f"/api/v1/me/coupons/{coupon['id']}", detail["qr_png_url"], detail["qr_svg_url"]):
        assert api.http.get(path, headers=stranger.auth()).status_code == 404
        assert api.http.get(path, headers=shop.cashier).status_code == 403
        assert api.http.get(path).status_code == 401


def test_qr_token_holds_a_coupon_id_and_code_and_nothing_personal(app, api, shop, holder):
    coupon = _claimed(api, holder, create_campaign(api, shop)["id"])
    token = qr_token(api, holder, coupon["id"])
    payload = _payload(token)
    assert isinstance(payload, list) and len(payload) == 2
    coupon_id, code = payload
    assert coupon_id == coupon["id"]
    with app.app_context():
        from config.extensions import db

        assert code == db.session.scalar(select(Coupon.code).where(Coupon.id == coupon["id"]))
    for personal in (holder.phone, holder.account_number, "测试居民"):
        assert personal not in json.dumps(payload, ensure_ascii=False)
        assert personal not in token
    assert len(token) < 120  # small enough for a low-density QR


def test_tampered_and_foreign_tokens_are_qr_invalid(app, api, shop, holder):
    offer = create_campaign(api, shop, per_resident_limit=2)
    mine, second = _claimed(api, holder, offer["id"]), _claimed(api, holder, offer["id"])
    token = qr_token(api, holder, mine["id"])
    payload, stamp, signature = token.rsplit(".", 2)
    code = _payload(token)[1]
    # a character in the middle: the last one of a base64 signature carries padding bits too
    flipped = signature[:10] + ("A" if signature[10] != "A" else "z") + signature[11:]
    forged = {
        "signature flipped": f"{payload}.{stamp}.{flipped}",
        "another coupon's id": f"{_encode_payload([second['id'], code])}.{stamp}.{signature}",
        "timestamp moved": f"{payload}.{stamp[:-1] + ('A' if stamp[-1] != 'A' else 'B')}.{signature}",
        "other secret": coupon_token(mine["id"], code, "not-the-secret"),
        "right secret, wrong code": coupon_token(mine["id"], "guessed-code", app.config["SECRET_KEY"]),
        "not a token": "https://example.com/coupon/1",
        "payload not a pair": URLSafe(app).dumps({"id": mine["id"]}),
    }
    for what, bad in forged.items():
        for path in ("/api/v1/redemptions/verify", "/api/v1/redemptions"):
            answer = api.http.post(path, json={"token": bad}, headers=shop.cashier)
            assert answer.status_code == 422, (what, path, answer.get_json())
            assert answer.get_json()["code"] == "qr_invalid", (what, path)
    assert api.http.post("/api/v1/redemptions", json={"token": ""}, headers=shop.cashier).status_code == 422
    assert api.http.post("/api/v1/redemptions", json={}, headers=shop.cashier).status_code == 422
    assert count_rows(app, Coupon, Coupon.status == "claimed") == 2


def URLSafe(app):  # noqa: N802  (a serializer signing with the real secret and salt)
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=qr_tokens.SALT)


def test_a_stale_qr_token_is_qr_expired(app, api, shop, holder, monkeypatch):
    coupon = _claimed(api, holder, create_campaign(api, shop)["id"])
    code = _payload(qr_token(api, holder, coupon["id"]))[1]
    with monkeypatch.context() as travel:  # sign it as if shown at the till 15 minutes and a bit ago
        travel.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - TOKEN_MAX_AGE_SECONDS - 5)
        stale = coupon_token(coupon["id"], code, app.config["SECRET_KEY"])
    with pytest.raises(DomainError) as refused:
        read_token(stale, app.config["SECRET_KEY"])
    assert refused.value.code == "qr_expired"
    assert read_token(stale, app.config["SECRET_KEY"], max_age=TOKEN_MAX_AGE_SECONDS + 60) == (coupon["id"], code)
    for path in ("/api/v1/redemptions/verify", "/api/v1/redemptions"):
        answer = api.http.post(path, json={"token": stale}, headers=shop.cashier)
        assert answer.status_code == 422 and answer.get_json()["code"] == "qr_expired", path
    # a fresh code from the app works at once
    fresh = qr_token(api, holder, coupon["id"])
    assert api.http.post("/api/v1/redemptions", json={"token": fresh}, headers=shop.cashier).status_code == 200


# --- the till: verify changes nothing, redeem once ---------------------------------------------

def _snapshot(app, shop, holder):
    from config.extensions import db

    with app.app_context():
        coupons = db.session.execute(select(Coupon.id, Coupon.status, Coupon.redeemed_at, Coupon.redeemed_by)
                                     .order_by(Coupon.id)).all()
        counts = (db.session.scalar(select(func.count()).select_from(JournalTransaction)),
                  db.session.scalar(select(func.count()).select_from(AuditRecord)))
    return (coupons, counts, account_balance(app, holder.account_number), account_balance(app, shop.account_number),
            escrow_balance(app, shop.id))


def test_verify_shows_the_coupon_and_changes_nothing(app, api, shop, holder):
    offer = create_campaign(api, shop, title="满20减5", face_value_fen=500)
    coupon = _claimed(api, holder, offer["id"])
    token = qr_token(api, holder, coupon["id"])
    before = _snapshot(app, shop, holder)
    for _ in range(3):
        checked = api.http.post("/api/v1/redemptions/verify", json={"token": token}, headers=shop.cashier)
        assert checked.status_code == 200
    shown = checked.get_json()
    assert shown["valid"] is True and shown["reason"] is None
    assert shown["coupon"]["id"] == coupon["id"] and shown["coupon"]["status"] == "claimed"
    assert (shown["coupon"]["title"], shown["coupon"]["face_value_fen"], shown["coupon"]["merchant_name"]) == \
        ("满20减5", 500, shop.name)
    assert shown["holder"] == "测***"  # the display name, masked; no phone, no account number
    assert holder.phone not in checked.get_data(as_text=True)
    assert holder.account_number not in checked.get_data(as_text=True)
    assert _snapshot(app, shop, holder) == before
    assert escrow_balance(app, shop.id) == 100


def test_redeem_once_then_409_saying_when_and_where(app, api, shop, holder):
    coupon = _claimed(api, holder, create_campaign(api, shop)["id"])
    token = qr_token(api, holder, coupon["id"])
    first = api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop.cashier)
    assert first.status_code == 200
    redeemed = first.get_json()
    assert redeemed["status"] == "redeemed" and redeemed["redeemed_at"].endswith("+08:00")
    assert account_balance(app, shop.account_number) == 100 and escrow_balance(app, shop.id) == 0

    for language in ("zh-CN", "en"):
        again = api.http.post("/api/v1/redemptions", json={"token": token},
                              headers=shop.cashier | {"Accept-Language": language})
        assert again.status_code == 409 and again.get_json()["code"] == "already_redeemed"
        detail = again.get_json()["detail"]
        assert shop.name in detail, detail  # where
        assert redeemed["redeemed_at"][:19] in detail, detail  # when, in Asia/Shanghai time as shown elsewhere
    # a second cashier of the same shop is told the same
    colleague = staff(app, api, "merchant_staff", merchant_id=shop.id)
    assert api.http.post("/api/v1/redemptions", json={"token": token}, headers=colleague).status_code == 409
    checked = api.http.post("/api/v1/redemptions/verify", json={"token": token}, headers=colleague).get_json()
    assert (checked["valid"], checked["reason"]) == (False, "already_redeemed")
    assert shop.name in checked["reason_text"]
    mine = api.http.get(f"/api/v1/me/coupons/{coupon['id']}", headers=holder.auth()).get_json()
    assert (mine["status"], mine["redeemed_at"]) == ("redeemed", redeemed["redeemed_at"])
    assert account_balance(app, shop.account_number) == 100  # paid once
    assert count_rows(app, JournalTransaction, JournalTransaction.kind == "redeem") == 1
    assert registry_ok(api, shop.auditor)


def test_another_merchants_coupon_is_403_and_residents_and_auditors_cannot_redeem(app, api, shop, holder):
    coupon = _claimed(api, holder, create_campaign(api, shop)["id"])
    token = qr_token(api, holder, coupon["id"])
    market = open_shop(app, api, shop.auditor, name="渤海超市", district="邹平市", category="goods")
    before = _snapshot(app, shop, holder)
    for path in ("/api/v1/redemptions/verify", "/api/v1/redemptions"):
        foreign = api.http.post(path, json={"token": token}, headers=market.cashier)
        assert foreign.status_code == 403 and foreign.get_json()["code"] == "coupon_of_another_merchant", path
        for who in (holder.auth(), shop.auditor):
            answer = api.http.post(path, json={"token": token}, headers=who)
            assert answer.status_code == 403 and answer.get_json()["code"] == "forbidden_role", path
        assert api.http.post(path, json={"token": token}).status_code == 401
    assert _snapshot(app, shop, holder) == before
    assert api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop.cashier).status_code == 200


def test_an_expired_coupon_cannot_be_redeemed_and_its_price_goes_back(app, api, shop, holder):
    coupon = _claimed(api, holder, create_campaign(api, shop)["id"])
    token = qr_token(api, holder, coupon["id"])
    from config.extensions import db

    with app.app_context():
        db.session.execute(update(Coupon).values(expires_at=ago(seconds=1)))
        db.session.commit()
    checked = api.http.post("/api/v1/redemptions/verify", json={"token": token}, headers=shop.cashier).get_json()
    assert (checked["valid"], checked["reason"]) == (False, "coupon_expired")
    late = api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop.cashier)
    assert late.status_code == 409 and late.get_json()["code"] == "coupon_expired"
    assert balance(api, holder) == METRO_10_KM_G - 100
    with app.app_context():
        assert expire_coupons() == 1
    assert balance(api, holder) == METRO_10_KM_G
    mine = api.http.get(f"/api/v1/me/coupons/{coupon['id']}", headers=holder.auth()).get_json()
    assert mine["status"] == "expired"
    assert api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop.cashier).status_code == 409
    ledger = [line["type"] for line in api.http.get("/api/v1/me/ledger", headers=holder.auth()).get_json()["items"]]
    assert sorted(ledger) == ["claim", "issue", "release"]
    assert registry_ok(api, shop.auditor)


# --- the statement -----------------------------------------------------------------------------

def test_statement_lists_claims_redemptions_returns_and_retirements_of_the_period_with_totals(app, api, shop):
    alice, bob, carol = residents_with_credits(app, api, 3)
    offer = create_campaign(api, shop, title="面馆满减券", price_g=100)
    coupons = {name: _claimed(api, who, offer["id"]) for name, who in (("alice", alice), ("bob", bob),
                                                                      ("carol", carol))}
    assert api.http.post("/api/v1/redemptions", json={"token": qr_token(api, alice, coupons["alice"]["id"])},
                         headers=shop.cashier).status_code == 200
    assert api.http.post("/api/v1/redemptions", json={"token": qr_token(api, bob, coupons["bob"]["id"])},
                         headers=shop.cashier).status_code == 200
    from config.extensions import db

    with app.app_context():
        db.session.execute(update(Coupon).where(Coupon.id == coupons["carol"]["id"]).values(expires_at=ago(seconds=1)))
        db.session.commit()
        assert expire_coupons() == 1
    retired = api.http.post(f"/api/v1/merchants/{shop.id}/retirements", headers=shop.cashier,
                            json={"amount_g": 150, "beneficiary": shop.name, "purpose": "消纳"})
    assert retired.status_code == 201, retired.get_json()
    too_much = api.http.post(f"/api/v1/merchants/{shop.id}/retirements", headers=shop.cashier,
                             json={"amount_g": 51, "beneficiary": shop.name, "purpose": "消纳"})
    assert too_much.status_code == 422 and too_much.get_json()["code"] == "insufficient_balance"

    today = shanghai_day(ago(hours=0))
    answer = api.http.get(f"/api/v1/merchants/{shop.id}/statement.csv?from={today - timedelta(days=1)}"
                          f"&to={today + timedelta(days=1)}", headers=shop.cashier)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert f"statement-{shop.id}-" in answer.headers["Content-Disposition"]
    text = answer.get_data(as_text=True)
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header, body = lines[0], lines[1:lines.index([])]
    totals = lines[lines.index([]) + 2:]
    assert header == ["time", "type", "transaction_id", "coupon_id", "campaign", "account", "amount_g", "memo"]

    rows = sorted((row[1], row[5], int(row[6]), row[3]) for row in body)
    ids = {name: str(c["id"]) for name, c in coupons.items()}
    assert rows == sorted([
        ("claim", "escrow", 100, ids["alice"]), ("claim", "escrow", 100, ids["bob"]),
        ("claim", "escrow", 100, ids["carol"]),
        ("redeem", "escrow", -100, ids["alice"]), ("redeem", "merchant", 100, ids["alice"]),
        ("redeem", "escrow", -100, ids["bob"]), ("redeem", "merchant", 100, ids["bob"]),
        ("release", "escrow", -100, ids["carol"]),
        ("retire", "merchant", -150, ""),
    ])
    assert all(row[4] == "面馆满减券" for row in body if row[1] != "retire")
    assert {(row[1], row[5], int(row[6])) for row in totals} == {
        ("claim", "escrow", 300), ("redeem", "escrow", -200), ("redeem", "merchant", 200),
        ("release", "escrow", -100), ("retire", "merchant", -150)}
    assert all(row[0] == "total" for row in totals)

    earlier = api.http.get(f"/api/v1/merchants/{shop.id}/statement.csv?from={today - timedelta(days=30)}"
                           f"&to={today - timedelta(days=2)}", headers=shop.cashier).get_data(as_text=True)
    assert [line for line in csv.reader(io.StringIO(earlier.lstrip("\ufeff"))) if line and line[0] != "total"] \
        == [header]
    assert api.http.get(f"/api/v1/merchants/{shop.id}/statement.csv?from=2026-13-01&to=x",
                        headers=shop.cashier).status_code == 422
    assert account_balance(app, shop.account_number) == 50 and escrow_balance(app, shop.id) == 0
    assert [balance(api, r) for r in (alice, bob, carol)] == [METRO_10_KM_G - 100, METRO_10_KM_G - 100,
                                                              METRO_10_KM_G]
    assert registry_ok(api, shop.auditor)


def test_a_merchant_without_an_account_has_nothing_to_retire(app, api):
    cashier = staff(app, api, "merchant_staff")
    merchant = apply_as_merchant(api, cashier).get_json()
    answer = api.http.post(f"/api/v1/merchants/{merchant['id']}/retirements", headers=cashier,
                           json={"amount_g": 1, "beneficiary": "x", "purpose": "消纳"})
    assert answer.status_code == 409 and answer.get_json()["code"] == "merchant_not_approved"
    with app.app_context():
        from config.extensions import db

        assert db.session.get(Merchant, merchant["id"]).status == "pending"


@pytest.mark.parametrize("situation, code", [
    ("paused", "campaign_not_open"), ("ended", "campaign_not_open"), ("suspended", "campaign_not_open"),
    ("window over", "campaign_not_open"), ("sold out", "sold_out"), ("over the limit", "over_limit"),
])
def test_the_stock_update_itself_refuses_when_the_early_look_was_stale(app, api, shop, monkeypatch, situation, code):
    """A claim glances at the campaign first (unlocked) to refuse early; the guard that counts is the
    UPDATE taking the stock. Here the glance is made to miss what changed, and the claim must still
    be refused, leaving balance, escrow, stock and coupons as they were."""
    from merchants import coupons as coupon_service

    alice, bob = residents_with_credits(app, api, 2)
    offer = create_campaign(api, shop, stock=1 if situation == "sold out" else 5)
    path = f"/api/v1/merchants/{shop.id}/campaigns/{offer['id']}"
    if situation == "paused":
        assert api.http.post(f"{path}/pause", headers=shop.cashier).status_code == 200
    elif situation == "ended":
        assert api.http.post(f"{path}/end", headers=shop.cashier).status_code == 200
    elif situation == "suspended":
        assert api.http.post(f"/api/v1/merchants/{shop.id}/suspend", headers=shop.auditor, json={}).status_code == 200
    elif situation == "window over":
        from config.extensions import db

        with app.app_context():
            db.session.execute(update(Campaign).values(valid_until=ago(seconds=1), valid_from=ago(hours=2)))
            db.session.commit()
    else:
        _claimed(api, bob if situation == "sold out" else alice, offer["id"])
    before = (balance(api, alice), escrow_balance(app, shop.id), count_rows(app, Coupon),
              _campaign_claimed(app, offer["id"]))

    real_refusal, glances = coupon_service._refusal, []

    def stale_glance(found, now):  # the first look sees nothing wrong; the reason is asked honestly after
        glances.append(found.id)
        return None if len(glances) == 1 else real_refusal(found, now)

    monkeypatch.setattr(coupon_service, "_refusal", stale_glance)
    refused = claim(api.http, alice, offer["id"])
    assert refused.status_code == 409 and refused.get_json()["code"] == code, refused.get_json()
    assert (balance(api, alice), escrow_balance(app, shop.id), count_rows(app, Coupon),
            _campaign_claimed(app, offer["id"])) == before
    monkeypatch.undo()
    assert registry_ok(api, shop.auditor)


def _campaign_claimed(app, campaign_id):
    from config.extensions import db

    with app.app_context():
        return db.session.scalar(select(Campaign.claimed_count).where(Campaign.id == campaign_id))
