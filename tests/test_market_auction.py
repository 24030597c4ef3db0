"""单向竞价: MARKET.md's worked example end to end through HTTP, and clearing by property."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from accounting.issuance import revocations
from accounting.ledger.idempotency import internal
from accounting.ledger.movement import ranges_of
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.verify import verify_registry
from accounting.market.clearing import SealedBid, clear, reservation, settle
from accounting.market.models import Auction
from accounting.market.pricing import cost_fen
from config.db_types import utcnow
from config.extensions import db
from tests.coupons_support import staff
from tests.market_support import fill_pool, fund, open_enterprise, wallet
from tests.registry_support import failed
from tests.support import iso


def close_now(app, auction_id: int) -> None:
    """Move the auction's close into the past (the test does not wait for the clock)."""
    with app.app_context():
        found = db.session.get(Auction, auction_id)
        found.opens_at, found.closes_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(seconds=1)
        db.session.commit()


def test_the_worked_example_of_market_md(app, api):
    auditor = staff(app, api, "auditor")
    fill_pool(app, 1_000_000)
    firms = {name: open_enterprise(app, api, auditor, f"企业{name}") for name in "ABCDE"}
    for firm in firms.values():
        fund(api, auditor, firm.account_number, 10_000)
    opened = api.http.post("/api/v1/market/auctions", headers=auditor, json={
        "quantity_g": 1_000_000, "reserve_price_fen_per_t": 4_000, "closes_at": iso(utcnow() + timedelta(hours=1))})
    assert opened.status_code == 201, opened.get_json()
    auction = opened.get_json()
    assert auction["status"] == "open"
    assert wallet(api, auditor, "pool")["credits_g"] == 0 and wallet(api, auditor, "pool")["listed_g"] == 1_000_000

    bids = {}
    for name, quantity, price in (("A", 400_000, 6_000), ("B", 500_000, 5_500), ("C", 300_000, 5_000),
                                  ("D", 300_000, 5_000), ("E", 200_000, 3_000)):
        answer = api.http.post(f"/api/v1/market/auctions/{auction['id']}/bids", headers=firms[name].staff,
                               json={"quantity_g": quantity, "price_fen_per_t": price})
        bids[name] = answer
    assert bids["E"].status_code == 422 and bids["E"].get_json()["code"] == "below_reserve"
    reserved = {name: bids[name].get_json()["reserved_fen"] for name in "ABCD"}
    assert reserved == {"A": 2_400, "B": 2_750, "C": 1_500, "D": 1_500}
    assert wallet(api, firms["A"].staff) == {"account_number": firms["A"].account_number, "credits_g": 0,
                                             "listed_g": 0, "money_fen": 7_600, "reserved_fen": 2_400}
    # Sealed: the public sees how many bids, not whose or what.
    public = api.http.get(f"/api/v1/market/auctions/{auction['id']}").get_json()
    assert public["bid_count"] == 4 and public["bids"] is None
    early = api.http.post(f"/api/v1/market/auctions/{auction['id']}/clear", headers=auditor)
    assert early.status_code == 409 and early.get_json()["code"] == "auction_open"

    close_now(app, auction["id"])
    late = api.http.post(f"/api/v1/market/auctions/{auction['id']}/bids", headers=firms["E"].staff,
                         json={"quantity_g": 1_000, "price_fen_per_t": 9_000})
    assert late.status_code == 409 and late.get_json()["code"] == "auction_closed"
    cleared = api.http.post(f"/api/v1/market/auctions/{auction['id']}/clear", headers=auditor)
    assert cleared.status_code == 200, cleared.get_json()
    result = cleared.get_json()
    assert result["clearing_price_fen_per_t"] == 5_000 and result["unsold_g"] == 0
    by_bid = {a["bid_id"]: a for a in result["allocations"]}
    expected = {"A": (400_000, 2_000, 400), "B": (500_000, 2_500, 250), "C": (100_000, 500, 1_000),
                "D": (0, 0, 1_500)}
    for name, (grams, paid, released) in expected.items():
        allocation = by_bid[bids[name].get_json()["id"]]
        assert (allocation["quantity_g"], allocation["amount_fen"], allocation["released_fen"]) == (grams, paid,
                                                                                                    released)
        assert wallet(api, firms[name].staff) == {"account_number": firms[name].account_number, "credits_g": grams,
                                                  "listed_g": 0, "money_fen": 10_000 - paid, "reserved_fen": 0}
    pool = api.http.get("/api/v1/market/pool").get_json()
    assert (pool["money_fen"], pool["credits_g"], pool["sold_total_g"]) == (5_000, 0, 1_000_000)
    # Clearing twice gives the same answer; after clearing everyone sees the bids.
    assert api.http.post(f"/api/v1/market/auctions/{auction['id']}/clear", headers=auditor).get_json() == result
    assert len(api.http.get(f"/api/v1/market/auctions/{auction['id']}").get_json()["bids"]) == 4
    assert app.test_cli_runner().invoke(args=["registry", "verify"]).exit_code == 0


# --- clearing, by property -----------------------------------------------------------------------

