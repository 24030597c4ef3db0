"""Benchmark the audit console's pages on a populated registry (issue: the bureau's console).

1. A fresh migrated database; `--accounts` resident accounts across Binzhou's districts (the
   first opened by accounting.ledger.accounts.open_resident_account, the rest the same rows written
   set-based); a transit and a recycling source filed.
2. `--events` green events COPYed in over the last 14 Asia/Shanghai days: trips by every
   mode and drop-offs of every category, quantified under TRIP/RECYCLE v1 (a few capped,
   a few rejected), each with its rationale.
3. The real code paths make the registry: accounting.issuance.tasks.run_issuance_day issues
   ten days (batches, blocks, journal) and proposes one more that waits for an auditor;
   accounting.ledger transfers, retirements and one revocation; merchants applied and
   approved; an auditor user; the audit log sealed.
4. Each console page, fetched with the Flask test client signed in as that auditor (session
   cookie, as a browser would), once to warm up and then `--runs` times: median and max
   milliseconds per page, PASS when the max is under 1,000 ms.

Run: .venv/bin/python bench/console.py [--accounts 10000] [--events 100000] [--runs 5] [--keep]
"""
import argparse
import random
import re
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import harness  # noqa: I001  (puts the project root first on sys.path)
import psycopg

DB_NAME = "bz_bench_console"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TARGET_MS = 1000
DISTRICTS = ("滨城区", "沾化区", "惠民县", "阳信县", "无棣县", "博兴县", "邹平市",
             "滨州经济技术开发区", "滨州高新技术产业开发区", "北海经济开发区")
TRIP_FACTORS = {"bus": 26.9, "metro": 46.8, "bike": 40, "ev": 7}
MODES = {"bus": 0.30, "metro": 0.15, "bike": 0.25, "ev": 0.12, "walk": 0.18}
RECYCLING_FACTORS = {"paper": 180, "cardboard": 102, "plastic": 780, "pet": 897, "metal": 2049,
                     "aluminium": 8118, "steel": 1360, "glass": 580, "textile": 3600}
COLUMNS = ("source_id", "external_id", "account_id", "kind", "mode", "category", "started_at", "ended_at",
           "distance_m", "steps", "weight_g", "status", "reduction_g", "capped_g", "reason", "received_at",
           "methodology_version_id", "factor", "rationale", "quantified_at")
AUDITOR_PHONE, AUDITOR_PASSWORD = "13900000001", "bench-auditor-password"
ISSUED_DAYS = range(2, 12)  # days ago issued; yesterday is proposed and waits; the rest stay quantified


# --- 1. accounts ----------------------------------------------------------------------------

def prepare_accounts(app, database_url: str, count: int, chunk: int = 5000) -> list[tuple[int, str]]:
    """`count` resident accounts spread over the districts; returns [(id, number)] in id order."""
    from accounting.ledger.accounts import open_resident_account
    from config.extensions import db

    with app.app_context():
        first = open_resident_account(DISTRICTS[0])
        db.session.commit()
        accounts, numbers = [(first.id, first.number)], {first.number}
    with psycopg.connect(database_url) as connection:
        for offset in range(1, count, chunk):
            size = min(chunk, count - offset)
            fresh = harness.fresh_account_numbers(size, numbers)
            accounts.extend(connection.execute(
                """WITH h AS (
                       INSERT INTO holders (kind, district, created_at)
                       SELECT 'resident', (%(districts)s::text[])[1 + g %% cardinality(%(districts)s::text[])], now()
                       FROM generate_series(%(offset)s, %(offset)s + %(size)s - 1) AS g RETURNING id),
                   n AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM h)
                   INSERT INTO accounts (number, kind, holder_id, balance_g, created_at)
                   SELECT number, 'holder', n.id, 0, now()
                   FROM n JOIN unnest(%(numbers)s::text[]) WITH ORDINALITY AS u(number, i) USING (i)
                   RETURNING id, number""",
                {"size": size, "offset": offset, "numbers": fresh, "districts": list(DISTRICTS)}).fetchall())
            connection.commit()
    return sorted(accounts)


