"""Benchmark the coupon side (issue: 价值兑现 at scale), over HTTP on gunicorn + PostgreSQL.

1. Setup, set-based SQL and the services: `--residents` resident holders, accounts and users
   (set-based); three quantified trips each of yesterday (Asia/Shanghai), issued by the real
   path, accounting.issuance.tasks.run_issuance_day; `--merchants` merchants filed by
   merchants.applications.apply and approved by .approve; one hot campaign and
   `--campaigns` campaigns spread over the merchants, made by merchants.campaigns.create;
   one cashier per merchant. Access tokens are minted in-process with the claims
   api/identity/tokens.py issues (role, hid, aid, sid): no password hashing in the way.
2. Hot: after a 3 s warm-up (not timed), `--clients` client processes (http.client, back to
   back) claim the one hot campaign for `--seconds`: claims/s, p50/p99, and the CPU one claim
   cost each side (gunicorn, PostgreSQL, clients; from /proc), hence the most this machine's
   CPUs could serve. Target >= 200 claims/s with no oversell. Then a
   sell-out burst: a campaign of `--sellout-stock` coupons, twice that many attempts at once:
   exactly the stock is claimed, every other answer is 409 sold_out.
3. Spread: the same clients claim over the `--campaigns` campaigns. Target >= 500 claims/s.
   No oversell anywhere: claimed_count <= stock and coupons = claimed_count, per campaign.
4. Till: `--cashiers` concurrent cashiers, each at its own shop, scan coupons claimed in 3
   (the token fetched by the holder from GET /me/coupons/{id}, as the app shows it; shops
   topped up to `--till-coupons` waiting coupons by the claim service) and do verify + redeem:
   round trips/s, p50/p99 of each, CPU per round trip. Target: redeem p99 < 100 ms at 32.
   Twice: back to back (every cashier scans the next coupon the moment the last is redeemed:
   the machine's saturation), then paced, one customer per cashier every `--pace` seconds
   (a rush hour at every till at once), so latency is seen both at and below saturation.
5. Baseline, same server, same run: pgbench with `--clients` clients running a bare
   `UPDATE ... SET claimed = claimed + 1 WHERE id = :id AND claimed < stock` on one hot row
   and on 1,000 rows.
6. The audit log is sealed and every registry invariant checked; the database is dropped.

Run: .venv/bin/python bench/coupons.py [--residents 4000] [--clients 8] [--workers 4] [--seconds 15]
"""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import harness  # noqa: I001  (puts the project root first on sys.path)
import psycopg
from clients import cpu_line, describe, ms, run_clients
from till import run_till, till_line, till_queues

DB_NAME = "bz_bench_coupons"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DISTRICTS = ("滨城区", "沾化区", "惠民县", "阳信县", "无棣县", "博兴县", "邹平市")
CATEGORIES = ("food", "clothing", "housing", "transport", "goods", "services")
TRIPS_PER_RESIDENT, GRAMS_PER_TRIP = 3, 1000


# --- 1. setup -------------------------------------------------------------------------------

def prepare_residents(database_url: str, count: int, chunk: int = 5000) -> list[tuple[int, int, int]]:
    """`count` resident holders with accounts and users, written set-based; [(user, holder, account)]."""
    from accounting.ledger.account_numbers import new_account_number

    rows, numbers = [], set()
    with psycopg.connect(database_url) as connection:
        for offset in range(0, count, chunk):
            size = min(chunk, count - offset)
            fresh = []
            while len(fresh) < size:
                number = new_account_number()
                if number not in numbers:
                    numbers.add(number)
                    fresh.append(number)
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
        version_id = connection.execute(
            "SELECT v.id FROM methodology_versions v JOIN methodologies m ON m.id = v.methodology_id "
            "WHERE m.code = 'TRIP' AND v.version = 1").fetchone()[0]
        source_id = connection.execute("SELECT id FROM data_sources WHERE code = 'APP'").fetchone()[0]
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


