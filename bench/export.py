"""Benchmark GET /api/v1/me/export (PIPL): a resident with 10,000 events gets it in seconds.

1. A fresh migrated database; a resident registered and a transit source authorized, both through
   the app's own services (api.identity.operations, accounting.record.sources).
2. `--events` trips of theirs over the last `--days` Asia/Shanghai days (bus, one every few minutes,
   none overlapping, received a minute after each ended) COPYed in as `received`; then quantified
   and issued by the real code paths (quantify_received, run_issuance_day per day), so the export
   carries methodology versions, grams, caps, reasons and the ledger's serials.
3. The export fetched `--runs` times over HTTP from gunicorn (one worker), read as it streams; the
   time, the zip's size and the worker's peak RSS (VmHWM) before and after are printed.
4. The baseline, same run: `COPY (SELECT * FROM green_events WHERE account_id = …) TO STDOUT`
   through psycopg, the resident's events and nothing else, as CSV; the export's time as a ratio of it.

Run: .venv/bin/python bench/export.py [--events 10000] [--days 60] [--runs 3]
"""
import argparse
import io
import json
import os
import statistics
import time
import urllib.request
import zipfile
from datetime import datetime, timedelta, timezone
from datetime import time as clock
from zoneinfo import ZoneInfo

import harness  # noqa: I001  (puts the project root first on sys.path)
import psycopg

DB_NAME = "bz_bench_export"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PHONE, PASSWORD, SOURCE = "13912345678", "bench-password-1", "BENCHBUS"
COLUMNS = ("source_id", "external_id", "account_id", "kind", "mode", "started_at", "ended_at", "distance_m",
           "status", "received_at")


def prepare(database_url: str, events: int, days: int) -> tuple[int, float]:
    """The resident, their events quantified and issued; (account id, seconds the seeding took)."""
    from accounting.issuance.tasks import run_issuance_day
    from accounting.quantification.tasks import quantify_received
    from accounting.record.sources import authorize_source, file_source
    from api import create_app
    from api.identity.operations import register_resident
    from config.extensions import db

    started = time.perf_counter()
    app = create_app(harness.app_environ(database_url))
    with app.app_context():
        source, _, _ = file_source(SOURCE, "transit", "bench transit", app.config["SECRET_KEY"])
        _, account = register_resident(PHONE, PASSWORD, "基准测试居民", "滨城区")
        authorize_source(account.id, SOURCE)
        db.session.commit()
        account_id, source_id = account.id, source.id
    today = datetime.now(SHANGHAI).date()
    per_day, rows = -(-events // days), []
    for n in range(events):
        day, slot = divmod(n, per_day)
        morning = datetime.combine(today - timedelta(days=days - day), clock(6), SHANGHAI).astimezone(timezone.utc)
        begin = morning + timedelta(minutes=slot * 5)
        end = begin + timedelta(minutes=4)  # 1.2 km in 4 minutes: a plausible bus ride
        rows.append((source_id, f"bench-{n}", account_id, "trip", "bus", begin, end, 1200, "received",
                     end + timedelta(minutes=1)))
    with psycopg.connect(database_url) as connection:
        with connection.cursor().copy(f"COPY green_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        connection.commit()
        connection.execute("ANALYZE green_events")
        connection.commit()
    with app.app_context():
        quantify_received()
        for back in range(days, 0, -1):
            run_issuance_day(today - timedelta(days=back))
    return account_id, time.perf_counter() - started


def worker_peak_kib(base: str) -> int:
    """The peak RSS (VmHWM) of the gunicorn worker serving `base` (its master excluded: the largest)."""
    port, peaks = f"127.0.0.1:{base.rsplit(':', 1)[1]}", []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            if "wsgi:app" not in command or port not in command:
                continue
            with open(f"/proc/{pid}/status") as f:
                peaks += [int(line.split()[1]) for line in f if line.startswith("VmHWM:")]
        except OSError:
            continue
    return max(peaks, default=0)


def fetch_export(base: str, token: str) -> tuple[float, bytes]:
    request = urllib.request.Request(base + "/api/v1/me/export", headers={"Authorization": f"Bearer {token}"})
    started, chunks = time.perf_counter(), []
    with urllib.request.urlopen(request, timeout=120) as response:
        while chunk := response.read(64 * 1024):
            chunks.append(chunk)
    return time.perf_counter() - started, b"".join(chunks)


def copy_baseline(database_url: str, account_id: int) -> tuple[float, int]:
    """The resident's events, COPYed out as CSV: (seconds, bytes)."""
    with psycopg.connect(database_url) as connection:
        started, size = time.perf_counter(), 0
        with connection.cursor().copy(
                "COPY (SELECT * FROM green_events WHERE account_id = %s ORDER BY id) TO STDOUT (FORMAT csv, HEADER)",
                (account_id,)) as copy:
            for block in copy:
                size += len(block)
        return time.perf_counter() - started, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    database_url = harness.fresh_database(DB_NAME)
    try:
        account_id, seeding = prepare(database_url, args.events, args.days)
        print(f"seeded  : {args.events:,} events over {args.days} days, quantified and issued, in {seeding:.1f} s")
        with harness.gunicorn(database_url, workers=1) as base:
            login = urllib.request.Request(base + "/api/v1/auth/login", method="POST",
                                           data=json.dumps({"phone": PHONE, "password": PASSWORD}).encode(),
                                           headers={"Content-Type": "application/json"})
            token = json.load(urllib.request.urlopen(login))["access_token"]
            fetch_export(base, token)  # warm: the worker's lazy imports, its connection
            peak_before = worker_peak_kib(base)
            runs = [fetch_export(base, token) for _ in range(args.runs)]
            peak_after = worker_peak_kib(base)
        seconds = statistics.median(elapsed for elapsed, _ in runs)
        body = runs[-1][1]
        archive = zipfile.ZipFile(io.BytesIO(body))
        events_csv = archive.read("events.csv").decode("utf-8").count("\n") - 1
        statuses = {}
        for event in json.loads(archive.read("export.json"))["events"]:
            statuses[event["status"]] = statuses.get(event["status"], 0) + 1
        copy_seconds = statistics.median(copy_baseline(database_url, account_id)[0] for _ in range(args.runs))
        copy_bytes = copy_baseline(database_url, account_id)[1]
        unpacked = sum(info.file_size for info in archive.infolist())
        print(f"export  : median {seconds * 1000:.0f} ms of {args.runs} "
              f"({', '.join(f'{e * 1000:.0f}' for e, _ in runs)} ms); zip {len(body) / 1024:.0f} KiB "
              f"({unpacked / 1024:.0f} KiB unpacked, {len(archive.namelist())} files); {events_csv:,} rows in "
              f"events.csv; statuses {statuses}")
        print(f"memory  : gunicorn worker peak RSS {peak_before / 1024:.1f} MiB after a warm-up export, "
              f"{peak_after / 1024:.1f} MiB after {args.runs} more")
        print(f"COPY    : the resident's events as CSV, median {copy_seconds * 1000:.1f} ms, "
              f"{copy_bytes / 1024:.0f} KiB")
        print(f"ratio   : export / COPY = {seconds / copy_seconds:.1f}x (the export also reads the ledger, consents, "
              f"coupons…, writes everything twice, CSV and JSON, compresses it and crosses HTTP)")
        print(f"machine : {os.cpu_count()} CPUs; 1-min load average {os.getloadavg()[0]:.1f}")
    finally:
        harness.drop_database(DB_NAME)


if __name__ == "__main__":
    main()