# --- 2. events ------------------------------------------------------------------------------

def make_events(account_ids, transit_id, recycler_id, trip_version, recycle_version, total, now, seed=20261124):
    """`total` quantified events over the 14 Asia/Shanghai days up to `now`."""
    rng = random.Random(seed)
    today = now.astimezone(SHANGHAI).date()
    mode_names, mode_weights = list(MODES), list(MODES.values())
    rows = []
    for n in range(total):
        account_id = account_ids[rng.randrange(len(account_ids))]
        day = today - timedelta(days=rng.randrange(14))
        begin = datetime.combine(day, datetime.min.time(), SHANGHAI) + timedelta(seconds=rng.randint(6 * 3600,
                                                                                                     22 * 3600))
        begin = min(begin, now - timedelta(hours=1)).astimezone(timezone.utc)
        if rng.random() < 0.08:
            category = rng.choice(list(RECYCLING_FACTORS))
            weight = rng.randint(300, 9000)
            grams = int(weight / 1000 * RECYCLING_FACTORS[category])
            status, capped, reason = "quantified", 0, None
            rationale = f"{category} {weight / 1000:.2f} kg × {RECYCLING_FACTORS[category]} g/kg = {grams} g"
            rows.append((recycler_id, f"console-{n}", account_id, "recycling", None, category, begin, begin, None,
                         None, weight, status, grams, capped, reason, now, recycle_version, category, rationale,
                         now))
            continue
        mode = rng.choices(mode_names, mode_weights)[0]
        if mode == "walk":
            steps = rng.randint(1500, 14000)
            distance, grams = None, int(steps * 0.02)
            rationale = f"walk {steps} steps × 0.02 g/step = {grams} g"
        else:
            steps = None
            distance = rng.randint(800, 18000)
            grams = int(distance / 1000 * TRIP_FACTORS[mode])
            rationale = f"{mode} {distance / 1000:.1f} km × {TRIP_FACTORS[mode]} g/km = {grams} g"
        end = begin + timedelta(minutes=rng.randint(8, 60))
        status, capped, reason = "quantified", 0, None
        odd = rng.random()
        if odd < 0.03:
            status, capped, reason = "capped", grams // 2, "daily_cap"
            grams -= capped
            rationale += f"; daily cap: {capped} g not credited"
        elif odd < 0.05:
            status, grams, reason = "rejected", 0, "implausible_speed"
        rows.append((transit_id, f"console-{n}", account_id, "trip", mode, None, begin, end, distance, steps, None,
                     status, grams, capped, reason, now, trip_version, mode, rationale, now))
    return rows


def copy_events(database_url: str, rows: list[tuple]) -> float:
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


# --- 3. the registry, by its own code paths -----------------------------------------------------

