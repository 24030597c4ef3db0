"""Benchmark the registry (issue: the ledger on PostgreSQL).

1. A fresh migrated database; `--accounts` resident accounts (the first opened by
   accounting.ledger.accounts.open_resident_account, the rest the same rows written set-based).
2. Issuance: `--reductions` quantified TRIP v1 reductions of one Asia/Shanghai day
   (yesterday) spread over the accounts are written set-based, then the real code path,
   accounting.issuance.tasks.run_issuance_day (propose + auto-approve + issue), is timed.
   Target: 1,000,000 reductions in under a minute. The audit log is sealed and every
   invariant of accounting.ledger.verify.verify_registry is checked.
3. Transfers: `--workers` processes (each its own app, app context and connection, as a
   gunicorn worker would have; processes, not threads, so the GIL is not what is measured),
   each calling accounting.ledger.transfers.transfer + commit back to back with a fresh idempotency
   key per transfer, 1..`--max-amount` g, (a) between random pairs of all the accounts,
   (b) between random pairs of the first `--hot` accounts.
4. Baseline, same server, same run: pgbench with as many clients running a bare
   transaction updating two random rows of a `--accounts`-row table (rows locked in id
   order, as the ledger locks accounts), and the same over `--hot` rows.
   For scale, the same bare transaction is also run from the same worker processes through
   db.session (two driver statements + commit): what any Python service layer starts from.
   Each case's `--seconds` are cut into `--rounds` slices, transfers, the bare transaction
   through db.session and pgbench taking turns, so load from anything else on the machine
   weighs on all three alike.
   Target: transfers/s >= 25% of the pgbench tps, for both.
5. verify_registry again after the transfers; the database is dropped at the end.

Before each case: VACUUM ANALYZE and CHECKPOINT (a bench server may run without autovacuum); the
transfer cases begin with an untimed slice of transfers, so the journal has a history when the
statistics are taken (see main), and so does the comparison with pgledger, an untimed slice of each
side first (see versus_pgledger).

Run: .venv/bin/python bench/ledger.py [--reductions 1000000] [--accounts 10000] [--workers 16]
                                      [--seconds 15] [--rounds 3]
"""
import argparse
import os
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import harness  # noqa: I001  (puts the project root first on sys.path)
import psycopg
import transfers_http
from ledger_workers import Workers
from pgbench_runs import LEDGER_MOVE_SCRIPT, PGLEDGER_SCRIPT, PREPARED, load_pgledger, run_pgbench

DB_NAME = "bz_bench_ledger"
PGLEDGER_DB = "bz_bench_pgledger"
SHANGHAI = ZoneInfo("Asia/Shanghai")


# --- 1. accounts ----------------------------------------------------------------------------

def prepare_accounts(database_url: str, count: int, chunk: int = 5000) -> list[tuple[int, str]]:
    """Open `count` resident accounts; returns [(id, number)] in id order."""
    from accounting.ledger.accounts import open_resident_account
    from api import create_app
    from config.extensions import db

    app = create_app(harness.app_environ(database_url))
    with app.app_context():
        first = open_resident_account("滨城区")
        db.session.commit()
        accounts, numbers = [(first.id, first.number)], {first.number}
    with psycopg.connect(database_url) as connection:
        for offset in range(1, count, chunk):
            fresh = harness.fresh_account_numbers(min(chunk, count - offset), numbers)
            accounts.extend(harness.insert_resident_accounts(connection, fresh))
            connection.commit()
    return sorted(accounts)


# --- 2. issuance ----------------------------------------------------------------------------

def issue_day(app, day) -> tuple[float, dict]:
    from accounting.issuance.tasks import run_issuance_day

    with app.app_context():
        started = time.perf_counter()
        result = run_issuance_day(day)
        return time.perf_counter() - started, result


