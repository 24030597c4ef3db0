"""The transfer workers of bench/ledger.py: processes that each call the service layer's transfer
(or the bare two-row transaction, through the same session) back to back, slice by slice."""
import multiprocessing
import random
import time
import uuid

import harness


def _worker(database_url, accounts, rows, seed, barrier, plan, seconds, max_amount, results):
    """One process: for each slice of `plan`, back to back for `seconds`, either
    "transfer": accounting.ledger.transfers.transfer between a random pair + db.session.commit(), or
    "bare": pgbench's bare transaction (two random rows of bench_two_rows, in id order) through
    the same session (driver statements + db.session.commit()): the floor of any Python service."""
    from accounting.errors import DomainError
    from accounting.ledger.idempotency import Idempotency
    from accounting.ledger.movement import InsufficientBalance
    from accounting.ledger.transfers import transfer
    from api import create_app
    from config.extensions import db

    rng = random.Random(seed)
    app = create_app(harness.app_environ(database_url))
    with app.app_context():
        def one_transfer(counts):
            (from_id, _), (_, to_number) = rng.sample(accounts, 2)
            amount = rng.randint(1, max_amount)
            key = uuid.uuid4().hex
            try:
                transfer(from_id, to_number, amount, Idempotency(f"bench:{seed}", key, key), actor_id=None,
                         memo="bench")
                db.session.commit()
                counts["ok"] += 1
            except InsufficientBalance:
                db.session.rollback()
                counts["insufficient"] += 1
            except (DomainError, Exception) as error:  # noqa: B014  (counted, reported, never hidden)
                db.session.rollback()
                counts["other"] += 1
                if len(counts["errors"]) < 3:
                    counts["errors"].append(f"{type(error).__name__}: {str(error)[:200]}")

        def one_bare(counts):
            low, high = sorted(rng.sample(range(1, rows + 1), 2))
            amount = rng.randint(1, max_amount)
            connection = db.session.connection().connection.driver_connection
            connection.execute("UPDATE bench_two_rows SET balance = balance - %s WHERE id = %s", (amount, low))
            connection.execute("UPDATE bench_two_rows SET balance = balance + %s WHERE id = %s", (amount, high))
            db.session.commit()
            counts["ok"] += 1

        steps = {"transfer": one_transfer, "bare": one_bare}
        warm = {"ok": 0, "insufficient": 0, "other": 0, "errors": []}
        for mode in set(plan):  # warm the connection, the statement caches and the imports
            for _ in range(3):
                steps[mode](warm)
        for mode in plan:
            counts, step = {"ok": 0, "insufficient": 0, "other": 0, "errors": []}, steps[mode]
            barrier.wait()  # every worker (and the parent) ready: all start together
            deadline = time.time() + seconds
            while time.time() < deadline:
                step(counts)
            results.put(counts)
        barrier.wait()  # exit (and tear down) only once the parent's last pgbench slice is over


class Workers:
    """`workers` processes, each with its own app, app context and connection, started once; each
    run_slice() runs the next step of `plan` in all of them for `seconds`; between slices they wait."""

    def __init__(self, database_url: str, accounts: list[tuple[int, str]], rows: int, workers: int,
                 plan: list[str], seconds: float, max_amount: int):
        context = multiprocessing.get_context("spawn")
        self.results, self.barrier, self.seconds = context.Queue(), context.Barrier(workers + 1), seconds
        self.processes = [context.Process(target=_worker, args=(
            database_url, accounts, rows, 1000 + n, self.barrier, plan, seconds, max_amount, self.results))
            for n in range(workers)]
        for process in self.processes:
            process.start()

    def run_slice(self) -> dict:
        self.barrier.wait(timeout=300)
        totals = {"ok": 0, "insufficient": 0, "other": 0, "errors": []}
        for _ in self.processes:
            counts = self.results.get(timeout=self.seconds + 120)
            for key in ("ok", "insufficient", "other"):
                totals[key] += counts[key]
            totals["errors"].extend(counts["errors"])
        return totals

    def join(self) -> None:
        self.barrier.wait(timeout=300)
        for process in self.processes:
            process.join(timeout=60)


