"""GET /public next to GET /healthz, same gunicorn, same clients, slices taking turns: what the public
page costs a crowd on top of the server's own empty request, and what it costs the database.

1. A fresh migrated database seeded with the demo (a week of trips and recycling issued, a merchant's
   coupons, donations, the pool's listing, an auction), `--retirements` more retirements (each a
   certificate with its serial ranges on the page), the audit log sealed and the registry verified.
2. One computation of the page's figures in-process (accounting.reports.public_totals), timed: what a
   request costs when the cache is cold.
3. gunicorn (`--workers`) serving the app with Redis; `--clients` processes back to back on /healthz,
   then /public, `--rounds` times. The database's own counters (pg_stat_database: transactions
   committed, rows fetched) are read before and after each slice, so the cost per request is the
   database's word, not ours; the figures are cached for PUBLIC_PAGE_CACHE_SECONDS (default 60), so
   a slice recomputes them at most once per period across all workers.

Run: .venv/bin/python bench/public_page.py [--retirements 2000] [--clients 16] [--seconds 10] [--rounds 3]
     (BENCH_REDIS_URL=redis://127.0.0.1:6379/14 by default; BENCH_ADMIN_URL for PostgreSQL)
"""
import argparse
import time
from collections import Counter

import harness  # noqa: I001  (puts the project root first on sys.path)
import psycopg
from clients import describe, run_clients

DB_NAME = "bz_bench_public"
STATS_FLUSH_SECONDS = 11
COUNTERS = "SELECT xact_commit, tup_fetched, tup_returned FROM pg_stat_database WHERE datname = %s"


def seed(app, retirements: int) -> dict:
    """The demo, then `retirements` one-gram certificates from its residents; sealed and verified."""
    from sqlalchemy import select

    from accounting.ledger.idempotency import internal
    from accounting.ledger.models import Account
    from accounting.ledger.retirements import retire
    from accounting.ledger.tasks import seal_audit_log
    from accounting.ledger.verify import verify_and_record
    from api.demo import seed_demo
    from config.extensions import db

    with app.app_context():
        seed_demo()
        db.session.commit()
        holders = list(db.session.execute(select(Account.id, Account.balance_g).where(
            Account.kind == "holder", Account.balance_g > 0).order_by(Account.balance_g.desc())))
        budget = Counter(dict(holders))
        for n in range(retirements):
            account_id = max(budget, key=budget.get)
            if budget[account_id] < 1:
                break
            retire(account_id, 1, f"受益单位 {n % 50}", "碳中和", internal("bench-retire", str(n)), actor_id=None)
            budget[account_id] -= 1
            if n % 200 == 199:
                db.session.commit()
        db.session.commit()
        seal_audit_log()
        _, run = verify_and_record("cli")
        db.session.commit()
        return {"retirements": db.session.scalar(select(db.func.count()).select_from(
            db.metadata.tables["retirements"])), "verified": run.ok}


def settle(database_url: str) -> None:
    """VACUUM ANALYZE after seeding, so autovacuum (whose transactions pg_stat_database counts too) finds
    nothing to do in the timed slices."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")


def one_computation(app) -> float:
    """Milliseconds for the page's figures and its first page of retirements, computed in-process."""
    from accounting.reports import public_totals
    from config.extensions import db

    with app.app_context():
        started = time.perf_counter()
        public_totals.figures(db.session, app.config["AUDIT_CHECKPOINT_DIR"])
        public_totals.retirements(db.session, 50, 0)
        elapsed = (time.perf_counter() - started) * 1000
        db.session.remove()
        db.engine.dispose()  # its idle connection would report its statistics during a timed slice
        return elapsed


def _get(connection, work, deadline):
    """GET work["path"] back to back (a module-level function: the clients are spawned processes)."""
    answers = Counter()
    while time.time() < deadline:
        connection.request("GET", work["path"], headers={"Accept-Language": "zh-CN"})
        response = connection.getresponse()
        response.read()
        answers[response.status] += 1
    return answers


