"""Celery tasks of the accounting service: thin, named, taking ids or nothing."""
from celery import shared_task
from flask import current_app

from accounting.quantification.engine import quantify_next_batch
from accounting.quantification.partitions import ensure_tally_partitions
from accounting.record.models import QUANTIFY_LANES
from config.extensions import db

MAX_BATCHES_PER_LANE = 1000


@shared_task(name="accounting.quantify_received", ignore_result=True)
def quantify_received() -> int:
    """Quantify every received event, lane by lane, one committed batch at a time.

    Enqueued after each ingest commits and swept by beat every minute; a lane another
    worker holds is skipped (that worker is draining it).
    """
    total = 0
    for lane in range(QUANTIFY_LANES):
        for _ in range(MAX_BATCHES_PER_LANE):
            done = quantify_next_batch(lane)
            db.session.commit()
            if not done:
                break
            total += done
    return total


@shared_task(name="quantification.ensure_tally_partitions", ignore_result=True)
def ensure_tally_months() -> list[str]:
    """Create daily tallies' months ahead (EVENT_PARTITIONS_AHEAD, as the events'), through the owner's function."""
    created = ensure_tally_partitions(db.session, current_app.config["EVENT_PARTITIONS_AHEAD"])
    db.session.commit()
    return created
