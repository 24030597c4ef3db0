"""Work to start only once the request's transaction has committed (e.g. enqueue a task)."""
import logging
import time

from flask import current_app, g

from config.extensions import redis_store

log = logging.getLogger(__name__)
# Recorded events share one quantification task per second instead of one task each.
QUANTIFY_WINDOW_SECONDS = 1.0
# The process's clock for "a task is on its way": monotonic, and the tests' to move.
clock = time.monotonic


def after_commit(callback) -> None:
    """Run `callback()` after this request commits; never if it rolls back."""
    g.setdefault("after_commit", []).append(callback)


def enqueue_after_commit(task, *args, coalesce_seconds: float | None = None) -> None:
    """Send `task(*args)` once this request commits, through this app's own Celery instance.

    (A shared task's .delay() would use whichever Celery app was created last.)

    With `coalesce_seconds`, requests share one task per window instead of one each: the
    first sends it to run `coalesce_seconds` later and holds a Redis key for half that
    time; requests committing while the key is held skip sending, and the task, running
    after the key has expired, sees what they committed.

    Each process also remembers for half a window that a task is on its way, and skips
    Redis meanwhile (a round trip per request was a tenth of the CPU of POST /me/trips).
    That is as safe as the key itself: whether our SET took the key or found it held, a task
    is queued to run more than half a window after the SET, so it comes after every commit
    this process makes until then.
    """
    celery_app = current_app.extensions["celery"]
    bound = celery_app.tasks[task.name]
    client = redis_store.client
    if coalesce_seconds and client is not None and not celery_app.conf.task_always_eager:
        key = f"coalesce:{task.name}:{args}"
        half_window = coalesce_seconds / 2
        covered_until = current_app.extensions.setdefault("coalesced_until", {})

        def send_once_per_window():
            asked_at = clock()
            if covered_until.get(key, 0.0) > asked_at:
                return
            if client.set(key, b"1", nx=True, px=int(half_window * 1000)):
                bound.apply_async(args, countdown=coalesce_seconds)
            covered_until[key] = asked_at + half_window

        after_commit(send_once_per_window)
    else:
        after_commit(lambda: bound.delay(*args))


# After a failure to reach the broker, this process stops trying for a while: with Redis down,
# requests answer at once instead of each waiting on a connection timeout. What they would have
# enqueued is found by beat's sweeps (received events, unissued batches, the unsealed audit tail).
BROKER_PAUSE_SECONDS = 5.0


def run_after_commit() -> None:
    callbacks = g.pop("after_commit", [])
    if not callbacks:
        return
    paused_until = current_app.extensions.setdefault("broker_paused_until", [0.0])
    if clock() < paused_until[0]:
        return
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the data is committed; the beat sweep catches what this missed
            paused_until[0] = clock() + BROKER_PAUSE_SECONDS
            log.warning("could not enqueue after commit (the sweeps will catch up); pausing for %.0f s",
                        BROKER_PAUSE_SECONDS, exc_info=True)
            return


def discard_after_commit() -> None:
    g.pop("after_commit", None)


def forget_coalesced_windows(app) -> None:
    """Forget which tasks this process knows are on their way (for a Redis emptied under it)."""
    app.extensions.get("coalesced_until", {}).clear()
