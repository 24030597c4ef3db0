"""Benchmark the quantify path (issue: quantify 1,000,000 received events on PostgreSQL).

1. A fresh migrated database; a transit and a recycling source filed; N residents opened
   who authorized both (the first by the accounting functions, the rest set-based, same rows).
2. `--events` realistic `received` events (trips by bus/metro/bike/ev/walk over the last
   six Asia/Shanghai days, a few drop-offs, a few implausible or overlapping trips) are
   COPYed into green_events, timed: that COPY is the baseline, same rows, same run.
3. The worker code path, accounting.quantification.tasks.quantify_received, run in `--workers` fresh
   processes (each what a Celery worker runs; 2 by default, as the Procfile's worker runs
   CELERY_CONCURRENCY=2), timed. Target: >= 50% of the COPY rate.
   Each process's peak RSS (ru_maxrss) is printed with its RSS before quantifying and
   samples taken while it runs: batches stream, so it stays flat.
4. Checks: nothing left `received`, counts by status and reason, grams, and that
   daily_tallies agree with the events' own sums per (account, Asia/Shanghai day).

Run: .venv/bin/python bench/accounting.py [--events 1000000] [--residents 20000] [--workers 2]
"""
import argparse
import multiprocessing
import os
import random
import resource
import threading
import time
from datetime import datetime, timedelta, timezone
from datetime import time as clock
from zoneinfo import ZoneInfo

import harness  # noqa: I001  (puts the project root first on sys.path: `accounting` is the package)
import psycopg

DB_NAME = "bz_bench_accounting"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TRANSIT, RECYCLER = "BENCHBUS", "BENCHRECY"
COLUMNS = ("source_id", "external_id", "account_id", "kind", "mode", "category", "started_at", "ended_at",
           "distance_m", "steps", "weight_g", "status", "received_at")
# mode → (share of trips, distance range in m, speed range in km/h); limits are TRIP_V1's.
MODES = {
    "bus": (0.30, (1_500, 12_000), (14, 28)),
    "metro": (0.15, (3_000, 18_000), (28, 45)),
    "bike": (0.25, (800, 7_000), (10, 18)),
    "ev": (0.12, (2_000, 25_000), (25, 50)),
    "walk": (0.18, (600, 4_500), (3.8, 5.6)),
}
MAX_KMH = {"bus": 60, "metro": 80, "bike": 30, "ev": 120, "walk": 7}
CATEGORIES = ["paper", "cardboard", "plastic", "pet", "metal", "aluminium", "steel", "glass", "textile"]
STEP_M = 0.72


# --- 1. residents -------------------------------------------------------------------------

def prepare(database_url: str, residents: int, chunk: int = 5000) -> tuple[list[int], int, int]:
    """File the two sources (accounting.sources.file_source) and open `residents` accounts that authorized both.

    The first resident goes through accounting.ledger.accounts.open_resident_account and
    authorize_source; the rest are the same rows written set-based, `chunk` per commit
    (the one-by-one path takes ~4 ms a resident): a resident holder in 滨城区, its holder
    account with a fresh Luhn-checked number and a zero balance, and both grants.
    """
    from accounting.ledger.accounts import open_resident_account
    from accounting.record.sources import authorize_source, file_source
    from api import create_app
    from config.extensions import db

    app = create_app(harness.app_environ(database_url))
    with app.app_context():
        transit, _, _ = file_source(TRANSIT, "transit", "bench transit", app.config["SECRET_KEY"])
        recycler, _, _ = file_source(RECYCLER, "recycling", "bench recycling", app.config["SECRET_KEY"])
        source_ids = (transit.id, recycler.id)
        first = open_resident_account("滨城区")
        for code in (TRANSIT, RECYCLER):
            authorize_source(first.id, code)
        db.session.commit()
        account_ids, numbers = [first.id], {first.number}
    account_ids += harness.insert_authorized_residents(database_url, residents - 1, source_ids, numbers, chunk)
    return sorted(account_ids), *source_ids


# --- 2. events and the COPY baseline ------------------------------------------------------

