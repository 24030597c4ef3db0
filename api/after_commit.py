"""Work to start only once the request's transaction has committed (e.g. enqueue a task)."""
import logging

from flask import current_app, g

from config.extensions import redis_store

log = logging.getLogger(__name__)


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
    """
    celery_app = current_app.extensions["celery"]
    bound = celery_app.tasks[task.name]
    client = redis_store.client
    if coalesce_seconds and client is not None and not celery_app.conf.task_always_eager:
        window_ms = int(coalesce_seconds * 500)

        def send_once_per_window():
            if client.set(f"coalesce:{task.name}:{args}", b"1", nx=True, px=window_ms):
                bound.apply_async(args, countdown=coalesce_seconds)

        after_commit(send_once_per_window)
    else:
        after_commit(lambda: bound.delay(*args))


def run_after_commit() -> None:
    for callback in g.pop("after_commit", []):
        try:
            callback()
        except Exception:  # the data is committed; the beat sweep catches what this missed
            log.exception("after-commit work failed; the periodic sweep will retry it")


def discard_after_commit() -> None:
    g.pop("after_commit", None)
