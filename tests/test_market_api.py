"""The market's API around the trades (MARKET.md): enterprises, money, statistics, statements,
who may do what, and bad input refused clearly with nothing moved."""
from datetime import timedelta

import pytest

from accounting.market.credit_codes import is_valid_credit_code
from config.db_types import utcnow
from tests.coupons_support import open_shop, staff
from tests.market_support import credit_code, fill_pool, fund, give_credits, open_enterprise, wallet
from tests.support import iso
from tests.test_market_orders import list_credits, order, verified

PROBLEM = "application/problem+json"


def refused(answer, status: int, code: str) -> None:
    assert answer.status_code == status, answer.get_json()
    assert answer.mimetype == PROBLEM and answer.get_json()["code"] == code, answer.get_json()


# --- enterprises ---------------------------------------------------------------------------------

def test_credit_codes_are_checked_as_gb_32100_says():
    assert is_valid_credit_code("91350100M000100Y43")  # a published example
    assert not is_valid_credit_code("91350100M000100Y44")  # one character off
    assert not is_valid_credit_code("91350100M000100I43")  # I is not in the charset
    assert all(is_valid_credit_code(credit_code(seed)) for seed in range(200))


def test_an_enterprise_applies_is_approved_and_a_duplicate_or_bad_code_is_refused(app, api):
    auditor = staff(app, api, "auditor")
    member = staff(app, api, "enterprise_staff")
    bad = api.http.post("/api/v1/enterprises", headers={**member, "Accept-Language": "zh-CN"},
                        json={"name": "滨州某企业", "credit_code": "91350100M000100Y44", "district": "滨城区"})
    refused(bad, 422, "invalid_credit_code")
    assert "校验码" in bad.get_json()["detail"]
    code = credit_code()
    applied = api.http.post("/api/v1/enterprises", headers=member,
                            json={"name": "滨州某企业", "credit_code": code.lower(), "district": "滨城区"})
    assert applied.status_code == 201 and applied.get_json()["status"] == "pending"
    assert applied.get_json()["credit_code"] == code
    other = staff(app, api, "enterprise_staff")
    refused(api.http.post("/api/v1/enterprises", headers=other,
                          json={"name": "另一家", "credit_code": code, "district": "滨城区"}), 409, "already_registered")
    enterprise_id = applied.get_json()["id"]
    refused(api.http.post(f"/api/v1/enterprises/{enterprise_id}/approve", headers=member, json={}), 403,
            "forbidden_role")
    # Not approved yet: no trading.
    refused(order(api, type("F", (), {"staff": member})(), 1_000, 5_000), 409, "enterprise_not_approved")
    approved = api.http.post(f"/api/v1/enterprises/{enterprise_id}/approve", headers=auditor, json={})
    assert approved.status_code == 200 and approved.get_json()["account_number"].startswith("BZ")
    refused(api.http.post(f"/api/v1/enterprises/{enterprise_id}/approve", headers=auditor, json={}), 409,
            "enterprise_not_in_state")
    assert api.http.get(f"/api/v1/enterprises/{enterprise_id}", headers=other).status_code == 403  # not theirs


# --- money ---------------------------------------------------------------------------------------

def test_deposits_are_idempotent_on_the_bank_reference(app, api):
    auditor = staff(app, api, "auditor")
    firm = open_enterprise(app, api, auditor)
    body = {"account_number": firm.account_number, "amount_fen": 500_000, "bank_reference": "ICBC-20261201-001"}
    first = api.http.post("/api/v1/market/deposits", headers=auditor, json=body)
    assert first.status_code == 201
    again = api.http.post("/api/v1/market/deposits", headers=auditor, json=body)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    refused(api.http.post("/api/v1/market/deposits", headers=auditor, json={**body, "amount_fen": 1}), 409,
            "bank_reference_reused")
    assert wallet(api, firm.staff)["money_fen"] == 500_000
    refused(api.http.post("/api/v1/market/deposits", headers=firm.staff, json={**body, "bank_reference": "X"}), 403,
            "forbidden_role")
    resident = api.register()
    resident_number = api.http.get("/api/v1/me", headers=resident.auth()).get_json()["account"]["number"]
    refused(api.http.post("/api/v1/market/deposits", headers=auditor,
                          json={**body, "account_number": resident_number, "bank_reference": "Y"}), 422,
            "not_an_organization")
    pool = api.http.post("/api/v1/market/deposits", headers=auditor,
                         json={**body, "account_number": "pool", "bank_reference": "Z"})
    assert pool.status_code == 201 and pool.get_json()["account_number"] == "SYSPOOL"
    verified(app)


