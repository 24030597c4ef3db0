"""Celery wired the Flask-docs way: every task runs inside an app context."""
import logging

from celery import Celery, Task
from flask import Flask, current_app, g, has_app_context

log = logging.getLogger(__name__)


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app bound to `app`; tasks take ids, never ORM objects."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            # In-process (eager) calls run for the app that enqueued them, in a context
            # (and database session) of their own; a worker runs them for `app`.
            target = current_app._get_current_object() if has_app_context() else app
            with target.app_context():
                g.request_id = (self.request.headers or {}).get("request_id") if self.request else None
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