def build_registry(app, accounts, today, transfers: int, retirements: int, seed=7) -> dict:
    from sqlalchemy import func, select

    from accounting.errors import DomainError
    from accounting.issuance import revocations
    from accounting.issuance.models import IssuanceBatch
    from accounting.issuance.tasks import run_issuance_day
    from accounting.ledger.idempotency import Idempotency
    from accounting.ledger.models import Account
    from accounting.ledger.retirements import retire
    from accounting.ledger.tasks import seal_audit_log
    from accounting.ledger.transfers import transfer
    from api.identity.operations import create_staff_user
    from config.extensions import db
    from merchants import applications

    rng = random.Random(seed)
    figures = {}
    with app.app_context():
        create_staff_user("auditor", AUDITOR_PHONE, AUDITOR_PASSWORD, "审核员")
        clerk = create_staff_user("admin", "13900000002", AUDITOR_PASSWORD, "管理员")
        db.session.commit()
        started = time.perf_counter()
        app.config["ISSUANCE_AUTO_APPROVE_MAX_G"] = 10**15
        for days_ago in ISSUED_DAYS:
            run_issuance_day(today - timedelta(days=days_ago))
        app.config["ISSUANCE_AUTO_APPROVE_MAX_G"] = 0
        run_issuance_day(today - timedelta(days=1))
        figures["issue_s"] = time.perf_counter() - started

        started = time.perf_counter()
        holders = [account_id for (account_id,) in db.session.execute(
            select(Account.id).where(Account.kind == "holder", Account.balance_g > 200))]
        numbers = dict(accounts)
        done = {"transfer": 0, "retire": 0}
        for n in range(transfers + retirements):
            sender = rng.choice(holders)
            key = uuid.uuid4().hex
            try:
                if n < transfers:
                    receiver = numbers[rng.choice(holders)]
                    transfer(sender, receiver, rng.randint(1, 150), Idempotency("bench", key, key),
                             actor_id=None, memo="bench gift")
                    done["transfer"] += 1
                else:
                    retire(sender, rng.randint(1, 150), "滨州市第一中学", "校运会碳中和",
                           Idempotency("bench", key, key), actor_id=None)
                    done["retire"] += 1
                db.session.commit()
            except DomainError:
                db.session.rollback()
        batch = db.session.scalar(select(IssuanceBatch).where(IssuanceBatch.status == "issued")
                                  .order_by(IssuanceBatch.id).limit(1))
        revocations.revoke_range(batch.serial_prefix, 1, 500, "bench: fraud confirmed",
                              Idempotency(f"user:{clerk.id}", "bench-revoke", "r"), actor_id=clerk.id)
        db.session.commit()
        figures["moves_s"] = time.perf_counter() - started
        figures.update(done)

        for name, district in (("黄河路面馆", "滨城区"), ("渤海超市", "邹平市"), ("绿色书店", "博兴县")):
            merchant = applications.apply(name, district, "1 号", "food", "", clerk.id)
            if name != "绿色书店":
                applications.approve(merchant.id, clerk.id, "bench")
        db.session.commit()
        seal_audit_log()
        figures["batches"] = dict(db.session.execute(
            select(IssuanceBatch.status, func.count()).group_by(IssuanceBatch.status)).all())
    return figures


def targets(database_url: str) -> dict:
    """What the pages are asked about: a unit that changed hands, the busiest account, the largest batch."""
    with psycopg.connect(database_url) as connection:
        serial = connection.execute(
            """SELECT b.serial_prefix || '-' || lpad(k.first_serial::text, 9, '0')
               FROM credit_blocks k JOIN issuance_batches b ON b.id = k.batch_id
               JOIN block_movements m ON m.block_id = k.id
               JOIN journal_transactions t ON t.id = m.transaction_id AND t.kind = 'transfer'
               WHERE k.status = 'active' ORDER BY k.id DESC LIMIT 1""").fetchone()[0]
        number = connection.execute(
            """SELECT a.number FROM journal_entries e JOIN accounts a ON a.id = e.account_id
               WHERE a.kind = 'holder' GROUP BY a.number ORDER BY count(*) DESC LIMIT 1""").fetchone()[0]
        batch_id = connection.execute(
            "SELECT id FROM issuance_batches WHERE status = 'issued' ORDER BY events_count DESC LIMIT 1").fetchone()[0]
        counts = connection.execute(
            """SELECT (SELECT count(*) FROM green_events), (SELECT count(*) FROM accounts WHERE kind = 'holder'),
                      (SELECT count(*) FROM green_events WHERE status = 'issued'),
                      (SELECT count(*) FROM journal_transactions), (SELECT count(*) FROM credit_blocks),
                      (SELECT count(*) FROM audit_records)""").fetchone()
        connection.execute("ANALYZE")
    return {"serial": serial, "number": number, "batch_id": batch_id, "counts": counts}


# --- 4. timing ------------------------------------------------------------------------------

def signed_in_client(app):
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/console/login", data={"csrf_token": token, "phone": AUDITOR_PHONE,
                                                 "password": AUDITOR_PASSWORD, "lang": "zh-CN"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/", answer.status_code
    return client