def test_a_withdrawal_is_asked_then_paid_and_never_overdraws(app, api):
    auditor = staff(app, api, "auditor")
    shop = open_shop(app, api, auditor)
    fund(api, auditor, shop.account_number, 1_000)
    refused(api.http.post("/api/v1/market/withdrawals", headers=shop.cashier, json={"amount_fen": 1_001}), 422,
            "insufficient_funds")
    asked = api.http.post("/api/v1/market/withdrawals", headers=shop.cashier, json={"amount_fen": 800})
    assert asked.status_code == 201 and asked.get_json()["status"] == "pending"
    second = api.http.post("/api/v1/market/withdrawals", headers=shop.cashier, json={"amount_fen": 800}).get_json()
    pending = api.http.get("/api/v1/market/withdrawals", headers=auditor, query_string={"status": "pending"})
    assert [w["id"] for w in pending.get_json()["items"]] == [second["id"], asked.get_json()["id"]]
    refused(api.http.post(f"/api/v1/market/withdrawals/{asked.get_json()['id']}/pay", headers=shop.cashier,
                          json={}), 403, "forbidden_role")
    paid = api.http.post(f"/api/v1/market/withdrawals/{asked.get_json()['id']}/pay", headers=auditor,
                         json={"bank_reference": "OUT-1"})
    assert paid.status_code == 200 and paid.get_json()["status"] == "paid"
    # The second asked for money that is gone now: paying it is refused, nothing moves.
    refused(api.http.post(f"/api/v1/market/withdrawals/{second['id']}/pay", headers=auditor, json={}), 422,
            "insufficient_funds")
    assert wallet(api, shop.cashier)["money_fen"] == 200
    refused(api.http.post(f"/api/v1/market/withdrawals/{asked.get_json()['id']}/pay", headers=auditor, json={}),
            409, "withdrawal_not_in_state")
    verified(app)


# --- who may do what -----------------------------------------------------------------------------

def test_roles_residents_cannot_trade_and_staff_spend_only_their_own(app, api):
    auditor = staff(app, api, "auditor")
    fill_pool(app, 21_000)
    rich, poor = open_enterprise(app, api, auditor, "甲企业"), open_enterprise(app, api, auditor, "乙企业")
    fund(api, auditor, rich.account_number, 10_000)
    listing = list_credits(api, auditor, 20_000, 5_000, seller="pool")
    resident = api.register()
    refused(api.http.post("/api/v1/market/orders", headers=resident.auth(),
                          json={"quantity_g": 1, "max_price_fen_per_t": 5_000}), 403, "forbidden_role")
    refused(api.http.post("/api/v1/market/listings", headers=resident.auth(),
                          json={"quantity_g": 1, "price_fen_per_t": 5_000}), 403, "forbidden_role")
    # Staff act for their own enterprise, whatever the body says: the poor one cannot spend the rich one's money.
    refused(order(api, poor, 1_000, 5_000), 422, "insufficient_funds")
    assert wallet(api, rich.staff)["money_fen"] == 10_000
    refused(api.http.get("/api/v1/market/wallet", headers=poor.staff,
                         query_string={"account": rich.account_number}), 403, "forbidden_role")
    # Only the bureau lists for the pool, and clears; merchants list but do not buy.
    refused(api.http.post("/api/v1/market/listings", headers=rich.staff,
                          json={"quantity_g": 1, "price_fen_per_t": 5_000, "seller": "pool"}), 403, "forbidden_role")
    shop = open_shop(app, api, auditor)
    refused(api.http.post("/api/v1/market/orders", headers=shop.cashier,
                          json={"quantity_g": 1, "max_price_fen_per_t": 5_000}), 403, "forbidden_role")
    # A listing is cancelled by its seller only (the pool's by the bureau): to anyone else it is not theirs.
    refused(api.http.delete(f"/api/v1/market/listings/{listing['id']}", headers=shop.cashier), 404,
            "listing_not_found")
    refused(api.http.delete(f"/api/v1/market/listings/{listing['id']}", headers=rich.staff), 404,
            "listing_not_found")
    opened = api.http.post("/api/v1/market/auctions", headers=auditor, json={
        "quantity_g": 1_000, "reserve_price_fen_per_t": 4_000, "closes_at": iso(utcnow() + timedelta(hours=1))})
    refused(api.http.post(f"/api/v1/market/auctions/{opened.get_json()['id']}/clear", headers=rich.staff), 403,
            "forbidden_role")  # the role is checked before the state
    refused(api.http.post(f"/api/v1/market/auctions/{opened.get_json()['id']}/bids", headers=auditor,
                          json={"quantity_g": 1_000, "price_fen_per_t": 5_000}), 403, "forbidden_role")


