"""Benchmark the record path (issue: the running platform).

1. Signed 1,000-event batches POSTed to /api/v1/ingest/events on gunicorn + PostgreSQL,
   next to a PostgreSQL COPY of the same number of rows into the same table, same run.
   Target: ingest ≥ 25% of the COPY rate.
2. POST /api/v1/me/trips at 32 concurrent clients (each a process sending back to back:
   the machine's saturation). Target: p99 < 50 ms. Then the same 32 clients paced, each
   posting a trip every `--trip-pace` seconds (far more often than a phone does), so the
   latency below saturation is seen too.

Run: .venv/bin/python bench/ingest.py [--batches 100] [--clients 4] [--trip-requests 150]
"""
import argparse
import json
import multiprocessing
import queue
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import harness
import psycopg
from clients import Pacer, connection_to, cpu_seconds

DB_NAME = "bz_bench_ingest"
MODES = ["bus", "metro", "bike", "ev"]
COLUMNS = ("source_id", "external_id", "account_id", "kind", "mode", "category", "started_at", "ended_at",
           "distance_m", "steps", "weight_g", "status", "received_at")


def prepare(database_url: str, residents: int):
    """File a source and open `residents` accounts that authorized it; returns (key, secret, numbers)."""
    from accounting.ledger.accounts import open_resident_account
    from accounting.record.sources import authorize_source, file_source
    from api import create_app
    from config.extensions import db

    app = create_app(harness.app_environ(database_url))
    with app.app_context():
        _, key, secret = file_source("BENCHBUS", "transit", "bench transit", app.config["SECRET_KEY"])
        numbers = []
        for _ in range(residents):
            account = open_resident_account("滨城区")
            authorize_source(account.id, "BENCHBUS")
            numbers.append(account.number)
        db.session.commit()
    return key, secret, numbers


def make_batches(numbers: list[str], count: int, size: int = 1000) -> list[bytes]:
    start = datetime.now(timezone.utc) - timedelta(hours=6)
    batches = []
    for b in range(count):
        events = []
        for i in range(size):
            begin = start + timedelta(seconds=i)
            events.append({
                "external_id": f"b{b}-{i}-{uuid.uuid4().hex[:8]}", "account_number": numbers[(b * size + i) % len(numbers)],
                "kind": "trip", "mode": MODES[i % 4], "started_at": begin.isoformat(),
                "ended_at": (begin + timedelta(minutes=20)).isoformat(), "distance_m": 3000 + i,
            })
        batches.append(json.dumps({"events": events}).encode())
    return batches


def post_batches(base: str, key: str, secret: str, batches: list[bytes], clients: int) -> float:
    from accounting.record.credentials import sign

    work: queue.Queue = queue.Queue()
    for body in batches:
        work.put(body)
    failures = []

    def client():
        connection = connection_to(base)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            stamp = str(int(time.time()))
            connection.request("POST", "/api/v1/ingest/events", body=body, headers={
                "Content-Type": "application/json", "X-Source-Key": key, "X-Timestamp": stamp,
                "X-Signature": sign(secret, stamp, body)})
            response = connection.getresponse()
            answer = json.loads(response.read())
            if response.status != 200 or answer["accepted"] != 1000:
                failures.append((response.status, str(answer)[:300]))

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"ingest failures: {failures[:3]}")
    return elapsed


def copy_baseline(database_url: str, numbers: list[str], rows: int) -> float:
    """COPY `rows` rows shaped like the ingested ones into green_events, timed, in one transaction."""
    with psycopg.connect(database_url) as connection:
        source_id = connection.execute("SELECT id FROM data_sources WHERE code = 'BENCHBUS'").fetchone()[0]
        ids = dict(connection.execute("SELECT number, id FROM accounts").fetchall())
        start, now = datetime.now(timezone.utc) - timedelta(hours=6), datetime.now(timezone.utc)
        data = [
            (source_id, f"copy-{i}", ids[numbers[i % len(numbers)]], "trip", MODES[i % 4], None,
             start + timedelta(seconds=i % 1000), start + timedelta(seconds=i % 1000, minutes=20),
             3000 + i % 1000, None, None, "received", now)
            for i in range(rows)
        ]
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY green_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        connection.commit()
        return time.perf_counter() - started


