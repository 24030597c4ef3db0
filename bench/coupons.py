"""Benchmark the coupon side (issue 12: a hot campaign that does not collapse; paced p99), over
HTTP on gunicorn + PostgreSQL.

1. Setup, set-based SQL and the services: `--residents` resident holders, accounts and users;
   three quantified trips each of yesterday, issued by accounting.issuance.tasks.run_issuance_day;
   `--merchants` merchants applied and approved by merchants.applications; one hot campaign and
   `--campaigns` campaigns spread over the merchants (merchants.campaigns.create); one cashier
   per merchant. Access tokens are minted in-process with the claims api/identity/tokens.py issues.
2. Claims, back to back from `--clients` processes: the hot campaign (a flash sale, 秒杀) and the
   `--campaigns` spread ones take turns in `--rounds` slices, so machine noise weighs on both
   alike: `ratio_hot_vs_spread` (target >= 0.6). `--sample-waits` samples pg_stat_activity
   meanwhile: where claims wait. A sell-out burst (twice `--sellout-stock` attempts at once) claims
   exactly the stock. No oversell anywhere; every escrow holds what its claimed coupons owe.
3. Paced, at half the saturation rate just measured, from `--paced-clients` processes (each on its
   own rhythm): claims over the spread campaigns, trips (POST /me/trips; their saturation
   measured back to back first) and redemptions (`--cashiers` cashiers, verify + redeem; their
   saturation back to back first): `p99_paced_claims_ms`, `p99_paced_trips_ms`,
   `p99_paced_redemptions_ms` (target < 50 each).
4. Baseline, same server: pgbench running a bare stock UPDATE on one hot row and on 1,000 rows.
5. The audit log is sealed and every registry invariant checked; the database is dropped.

Run: .venv/bin/python bench/coupons.py [--quick] [--residents 4000] [--clients 8] [--seconds 15] [--rounds 3]
"""
import argparse
import contextlib
import os
import re
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import harness  # noqa: I001  (puts the project root first on sys.path)
import psycopg
from clients import describe, ms
from coupon_claims import claims_line, hot_and_spread_in_rounds, oversell_check, run_claims
from paced import WaitSampler, latency_line, pace_for, run_trips
from till import run_till, till_line, till_queues

DB_NAME = "bz_bench_coupons"
# What the setup and the runs fill, analyzed by name (a database-wide VACUUM also takes the shared
# catalogs, and waited minutes on other databases).
HOT_TABLES = ("holders", "accounts", "users", "green_events", "issuance_batches", "credit_blocks", "block_movements",
              "journal_transactions", "journal_entries", "audit_records", "merchants", "campaigns", "coupons",
              "campaign_escrows", "daily_tallies", "revoked_tokens")
SHANGHAI = ZoneInfo("Asia/Shanghai")
DISTRICTS = ("滨城区", "沾化区", "惠民县", "阳信县", "无棣县", "博兴县", "邹平市")
CATEGORIES = ("food", "clothing", "housing", "transport", "goods", "services")
TRIPS_PER_RESIDENT, GRAMS_PER_TRIP = 3, 1000


# --- 1. setup -------------------------------------------------------------------------------