def test_nobody_buys_their_own_listing(app, api):
    auditor = staff(app, api, "auditor")
    firm = open_enterprise(app, api, auditor)
    give_credits(app, firm.account_number, 5_000)
    fund(api, auditor, firm.account_number, 1_000)
    own = list_credits(api, firm.staff, 5_000, 5_000)
    refused(order(api, firm, 1_000, 5_000, listing_id=own["id"]), 409, "self_trade")
    refused(order(api, firm, 1_000, 5_000), 409, "no_fill")  # its own listing is passed over
    assert wallet(api, firm.staff)["listed_g"] == 5_000 and wallet(api, firm.staff)["money_fen"] == 1_000


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"quantity_g": 0, "max_price_fen_per_t": 5_000}, "quantity_g"),
    ({"quantity_g": -5, "max_price_fen_per_t": 5_000}, "quantity_g"),
    ({"quantity_g": 1_000, "max_price_fen_per_t": 0}, "max_price_fen_per_t"),
    ({"quantity_g": 1_000, "max_price_fen_per_t": 10**9}, "max_price_fen_per_t"),
    ({"quantity_g": 10**13, "max_price_fen_per_t": 5_000}, "quantity_g"),
    ({"quantity_g": 1.5, "max_price_fen_per_t": 5_000}, "quantity_g"),
    ({"quantity_g": 1_000, "max_price_fen_per_t": 5_000, "fill": "some"}, "fill"),
    ({"quantity_g": 1_000, "max_price_fen_per_t": 5_000, "retire": {"beneficiary": ""}}, "retire.beneficiary"),
])
def test_bad_orders_are_refused_and_nothing_moves(app, api, body, field):
    auditor = staff(app, api, "auditor")
    firm = open_enterprise(app, api, auditor)
    fund(api, auditor, firm.account_number, 1_000)
    answer = api.http.post("/api/v1/market/orders", headers={**firm.staff, "Accept-Language": "zh-CN"}, json=body)
    refused(answer, 422, "validation_failed")
    assert field in answer.get_json()["errors"]
    assert wallet(api, firm.staff)["money_fen"] == 1_000


