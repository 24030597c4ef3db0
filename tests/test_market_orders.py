"""挂牌 and orders (MARKET.md): listings into escrow, fills cheapest then oldest with min lots,
partial or all-or-none, retirement on purchase, delivery versus payment, cancel and expiry."""
from datetime import timedelta

from sqlalchemy import select

from accounting.issuance import revocations
from accounting.ledger.idempotency import internal
from accounting.ledger.movement import ranges_of
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.verify import verify_registry
from accounting.market import listings, money, orders
from accounting.market.models import Listing
from config.db_types import utcnow
from config.extensions import db
from tests.coupons_support import open_shop, staff
from tests.market_support import (
    approved_enterprises,
    deposit_to,
    fill_pool,
    fund,
    give_credits,
    issue_to,
    list_from,
    open_enterprise,
    wallet,
)
from tests.registry_support import failed
from tests.support import iso


def list_credits(api, headers, quantity_g, price, **fields):
    answer = api.http.post("/api/v1/market/listings", headers=headers,
                           json={"quantity_g": quantity_g, "price_fen_per_t": price, **fields})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def order(api, firm, quantity_g, max_price, **fields):
    return api.http.post("/api/v1/market/orders", headers=firm.staff,
                         json={"quantity_g": quantity_g, "max_price_fen_per_t": max_price, **fields})


def verified(app) -> None:
    result = app.test_cli_runner().invoke(args=["registry", "verify"])
    assert result.exit_code == 0, result.output


def test_orders_fill_cheapest_then_oldest_and_pay_as_the_credits_move(app, api):
    auditor = staff(app, api, "auditor")
    shop = open_shop(app, api, auditor)
    give_credits(app, shop.account_number, 600_000)
    fill_pool(app, 300_000)
    buyer = open_enterprise(app, api, auditor)
    fund(api, auditor, buyer.account_number, 100_000)

    dear = list_credits(api, shop.cashier, 200_000, 6_000)
    cheap_old = list_credits(api, shop.cashier, 200_000, 5_000)
    cheap_new = list_credits(api, auditor, 300_000, 5_000, seller="pool")
    big_lot = list_credits(api, shop.cashier, 200_000, 4_000, min_lot_g=150_000)
    assert wallet(api, shop.cashier)["credits_g"] == 0 and wallet(api, shop.cashier)["listed_g"] == 600_000
    shown = api.http.get("/api/v1/market/listings").get_json()["items"]
    assert [item["id"] for item in shown] == [big_lot["id"], cheap_old["id"], cheap_new["id"], dear["id"]]
    assert shown[2]["seller_name"].startswith("碳普惠池") and shown[1]["seller_name"] == shop.name

    # 100 kg at ≤ 5,000: the 4,000 listing sells no less than 150 kg, so it is passed over; the
    # older of the two at 5,000 fills it.
    bought = order(api, buyer, 100_000, 5_000)
    assert bought.status_code == 201, bought.get_json()
    body = bought.get_json()
    assert [(f["listing_id"], f["quantity_g"], f["amount_fen"]) for f in body["fills"]] == [
        (cheap_old["id"], 100_000, 500)]
    assert (body["filled_g"], body["cost_fen"], body["fee_fen"]) == (100_000, 500, 0)
    assert body["fills"][0]["serials"]
    assert wallet(api, buyer.staff)["credits_g"] == 100_000 and wallet(api, buyer.staff)["money_fen"] == 99_500
    assert wallet(api, shop.cashier)["money_fen"] == 500

    # 160 kg from the 4,000 listing leaves 40 kg, less than its lot: 30 kg cannot be served, the
    # whole 40 kg can.
    assert order(api, buyer, 160_000, 4_000).get_json()["cost_fen"] == 640
    small = order(api, buyer, 30_000, 4_000)
    assert small.status_code == 409 and small.get_json()["code"] == "no_fill"
    rest = order(api, buyer, 40_000, 4_000)
    assert rest.status_code == 201 and rest.get_json()["fills"][0]["quantity_g"] == 40_000
    assert api.http.get(f"/api/v1/market/listings/{big_lot['id']}").get_json()["status"] == "filled"

    # all_or_none: 1,000 kg at ≤ 5,000 cannot fill (400 kg are offered): nothing moves.
    before = wallet(api, buyer.staff)
    refused = order(api, buyer, 1_000_000, 5_000, fill="all_or_none")
    assert refused.status_code == 409 and refused.get_json()["code"] == "no_fill"
    assert wallet(api, buyer.staff) == before
    partial = order(api, buyer, 1_000_000, 5_000)
    assert partial.status_code == 201 and partial.get_json()["filled_g"] == 400_000
    assert [f["listing_id"] for f in partial.get_json()["fills"]] == [cheap_old["id"], cheap_new["id"]]
    assert wallet(api, auditor, "pool")["money_fen"] == 1_500
    assert wallet(api, shop.cashier)["money_fen"] == 1_800
    assert wallet(api, buyer.staff) == {"account_number": buyer.account_number, "credits_g": 700_000,
                                        "listed_g": 0, "money_fen": 100_000 - 3_300, "reserved_fen": 0}
    verified(app)


