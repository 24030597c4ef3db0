"""The worker processes of bench/market.py: each calls the service layer back to back, slice by
slice, placing orders (accounting.market.orders.place: on the book, or direct from a random
listing) or making plain transfers (accounting.ledger.transfers.transfer), each followed by
db.session.commit()."""
import multiprocessing
import random
import time
import uuid

import harness


def _worker(database_url, buyers, listing_ids, seed, barrier, plan, seconds, order_grams, max_price, results):
    from accounting.errors import DomainError
    from accounting.ledger.idempotency import Idempotency
    from accounting.ledger.transfers import transfer
    from accounting.market.orders import place
    from api import create_app
    from config.extensions import db

    rng = random.Random(seed)
    app = create_app(harness.app_environ(database_url))

    def attempt(counts, call):
        key = uuid.uuid4().hex
        try:
            result = call(Idempotency(f"bench:{seed}", key, key))
            db.session.commit()
            counts["ok"] += 1
            return result
        except DomainError as error:
            db.session.rollback()
            counts[error.code] = counts.get(error.code, 0) + 1
        except Exception as error:  # noqa: BLE001  (counted and reported, never hidden)
            db.session.rollback()
            counts["other"] += 1
            if len(counts["errors"]) < 3:
                counts["errors"].append(f"{type(error).__name__}: {str(error)[:200]}")

    def one_order(counts, direct=False):
        """Cheapest first over the whole book or (direct) from a random listing, as buy-direct does."""
        buyer_id, _ = rng.choice(buyers)
        listing_id = rng.choice(listing_ids) if direct else None
        order = attempt(counts, lambda key: place(buyer_id, rng.randint(*order_grams), max_price, key,
                                                  listing_id=listing_id, actor_id=None)[0])
        if order is not None:
            counts["grams"] += order.filled_g

    def one_transfer(counts):
        (from_id, _), (_, to_number) = rng.sample(buyers, 2)
        attempt(counts, lambda key: transfer(from_id, to_number, rng.randint(1, 100), key, actor_id=None,
                                             memo="bench"))

    with app.app_context():
        steps = {"order": one_order, "direct": lambda counts: one_order(counts, direct=True),
                 "transfer": one_transfer}
        for mode in set(plan):  # warm the connection, the statement caches and the imports
            warm = {"ok": 0, "other": 0, "grams": 0, "errors": []}
            for _ in range(3):
                steps[mode](warm)
        for mode in plan:
            counts, step = {"ok": 0, "other": 0, "grams": 0, "errors": []}, steps[mode]
            barrier.wait()
            deadline = time.time() + seconds
            while time.time() < deadline:
                step(counts)
            results.put(counts)
        barrier.wait()


class Workers:
    """`workers` processes started once; each run_slice() runs the next step of `plan` in all of them."""

    def __init__(self, database_url, buyers, listing_ids, workers, plan, seconds, order_grams, max_price):
        context = multiprocessing.get_context("spawn")
        self.results, self.barrier, self.seconds = context.Queue(), context.Barrier(workers + 1), seconds
        self.processes = [context.Process(target=_worker, args=(
            database_url, buyers, listing_ids, 2000 + n, self.barrier, plan, seconds, order_grams, max_price, self.results))
            for n in range(workers)]
        for process in self.processes:
            process.start()

    def run_slice(self) -> dict:
        self.barrier.wait(timeout=600)
        totals = {"ok": 0, "other": 0, "grams": 0, "errors": []}
        for _ in self.processes:
            counts = self.results.get(timeout=self.seconds + 120)
            for key, value in counts.items():
                if key == "errors":
                    totals["errors"].extend(value)
                else:
                    totals[key] = totals.get(key, 0) + value
        return totals

    def join(self) -> None:
        self.barrier.wait(timeout=600)
        for process in self.processes:
            process.join(timeout=60)