bid_sets = st.lists(st.tuples(st.integers(1, 2_000_000), st.integers(4_000, 4_050), st.integers(0, 5)),
                    min_size=0, max_size=12)


@settings(max_examples=400, deadline=None)
@given(quantity=st.integers(1, 3_000_000), raw=bid_sets, fee_bp=st.sampled_from([0, 25, 300]))
def test_clearing_by_property(quantity, raw, fee_bp):
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    bids = [SealedBid(i + 1, q, p, start + timedelta(seconds=t), reservation(q, p, fee_bp))
            for i, (q, p, t) in enumerate(raw)]
    result = clear(quantity, bids)
    settled = settle(result, bids, fee_bp)
    winners = [b for b in bids if result.allocations[b.id] > 0]
    assert set(result.allocations) == {b.id for b in bids}  # one entry per bid, losers included
    if winners:
        # The clearing price is the lowest winning bid, and no winner pays above its own bid.
        assert result.price_fen_per_t == min(b.price_fen_per_t for b in winners)
        at_or_above = sum(b.quantity_g for b in bids if b.price_fen_per_t >= result.price_fen_per_t)
        assert sum(result.allocations.values()) == min(quantity, at_or_above)
    else:
        assert result.price_fen_per_t is None and not bids
    assert result.unsold_g == quantity - sum(result.allocations.values())
    for bid in bids:
        outcome = settled[bid.id]
        assert 0 <= outcome.allocated_g <= bid.quantity_g
        assert outcome.amount_fen <= cost_fen(outcome.allocated_g, bid.price_fen_per_t)  # never above its bid
        # Every reservation is spent or released, never overdrawn.
        assert outcome.released_fen >= 0
        assert outcome.amount_fen + outcome.fee_fen + outcome.released_fen == bid.reserved_fen
    # Price then time: a bid that lost something never outranks one that won anything.
    rank = {b.id: (-b.price_fen_per_t, b.placed_at, b.id) for b in bids}
    for short in (b for b in bids if result.allocations[b.id] < b.quantity_g):
        assert not any(result.allocations[other.id] > 0 and rank[other.id] > rank[short.id] for other in bids)
    # Clearing twice gives the same answer.
    assert clear(quantity, list(reversed(bids))) == result


@settings(max_examples=200, deadline=None)
@given(quantity=st.integers(1, 10**12), price=st.integers(1, 100_000_000))
def test_python_and_the_ledger_price_a_fill_alike(app, quantity, price):
    with app.app_context():
        in_sql = db.session.execute(text("SELECT ceil(CAST(:q AS numeric) * :p / 1000000)::bigint"),
                                    {"q": quantity, "p": price}).scalar()
    assert cost_fen(quantity, price) == in_sql


@pytest.mark.parametrize("revoked_g", [100, 300])
def test_revoking_credits_at_auction_shrinks_what_it_sells(app, api, revoked_g):
    """Fraud found in credits the pool has at auction: the revocation takes them out of the
    auction's escrow and the auction sells only what is left; with nothing left it clears with
    nothing sold and gives every bid its reservation back (invariant 10 holds throughout)."""
    auditor = staff(app, api, "auditor")
    fill_pool(app, 300)
    firm = open_enterprise(app, api, auditor)
    fund(api, auditor, firm.account_number, 10_000)
    opened = api.http.post("/api/v1/market/auctions", headers=auditor, json={
        "quantity_g": 300, "reserve_price_fen_per_t": 4_000, "closes_at": iso(utcnow() + timedelta(hours=1))})
    assert opened.status_code == 201, opened.get_json()
    auction_id = opened.get_json()["id"]
    bid = api.http.post(f"/api/v1/market/auctions/{auction_id}/bids", headers=firm.staff,
                        json={"quantity_g": 300, "price_fen_per_t": 1_000_000})
    assert bid.status_code == 201, bid.get_json()
    with app.app_context():
        offered = ranges_of(db.session.get(Auction, auction_id).opened_in)
        left_to_revoke = revoked_g
        for number, part in enumerate(offered):  # the oldest units first, range by range
            last = min(part.last, part.first + left_to_revoke - 1)
            revocations.revoke_range(part.serial_prefix, part.first, last, "fraud",
                                     internal("auditor", f"r{number}"), actor_id=900)
            left_to_revoke -= last - part.first + 1
            if not left_to_revoke:
                break
        db.session.commit()
        assert db.session.get(Auction, auction_id).quantity_g == 300 - revoked_g
        seal_audit_log()
        assert not failed(verify_registry())

    close_now(app, auction_id)
    cleared = api.http.post(f"/api/v1/market/auctions/{auction_id}/clear", headers=auditor)
    assert cleared.status_code == 200, cleared.get_json()
    [allocation] = cleared.get_json()["allocations"]
    assert allocation["quantity_g"] == 300 - revoked_g
    assert allocation["amount_fen"] == cost_fen(300 - revoked_g, 1_000_000)
    after = wallet(api, firm.staff)
    assert after["credits_g"] == 300 - revoked_g and after["reserved_fen"] == 0
    assert after["money_fen"] == 10_000 - allocation["amount_fen"] - allocation["fee_fen"]
    with app.app_context():
        seal_audit_log()
        assert not failed(verify_registry())
