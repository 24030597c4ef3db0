"""Benchmark growth (issue 12): costs that stay flat as the events table grows.

Two fresh databases, the same residents (the first `--users` signed up through the API, the rest
set-based) and the same sources:
  big   : `--stored` settled events (default 10,000,000) spread over the 12 months before the claim
          window, with their daily tallies, as years of a city would leave them;
  small : empty for the quantify phase, then `--small-stored` (default 100,000) the same way.
Stored events are quantified bus trips in a rejected batch of their day (settled, batched, indexed
as issued ones are, without minting 10 M units), seeded set-based (generate_series, a month per
statement), each database VACUUM ANALYZEd after seeding and between phases.

1. Quantify: the same `--received` realistic received events (bench/accounting.py's generator) COPYed
   into both, quantified by 2 worker processes (accounting.quantification.tasks.quantify_received);
   rounds alternate small/big, reset in between. ratio = rate with `--stored` stored / rate on the
   empty table, the median of the rounds' ratios (each printed, and the ratio of the mean rates).
   Target >= 0.9.
2. GET /api/v1/me/events (first page, then the next by cursor) for the signed-up residents, one
   client, gunicorn on each database, blocks alternating. They have the same history in both
   (`--history` settled events each over the same months, and their received ones): what differs
   is the table around them. ratio = p99 big / p99 small. Target <= 1.2.
3. Issuing (accounting.issuance.tasks.run_issuance_day) in the big database a day of `--day-large`
   (1,000,000) reductions and a day of `--day-small` (100,000). ratio = large / small. Target <= 10.
The registry invariants are verified in the big database afterwards; both databases are dropped.

Run: .venv/bin/python bench/growth.py [--stored 10000000] [--received 200000] [--residents 20000]
"""
import argparse
import importlib.util
import multiprocessing
import os
import statistics
import time
from datetime import date, datetime, timedelta, timezone

import harness  # noqa: I001  (puts the project root first on sys.path)
import psycopg
from clients import connection_to
from growth_seed import prepare, seed_stored, vacuum

DATABASES = {"small": "bz_bench_growth_small", "big": "bz_bench_growth_big"}


def _bench_module(name: str):
    """bench/<name>.py as a module of its own name (bench/accounting.py would shadow the package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", harness.ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- 1. quantify ----------------------------------------------------------------------------

def _quantifier(database_url: str, ready, go, results) -> None:
    from sqlalchemy import text

    from accounting.quantification.tasks import quantify_received
    from api import create_app
    from config.extensions import db

    app = create_app(harness.app_environ(database_url))
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        db.session.commit()
        ready.put(None)
        go.wait()
        results.put(quantify_received())


def quantify(database_url: str, workers: int) -> tuple[int, float]:
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Queue(), context.Event(), context.Queue()
    processes = [context.Process(target=_quantifier, args=(database_url, ready, go, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=300)
    started = time.perf_counter()
    go.set()
    done = sum(results.get() for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return done, elapsed


RESET = """
UPDATE green_events SET status = 'received', reduction_g = NULL, capped_g = NULL, reason = NULL,
       methodology_version_id = NULL, factor = NULL, rationale = NULL, quantified_at = NULL
