"""Work to start only once the request's transaction has committed (e.g. enqueue a task)."""
import logging

from flask import current_app, g

log = logging.getLogger(__name__)


def after_commit(callback) -> None:
    """Run `callback()` after this request commits; never if it rolls back."""
    g.setdefault("after_commit", []).append(callback)


def enqueue_after_commit(task, *args) -> None:
    """Send `task(*args)` once this request commits, through this app's own Celery instance.

    (A shared task's .delay() would use whichever Celery app was created last.)
    """
    celery_app = current_app.extensions["celery"]
    after_commit(lambda: celery_app.tasks[task.name].delay(*args))


def run_after_commit() -> None:
    for callback in g.pop("after_commit", []):
        try:
            callback()
        except Exception:  # the data is committed; the beat sweep catches what this missed
            log.exception("after-commit work failed; the periodic sweep will retry it")


def discard_after_commit() -> None:
    g.pop("after_commit", None)