def time_pages(app, found: dict, runs: int) -> bool:
    today = datetime.now(SHANGHAI).date()
    pages = [
        ("dashboard", "/console/"),
        ("queues", "/console/queues"),
        ("trace search → unit", f"/console/trace?q={found['serial']}"),
        ("trace search, merchant", "/console/trace?q=面馆"),
        ("unit", f"/console/units/{found['serial']}"),
        ("account", f"/console/accounts/{found['number']}"),
        ("batch", f"/console/batches/{found['batch_id']}"),
        ("health", "/console/health"),
        ("audit log", "/console/audit"),
        ("exports", "/console/exports"),
        ("batches.csv (30 days)", f"/console/exports/batches.csv?from={today - timedelta(days=30)}&to={today}"),
        ("retirements.csv (30 days)",
         f"/console/exports/retirements.csv?from={today - timedelta(days=30)}&to={today}"),
    ]
    client = signed_in_client(app)
    every_pass = True
    print(f"{'page':28} {'first':>8} {'median':>8} {'max':>8}  (ms, {runs} runs after the first)  path")
    for label, path in pages:
        timings = []
        for _ in range(runs + 1):
            started = time.perf_counter()
            answer = client.get(path, follow_redirects=True)
            body = answer.get_data()
            timings.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200 and body, (path, answer.status_code)
            assert b"/console/login" not in answer.request.path.encode(), path
        first, timed = timings[0], timings[1:]
        ok = max(timed) < TARGET_MS
        every_pass &= ok
        print(f"{label:28} {first:8.1f} {statistics.median(timed):8.1f} {max(timed):8.1f}  "
              f"{'PASS' if ok else 'FAIL'}  {path}")
    return every_pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--transfers", type=int, default=400)
    parser.add_argument("--retirements", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    args = parser.parse_args()

    from accounting.record.sources import file_source
    from api import create_app
    from config.extensions import db

    database_url = harness.fresh_database(DB_NAME)
    try:
        app = create_app(harness.app_environ(database_url))
        started = time.perf_counter()
        accounts = prepare_accounts(app, database_url, args.accounts)
        with app.app_context():
            transit, _, _ = file_source("BENCHBUS", "transit", "bench transit", app.config["SECRET_KEY"])
            recycler, _, _ = file_source("BENCHRECY", "recycling", "bench recycling", app.config["SECRET_KEY"])
            db.session.commit()
            sources = (transit.id, recycler.id)
        with psycopg.connect(database_url) as connection:
            versions = dict(connection.execute(
                "SELECT m.code, v.id FROM methodology_versions v JOIN methodologies m ON m.id = v.methodology_id "
                "WHERE v.version = 1").fetchall())
        print(f"setup   : {len(accounts):,} resident accounts in {time.perf_counter() - started:.1f} s")
        now = datetime.now(timezone.utc)
        rows = make_events([a for a, _ in accounts], *sources, versions["TRIP"], versions["RECYCLE"], args.events, now)
        copy_seconds = copy_events(database_url, rows)
        print(f"setup   : {len(rows):,} quantified events over 14 days COPYed in {copy_seconds:.1f} s")
        figures = build_registry(app, accounts, now.astimezone(SHANGHAI).date(), args.transfers, args.retirements)
        print(f"setup   : {len(ISSUED_DAYS)} days issued + 1 proposed by run_issuance_day in "
              f"{figures['issue_s']:.1f} s (batches {figures['batches']}); {figures['transfer']} transfers, "
              f"{figures['retire']} retirements and a revocation in {figures['moves_s']:.1f} s")
        found = targets(database_url)
        events, holders, issued, transactions, blocks, records = found["counts"]
        print(f"database: {events:,} events ({issued:,} issued), {holders:,} holder accounts, "
              f"{transactions:,} journal transactions, {blocks:,} blocks, {records:,} audit records")
        every_pass = time_pages(create_app(harness.app_environ(database_url)), found, args.runs)
        print(f"result  : {'every page PASS' if every_pass else 'some page FAILED'} (target: max < {TARGET_MS} ms)")
    finally:
        if not args.keep:
            harness.drop_database(DB_NAME)


if __name__ == "__main__":
    main()
