"""The market under real concurrency (PostgreSQL, real threads, one session each): many buyers on
one listing never oversell it nor overdraw anyone; opposite orders never deadlock; a retried
order fills once; bids never reserve more money than there is."""
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from accounting.errors import DomainError
from accounting.ledger.accounts import system_account_id
from accounting.ledger.idempotency import Idempotency, internal
from accounting.ledger.models import Account
from accounting.market import auctions, orders
from accounting.market.models import Auction, Listing, Order
from config.db_types import utcnow
from config.extensions import db
from tests.market_support import approved_enterprises, deposit_to, fill_pool, issue_to, list_from
from tests.test_registry_concurrency import assert_no_database_errors, assert_registry_verifies, run_threads

PRICE = 5_000  # fen per tonne: 1,000 g cost 5 fen


def money_of(*account_ids: int) -> dict[int, tuple[int, int]]:
    return {a.id: (a.money_fen, a.reserved_fen) for a in db.session.scalars(
        select(Account).where(Account.id.in_(account_ids)))}


def test_many_buyers_on_one_listing_never_oversell_it_nor_overdraw_anyone(app):
    fill_pool(app, 100_000)
    buyers = approved_enterprises(app, 12)
    for index, buyer in enumerate(buyers):
        deposit_to(app, buyer, 60 if index % 3 else 40)  # every third can pay for 8 kg only
    with app.app_context():
        pool = system_account_id("pool")
    listing_id = list_from(app, pool, 100_000, PRICE)

    def buy(index):
        order, _ = orders.place(buyers[index], 10_000, PRICE, internal("buy", str(index)), actor_id=None)
        db.session.commit()
        return order.filled_g

    results = run_threads(app, 12, buy)
    assert_no_database_errors(results)
    refused = Counter(error.code for status, error in results if status == "error")
    filled = [value for status, value in results if status == "ok"]
    assert refused == {"insufficient_funds": 4} and filled == [10_000] * 8
    with app.app_context():
        listing = db.session.get(Listing, listing_id)
        assert listing.remaining_g == 100_000 - 80_000 and listing.status == "open"
        money = money_of(*buyers, pool)
        assert money[pool] == (8 * 50, 0)
        assert sorted(money[b][0] for b in buyers) == sorted([10] * 4 + [40] * 4 + [10] * 4)
        assert_registry_verifies()


def test_orders_racing_for_the_last_grams_never_oversell(app):
    fill_pool(app, 30_000)
    buyers = approved_enterprises(app, 10)
    for buyer in buyers:
        deposit_to(app, buyer, 1_000)
    with app.app_context():
        pool = system_account_id("pool")
    first, second = list_from(app, pool, 15_000, PRICE), list_from(app, pool, 15_000, PRICE + 1)

    def buy(index):
        order, _ = orders.place(buyers[index], 7_000, PRICE + 1, internal("race", str(index)), actor_id=None)
        db.session.commit()
        return order.filled_g

    results = run_threads(app, 10, buy)
    assert_no_database_errors(results)
    filled = [value for status, value in results if status == "ok"]
    refused = [error.code for status, error in results if status == "error"]
    assert sum(filled) == 30_000 and set(refused) <= {"no_fill"}
    with app.app_context():
        assert {db.session.get(Listing, i).status for i in (first, second)} == {"filled"}
        assert sum(o.filled_g for o in db.session.scalars(select(Order))) == 30_000
        assert_registry_verifies()


def test_opposite_orders_never_deadlock(app):
    firms = approved_enterprises(app, 2)
    listings = {}
    for firm in firms:
        issue_to(app, firm, 40_000)
        deposit_to(app, firm, 10_000)
        listings[firm] = [list_from(app, firm, 2_000, PRICE) for _ in range(10)]

    def trade(index):
        buyer = firms[index % 2]  # buys the other's listings (its own are passed over)
        order, _ = orders.place(buyer, 3_000, PRICE, internal("cross", str(index)), actor_id=None)
        db.session.commit()
        return order.filled_g

    results = run_threads(app, 12, trade)
    assert_no_database_errors(results)
    assert all(status == "ok" for status, _ in results)
    with app.app_context():
        assert_registry_verifies()


def test_a_retried_order_fills_once_however_many_arrive_at_once(app):
    fill_pool(app, 50_000)
    [buyer] = approved_enterprises(app, 1)
    deposit_to(app, buyer, 1_000)
    with app.app_context():
        list_from(app, system_account_id("pool"), 50_000, PRICE)
    key = Idempotency("user:7", "order-once", "same-request")

    def retry(_):
        order, replayed = orders.place(buyer, 10_000, PRICE, key, actor_id=None)
        db.session.commit()
        return order.id, replayed

    results = run_threads(app, 8, retry)
    assert_no_database_errors(results)
    answers = [value for status, value in results if status == "ok"]
    assert len(answers) == 8 and len({order_id for order_id, _ in answers}) == 1
    assert sorted(replayed for _, replayed in answers) == [False] + [True] * 7
    with app.app_context():
        assert money_of(buyer)[buyer] == (950, 0)
        assert_registry_verifies()


def test_concurrent_bids_never_reserve_more_money_than_there_is(app):
    fill_pool(app, 100_000)
    [bidder] = approved_enterprises(app, 1)
    deposit_to(app, bidder, 100)
    with app.app_context():
        found = auctions.create(100_000, PRICE, None, utcnow() + timedelta(hours=1),
                                internal("auction", "race"), actor_id=None, now=utcnow())
        db.session.commit()
        auction_id = found.id

    def bid(index):
        placed = auctions.place_bid(auction_id, bidder, 6_000, PRICE, actor_id=None, now=utcnow())  # 30 fen
        db.session.commit()
        return placed.reserved_fen

    results = run_threads(app, 8, bid)
    assert_no_database_errors(results)
    placed = [value for status, value in results if status == "ok"]
    assert placed == [30] * 3 and all(isinstance(e, DomainError) and e.code == "insufficient_funds"
                                      for status, e in results if status == "error")
    with app.app_context():
        assert money_of(bidder)[bidder] == (100, 90)
        found = db.session.get(Auction, auction_id)
        found.opens_at, found.closes_at = utcnow() - timedelta(hours=1), utcnow()
        db.session.commit()
        auctions.clear_auction(auction_id, actor_id=None, now=utcnow())
        db.session.commit()
        assert money_of(bidder)[bidder] == (10, 0)  # three bids won 18 kg at 5,000 fen/t: 90 fen
        assert_registry_verifies()