WHERE started_at >= %(since)s AND status <> 'received' AND issuance_batch_id IS NULL AND external_id LIKE 'bench-%%'
"""


def reset_received(database_url: str, since: datetime) -> None:
    """The received set back to received, its tallies and flags gone: the next round starts alike."""
    with psycopg.connect(database_url) as connection:
        connection.execute(RESET, {"since": since})
        connection.execute("DELETE FROM daily_tallies WHERE day >= %s", (since.date() - timedelta(days=1),))
        connection.execute("DELETE FROM review_flags")
    vacuum(database_url)


# --- 2. GET /me/events ----------------------------------------------------------------------

def events_latencies(base: str, tokens: list[str], requests: int) -> list[float]:
    """`requests` GETs of /me/events, one client, keep-alive: a first page, then the page after it."""
    import json

    connection, latencies, cursor = connection_to(base), [], {}
    for n in range(requests + 10):
        token = tokens[n % len(tokens)]
        path = "/api/v1/me/events?limit=20" + (f"&cursor={cursor[token]}" if cursor.get(token) else "")
        started = time.perf_counter()
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {body[:200]!r}")
        cursor[token] = None if cursor.get(token) else json.loads(body)["next_cursor"]
        if n >= 10:  # the first few warm the worker
            latencies.append(elapsed)
    return latencies


def p99(values: list[float]) -> float:
    return harness.percentile(sorted(values), 0.99)


# --- 3. issuance ------------------------------------------------------------------------------

def issue(database_url: str, day: date) -> tuple[float, dict]:
    from accounting.issuance.tasks import run_issuance_day
    from api import create_app

    # Every batch approved automatically, as bench/ledger.py does: the issuance itself is timed.
    app = create_app(harness.app_environ(database_url) | {"ISSUANCE_AUTO_APPROVE_MAX_G": str(10**15)})
    app.config["ISSUANCE_AUTO_APPROVE_MAX_G"] = 10**15
    with app.app_context():
        started = time.perf_counter()
        result = run_issuance_day(day)
        return time.perf_counter() - started, result


def verify(database_url: str) -> list[dict]:
    from accounting.ledger.tasks import seal_audit_log
    from accounting.ledger.verify import verify_registry
    from api import create_app

    app = create_app(harness.app_environ(database_url))
    with app.app_context():
        seal_audit_log()
        return verify_registry()


# --- main ---------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=10_000_000, help="settled events in the big database")
    parser.add_argument("--small-stored", type=int, default=100_000, help="settled events in the small one")
    parser.add_argument("--received", type=int, default=200_000, help="events quantified in each round")
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=40, help="residents signed up through the API (phase 2)")
    parser.add_argument("--history", type=int, default=300,
                        help="settled events of each signed-up resident, the same in both databases")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=1500, help="GET /me/events per database")
    parser.add_argument("--day-small", type=int, default=100_000)
    parser.add_argument("--day-large", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    # The signed-up residents' tokens are minted before the seeding: they must outlive it.
    os.environ.setdefault("JWT_ACCESS_MINUTES", "720")
    accounting_bench = _bench_module("accounting")
    print(f"machine : {os.cpu_count()} CPUs, {load()} at the start", flush=True)
    urls = {side: harness.fresh_database(name) for side, name in DATABASES.items()}
    try:
        run(args, urls, accounting_bench)
    finally:
        if not args.keep:
            for name in DATABASES.values():
                harness.drop_database(name)


def run(args, urls: dict, accounting_bench) -> None:
    now = datetime.now(timezone.utc)
    prepared = {side: prepare(url, args.residents, args.users) for side, url in urls.items()}
    (ids, transit_id, recycler_id, tokens), other = prepared["big"], prepared["small"]
    assert other[:3] == (ids, transit_id, recycler_id), "both databases must hold the same residents"
    # The signed-up residents (whose GET /me/events is timed) get the same history in both databases,
    # seeded with each one's stored events; the table around them is what differs.
    users, others = ids[:args.users], ids[args.users:]
    started = time.perf_counter()
    months = seed_stored(urls["big"], others, args.stored, now)
    seed_stored(urls["big"], users, args.users * args.history, now, prefix="history")
    print(f"seed    : {args.stored:,} settled events over {months} months (+ daily tallies, keys) in "
          f"{time.perf_counter() - started:.0f} s; {load()}", flush=True)
    rows = accounting_bench.make_events(ids, transit_id, recycler_id, args.received, now)
    since = min(row[6] for row in rows)
    for url in urls.values():
        accounting_bench.copy_events(url, rows)
        vacuum(url)
    del rows

    # 1. quantify, rounds alternating
    rates = {"small": [], "big": []}
    for round_ in range(args.rounds):
        if round_:
            for url in urls.values():
                reset_received(url, since)
        for side in ("small", "big") if round_ % 2 == 0 else ("big", "small"):
            done, seconds = quantify(urls[side], args.workers)
            assert done == args.received, f"{side}: quantified {done}, not {args.received}"
            rates[side].append(done / seconds)
            print(f"quantify: round {round_ + 1}, {side:5} ({args.stored if side == 'big' else 0:,} stored): "
                  f"{done:,} events in {seconds:.2f} s = {done / seconds:,.0f}/s; {load()}", flush=True)
    # Round by round (each pair ran back to back, in alternating order), then the median: on a shared
    # machine one round can run at half the speed of the next (other work on the same two cores).
    pairs = sorted(big / small for big, small in zip(rates["big"], rates["small"]))
    quantify_ratio = statistics.median(pairs)
    print("quantify: stored/empty by round " + ", ".join(f"{ratio:.2f}" for ratio in pairs)
          + f"; ratio of the mean rates {statistics.mean(rates['big']) / statistics.mean(rates['small']):.2f}")

    # 2. GET /me/events
    seed_stored(urls["small"], others, args.small_stored, now)
    seed_stored(urls["small"], users, args.users * args.history, now, prefix="history")
    for url in urls.values():
        vacuum(url)
    latencies = {"small": [], "big": []}
    with harness.gunicorn(urls["small"], 2) as small_base, harness.gunicorn(urls["big"], 2) as big_base:
        bases = {"small": small_base, "big": big_base}
        blocks = 6
        for block in range(blocks):
            for side in ("small", "big") if block % 2 == 0 else ("big", "small"):
                latencies[side] += events_latencies(bases[side], tokens, args.requests // blocks)
    for side, stored in (("small", args.small_stored), ("big", args.stored)):
        values = sorted(latencies[side])
        print(f"events  : {side:5} ({stored:,} stored): {len(values):,} GETs, p50 "
              f"{harness.percentile(values, 0.5) * 1000:.1f} ms, p99 {p99(values) * 1000:.1f} ms; {load()}")
    events_ratio = p99(latencies["big"]) / p99(latencies["small"])

    # 3. issuance of a small and a large day, in the big database
    yesterday = (now + timedelta(hours=8)).date() - timedelta(days=1)
    small_day, large_day = yesterday - timedelta(days=30), yesterday - timedelta(days=31)
    harness.insert_reductions(urls["big"], ids, args.day_small, small_day, "growth-s")
    harness.insert_reductions(urls["big"], ids, args.day_large, large_day, "growth-l")
    vacuum(urls["big"])
    small_seconds, small_result = issue(urls["big"], small_day)
    assert small_result["issued"] and large_day not in (small_day,), small_result
    print(f"issue   : {args.day_small:,} reductions of {small_day} in {small_seconds:.2f} s "
          f"(batches {small_result['issued']}); {load()}", flush=True)
    large_seconds, large_result = issue(urls["big"], large_day)
    print(f"issue   : {args.day_large:,} reductions of {large_day} in {large_seconds:.2f} s "
          f"(batches {large_result['issued']}); {load()}", flush=True)
    assert large_result["issued"], large_result
    issue_ratio = large_seconds / small_seconds

    report = verify(urls["big"])
    for item in report:
        print(f"verify  : {'ok    ' if item['ok'] else 'FAILED'} {item['invariant']}")
    print(f"sizes   : stored {args.stored:,} vs empty (quantify {args.received:,} received, {args.workers} workers); "
          f"stored {args.stored:,} vs {args.small_stored:,} (GET /me/events); a day of {args.day_large:,} vs "
          f"{args.day_small:,} reductions (issuance)")
    print(f"ratio_quantify_stored_vs_empty {quantify_ratio:.2f} (target >= 0.9)")
    print(f"ratio_events_p99_10m_vs_100k {events_ratio:.2f} (target <= 1.2)")
    print(f"ratio_issue_1m_vs_100k {issue_ratio:.2f} (target <= 10)")
    print(f"machine : {os.cpu_count()} CPUs, {load()} at the end; verify "
          f"{'PASS' if all(item['ok'] for item in report) else 'FAIL'}")


if __name__ == "__main__":
    main()