def test_bad_listings_and_bids_are_refused(app, api):
    auditor = staff(app, api, "auditor")
    fill_pool(app, 5_000)
    for body, status, code in (
            ({"quantity_g": 1_000, "price_fen_per_t": 0, "seller": "pool"}, 422, "validation_failed"),
            ({"quantity_g": 1_000, "price_fen_per_t": 5_000, "min_lot_g": 2_000, "seller": "pool"}, 422,
             "min_lot_above_quantity"),
            ({"quantity_g": 1_000, "price_fen_per_t": 5_000, "seller": "pool",
              "expires_at": iso(utcnow() - timedelta(minutes=1))}, 422, "expiry_not_in_future"),
            ({"quantity_g": 6_000, "price_fen_per_t": 5_000, "seller": "pool"}, 422, "insufficient_balance")):
        refused(api.http.post("/api/v1/market/listings", headers=auditor, json=body), status, code)
    assert wallet(api, auditor, "pool")["credits_g"] == 5_000
    firm = open_enterprise(app, api, auditor)
    fund(api, auditor, firm.account_number, 10)
    later = api.http.post("/api/v1/market/auctions", headers=auditor, json={
        "quantity_g": 1_000, "reserve_price_fen_per_t": 4_000, "opens_at": iso(utcnow() + timedelta(hours=1)),
        "closes_at": iso(utcnow() + timedelta(hours=2))})
    assert later.status_code == 201 and later.get_json()["status"] == "scheduled"
    refused(api.http.post(f"/api/v1/market/auctions/{later.get_json()['id']}/bids", headers=firm.staff,
                          json={"quantity_g": 1_000, "price_fen_per_t": 5_000}), 409, "auction_not_open")
    refused(api.http.post("/api/v1/market/auctions", headers=auditor, json={
        "quantity_g": 1_000, "reserve_price_fen_per_t": 4_000, "closes_at": iso(utcnow() - timedelta(hours=1))}),
        422, "invalid_auction_window")
    now_open = api.http.post("/api/v1/market/auctions", headers=auditor, json={
        "quantity_g": 1_000, "reserve_price_fen_per_t": 4_000, "closes_at": iso(utcnow() + timedelta(hours=1))})
    auction_id = now_open.get_json()["id"]
    refused(api.http.post(f"/api/v1/market/auctions/{auction_id}/bids", headers=firm.staff,
                          json={"quantity_g": 1_000, "price_fen_per_t": 3_999}), 422, "below_reserve")
    refused(api.http.post(f"/api/v1/market/auctions/{auction_id}/bids", headers=firm.staff,
                          json={"quantity_g": 1_000, "price_fen_per_t": 50_000}), 422, "insufficient_funds")
    refused(api.http.post(f"/api/v1/market/auctions/{auction_id}/bids", headers=firm.staff,
                          json={"quantity_g": 2_000, "price_fen_per_t": 4_000}), 422, "bid_above_quantity")
    refused(api.http.post("/api/v1/market/auctions/99999/bids", headers=firm.staff,
                          json={"quantity_g": 1_000, "price_fen_per_t": 4_000}), 404, "auction_not_found")
    assert wallet(api, firm.staff) == {"account_number": firm.account_number, "credits_g": 0, "listed_g": 0,
                                       "money_fen": 10, "reserved_fen": 0}
    verified(app)


# --- statistics and statements -------------------------------------------------------------------

def test_daily_statistics_and_the_enterprise_statement(app, api):
    auditor = staff(app, api, "auditor")
    fill_pool(app, 3_000_000)
    firm = open_enterprise(app, api, auditor)
    fund(api, auditor, firm.account_number, 100_000)
    list_credits(api, auditor, 1_000_000, 4_000, seller="pool")
    list_credits(api, auditor, 2_000_000, 6_000, seller="pool")
    assert order(api, firm, 1_500_000, 6_000).status_code == 201  # 1 t at 4,000 and 0.5 t at 6,000
    assert order(api, firm, 500_000, 6_000).status_code == 201
    stats = api.http.get("/api/v1/market/stats").get_json()["items"]
    [today] = stats
    assert today["volume_g"] == 2_000_000 and today["turnover_fen"] == 4_000 + 3_000 + 3_000
    assert today["trades"] == 3 and (today["high_fen_per_t"], today["low_fen_per_t"]) == (6_000, 4_000)
    assert today["vwap_fen_per_t"] == 5_000  # (1 t × 4,000 + 1 t × 6,000) / 2 t
    refused(api.http.get("/api/v1/market/stats", query_string={"from": "2026-12-10", "to": "2026-12-01"}), 422,
            "validation_failed")
    day = today["day"]
    csv = api.http.get(f"/api/v1/enterprises/{firm.id}/statement.csv", headers=firm.staff,
                       query_string={"from": day, "to": day})
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "time,type,transaction_id,credits_g,money_fen,reference,memo"
    kinds = [line.split(",")[1] for line in lines[1:4]]
    assert kinds == ["deposit", "trade", "trade"]
    assert "total,trade,,2000000,-10000,," in lines
