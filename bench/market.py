"""Benchmark the market (issue: 交易): orders filling against 1,000 open listings next to plain
transfers, through the same service layer, in the same run.

1. A fresh migrated database; `--sellers` and `--buyers` approved enterprises (the service's
   apply + approve); credits issued straight to every one of them (one quantified reduction each,
   set-based, then the real issuance run); every buyer funded by a deposit (the service's).
2. `--listings` listings (accounting.market.listings.open_listing) spread over the sellers, each
   `--listing-grams` at a price from 4,000 to 6,000 fen/t: the credits move into each listing's
   own escrow.
3. `--workers` processes (each its own app, session and connection, as a gunicorn worker has),
   taking turns slice by slice: (a) orders on the book, accounting.market.orders.place by a random
   buyer for `--order-grams` at a max price every listing meets (so each order fills
   cheapest-then-oldest: one transaction moving the credits and the money, delivery versus
   payment) + commit; (b) the same orders direct from a random listing (`listing_id`, buy-direct);
   (c) plain transfers, accounting.ledger.transfers.transfer between two random buyers + commit.
   Target: orders/s >= transfers/s.
4. registry verify (all eleven invariants) after; the database is dropped at the end.

Run: .venv/bin/python bench/market.py [--workers 16] [--seconds 20] [--rounds 4] [--quick]
"""
import argparse
import os
import random
import time
from datetime import datetime, timedelta, timezone

import harness  # noqa: I001  (puts the project root first on sys.path)
import psycopg
from ledger import SHANGHAI, maintain, print_report, verify
from market_workers import Workers

DB_NAME = "bz_bench_market"


def prepare(app, database_url: str, sellers: int, buyers: int, seller_grams: int, buyer_grams: int):
    """Approved enterprises holding credits (and buyers money); [(account id, number)] of each side."""
    from accounting.ledger.models import Account
    from accounting.market import enterprises, money
    from accounting.market.credit_codes import CHARSET, check_character
    from config.extensions import db

    rng = random.Random(7)
    accounts = []
    with app.app_context():
        for index in range(sellers + buyers):
            body = "91371600" + "".join(rng.choice(CHARSET) for _ in range(9))
            found = enterprises.apply(f"bench {index}", body + check_character(body), "滨城区", applied_by=None)
            enterprises.approve(found.id, actor_id=None)
            accounts.append((found.account_id, db.session.get(Account, found.account_id).number))
        db.session.commit()
    grams = [seller_grams] * sellers + [buyer_grams] * buyers
    day = datetime.now(SHANGHAI).date() - timedelta(days=1)
    start = datetime.combine(day, datetime.min.time(), SHANGHAI).astimezone(timezone.utc)
    with psycopg.connect(database_url) as connection:
        version_id, source_id = harness.trip_version_and_app_source(connection)
        connection.execute(
            """INSERT INTO green_events (source_id, external_id, account_id, kind, mode, started_at, ended_at,
                                         distance_m, status, reduction_g, capped_g, received_at,
                                         methodology_version_id, factor, rationale, quantified_at)
               SELECT %(source)s, 'market-' || e.account_id, e.account_id, 'trip', 'bus', %(start)s,
                      %(start)s + interval '20 minutes', 4000, 'quantified', e.grams, 0, now(), %(version)s, 'bus',
                      'bench', now()
               FROM unnest(%(accounts)s::bigint[], %(grams)s::bigint[]) AS e(account_id, grams)""",
            {"source": source_id, "start": start, "version": version_id, "accounts": [a for a, _ in accounts],
             "grams": grams})
        connection.commit()
    from accounting.issuance.tasks import run_issuance_day

    with app.app_context():
        run_issuance_day(day)
        for account_id, _ in accounts[sellers:]:
            money.deposit(db.session.get(Account, account_id), 10**12, f"bench-{account_id}", actor_id=None)
        db.session.commit()
    return accounts[:sellers], accounts[sellers:]


def open_listings(app, sellers, count: int, grams: int) -> float:
    from accounting.ledger.idempotency import internal
    from accounting.market.listings import open_listing
    from config.db_types import utcnow
    from config.extensions import db

    rng = random.Random(11)
    started = time.perf_counter()
    with app.app_context():
        for index in range(count):
            seller_id, _ = sellers[index % len(sellers)]
            open_listing(seller_id, grams, rng.randint(4_000, 6_000), 1, None, internal("bench-listing", str(index)),
                         actor_id=None, now=utcnow())
        db.session.commit()
    return time.perf_counter() - started