def prepare_residents(database_url: str, count: int, chunk: int = 5000) -> list[tuple[int, int, int]]:
    """`count` resident holders with accounts and users, written set-based; [(user, holder, account)]."""
    rows, numbers = [], set()
    with psycopg.connect(database_url) as connection:
        for offset in range(0, count, chunk):
            size = min(chunk, count - offset)
            fresh = harness.fresh_account_numbers(size, numbers)
            rows.extend(connection.execute(
                """WITH h AS (
                       INSERT INTO holders (kind, district, created_at)
                       SELECT 'resident', '滨城区', now() FROM generate_series(1, %(size)s) RETURNING id),
                   n AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM h),
                   a AS (INSERT INTO accounts (number, kind, holder_id, balance_g, created_at)
                         SELECT number, 'holder', n.id, 0, now()
                         FROM n JOIN unnest(%(numbers)s::text[]) WITH ORDINALITY AS u(number, i) USING (i)
                         RETURNING id, holder_id),
                   u AS (INSERT INTO users (phone, password_hash, role, display_name, holder_id, created_at)
                         SELECT '1391' || lpad((%(offset)s + n.i)::text, 7, '0'), 'bench: signs in by minted token',
                                'resident', '居民' || (%(offset)s + n.i), n.id, now() FROM n
                         RETURNING id, holder_id)
                   SELECT u.id, u.holder_id, a.id FROM u JOIN a USING (holder_id) ORDER BY a.id""",
                {"size": size, "numbers": fresh, "offset": offset}).fetchall())
            connection.commit()
    return rows


def issue_credits(app, database_url: str, account_ids: list[int]) -> tuple[float, int]:
    """Three quantified 1,000 g trips per account yesterday, then the real issuance run; (seconds, grams)."""
    from accounting.issuance.tasks import run_issuance_day

    day = datetime.now(SHANGHAI).date() - timedelta(days=1)
    start = datetime.combine(day, datetime.min.time(), SHANGHAI).astimezone(timezone.utc)
    with psycopg.connect(database_url) as connection:
        version_id, source_id = harness.trip_version_and_app_source(connection)
        connection.execute(
            """INSERT INTO green_events (source_id, external_id, account_id, kind, mode, started_at, ended_at,
                                         distance_m, status, reduction_g, capped_g, received_at,
                                         methodology_version_id, factor, rationale, quantified_at)
               SELECT %(source)s, 'coupons-' || a.id || '-' || t, a.id, 'trip', 'metro',
                      %(start)s::timestamptz + (t * 4 + 1) * interval '1 hour',
                      %(start)s::timestamptz + (t * 4 + 1) * interval '1 hour' + interval '40 minutes',
                      21400, 'quantified', %(grams)s, 0, now(), %(version)s, 'metro', 'bench', now()
               FROM unnest(%(ids)s::bigint[]) AS a(id), generate_series(0, %(trips)s - 1) AS t""",
            {"source": source_id, "start": start, "grams": GRAMS_PER_TRIP, "version": version_id,
             "ids": account_ids, "trips": TRIPS_PER_RESIDENT})
        connection.commit()
    with app.app_context():
        started = time.perf_counter()
        run_issuance_day(day)
        elapsed = time.perf_counter() - started
    with psycopg.connect(database_url) as connection:
        issued = connection.execute("SELECT coalesce(sum(quantity_g), 0) FROM issuance_batches "
                                    "WHERE status = 'issued'").fetchone()[0]
    return elapsed, issued


def _access_token(user_id: int, role: str, holder_id: int | None, account_id: int | None) -> str:
    """What api/identity/tokens.py issue_tokens puts in an access token, for three hours."""
    from flask_jwt_extended import create_access_token

    return create_access_token(identity=str(user_id), expires_delta=timedelta(hours=3), additional_claims={
        "role": role, "hid": holder_id, "aid": account_id, "sid": uuid.uuid4().hex})