def _counts(rng: random.Random, total: int, weights: list[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), exactly."""
    scale = total / sum(weights)
    shares = [w * scale for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: counts[i] - shares[i])
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def make_events(account_ids: list[int], transit_id: int, recycler_id: int, total: int, now: datetime,
                seed: int = 20261123) -> list[tuple]:
    """`total` COPY rows of received events, in arrival (end-time) order, ids bench-<n>.

    Each resident's trips of a day sit in their own slots between 06:00 and 23:00 Asia/Shanghai
    on one of the six days before today, so every one is inside the 7-day claim window and
    ended before `now` (received_at). Residents differ in how active they are (log-normal),
    so the daily cap bites for the busiest. About 1% of trips are claimed twice (same or
    another mode over the same time), ~0.4% are implausible, ~0.3% too short, 1% are drop-offs.
    """
    rng = random.Random(seed)
    today = now.astimezone(SHANGHAI).date()
    mornings = [datetime.combine(today - timedelta(days=n), clock(6), SHANGHAI).astimezone(timezone.utc)
                for n in range(6, 0, -1)]
    day_seconds = 17 * 3600
    mode_names = list(MODES)
    mode_weights = [MODES[m][0] for m in mode_names]
    events = []  # (ended_at, account_id, kind, mode, category, started_at, distance_m, steps, weight_g, source)
    per_resident = _counts(rng, total, [rng.lognormvariate(0, 0.55) for _ in account_ids])
    for account_id, count in zip(account_ids, per_resident):
        per_day = [0] * 6
        for day in rng.choices(range(6), k=count):
            per_day[day] += 1
        for morning, k in zip(mornings, per_day):
            if not k:
                continue
            slot = day_seconds / k
            for j in range(k):
                begin = morning + timedelta(seconds=j * slot + rng.uniform(0, 0.25 * slot))
                if rng.random() < 0.01:  # a drop-off at the recycler's own kiosk
                    events.append((begin, account_id, "recycling", None, rng.choice(CATEGORIES), begin,
                                   None, None, rng.randint(300, 9_000), recycler_id))
                    continue
                mode = rng.choices(mode_names, mode_weights)[0]
                _, (low, high), (slow, fast) = MODES[mode]
                distance, kmh = rng.randint(low, high), rng.uniform(slow, fast)
                oddity = rng.random()
                if oddity < 0.003:  # too fast for the mode
                    seconds = max(distance / (MAX_KMH[mode] * rng.uniform(1.2, 2.0) / 3.6), 1.0)
                elif oddity < 0.004 and mode != "walk":  # longer than any real trip
                    distance = rng.randint(100_001, 180_000)
                    seconds = min(distance / (kmh / 3.6), 0.7 * slot)
                else:
                    if oddity < 0.007:  # too short to count
                        distance = rng.randint(50, 290) if mode != "walk" else 300
                    seconds = max(60.0, min(distance / (kmh / 3.6), 0.7 * slot))
                    distance = min(distance, int(seconds * kmh / 3.6))  # a crowded day: a shorter ride fits
                end = begin + timedelta(seconds=int(seconds))
                steps = int(distance / STEP_M) if mode == "walk" else None
                events.append((end, account_id, "trip", mode, None, begin, distance, steps, None, transit_id))
                if rng.random() < 0.01:  # the same trip reported again, or another mode over it
                    again = mode if rng.random() < 0.5 else rng.choice(mode_names)
                    steps = int(distance / STEP_M) if again == "walk" else None
                    events.append((end + timedelta(seconds=30), account_id, "trip", again, None, begin, distance,
                                   steps, None, transit_id))
    if len(events) > total:  # the doubles came on top: drop as many events, anywhere
        surplus = set(rng.sample(range(len(events)), len(events) - total))
        events = [event for n, event in enumerate(events) if n not in surplus]
    events.sort(key=lambda e: e[0])
    return [
        (source, f"bench-{n}", account_id, kind, mode, category, started_at, ended_at, distance, steps, weight,
         "received", now)
        for n, (ended_at, account_id, kind, mode, category, started_at, distance, steps, weight, source)
        in enumerate(events)
    ]


def copy_events(database_url: str, rows: list[tuple]) -> float:
    """COPY the rows into green_events in one transaction; the seconds it took (the baseline)."""
    with psycopg.connect(database_url) as connection:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY green_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        connection.commit()
        elapsed = time.perf_counter() - started
        connection.execute("ANALYZE green_events")
        connection.commit()
    return elapsed


# --- 3. the worker code path --------------------------------------------------------------

def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def quantifier(database_url: str, ready, go, results) -> None:
    """One worker process: the app, then accounting.quantification.tasks.quantify_received exactly as Celery calls it."""
    from sqlalchemy import text

    from accounting.quantification.tasks import quantify_received
    from api import create_app
    from config.extensions import db

    app = create_app(harness.app_environ(database_url))
    with app.app_context():
        db.session.execute(text("SELECT 1"))  # connect now, not inside the timing
        db.session.commit()
    before_peak, before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _rss_kib()
    samples, stop = [], threading.Event()

    def sample():
        while not stop.wait(0.5):
            samples.append(_rss_kib())

    ready.put(None)
    go.wait()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started, cpu = time.perf_counter(), time.process_time()
    with app.app_context():
        total = quantify_received()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    sampler.join()
    results.put({"events": total, "seconds": elapsed, "cpu": cpu, "before_kib": before, "before_peak_kib": before_peak,
                 "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "samples": samples})


class Workers:
    """`count` fresh quantifier processes, started while this process is still small.

    (A child's ru_maxrss starts from its parent's RSS at fork, even across exec; started
    after the million rows were built, it would report this process's memory, not its own.)
    """

    def __init__(self, database_url: str, count: int):
        context = multiprocessing.get_context("spawn")
        self.ready, self.results, self.go = context.Queue(), context.Queue(), context.Event()
        self.processes = [context.Process(target=quantifier, args=(database_url, self.ready, self.go, self.results))
                          for _ in range(count)]
        for process in self.processes:
            process.start()

    def run(self) -> tuple[float, list[dict]]:
        """Wait until every process has its app and connection, then time them together."""
        for _ in self.processes:
            self.ready.get(timeout=300)
        started = time.perf_counter()
        self.go.set()
        reports = [self.results.get() for _ in self.processes]
        elapsed = time.perf_counter() - started
        for process in self.processes:
            process.join()
            if process.exitcode:
                raise SystemExit(f"a quantifier exited with {process.exitcode}")
        return elapsed, reports

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join()


# --- 4. checks ----------------------------------------------------------------------------

CREDITED = "status IN ('quantified', 'capped', 'issued')"
TALLY_CHECK = f"""
WITH sums AS (
    SELECT account_id, (started_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
           coalesce(sum(reduction_g) FILTER (WHERE kind = 'trip' AND {CREDITED}), 0) AS trip_g,
           coalesce(sum(reduction_g) FILTER (WHERE kind = 'trip' AND mode = 'walk' AND {CREDITED}), 0) AS walk_g,
           coalesce(sum(weight_g) FILTER (WHERE kind = 'recycling' AND {CREDITED}), 0) AS recycling_weight_g,
           coalesce(sum(capped_g) FILTER (WHERE {CREDITED}), 0) AS capped_g,
           count(*) FILTER (WHERE status = 'rejected' AND reason IN ('too_fast', 'trip_too_long'))
               AS implausible_count
    FROM green_events GROUP BY 1, 2
)
SELECT count(*),
       count(*) FILTER (WHERE s.account_id IS NULL OR t.account_id IS NULL),
       count(*) FILTER (WHERE coalesce(s.trip_g, 0) <> coalesce(t.trip_g, 0)),
       count(*) FILTER (WHERE coalesce(s.walk_g, 0) <> coalesce(t.walk_g, 0)),
       count(*) FILTER (WHERE coalesce(s.recycling_weight_g, 0) <> coalesce(t.recycling_weight_g, 0)),
       count(*) FILTER (WHERE coalesce(s.capped_g, 0) <> coalesce(t.capped_g, 0)),
       count(*) FILTER (WHERE coalesce(s.implausible_count, 0) <> coalesce(t.implausible_count, 0)),
       count(*) FILTER (WHERE t.trip_g > 3000 OR t.walk_g > 300),
       count(*) FILTER (WHERE t.capped_g > 0)
FROM sums s FULL JOIN daily_tallies t USING (account_id, day)
"""


def check(database_url: str) -> dict:
    with psycopg.connect(database_url) as connection:
        statuses = dict(connection.execute(
            "SELECT status, count(*) FROM green_events GROUP BY status ORDER BY count(*) DESC").fetchall())
        reasons = connection.execute(
            "SELECT reason, count(*) FROM green_events WHERE status = 'rejected' GROUP BY reason "
            "ORDER BY count(*) DESC").fetchall()
        grams = connection.execute(
            "SELECT coalesce(sum(reduction_g), 0), coalesce(sum(capped_g), 0), "
            "count(*) FILTER (WHERE status <> 'received' AND quantified_at IS NULL) FROM green_events").fetchone()
        tally = connection.execute(TALLY_CHECK).fetchone()
        flags = connection.execute("SELECT code, count(*) FROM review_flags GROUP BY code ORDER BY code").fetchall()
    keys = ("days", "missing_either_side", "trip_g", "walk_g", "recycling_weight_g", "capped_g",
            "implausible_count", "over_cap", "capped_days")
    return {"statuses": statuses, "reasons": reasons, "reduction_g": int(grams[0]), "capped_g": int(grams[1]),
            "unstamped": grams[2], "tally": dict(zip(keys, tally)), "flags": flags}


# --- main ---------------------------------------------------------------------------------

def mib(kib: int) -> str:
    return f"{kib / 1024:,.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="quantifier processes (as the Procfile's worker)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (for profiling)")
    parser.add_argument("--load-only", action="store_true", help="stop after the COPY, keeping the database")
    args = parser.parse_args()
    args.keep |= args.load_only

    database_url = harness.fresh_database(DB_NAME)
    workers = None
    try:
        workers = Workers(database_url, 0 if args.load_only else args.workers)
        t0 = time.perf_counter()
        account_ids, transit_id, recycler_id = prepare(database_url, args.residents)
        t1 = time.perf_counter()
        rows = make_events(account_ids, transit_id, recycler_id, args.events, datetime.now(timezone.utc))
        t2 = time.perf_counter()
        print(f"setup   : {args.residents:,} residents in {t1 - t0:.1f} s; {len(rows):,} events generated in "
              f"{t2 - t1:.1f} s", flush=True)
        load_at_copy = os.getloadavg()[0]
        copy_seconds = copy_events(database_url, rows)
        del rows
        print(f"COPY    : {args.events:,} rows in {copy_seconds:.2f} s = {args.events / copy_seconds:,.0f} rows/s",
              flush=True)
        if args.load_only:
            return
        load_at_quantify = os.getloadavg()[0]
        quantify_seconds, reports = workers.run()
        load_after = os.getloadavg()[0]
        children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result = check(database_url)
    finally:
        if workers:
            workers.stop()
        if not args.keep:
            harness.drop_database(DB_NAME)

    quantified = sum(report["events"] for report in reports)
    rate, copy_rate = quantified / quantify_seconds, args.events / copy_seconds
    ratio = rate / copy_rate
    statuses, tally = result["statuses"], result["tally"]
    left = statuses.get("received", 0)
    tally_ok = all(tally[key] == 0 for key in ("missing_either_side", "trip_g", "walk_g", "recycling_weight_g",
                                               "capped_g", "implausible_count", "over_cap"))
    print(f"quantify: {quantified:,} events in {quantify_seconds:.2f} s = {rate:,.0f} events/s "
          f"({args.workers} worker process{'es' if args.workers > 1 else ''} running "
          f"accounting.quantification.tasks.quantify_received; per process: "
          + ", ".join(f"{r['events']:,} in {r['seconds']:.1f} s, {r['cpu']:.1f} s of it on its own CPU"
                      for r in reports) + ")")
    print(f"COPY    : {args.events:,} rows in {copy_seconds:.2f} s = {copy_rate:,.0f} rows/s (same table, same run)")
    print(f"ratio   : {ratio:.1%} of COPY (target >= 50%) {'PASS' if ratio >= 0.5 else 'FAIL'}")
    print(f"machine : {os.cpu_count()} CPUs; 1-min load average {load_at_copy:.1f} before the COPY, "
          f"{load_at_quantify:.1f} before quantifying, {load_after:.1f} after (anything above the CPU count is "
          "other work competing for the same cores)")
    for n, r in enumerate(reports, 1):
        samples = r["samples"] or [r["before_kib"]]
        print(f"memory  : worker {n}: RSS before {mib(r['before_kib'])} (peak so far {mib(r['before_peak_kib'])}); "
              f"while quantifying min {mib(min(samples))} / max {mib(max(samples))} over {len(r['samples'])} "
              f"samples; peak RSS {mib(r['peak_kib'])} (+{mib(r['peak_kib'] - r['before_peak_kib'])})")
    print(f"memory  : peak RSS of any quantifier process (RUSAGE_CHILDREN) {mib(children_peak)}")
    print("statuses: " + ", ".join(f"{status} {count:,}" for status, count in statuses.items())
          + f"; left received: {left:,} {'PASS' if left == 0 and quantified == args.events else 'FAIL'}")
    print("rejected: " + ", ".join(f"{reason} {count:,}" for reason, count in result["reasons"]))
    print(f"grams   : reduction_g {result['reduction_g']:,} g credited, capped_g {result['capped_g']:,} g above caps; "
          f"review flags: " + (", ".join(f"{code} {count:,}" for code, count in result["flags"]) or "none"))
    print(f"tallies : {tally['days']:,} (account, day)s, {tally['capped_days']:,} capped; mismatches: "
          + ", ".join(f"{key} {tally[key]}" for key in ("missing_either_side", "trip_g", "walk_g",
                                                         "recycling_weight_g", "capped_g", "implausible_count"))
          + f"; over a cap: {tally['over_cap']} {'PASS' if tally_ok and not result['unstamped'] else 'FAIL'}")


if __name__ == "__main__":
    main()
