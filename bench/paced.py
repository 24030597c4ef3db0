"""Paced load for the benchmarks: trips posted by residents' apps (POST /me/trips) back to back or
paced, the pace that makes a given rate, and where PostgreSQL backends wait meanwhile."""
import collections
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
from clients import Pacer, ms, run_clients


def pace_for(rate: float, clients: int) -> float:
    """Seconds between one client's requests so that `clients` of them make `rate` requests/s."""
    return clients / rate


def _trips(connection, work, deadline):
    """POST /me/trips until the deadline, back to back or (`pace` > 0) one every `pace` seconds from
    a random offset; each trip 30 s after the last, from `hours_ago` (no two runs of one token meet)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {work['token']}"}
    begin = datetime.now(timezone.utc) - timedelta(hours=work["hours_ago"])
    latencies, failures = [], collections.Counter()
    turns = Pacer(work["pace"])
    i = 0
    while True:
        turns.wait()
        if time.time() >= deadline:
            break
        started_at = begin + timedelta(seconds=30 * i)
        body = json.dumps({"mode": "bike", "started_at": started_at.isoformat(),
                           "ended_at": (started_at + timedelta(minutes=10)).isoformat(), "distance_m": 2500})
        t0 = time.perf_counter()
        connection.request("POST", "/api/v1/me/trips", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status == 202:
            latencies.append(time.perf_counter() - t0)
        else:
            failures[response.status] += 1
        i += 1
    return latencies, failures


def run_trips(base: str, database: str, tokens: list[str], seconds: float, pace: float, hours_ago: int) -> dict:
    """One client process per token."""
    results, cpu = run_clients(_trips, [{"base": base, "seconds": seconds, "token": token, "pace": pace,
                                         "hours_ago": hours_ago} for token in tokens], database)
    latencies = sorted(x for (lat, _), _, _ in results for x in lat)
    failures = sum((f for (_, f), _, _ in results), collections.Counter())
    elapsed = max(s for _, s, _ in results)
    return {"latencies": latencies, "failures": failures, "seconds": elapsed, "rate": len(latencies) / elapsed,
            "cpu": cpu}


def latency_line(what: str, label: str, run: dict, count: int | None = None) -> str:
    lat = run["latencies"]
    done = len(lat) if count is None else count
    return (f"{label}: {done:,} in {run['seconds']:.1f} s = {done / run['seconds']:,.0f}/s; "
            f"{what} p50 {ms(lat, 0.5):.1f} ms, p99 {ms(lat, 0.99):.1f} ms, max {ms(lat, 1.0):.1f} ms")


class WaitSampler:
    """Samples pg_stat_activity every `every` seconds while running: what each active backend of the
    database waits on (a lock, the WAL flush, the CPU), by the statement it runs. Evidence of where
    a claim queues."""

    QUERY = """SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'),
                      left(regexp_replace(query, '\\s+', ' ', 'g'), 48)
               FROM pg_stat_activity WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()"""

    def __init__(self, admin_url: str, database: str, every: float = 0.005):
        self.admin_url, self.database, self.every = admin_url, database, every
        self.counts, self.samples = collections.Counter(), 0
        self._stop = threading.Event()

    def __enter__(self):  # may be entered again: the counts add up
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            while not self._stop.is_set():
                for wait, query in connection.execute(self.QUERY, (self.database,)):
                    self.counts[(wait, query)] += 1
                self.samples += 1
                time.sleep(self.every)

    def lines(self, top: int = 6) -> list[str]:
        """The most frequent (wait, statement) pairs, as average backends in that state per sample."""
        return [f"{count / max(1, self.samples):5.2f} backends  {wait:<24} {query}"
                for (wait, query), count in self.counts.most_common(top)]