def test_an_order_costing_more_than_the_free_money_moves_nothing(app, api):
    auditor = staff(app, api, "auditor")
    fill_pool(app, 1_000_000)
    buyer = open_enterprise(app, api, auditor)
    fund(api, auditor, buyer.account_number, 4_999)
    list_credits(api, auditor, 1_000_000, 5_000, seller="pool")
    short = order(api, buyer, 1_000_000, 5_000)
    assert short.status_code == 422 and short.get_json()["code"] == "insufficient_funds"
    assert wallet(api, buyer.staff)["money_fen"] == 4_999 and wallet(api, buyer.staff)["credits_g"] == 0
    assert api.http.get("/api/v1/market/listings").get_json()["items"][0]["remaining_g"] == 1_000_000
    # Rounding: 1 g at 5,000 fen/t costs ceil(0.005) = 1 fen, the seller never short-changed.
    one = order(api, buyer, 1, 5_000)
    assert one.status_code == 201 and one.get_json()["cost_fen"] == 1
    verified(app)


def test_retiring_on_purchase_answers_a_certificate(app, api):
    auditor = staff(app, api, "auditor")
    fill_pool(app, 10_000)
    buyer = open_enterprise(app, api, auditor)
    fund(api, auditor, buyer.account_number, 1_000)
    list_credits(api, auditor, 10_000, 43_500, seller="pool")
    bought = order(api, buyer, 10_000, 50_000, retire={"beneficiary": "滨州绿色化工 2026 年会", "purpose": "碳中和"})
    assert bought.status_code == 201, bought.get_json()
    body = bought.get_json()
    assert body["retirement_number"].startswith("BZR-") and body["cost_fen"] == 435
    assert wallet(api, buyer.staff)["credits_g"] == 0  # retired at once, never spendable
    public = api.http.get(f"/api/v1/retirements/{body['retirement_number']}").get_json()
    assert public["amount_g"] == 10_000 and public["serials"] == body["fills"][0]["serials"]
    certificate = api.http.get(body["certificate_url"])
    assert certificate.status_code == 200 and "碳减排量注销证明" in certificate.get_data(as_text=True)
    verified(app)


def test_a_retried_order_fills_once(app, api):
    auditor = staff(app, api, "auditor")
    fill_pool(app, 10_000)
    buyer = open_enterprise(app, api, auditor)
    fund(api, auditor, buyer.account_number, 1_000)
    list_credits(api, auditor, 10_000, 5_000, seller="pool")
    first = api.http.post(
        "/api/v1/market/orders", headers={**buyer.staff, "Idempotency-Key": "order-1"},
        json={"quantity_g": 4_000, "max_price_fen_per_t": 5_000})
    again = api.http.post("/api/v1/market/orders", headers={**buyer.staff, "Idempotency-Key": "order-1"},
                          json={"quantity_g": 4_000, "max_price_fen_per_t": 5_000})
    assert first.status_code == 201 and again.get_json() == first.get_json()
    assert wallet(api, buyer.staff)["credits_g"] == 4_000


def test_cancel_and_expiry_return_the_remainder(app, api):
    auditor = staff(app, api, "auditor")
    shop = open_shop(app, api, auditor)
    give_credits(app, shop.account_number, 1_000)
    listing = list_credits(api, shop.cashier, 600, 5_000, expires_at=iso(utcnow() + timedelta(hours=1)))
    other = list_credits(api, shop.cashier, 400, 5_000)
    assert wallet(api, shop.cashier)["credits_g"] == 0
    cancelled = api.http.delete(f"/api/v1/market/listings/{other['id']}", headers=shop.cashier)
    assert cancelled.status_code == 200 and cancelled.get_json() == {"id": other["id"], "status": "cancelled",
                                                                     "returned_g": 400}
    again = api.http.delete(f"/api/v1/market/listings/{other['id']}", headers=shop.cashier)
    assert again.status_code == 409 and again.get_json()["code"] == "listing_not_open"
    with app.app_context():
        db.session.get(Listing, listing["id"]).expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert listing["id"] not in [i["id"] for i in api.http.get("/api/v1/market/listings").get_json()["items"]]
    from accounting.market.tasks import expire_listings
    with app.app_context():
        assert expire_listings() == 1
    assert api.http.get(f"/api/v1/market/listings/{listing['id']}").get_json()["status"] == "expired"
    assert wallet(api, shop.cashier)["credits_g"] == 1_000 and wallet(api, shop.cashier)["listed_g"] == 0
    verified(app)


def test_revoking_credits_on_offer_takes_them_off_the_listing(app):
    """Fraud found in credits that stand listed: the revocation takes them out of the listing's
    escrow, and the listing offers only what is left (it used to go on owing them: invariant 10
    broken, and an order or a cancel reaching them refused as short of credits)."""
    seller, buyer = approved_enterprises(app, 2)
    issue_to(app, seller, 300)
    deposit_to(app, buyer, 10_000)
    partly, wholly = list_from(app, seller, 200, 1_000_000), list_from(app, seller, 100, 1_000_000)
    with app.app_context():
        [first_part] = ranges_of(db.session.get(Listing, partly).opened_in)  # serials 1–200, then 201–300
        revoked = revocations.revoke_range(first_part.serial_prefix, 151, 300, "fraud", internal("auditor", "r1"),
                                           actor_id=900)
        db.session.commit()
        assert revoked["revoked_g"] == 150 and len(revoked["transactions"]) == 2
        listed = {found.id: (found.status, found.remaining_g) for found in db.session.scalars(select(Listing))}
        assert listed == {partly: ("open", 150), wholly: ("cancelled", 0)}

        placed, _ = orders.place(buyer, 100, 1_000_000, internal("order", "o1"), actor_id=None)
        _, returned = listings.close(partly, "cancelled", internal("cancel", "c1"), actor_id=None, now=utcnow())
        db.session.commit()
        assert (placed.filled_g, placed.cost_fen, returned) == (100, 100, 50)
        assert money.wallet(seller)["credits_g"] == 50 and money.wallet(buyer)["credits_g"] == 100
        seal_audit_log()
        assert not failed(verify_registry())