# --- 2, 3. claims ---------------------------------------------------------------------------

def _claims(connection, work, deadline):
    """Claim back to back until the deadline (or `attempts`), cycling this client's residents."""
    tokens, campaign_ids, offset, attempts = work["tokens"], work["campaigns"], work["offset"], work["attempts"]
    latencies, answers = [], Counter()
    i = 0
    while time.time() < deadline and (attempts is None or i < attempts):
        campaign_id = campaign_ids[(offset + i * 7919) % len(campaign_ids)]
        t0 = time.perf_counter()
        connection.request("POST", f"/api/v1/campaigns/{campaign_id}/claim",
                           headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Length": "0"})
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - t0
        if response.status == 201:
            latencies.append(elapsed)
            answers["201"] += 1
        else:
            answers[f"{response.status} {json.loads(body).get('code')}"] += 1
        i += 1
    return latencies, answers


def run_claims(base: str, tokens: list[str], campaign_ids: list[int], clients: int, seconds: float,
               attempts: int | None = None) -> dict:
    """`clients` processes, each with its own slice of the residents (no two share an account row)."""
    works = [{"base": base, "seconds": seconds, "tokens": tokens[n::clients], "campaigns": campaign_ids,
              "offset": n * 104729, "attempts": None if attempts is None else -(-attempts // clients)}
             for n in range(clients)]
    results, cpu = run_clients(_claims, works, DB_NAME)
    latencies = sorted(latency for (lat, _), _, _ in results for latency in lat)
    answers = sum((answers for (_, answers), _, _ in results), Counter())
    elapsed = max(seconds for _, seconds, _ in results)
    return {"latencies": latencies, "answers": answers, "seconds": elapsed, "rate": len(latencies) / elapsed,
            "cpu": cpu}


def oversell_check(database_url: str) -> tuple[int, int, int]:
    """(campaigns checked, campaigns oversold, campaigns whose coupons differ from claimed_count)."""
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            """SELECT count(*), count(*) FILTER (WHERE c.claimed_count > c.stock),
                      count(*) FILTER (WHERE c.claimed_count <> coalesce(k.n, 0))
               FROM campaigns c LEFT JOIN (SELECT campaign_id, count(*) AS n FROM coupons GROUP BY campaign_id) k
                    ON k.campaign_id = c.id""").fetchone()


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
    parser.add_argument("--residents", type=int, default=4000)
    parser.add_argument("--merchants", type=int, default=100)
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--price", type=int, default=10, help="price of a coupon in g")
    parser.add_argument("--clients", type=int, default=8, help="concurrent claim clients (processes)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--seconds", type=int, default=15, help="length of each timed run")
    parser.add_argument("--sellout-stock", type=int, default=500)
    parser.add_argument("--cashiers", type=int, default=32)
    parser.add_argument("--till-coupons", type=int, default=150,
                        help="coupons waiting at each cashier's shop for the back-to-back run (enough for --seconds)")
    parser.add_argument("--pace", type=float, default=1.0,
                        help="then each cashier serves a customer every PACE s (0: skip that run)")
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    args = parser.parse_args()
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
              f"{time.perf_counter() - started:.1f} s")

        load_before = os.getloadavg()[0]
        with harness.gunicorn(database_url, args.workers) as base:
            # Not timed: every worker serves claims once (ORM mappers configured, statements compiled).
            run_claims(base, resident_tokens, spread, args.clients, 3)
            hot_run = run_claims(base, resident_tokens, [hot], args.clients, args.seconds)
            sellout_id = sellout_campaign(app, next(iter(cashier_tokens)), args.sellout_stock, args.price)
            burst = run_claims(base, resident_tokens, [sellout_id], args.clients, 60,
                               attempts=2 * args.sellout_stock)
            spread_run = run_claims(base, resident_tokens, spread, args.clients, args.seconds)

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
            paced_coupons = int(args.seconds / args.pace) + 2 if args.pace else 0
            paced = run_till(base, DB_NAME, queues(paced_coupons)[0], args.seconds, args.pace) if args.pace else None

        load_after = os.getloadavg()[0]
        hot_tps = pgbench(database_url, 1, args.clients, args.seconds)
        spread_tps = pgbench(database_url, 1000, args.clients, args.seconds)
        checked, oversold, mismatched = oversell_check(database_url)
        with psycopg.connect(database_url) as connection:
            sold = connection.execute("SELECT claimed_count, stock FROM campaigns WHERE id = %s",
                                      (sellout_id,)).fetchone()
        report = verify(app)
    finally:
        if not args.keep:
            harness.drop_database(DB_NAME)

    def line(label, run, target):
        lat = run["latencies"]
        verdict = "PASS" if run["rate"] >= target else "FAIL"
        return (f"{label}: {len(lat):,} claims in {run['seconds']:.1f} s = {run['rate']:,.0f} claims/s; "
                f"p50 {ms(lat, 0.5):.1f} ms, p99 {ms(lat, 0.99):.1f} ms (target >= {target}/s) {verdict}\n"
                f"          answers: {describe(run['answers'])}\n          {cpu_line(run['cpu'], len(lat), 'claim')}")

    print(f"run     : gunicorn {args.workers} workers (sync), {args.clients} claim client processes, "
          f"{os.cpu_count()} CPUs shared by clients, gunicorn and PostgreSQL; 1-min load average "
          f"{load_before:.1f} before, {load_after:.1f} after the HTTP runs")
    print(line("hot     ", hot_run, 200) + "\n          (one campaign, one merchant's escrow)")
    sellout_ok = sold[0] == sold[1] == burst["answers"]["201"] and \
        burst["answers"]["409 sold_out"] == sum(burst["answers"].values()) - sold[1]
    print(f"sell-out: stock {sold[1]}, {sum(burst['answers'].values()):,} attempts at once: "
          f"{describe(burst['answers'])}; claimed_count {sold[0]} {'PASS' if sellout_ok else 'FAIL'}")
    print(line("spread  ", spread_run, 500)
          + f"\n          (over {len(spread):,} campaigns of {args.merchants} merchants)")
    print(f"oversell: {checked:,} campaigns checked: {oversold} with claimed_count > stock, {mismatched} whose "
          f"coupons differ from claimed_count {'PASS' if not oversold and not mismatched else 'FAIL'}")
    print(f"till    : QR tokens of {fetched:,} coupons fetched via GET /me/coupons/{{id}} in {fetch_seconds:.1f} s")
    print(till_line(f"{len(shops)} cashiers back to back (saturation: each scans the next coupon the moment "
                    "the last is redeemed)", till))
    if paced:
        print(till_line(f"{len(shops)} cashiers, each serving one customer every {args.pace:g} s "
                        f"(~{len(shops) / args.pace:,.0f} customers/s across the shops)", paced))
    print(f"pgbench : bare UPDATE ... SET claimed = claimed + 1 WHERE id = :id AND claimed < stock, "
          f"{args.clients} clients, {args.seconds} s: hot row {hot_tps:,.0f} tps, 1,000 rows {spread_tps:,.0f} tps")
    print(f"ratio   : hot {hot_run['rate'] / hot_tps:.1%} of pgbench, spread {spread_run['rate'] / spread_tps:.1%} "
          "of pgbench (a claim is one HTTP request: JWT, about ten statements in one transaction, JSON)")
    failed = [item for item in report if not item["ok"]]
    print(f"verify  : {'all invariants ok' if not failed else 'FAILED'} "
          f"({len(report)} invariants checked after the runs)")
    for item in failed:
        print(f"          FAILED {item['invariant']}: {item['violations']} rows, e.g. {item['examples'][:3]}")


if __name__ == "__main__":
    main()