def database_counters() -> tuple[int, int, int]:
    """(transactions committed, rows fetched, rows returned) of the bench database so far. Waits first for
    every backend to have reported: a busy one reports at most once a second, an idle one within ten
    (PostgreSQL's pgstat intervals), so the slice before is counted whole and nothing leaks into the next."""
    time.sleep(STATS_FLUSH_SECONDS)
    with psycopg.connect(harness.ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_stat_clear_snapshot()")
        return admin.execute(COUNTERS, (DB_NAME,)).fetchone()


def computations() -> int:
    """How many times the app computed a cached value (api.public.cache counts them in Redis)."""
    import redis

    from api.public.cache import COMPUTATIONS

    return int(redis.Redis.from_url(harness.REDIS_URL).get(COMPUTATIONS) or 0)


def forget_cached_figures() -> None:
    """An earlier run's figures (another database of the same name) must not answer this one's requests."""
    import redis

    from api.public.cache import KEY_PREFIX

    client = redis.Redis.from_url(harness.REDIS_URL)
    for key in client.scan_iter(KEY_PREFIX + "*"):
        client.delete(key)


def measure(database_url: str, clients: int, seconds: float, rounds: int, workers: int) -> dict:
    results = {path: {"rates": [], "answers": Counter(), "requests": 0, "xact": 0, "fetched": 0, "returned": 0,
                      "computed": 0}
               for path in ("/healthz", "/public")}
    forget_cached_figures()
    with harness.gunicorn(database_url, workers) as base:
        before, computed = database_counters(), computations()
        for _ in range(rounds):
            for path in results:
                works = [{"base": base, "seconds": seconds, "path": path} for _ in range(clients)]
                outcomes, _ = run_clients(_get, works, DB_NAME)
                after = database_counters()
                answered = sum((outcome for outcome, _, _ in outcomes), Counter())
                entry = results[path]
                entry["answers"] += answered
                entry["requests"] += answered[200]
                entry["rates"].append(answered[200] / max(elapsed for _, elapsed, _ in outcomes))
                entry["xact"] += after[0] - before[0]  # read from another database: not counted here
                entry["fetched"] += after[1] - before[1]
                entry["returned"] += after[2] - before[2]
                before = after
                now_computed = computations()
                entry["computed"] += now_computed - computed
                computed = now_computed
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retirements", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10, help="timed seconds per slice")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    args = parser.parse_args()

    from api import create_app

    database_url = harness.fresh_database(DB_NAME)
    try:
        app = create_app(harness.app_environ(database_url))
        seeded = seed(app, args.retirements)
        cold_ms = one_computation(app)
        settle(database_url)
        print(f"seeded: the demo and {seeded['retirements']:,} retirements; registry verified: {seeded['verified']}")
        print(f"one computation of the figures (cold cache): {cold_ms:.0f} ms")
        results = measure(database_url, args.clients, args.seconds, args.rounds, args.workers)
        rate = {path: sum(entry["rates"]) / len(entry["rates"]) for path, entry in results.items()}
        for path, entry in results.items():
            done = max(entry["requests"], 1)
            print(f"{path:9} {rate[path]:8,.0f} req/s ({describe(entry['answers'])}); database per request: "
                  f"{entry['xact'] / done:.4f} transactions, {entry['fetched'] / done:.2f} rows fetched, "
                  f"{entry['returned'] / done:.2f} rows returned ({entry['xact']} transactions in all; "
                  f"figures or a page of retirements computed {entry['computed']} times)")
        print(f"/public ÷ /healthz: {rate['/public'] / rate['/healthz']:.2f} of the empty request's rate; "
              f"{args.clients} clients, {args.workers} gunicorn workers, {args.rounds} × {args.seconds:g} s each")
    finally:
        if not args.keep:
            harness.drop_database(DB_NAME)


if __name__ == "__main__":
    main()