def prepare_shops(app, merchants: int, campaigns: int, residents: int, price_g: int):
    """Approved merchants with a cashier each, one hot campaign and `campaigns` spread ones."""
    from api.identity.operations import create_staff_user
    from config.extensions import db
    from merchants import applications
    from merchants import campaigns as campaign_service

    now = datetime.now(timezone.utc)
    window = {"valid_from": now - timedelta(hours=1), "valid_until": now + timedelta(days=30)}
    with app.app_context():
        auditor = create_staff_user("auditor", "13900000001", "bench-password", "审核员")
        shops = []
        for n in range(merchants):
            cashier = create_staff_user("merchant_staff", f"1370{n:07d}", "bench-password", f"收银员{n}")
            merchant = applications.apply(f"商户{n}", DISTRICTS[n % len(DISTRICTS)], f"黄河{n}路",
                                          CATEGORIES[n % len(CATEGORIES)], "", applied_by=cashier.id)
            cashier.merchant_id = merchant.id
            applications.approve(merchant.id, auditor.id, "bench")
            shops.append((merchant.id, cashier.id))
        db.session.flush()

        def create(merchant_id, cashier_id, title, stock, limit):
            fields = {"title": title, "description": None, "terms": None, "face_value_fen": 500,
                      "price_g": price_g, "stock": stock, "per_resident_limit": limit, **window}
            return campaign_service.create(merchant_id, fields, actor_id=cashier_id, publish=True).id

        # The hot campaign: room for every claim the run can make; each resident may claim it often.
        hot = create(*shops[0], "热门券", residents * 100, 1000)
        spread = [create(*shops[i % merchants], f"满减券{i}", 100_000, 1000) for i in range(campaigns)]
        db.session.commit()
        cashier_tokens = {m: _access_token(c, "merchant_staff", None, None) for m, c in shops}
        auditor_id = auditor.id
    return hot, spread, cashier_tokens, auditor_id


def sellout_campaign(app, merchant_id: int, stock: int, price_g: int) -> int:
    from config.extensions import db
    from merchants import campaigns as campaign_service

    now = datetime.now(timezone.utc)
    with app.app_context():
        campaign_id = campaign_service.create(merchant_id, {
            "title": "限量券", "description": None, "terms": None, "face_value_fen": 1000, "price_g": price_g,
            "stock": stock, "per_resident_limit": 1, "valid_from": now - timedelta(hours=1),
            "valid_until": now + timedelta(days=30)}, actor_id=None, publish=True).id
        db.session.commit()
    return campaign_id


def escrow_check(database_url: str) -> int:
    """How many escrow accounts hold other than the prices of the claimed coupons they hold for
    (a coupon's escrow is its own column where the schema has one, else its merchant's)."""
    with psycopg.connect(database_url) as connection:
        per_coupon = connection.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'coupons' "
            "AND column_name = 'escrow_account_id'").fetchone()
        escrow_of = "c.escrow_account_id" if per_coupon else "m.escrow_account_id"
        return connection.execute(
            f"""SELECT count(*) FROM accounts a LEFT JOIN (
                    SELECT {escrow_of} AS account_id, sum(c.price_g) AS owed FROM coupons c
                    JOIN campaigns p ON p.id = c.campaign_id JOIN merchants m ON m.id = p.merchant_id
                    WHERE c.status = 'claimed' GROUP BY 1) o ON o.account_id = a.id
                WHERE a.kind = 'escrow' AND a.number <> 'SYSESCROW' AND a.balance_g <> coalesce(o.owed, 0)"""
        ).fetchone()[0]


# --- 5. pgbench baseline --------------------------------------------------------------------

PGBENCH_SCRIPT = """\\set id random(1, {rows})
UPDATE bench_stock SET claimed = claimed + 1 WHERE id = :id AND claimed < stock;
"""