def verify(app) -> tuple[list[dict], float, float]:
    from accounting.ledger.tasks import seal_audit_log
    from accounting.ledger.verify import verify_registry
    from config.extensions import db

    with app.app_context():
        started = time.perf_counter()
        seal_audit_log()
        sealed = time.perf_counter()
        report = verify_registry()
        db.session.rollback()
        return report, sealed - started, time.perf_counter() - sealed


def print_report(title: str, report: list[dict], seal_seconds: float, verify_seconds: float) -> bool:
    print(f"verify  : {title} (seal {seal_seconds:.1f} s, checks {verify_seconds:.1f} s)")
    for item in report:
        extra = f" ({item['sealed']} sealed, {item['unsealed']} unsealed)" if "sealed" in item else ""
        print(f"          {'ok    ' if item['ok'] else 'FAILED'} {item['invariant']}{extra}"
              + ("" if item["ok"] else f": {item['violations']} rows, e.g. {item['examples'][:3]}"))
    return all(item["ok"] for item in report)


def maintain(database_url: str) -> float:
    """VACUUM ANALYZE and CHECKPOINT before a timed phase: what autovacuum would have done by then
    (it may be off on a bench server), and no checkpoint of the previous phase's writes inside it."""
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
        connection.execute("CHECKPOINT")
    return time.perf_counter() - started


# --- 4. pgbench baselines -------------------------------------------------------------------

BARE_SCRIPT = """\\set a random(1, {rows})
\\set b random(1, {rows} - 1)
\\set b case when :b >= :a then :b + 1 else :b end
\\set lo least(:a, :b)
\\set hi greatest(:a, :b)
\\set amount random(1, 100)
BEGIN;
UPDATE bench_two_rows SET balance = balance - :amount WHERE id = :lo;
UPDATE bench_two_rows SET balance = balance + :amount WHERE id = :hi;
END;
"""


def two_rows_table(database_url: str, rows: int) -> None:
    """A fresh `rows`-row table for pgbench's bare transaction."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_two_rows")
        connection.execute("CREATE TABLE bench_two_rows (id int PRIMARY KEY, balance bigint NOT NULL)")
        connection.execute("INSERT INTO bench_two_rows SELECT g, 1000000 FROM generate_series(1, %s) g", (rows,))
        connection.execute("VACUUM ANALYZE bench_two_rows")


def pgbench(database_url: str, rows: int, clients: int, seconds: float) -> float:
    """tps of the bare two-row update transaction over bench_two_rows (`rows` rows)."""
    return run_pgbench(database_url, BARE_SCRIPT.format(rows=rows), clients, seconds)


def versus_pgledger(database_url: str, accounts: list[tuple[int, str]], clients: int, seconds: float,
                    rounds: int) -> tuple[float, float, list[float], list[float]]:
    """pgbench driving our movement (as the service calls it) and pgledger's transfer, each over as
    many accounts, `clients` clients, slices taking turns; (ours, pgledger's) mean tps and slices."""
    ids = [account_id for account_id, _ in accounts]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "pgbench draws account ids from one range"
    peer = load_pgledger(harness.ADMIN_URL, PGLEDGER_DB, len(ids))
    ours, theirs = [], []
    try:
        # An untimed slice of each first. A fresh pgledger database ran its first slice at about 60%
        # of its later ones (1,606 tps, then 2,517, 2,790, 2,657: its journal empty when its
        # statistics were taken), while our registry has a history by now: both are measured warm.
        for url, script, extra in ((database_url, LEDGER_MOVE_SCRIPT, {"lo": ids[0], "hi": ids[-1]}),
                                   (peer, PGLEDGER_SCRIPT, {"n": len(ids)})):
            run_pgbench(url, script, clients, seconds / rounds, PREPARED, **extra)
        for _ in range(rounds):
            maintain(database_url)
            ours.append(run_pgbench(database_url, LEDGER_MOVE_SCRIPT, clients, seconds / rounds, PREPARED,
                                    lo=ids[0], hi=ids[-1]))
            maintain(peer)
            theirs.append(run_pgbench(peer, PGLEDGER_SCRIPT, clients, seconds / rounds, PREPARED, n=len(ids)))
    finally:
        harness.drop_database(PGLEDGER_DB)
    return sum(ours) / rounds, sum(theirs) / rounds, ours, theirs


def server_setting(database_url: str, name: str) -> str:
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]


