"""Benchmark clients: spawned processes, each on its own HTTP connection, released together,
and the CPU each side (gunicorn, PostgreSQL, clients) spent while they ran (Linux /proc);
how their figures are printed."""
import http.client
import multiprocessing
import os
import random
import time
from collections import Counter
from urllib.parse import urlparse

from harness import percentile


def connection_to(base: str) -> http.client.HTTPConnection:
    url = urlparse(base)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=60)


def _warm(connection) -> None:
    """A few requests first (not timed): the connection path and the worker's lazy imports."""
    for _ in range(3):
        connection.request("GET", "/healthz")
        connection.getresponse().read()


def _client_process(target, work, barrier, results, index):
    connection = connection_to(work["base"])
    _warm(connection)
    barrier.wait()  # every client spawned, imported, connected and warmed: all start together
    started, cpu = time.time(), time.process_time()
    outcome = target(connection, work, started + work["seconds"])
    results.put((index, outcome, time.time() - started, time.process_time() - cpu))


class Pacer:
    """Turns every `pace` seconds from a random offset (a client's own rhythm), or none at all
    (pace 0: back to back). wait() sleeps until the next turn."""

    def __init__(self, pace: float):
        self.pace, self.next_turn = pace, time.time() + random.uniform(0, pace)

    def wait(self) -> None:
        if self.pace:
            time.sleep(max(0.0, self.next_turn - time.time()))
            self.next_turn += self.pace


def cpu_seconds(base: str, database: str) -> dict[str, float]:
    """CPU time used so far by the gunicorn serving `base` and the PostgreSQL backends of `database`."""
    port, tick = f"127.0.0.1:{urlparse(base).port}", os.sysconf("SC_CLK_TCK")
    used = {"gunicorn": 0.0, "postgres": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = "gunicorn" if "wsgi:app" in command and port in command else \
            "postgres" if command.startswith("postgres:") and f" {database} " in command else None
        if kind:
            used[kind] += (int(fields[11]) + int(fields[12])) / tick
    return used


def run_clients(target, works: list[dict], database: str) -> tuple[list[tuple], dict[str, float]]:
    """Run target(connection, work, deadline) in one spawned process per work item, released
    together once all are ready. Returns [(outcome, seconds it ran, client CPU seconds)] in order,
    and the CPU seconds each side spent meanwhile (gunicorn, postgres for `database`, clients)."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(works) + 1), context.Queue()
    processes = [context.Process(target=_client_process, args=(target, work, barrier, results, n))
                 for n, work in enumerate(works)]
    for process in processes:
        process.start()
    before = cpu_seconds(works[0]["base"], database)
    barrier.wait(timeout=600)
    collected = {}
    for _ in processes:
        index, outcome, seconds, cpu = results.get(timeout=600 + max(w["seconds"] for w in works))
        collected[index] = (outcome, seconds, cpu)
    after = cpu_seconds(works[0]["base"], database)
    used = {kind: after[kind] - before[kind] for kind in after}
    used["clients"] = sum(cpu for _, _, cpu in collected.values())
    for process in processes:
        process.join()
    return [collected[n] for n in range(len(works))], used


def cpu_line(cpu: dict, done: int, what: str) -> str:
    """CPU per operation by side, and the rate those costs allow on this machine's CPUs."""
    if not done:
        return "CPU: nothing done"
    each = {kind: seconds * 1000 / done for kind, seconds in cpu.items()}
    total = sum(each.values())
    return (f"CPU per {what}: gunicorn {each['gunicorn']:.1f} ms, PostgreSQL {each['postgres']:.1f} ms, "
            f"clients {each['clients']:.1f} ms = {total:.1f} ms; {os.cpu_count()} CPUs allow at most "
            f"~{os.cpu_count() * 1000 / total:,.0f} {what}s/s at these costs")


def ms(values: list[float], fraction: float) -> float:
    return percentile(values, fraction) * 1000


def describe(answers: Counter) -> str:
    return ", ".join(f"{count:,} × {status}" for status, count in answers.most_common())
