"""Sealing the audit records requests append: one task per second, not one per request."""
from accounting.ledger.tasks import seal_audit_log
from api.after_commit import enqueue_after_commit

# Claims, redemptions and transfers come by the hundred a second at peak. Each appends its audit
# records in its own transaction; what is shared is the task that chains them: the first request
# of a window queues it to run a second later, the rest of the window ride along
# (api.after_commit). Publishing a Celery message per request cost more CPU than its SQL.
# The beat's seal-audit-log sweep (every 10 s) still catches anything a lost task missed.
SEAL_WINDOW_SECONDS = 1.0


def seal_soon() -> None:
    """Chain this request's audit records within about a second of its commit."""
    enqueue_after_commit(seal_audit_log, coalesce_seconds=SEAL_WINDOW_SECONDS)