# --- main -----------------------------------------------------------------------------------

def slices(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reductions", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--hot", type=int, default=10)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=15, help="timed seconds per case, for each side")
    parser.add_argument("--rounds", type=int, default=3,
                        help="the seconds are cut into this many slices, transfers and pgbench alternating")
    parser.add_argument("--max-amount", type=int, default=100, help="transfers are 1..N g")
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    parser.add_argument("--quick", action="store_true",
                        help="under 5 minutes: 100,000 reductions, 10 s per case in 2 slices, no hot case")
    args = parser.parse_args()
    if args.quick:
        args.reductions, args.seconds, args.rounds = min(args.reductions, 100_000), 10, 2

    from api import create_app

    database_url = harness.fresh_database(DB_NAME)
    try:
        started = time.perf_counter()
        accounts = prepare_accounts(database_url, args.accounts)
        print(f"setup   : {len(accounts):,} resident accounts in {time.perf_counter() - started:.1f} s")
        day = datetime.now(SHANGHAI).date() - timedelta(days=1)
        insert_seconds = harness.insert_reductions(database_url, [a for a, _ in accounts], args.reductions, day)
        print(f"setup   : {args.reductions:,} quantified reductions of {day} written in {insert_seconds:.1f} s, "
              f"then VACUUM ANALYZE + CHECKPOINT in {maintain(database_url):.1f} s (issuance runs the next night)")

        environ = harness.app_environ(database_url) | {"ISSUANCE_AUTO_APPROVE_MAX_G": str(10**15)}
        app = create_app(environ)
        app.config["ISSUANCE_AUTO_APPROVE_MAX_G"] = 10**15
        issue_seconds, result = issue_day(app, day)
        with psycopg.connect(database_url) as connection:
            batches = connection.execute(
                "SELECT count(*), coalesce(sum(quantity_g), 0), coalesce(sum(events_count), 0), "
                "coalesce(sum(accounts_count), 0) FROM issuance_batches WHERE status = 'issued'").fetchone()
            blocks = connection.execute("SELECT count(*) FROM credit_blocks").fetchone()[0]
        ok = batches[2] == args.reductions
        print(f"issue   : run_issuance_day({day}): {batches[2]:,} reductions, {batches[1]:,} g in {batches[0]} "
              f"batch(es) to {batches[3]:,} accounts ({blocks:,} blocks) in {issue_seconds:.2f} s "
              f"(target < 60 s for 1,000,000) {'PASS' if issue_seconds < 60 and ok else 'FAIL'}")
        if not ok:
            print(f"          FAILED: expected {args.reductions:,} reductions issued, result {result}")
        verified_after_issue = print_report("after issuance", *verify(app))

        print(f"setup   : VACUUM ANALYZE + CHECKPOINT before each case ({maintain(database_url):.1f} s after "
              f"issuance; this server runs with autovacuum = {server_setting(database_url, 'autovacuum')})")
        figures = []
        slice_seconds = args.seconds / args.rounds
        cases = [("spread", accounts, args.accounts)] + ([] if args.quick else [("hot", accounts[:args.hot], args.hot)])
        for label, pool, rows in cases:
            two_rows_table(database_url, rows)
            plan = ["transfer"] + ["transfer", "bare"] * args.rounds
            workers = Workers(database_url, pool, rows, args.workers, plan, slice_seconds, args.max_amount)
            # An untimed slice of transfers first. Issuance left the journal one transaction long,
            # and a plan a worker's connection caches for a table that small (its foreign-key checks
            # included) is a sequential scan it would keep while the table grows: a registry in
            # service has a history, and autovacuum's ANALYZE replans what was planned on an
            # emptier table. So: a history, then VACUUM ANALYZE, then the timed slices.
            warm_up = workers.run_slice()
            print(f"setup   : {label}: {warm_up['ok']:,} untimed transfers in {slice_seconds:.0f} s, then VACUUM "
                  f"ANALYZE + CHECKPOINT in {maintain(database_url):.1f} s")
            transfers = {"ok": 0, "insufficient": 0, "other": 0, "errors": []}
            rate_slices, bare_slices, tps_slices = [], [], []
            for _ in range(args.rounds):  # take turns, so background load weighs on all three alike
                counts = workers.run_slice()
                rate_slices.append(counts["ok"] / slice_seconds)
                for key in ("ok", "insufficient", "other", "errors"):
                    transfers[key] += counts[key]
                bare_slices.append(workers.run_slice()["ok"] / slice_seconds)
                tps_slices.append(pgbench(database_url, rows, args.workers, slice_seconds))
            workers.join()
            transfers["rate"] = transfers["ok"] / args.seconds
            tps, bare = sum(tps_slices) / len(tps_slices), sum(bare_slices) / len(bare_slices)
            figures.append((label, transfers, tps, bare))
            print(f"transfer: {label:6} over {len(pool):,} accounts, {args.workers} processes, {args.seconds} s: "
                  f"{transfers['rate']:,.0f} transfers/s ({transfers['ok']:,} ok, "
                  f"{transfers['insufficient']} insufficient balance, {transfers['other']} other failures; "
                  f"slices {slices(rate_slices)})")
            for error in transfers["errors"][:3]:
                print(f"          {error}")
            print(f"pgbench : {label:6} over {rows:,} rows, {args.workers} clients, {args.seconds} s: "
                  f"{tps:,.0f} tps (bare BEGIN; two UPDATEs; END; slices {slices(tps_slices)})")
            print(f"python  : {label:6} the same bare transaction from the {args.workers} processes through "
                  f"db.session: {bare:,.0f} tps = {bare / tps:.1%} of pgbench (slices {slices(bare_slices)})")
        ours, theirs, our_slices, their_slices = versus_pgledger(database_url, accounts, args.workers, args.seconds,
                                                                args.rounds)
        print(f"pgbench : our movement (SELECT * FROM ledger_move(...), as the service calls it: prepared) over "
              f"{len(accounts):,} accounts, {args.workers} clients: {ours:,.0f} tps (slices {slices(our_slices)}); "
              f"pgledger_create_transfer over as many accounts, same clients, taking turns: {theirs:,.0f} tps "
              f"(slices {slices(their_slices)})")
        http = transfers_http.measure(app, database_url, DB_NAME, accounts, args.workers, args.seconds, args.rounds)
        print(f"http    : POST /api/v1/transfers {http['transfers']:,.0f}/s and GET /healthz {http['healthz']:,.0f}/s, "
              f"{args.workers} clients, 4 gunicorn workers, taking turns; answers "
              f"{dict(http['answers']['transfers'])} / {dict(http['answers']['healthz'])}")
        verified_after_transfers = print_report("after transfers", *verify(app))
        for label, transfers, tps, bare in figures:
            print(f"ratio   : {label:6} {transfers['rate']:,.0f} transfers/s = {transfers['rate'] / tps:.1%} of "
                  f"pgbench's bare transaction, {transfers['rate'] / bare:.1%} of it through db.session")
        spread = figures[0]
        targets = (("ratio_vs_pgledger", ours / theirs, 1.0),
                   ("ratio_vs_bare_python", spread[1]["rate"] / spread[3], 0.75),
                   ("ratio_transfers_vs_healthz", http["transfers"] / http["healthz"], 0.35))
        for name, value, target in targets:
            print(f"{name} {value:.2f}")
            print(f"          (target >= {target}) {'PASS' if value >= target else 'FAIL'}; 1-min load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"verify  : {'all invariants ok' if verified_after_issue and verified_after_transfers else 'FAILED'}")
    finally:
        if not args.keep:
            harness.drop_database(DB_NAME)


if __name__ == "__main__":
    main()