def listing_figures(database_url: str) -> tuple[int, int, int]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT count(*) FILTER (WHERE status = 'open'), count(*) FILTER (WHERE status = 'filled'), "
            "(SELECT count(*) FROM market_fills) FROM market_listings").fetchone()


def listing_id_list(database_url: str) -> list[int]:
    with psycopg.connect(database_url) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM market_listings WHERE status = 'open'")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sellers", type=int, default=100)
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--listing-grams", type=int, default=500_000)
    parser.add_argument("--order-grams", type=int, nargs=2, default=(1_000, 20_000), metavar=("MIN", "MAX"))
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20, help="timed seconds for each side")
    parser.add_argument("--rounds", type=int, default=4, help="slices per side, orders and transfers alternating")
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    parser.add_argument("--quick", action="store_true", help="10 s per side in 2 slices")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 10, 2

    from api import create_app

    database_url = harness.fresh_database(DB_NAME)
    try:
        app = create_app(harness.app_environ(database_url) | {"ISSUANCE_AUTO_APPROVE_MAX_G": str(10**15)})
        app.config["ISSUANCE_AUTO_APPROVE_MAX_G"] = 10**15
        per_seller = -(-args.listings // args.sellers) * args.listing_grams
        started = time.perf_counter()
        sellers, buyers = prepare(app, database_url, args.sellers, args.buyers, per_seller, 10_000_000)
        print(f"setup   : {len(sellers)} selling and {len(buyers)} buying enterprises with credits (and the buyers "
              f"money) in {time.perf_counter() - started:.1f} s")
        seconds = open_listings(app, sellers, args.listings, args.listing_grams)
        print(f"setup   : {args.listings:,} listings of {args.listing_grams:,} g at 4,000-6,000 fen/t opened in "
              f"{seconds:.1f} s ({args.listings / seconds:,.0f}/s); VACUUM ANALYZE + CHECKPOINT "
              f"{maintain(database_url):.1f} s")
        slice_seconds = args.seconds / args.rounds
        modes = ("order", "direct", "transfer")
        workers = Workers(database_url, buyers, listing_id_list(database_url), args.workers,
                          list(modes) * args.rounds, slice_seconds, tuple(args.order_grams), 6_000)
        totals = {mode: {"ok": 0, "grams": 0, "errors": []} for mode in modes}
        rates = {mode: [] for mode in modes}
        for _ in range(args.rounds):  # taking turns, so background load weighs on all alike
            for mode in modes:
                counts = workers.run_slice()
                rates[mode].append(counts["ok"] / slice_seconds)
                for key, value in counts.items():
                    totals[mode][key] = (totals[mode].get(key, []) + value if key == "errors"
                                         else totals[mode].get(key, 0) + value)
        workers.join()
        open_now, filled, fills = listing_figures(database_url)
        rate = {mode: totals[mode]["ok"] / args.seconds for mode in modes}
        for mode, title in (("order", "orders on the book (cheapest first)"), ("direct", "orders direct")):
            refused = {k: v for k, v in totals[mode].items() if k not in ("ok", "grams", "errors") and v}
            print(f"orders  : {title}, {args.workers} processes, {args.seconds} s: {rate[mode]:,.0f}/s, "
                  f"{totals[mode]['ok']:,} filled ({totals[mode]['grams']:,} g), refused {refused or 'none'}; "
                  f"slices {', '.join(f'{r:,.0f}' for r in rates[mode])}")
        print(f"transfer: same processes, taking turns: {rate['transfer']:,.0f} transfers/s "
              f"({totals['transfer']['ok']:,}); slices {', '.join(f'{r:,.0f}' for r in rates['transfer'])}")
        print(f"book    : {fills:,} fills; {filled} listings sold out, {open_now} still open")
        for error in [e for mode in modes for e in totals[mode]["errors"]][:5]:
            print(f"          {error}")
        verified = print_report("after the market", *verify(app))
        for name, value in (("ratio_orders_vs_transfers", rate["order"] / rate["transfer"]),
                            ("ratio_direct_orders_vs_transfers", rate["direct"] / rate["transfer"])):
            print(f"{name} {value:.2f}")
            print(f"          (target >= 1.0) {'PASS' if value >= 1.0 else 'FAIL'}; 1-min load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"verify  : {'all invariants ok' if verified else 'FAILED'}")
    finally:
        if not args.keep:
            harness.drop_database(DB_NAME)


if __name__ == "__main__":
    main()