def pgbench(database_url: str, rows: int, clients: int, seconds: int) -> float:
    """tps of a bare single-row stock UPDATE (autocommit) over a fresh `rows`-row table."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_stock")
        connection.execute("CREATE TABLE bench_stock (id int PRIMARY KEY, stock int NOT NULL, claimed int NOT NULL)")
        connection.execute("INSERT INTO bench_stock SELECT g, 1000000000, 0 FROM generate_series(1, %s) g", (rows,))
        connection.execute("VACUUM ANALYZE bench_stock")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT.format(rows=rows))
    try:
        completed = subprocess.run(
            ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", script.name, database_url],
            capture_output=True, text=True, check=True)
    finally:
        os.unlink(script.name)
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("DROP TABLE IF EXISTS bench_stock")
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", completed.stdout)
    if not match:
        raise RuntimeError(f"no tps in pgbench output:\n{completed.stdout}\n{completed.stderr}")
    return float(match.group(1))


# --- 6. the registry afterwards --------------------------------------------------------------

def verify(app) -> list[dict]:
    from accounting.ledger.tasks import seal_audit_log
    from accounting.ledger.verify import verify_registry
    from config.extensions import db

    with app.app_context():
        seal_audit_log()
        report = verify_registry()
        db.session.rollback()
        return report


# --- main -----------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller and shorter: under ~5 minutes")
    parser.add_argument("--residents", type=int, default=4000)
    parser.add_argument("--merchants", type=int, default=100)
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--price", type=int, default=10, help="price of a coupon in g")
    parser.add_argument("--clients", type=int, default=8, help="concurrent back-to-back clients (processes)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--seconds", type=int, default=15, help="length of each timed run (per kind)")
    parser.add_argument("--rounds", type=int, default=3, help="slices the hot and spread claims take turns in")
    parser.add_argument("--sellout-stock", type=int, default=500)
    parser.add_argument("--cashiers", type=int, default=32)
    parser.add_argument("--paced-clients", type=int, default=32,
                        help="client processes of the paced runs (at half the measured saturation rate)")
    parser.add_argument("--till-coupons", type=int, default=150,
                        help="coupons waiting at each cashier's shop for the back-to-back run (enough for --seconds)")
    parser.add_argument("--sample-waits", action="store_true",
                        help="sample pg_stat_activity during the hot and spread claims: where claims wait")
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    args = parser.parse_args()
    if args.quick:
        args.residents, args.seconds, args.rounds = min(args.residents, 2000), 8, 2
        args.till_coupons, args.sellout_stock = min(args.till_coupons, 60), min(args.sellout_stock, 200)
    if args.cashiers > args.merchants:
        parser.error("one cashier per merchant: --cashiers must not exceed --merchants")

    from api import create_app
    from config.extensions import db

    database_url = harness.fresh_database(DB_NAME)
    try:
        environ = harness.app_environ(database_url) | {"ISSUANCE_AUTO_APPROVE_MAX_G": str(10**15)}
        app = create_app(environ)
        started = time.perf_counter()
        people = prepare_residents(database_url, args.residents)
        issue_seconds, issued = issue_credits(app, database_url, [account for _, _, account in people])
        hot, spread, cashier_tokens, _ = prepare_shops(app, args.merchants, args.campaigns, args.residents,
                                                       args.price)
        with app.app_context():
            resident_tokens = [_access_token(user, "resident", holder, account) for user, holder, account in people]
            token_of_account = {account: token for (_, _, account), token in zip(people, resident_tokens)}
            db.session.rollback()
        print(f"setup   : {len(people):,} residents holding {issued:,} g (issued by run_issuance_day in "
              f"{issue_seconds:.1f} s), {args.merchants} approved merchants, 1 hot + {len(spread):,} campaigns, "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        harness.vacuum_analyze(database_url, HOT_TABLES)

        load_before = os.getloadavg()[0]
        samplers = [WaitSampler(harness.ADMIN_URL, DB_NAME) if args.sample_waits else contextlib.nullcontext()
                    for _ in ("hot", "spread")]
        with harness.gunicorn(database_url, args.workers) as base:
            # Not timed: every worker serves claims once (ORM mappers configured, statements compiled).
            run_claims(base, DB_NAME, resident_tokens, spread, args.clients, 3)
            hot_run, spread_run, loads = hot_and_spread_in_rounds(
                base, DB_NAME, resident_tokens, hot, spread, args.clients, args.seconds, args.rounds, samplers)
            sellout_id = sellout_campaign(app, next(iter(cashier_tokens)), args.sellout_stock, args.price)
            burst = run_claims(base, DB_NAME, resident_tokens, [sellout_id], args.clients, 60,
                               attempts=2 * args.sellout_stock)

            # Before each paced run, the ANALYZE autovacuum (15 s naptime) would have made meanwhile: plans
            # cached on a near-empty journal scan it whole. Paced claims at half the spread rate just measured.
            harness.vacuum_analyze(database_url, HOT_TABLES)
            claim_pace = pace_for(spread_run["rate"] / 2, args.paced_clients)
            paced_claims = run_claims(base, DB_NAME, resident_tokens[::-1], spread, args.paced_clients,
                                      args.seconds, pace=claim_pace)

            # Trips: back to back (saturation), then paced at half that rate.
            trip_tokens = resident_tokens[-args.paced_clients:]
            trips = run_trips(base, DB_NAME, trip_tokens[:args.clients], args.seconds / 2, 0, hours_ago=30)
            trip_pace = pace_for(trips["rate"] / 2, args.paced_clients)
            harness.vacuum_analyze(database_url, HOT_TABLES)
            paced_trips = run_trips(base, DB_NAME, trip_tokens, args.seconds, trip_pace, hours_ago=20)

            # The till: one cashier at each of the `--cashiers` busiest shops, each with coupons waiting.
            with psycopg.connect(database_url) as connection:
                shops = [m for m, in connection.execute(
                    """SELECT p.merchant_id FROM campaigns p JOIN coupons c ON c.campaign_id = p.id
                       WHERE p.id = ANY(%s) GROUP BY p.merchant_id ORDER BY count(*) DESC, p.merchant_id LIMIT %s""",
                    (spread, args.cashiers)).fetchall()]
            shops += [m for m in cashier_tokens if m not in shops][:args.cashiers - len(shops)]
            queues = lambda per_shop: till_queues(app, base, database_url, shops, per_shop, people,  # noqa: E731
                                                  token_of_account, cashier_tokens, args.clients)
            work, fetched, fetch_seconds = queues(args.till_coupons)
            till = run_till(base, DB_NAME, work, args.seconds, 0)
            # Redemptions paced at half the back-to-back rate, over the same cashiers.
            till_pace = pace_for(till["rate"] / 2, len(shops))
            harness.vacuum_analyze(database_url, HOT_TABLES)
            paced = run_till(base, DB_NAME, queues(int(args.seconds / till_pace) + 3)[0], args.seconds, till_pace)

        load_after = os.getloadavg()[0]
        pgbench_seconds = max(5, args.seconds // 2)
        hot_tps = pgbench(database_url, 1, args.clients, pgbench_seconds)
        spread_tps = pgbench(database_url, 1000, args.clients, pgbench_seconds)
        checked, oversold, mismatched = oversell_check(database_url)
        escrow_gaps = escrow_check(database_url)
        with psycopg.connect(database_url) as connection:
            sold = connection.execute("SELECT claimed_count, stock FROM campaigns WHERE id = %s",
                                      (sellout_id,)).fetchone()
        report = verify(app)
    finally:
        if not args.keep:
            harness.drop_database(DB_NAME)

    print(f"run     : gunicorn {args.workers} workers (sync), {args.clients} back-to-back client processes, "
          f"{args.paced_clients} paced ones, {os.cpu_count()} CPUs shared by clients, gunicorn and PostgreSQL; "
          f"1-min load average {load_before:.1f} before, {load_after:.1f} after the HTTP runs")
    print(claims_line("hot     ", hot_run) + "\n          (one campaign: a flash sale)")
    print(claims_line("spread  ", spread_run) + f"\n          (over {len(spread):,} campaigns of {args.merchants} "
                                                "merchants)")
    ratio = hot_run["rate"] / spread_run["rate"]
    print(f"rounds  : {args.rounds} × (hot {args.seconds / args.rounds:.1f} s, spread {args.seconds / args.rounds:.1f}"
          f" s) taking turns; 1-min load average at each slice {', '.join(f'{x:.1f}' for x in loads)}")
    print(f"ratio_hot_vs_spread {ratio:.2f} (target >= 0.6)")
    print(f"          {'PASS' if ratio >= 0.6 else 'FAIL'}; 1-min load average {load_before:.1f} before, "
          f"{load_after:.1f} after")
    for kind, sampler in zip(("hot", "spread") if args.sample_waits else (), samplers):
        print(f"waits   : {kind} claims: active backends of the database by what they wait on and the statement, "
              f"sampled every 5 ms ({sampler.samples:,} samples)")
        for text_line in sampler.lines():
            print(f"          {text_line}")
    sellout_ok = sold[0] == sold[1] == burst["answers"]["201"] and \
        burst["answers"]["409 sold_out"] == sum(burst["answers"].values()) - sold[1]
    print(f"sell-out: stock {sold[1]}, {sum(burst['answers'].values()):,} attempts at once: "
          f"{describe(burst['answers'])}; claimed_count {sold[0]} {'PASS' if sellout_ok else 'FAIL'}")
    print(f"oversell: {checked:,} campaigns checked: {oversold} with claimed_count > stock, {mismatched} whose "
          f"coupons differ from claimed_count {'PASS' if not oversold and not mismatched else 'FAIL'}")
    print(f"escrow  : {escrow_gaps} escrow accounts whose balance differs from what their claimed coupons owe "
          f"{'PASS' if not escrow_gaps else 'FAIL'}")

    print(claims_line(f"paced   : claims, {args.paced_clients} clients each every {claim_pace * 1000:.0f} ms "
                      f"(~{args.paced_clients / claim_pace:,.0f}/s = half the spread rate)", paced_claims))
    print(f"p99_paced_claims_ms {ms(paced_claims['latencies'], 0.99):.1f}")
    print(latency_line("trip", f"trips   : {args.clients} clients back to back (saturation)", trips))
    print(latency_line("trip", f"paced   : trips, {args.paced_clients} clients each every {trip_pace * 1000:.0f} ms "
                       f"(~{args.paced_clients / trip_pace:,.0f}/s = half the saturation rate)", paced_trips)
          + (f"; failures {describe(paced_trips['failures'])}" if paced_trips["failures"] else ""))
    print(f"p99_paced_trips_ms {ms(paced_trips['latencies'], 0.99):.1f}")
    print(f"till    : QR tokens of {fetched:,} coupons fetched via GET /me/coupons/{{id}} in {fetch_seconds:.1f} s")
    print(till_line(f"{len(shops)} cashiers back to back (saturation: each scans the next coupon the moment "
                    "the last is redeemed)", till))
    print(till_line(f"{len(shops)} cashiers, each serving one customer every {till_pace * 1000:.0f} ms "
                    f"(~{len(shops) / till_pace:,.0f} customers/s = half the saturation rate)", paced))
    print(f"p99_paced_redemptions_ms {ms(paced['redeem'], 0.99):.1f}")
    paced_p99 = [ms(paced_trips["latencies"], 0.99), ms(paced_claims["latencies"], 0.99), ms(paced["redeem"], 0.99)]
    print(f"          paced p99 target < 50 ms each: {'PASS' if max(paced_p99) < 50 else 'FAIL'}")
    print(f"pgbench : bare UPDATE ... SET claimed = claimed + 1 WHERE id = :id AND claimed < stock, "
          f"{args.clients} clients, {pgbench_seconds} s: hot row {hot_tps:,.0f} tps, 1,000 rows {spread_tps:,.0f} tps"
          f" (hot/spread {hot_tps / spread_tps:.2f})")
    failed = [item for item in report if not item["ok"]]
    print(f"verify  : {'all invariants ok' if not failed else 'FAILED'} "
          f"({len(report)} invariants checked after the runs)")
    for item in failed:
        print(f"          FAILED {item['invariant']}: {item['violations']} rows, e.g. {item['examples'][:3]}")


if __name__ == "__main__":
    main()
