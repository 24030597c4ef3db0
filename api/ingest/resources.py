"""POST /ingest/events: a source's signed batch of up to 1,000 green actions."""
from functools import wraps

import marshmallow as ma
from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from accounting.errors import DomainError, SourceAuthError
from accounting.quantification.methodologies import claim_windows
from accounting.quantification.tasks import quantify_received
from accounting.record.recording import ingest_events
from accounting.record.sources import authenticate_source, first_sighting
from api.after_commit import QUANTIFY_WINDOW_SECONDS, enqueue_after_commit
from api.events_schemas import IngestBatchSchema, IngestEventSchema, IngestResultSchema
from api.field_errors import field_errors
from config.db_types import utcnow

blp = Blueprint("ingest", __name__, url_prefix="/api/v1/ingest", description="Data sources: signed bulk reports")

EVENT_SCHEMA = IngestEventSchema()


def source_signed(view):
    """Authenticate the source by HMAC over the raw body before anything else is read."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        headers = request.headers
        g.source = authenticate_source(
            headers.get("X-Source-Key"), headers.get("X-Timestamp"), request.get_data(cache=True),
            headers.get("X-Signature"), now=utcnow(),
            max_age_seconds=current_app.config["SIGNATURE_MAX_AGE_SECONDS"],
            app_secret=current_app.config["SECRET_KEY"],
        )
        if not first_sighting(g.source.id, headers["X-Signature"], now=utcnow(),
                              max_age_seconds=current_app.config["SIGNATURE_MAX_AGE_SECONDS"]):
            raise SourceAuthError("replayed_request")
        return view(*args, **kwargs)

    return wrapper


def _validated(events: list) -> tuple[list[tuple[int, dict]], list[dict]]:
    """Split a batch into (index, event) pairs that load and per-index rejections that do not."""
    valid, rejected = [], []
    for index, raw in enumerate(events):
        try:
            valid.append((index, EVENT_SCHEMA.load(raw)))
        except ma.ValidationError as error:
            rejected.append({"index": index, "errors": field_errors(error.messages), "reasons": {}})
    return valid, rejected


def _refused(index: int, codes: dict[str, str]) -> dict:
    """An event the record refused: field → messages, and field → the stable reason codes beside them."""
    return {"index": index, "errors": field_errors(codes), "reasons": {name: [code] for name, code in codes.items()}}


@blp.route("/events")
class IngestEvents(MethodView):
    @source_signed
    @blp.arguments(IngestBatchSchema())
    @blp.response(200, IngestResultSchema)
    @blp.doc(security=[{"sourceSignature": [], "sourceKey": [], "sourceTimestamp": []}], operationId="ingest_events")
    def post(self, batch):
        """Record up to 1,000 trip or recycling events; each is accepted, a duplicate, or rejected."""
        limit = current_app.config["INGEST_MAX_EVENTS"]
        if len(batch["events"]) > limit:
            raise DomainError("too_many_events", limit=limit)
        valid, rejected = _validated(batch["events"])
        now = utcnow()
        outcome = ingest_events(g.source, valid, now=now, window_of=claim_windows(now))
        if outcome.accepted:
            enqueue_after_commit(quantify_received, coalesce_seconds=QUANTIFY_WINDOW_SECONDS)
        rejected += [_refused(index, codes) for index, codes in outcome.rejected]
        rejected.sort(key=lambda item: item["index"])
        return {"accepted": outcome.accepted, "duplicates": outcome.duplicates, "rejected": rejected}
