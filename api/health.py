"""/healthz (the process answers) and /readyz (its database and Redis answer).

Without Redis the platform still takes every write (tasks wait for the sweeps, limits are kept
in memory): /readyz says 503 "degraded" until Redis is back, so an operator and a load balancer
both see it. Without the database it is 503 "not ready"."""
import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from config.extensions import db, redis_store

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # readiness reports any failure, it never raises
        log.warning("readiness: database unreachable: %s", error)
        checks["database"] = "unreachable"
        db.session.rollback()
    client = redis_store.client
    if client is None:
        checks["redis"] = "not configured (embedded mode)"
    else:
        try:
            client.ping()
            checks["redis"] = "ok"
        except Exception as error:
            log.warning("readiness: redis unreachable: %s", error)
            checks["redis"] = "unreachable"
    if checks["database"] != "ok":
        status = "not ready"
    elif checks["redis"] == "unreachable":
        status = "degraded"
    else:
        status = "ready"
    return jsonify(status=status, checks=checks), 200 if status == "ready" else 503