def _trip_client(args):
    base, token, count, pace, hours_ago = args
    connection = connection_to(base)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    latencies, cpu = [], 0.0
    begin = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    posts = Pacer(pace)
    for i in range(count + 5):
        if i >= 5:  # the first few warm up back to back
            posts.wait()
        started_at = begin + timedelta(seconds=30 * i)
        body = json.dumps({"mode": "bike", "started_at": started_at.isoformat(),
                           "ended_at": (started_at + timedelta(minutes=10)).isoformat(), "distance_m": 2500})
        t0, c0 = time.perf_counter(), time.process_time()
        connection.request("POST", "/api/v1/me/trips", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - t0
        if response.status != 202:
            raise RuntimeError(f"trip answered {response.status}")
        if i >= 5:  # the first few warm the connection and the worker
            latencies.append(elapsed)
            cpu += time.process_time() - c0
    return latencies, cpu


def register_trip_clients(base: str, clients: int) -> list[str]:
    tokens = []
    connection = connection_to(base)
    for i in range(clients):
        body = json.dumps({"phone": f"1391{i:07d}", "password": "bench-password", "display_name": f"bench {i}"})
        connection.request("POST", "/api/v1/auth/register", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        tokens.append(json.loads(response.read())["access_token"])
    return tokens


def trip_latency(base: str, tokens: list[str], per_client: int, pace: float = 0.0, hours_ago: int = 3):
    """Each token's client posts `per_client` timed trips (after 5 untimed), back to back or paced.
    Returns the sorted latencies, the seconds the run took and the clients' CPU seconds in it."""
    started = time.perf_counter()
    with multiprocessing.Pool(len(tokens)) as pool:
        results = pool.map(_trip_client, [(base, token, per_client, pace, hours_ago) for token in tokens])
    elapsed = time.perf_counter() - started
    latencies = sorted(latency for result, _ in results for latency in result)
    return latencies, elapsed, sum(cpu for _, cpu in results)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4, help="concurrent batch senders")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--trip-clients", type=int, default=32)
    parser.add_argument("--trip-requests", type=int, default=150, help="timed requests per trip client")
    parser.add_argument("--trip-pace", type=float, default=0.5,
                        help="then each client posts a trip every PACE s, 40 times (0: skip that run)")
    args = parser.parse_args()

    database_url = harness.fresh_database(DB_NAME)
    try:
        key, secret, numbers = prepare(database_url, args.residents)
        batches = make_batches(numbers, args.batches + 4)
        with harness.gunicorn(database_url, args.workers) as base:
            post_batches(base, key, secret, batches[:4], args.clients)  # warm-up, not timed
            ingest_seconds = post_batches(base, key, secret, batches[4:], args.clients)
            tokens = register_trip_clients(base, args.trip_clients)
            before = cpu_seconds(base, DB_NAME)
            latencies, trip_seconds, client_cpu = trip_latency(base, tokens, args.trip_requests)
            after = cpu_seconds(base, DB_NAME)
            paced = trip_latency(base, tokens, 40, args.trip_pace, hours_ago=8)[:2] if args.trip_pace else None
        events = args.batches * 1000
        copy_seconds = copy_baseline(database_url, numbers, events)
    finally:
        harness.drop_database(DB_NAME)

    ingest_rate, copy_rate = events / ingest_seconds, events / copy_seconds
    print(f"ingest  : {events} events in {ingest_seconds:.2f} s = {ingest_rate:,.0f} events/s "
          f"({args.clients} senders, {args.workers} gunicorn workers, 1,000-event signed batches)")
    print(f"COPY    : {events} rows in {copy_seconds:.2f} s = {copy_rate:,.0f} rows/s (same table, same run)")
    print(f"ratio   : {ingest_rate / copy_rate:.1%} of COPY (target >= 25%) "
          f"{'PASS' if ingest_rate >= 0.25 * copy_rate else 'FAIL'}")
    print(trip_line(f"{args.trip_clients} concurrent clients back to back (saturation)", latencies, trip_seconds))
    each = {side: (after[side] - before[side]) * 1000 / len(latencies) for side in after}
    print(f"          CPU per trip: gunicorn {each['gunicorn']:.2f} ms, PostgreSQL {each['postgres']:.2f} ms, "
          f"clients {client_cpu * 1000 / len(latencies):.2f} ms (all on the same 2 CPUs)")
    if paced:
        print(trip_line(f"{args.trip_clients} concurrent clients, each posting every {args.trip_pace:g} s", *paced))


def trip_line(label: str, latencies: list[float], seconds: float) -> str:
    p = lambda q: harness.percentile(latencies, q) * 1000  # noqa: E731
    return (f"trips   : {len(latencies)} POST /me/trips, {label}, in {seconds:.1f} s = "
            f"{len(latencies) / seconds:,.0f} req/s; p50 {p(0.50):.1f} ms, p95 {p(0.95):.1f} ms, "
            f"p99 {p(0.99):.1f} ms, max {latencies[-1] * 1000:.1f} ms (target p99 < 50 ms) "
            f"{'PASS' if p(0.99) < 50 else 'FAIL'}")

if __name__ == "__main__":
    main()
