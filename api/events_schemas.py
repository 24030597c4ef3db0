"""Green-action reports as the app and the data sources send them, and as residents see them."""
import marshmallow as ma
from flask_babel import gettext as _

from accounting.ledger.account_numbers import is_valid_account_number
from accounting.record.models import EVENT_STATUSES
from accounting.record.rules import MAX_DISTANCE_M, MAX_STEPS, MAX_WEIGHT_G, RECYCLING_CATEGORIES, TRIP_MODES
from api.messages import field_message
from api.pagination import PageArgs
from api.schemas_common import BoundedAwareDateTime, LocalDateTime, Text, TrimmedString
from api.translated_validators import Length, OneOf, Range

REQUIRED = "Missing data for required field."  # marshmallow's words, translated on the way out


def _require(data: dict, *fields: str) -> dict:
    return {name: [REQUIRED] for name in fields if data.get(name) is None}


def _trip_shape_errors(data: dict) -> dict:
    """Walks are counted in steps; every other mode in metres."""
    errors = _require(data, "mode", "started_at", "ended_at")
    if data.get("mode") == "walk":
        errors |= _require(data, "steps")
    elif data.get("mode") is not None:
        errors |= _require(data, "distance_m")
        if data.get("steps") is not None:
            errors["steps"] = [_("Only walks are counted in steps.")]
    return errors


class TripSchema(ma.Schema):
    """A trip summary (times, distance, mode): never a raw GPS track (PIPL)."""

    mode = Text(required=True, validate=OneOf(TRIP_MODES))
    started_at = BoundedAwareDateTime(required=True)
    ended_at = BoundedAwareDateTime(required=True)
    distance_m = ma.fields.Integer(strict=True, validate=Range(0, MAX_DISTANCE_M))
    steps = ma.fields.Integer(strict=True, validate=Range(0, MAX_STEPS))
    external_id = TrimmedString(validate=Length(1, 128))

    @ma.validates_schema(skip_on_field_errors=True)
    def check_shape(self, data, **kwargs):
        errors = _trip_shape_errors(data)
        if errors:
            raise ma.ValidationError(errors)


class IngestEventSchema(ma.Schema):
    """One event in a source's batch; fields beyond these are dropped, not stored."""

    class Meta:
        unknown = ma.EXCLUDE

    external_id = TrimmedString(required=True, validate=Length(1, 128))
    account_number = Text(required=True)
    kind = Text(required=True, validate=OneOf(("trip", "recycling")))
    mode = Text(validate=OneOf(TRIP_MODES))
    started_at = BoundedAwareDateTime()
    ended_at = BoundedAwareDateTime()
    distance_m = ma.fields.Integer(strict=True, validate=Range(0, MAX_DISTANCE_M))
    steps = ma.fields.Integer(strict=True, validate=Range(0, MAX_STEPS))
    category = Text(validate=OneOf(RECYCLING_CATEGORIES))
    weight_g = ma.fields.Integer(strict=True, validate=Range(1, MAX_WEIGHT_G))
    occurred_at = BoundedAwareDateTime()
    station_code = TrimmedString(validate=Length(1, 32))

    @ma.validates("account_number")
    def check_account_number(self, value, **kwargs):
        if not is_valid_account_number(value):
            raise ma.ValidationError(_("Not a valid account number (BZ + 10 digits, check digit)."))

    @ma.validates_schema(skip_on_field_errors=True)
    def check_shape(self, data, **kwargs):
        if data["kind"] == "trip":
            errors = _trip_shape_errors(data)
        else:
            errors = _require(data, "category", "weight_g", "occurred_at", "station_code")
        if errors:
            raise ma.ValidationError(errors)


class IngestBatchSchema(ma.Schema):
    """The envelope; each event is checked on its own so one bad event sinks no other."""

    events = ma.fields.List(
        ma.fields.Raw(), required=True, validate=Length(min=1),
        metadata={"description": "Up to 1,000 events, each an IngestEvent"},
    )


class RejectedEventSchema(ma.Schema):
    index = ma.fields.Integer()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()),
                            metadata={"description": "field path → messages in the request's language"})
    reasons = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()),
                             metadata={"description": "field → stable reason codes, where they apply"})


class IngestResultSchema(ma.Schema):
    accepted = ma.fields.Integer()
    duplicates = ma.fields.Integer()
    rejected = ma.fields.List(ma.fields.Nested(RejectedEventSchema))


class EventSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    # A trip has a mode and no category, a drop-off the reverse: both keys are always there, one null.
    mode = ma.fields.String(allow_none=True, metadata={"description": "trips only; null for recycling"})
    category = ma.fields.String(allow_none=True, metadata={"description": "recycling only; null for trips"})
    status = ma.fields.String()
    reduction_g = ma.fields.Integer(allow_none=True)
    capped_g = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String(allow_none=True, metadata={"description": "stable reason code"})
    reason_text = ma.fields.Function(
        lambda event: field_message(event.reason) if event.reason else None,
        metadata={"description": "the reason in the client's language"})
    rationale = ma.fields.String(allow_none=True, metadata={"description": "how the grams were computed"})
    factor = ma.fields.String(allow_none=True)
    methodology_version_id = ma.fields.Integer(allow_none=True)
    started_at = LocalDateTime()
    ended_at = LocalDateTime()
    distance_m = ma.fields.Integer(allow_none=True)
    steps = ma.fields.Integer(allow_none=True)
    weight_g = ma.fields.Integer(allow_none=True)
    source = ma.fields.Function(lambda event: event.source.code)
    external_id = ma.fields.String()
    received_at = LocalDateTime()


class AcceptedEventSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    duplicate = ma.fields.Boolean(metadata={
        "description": "true when this external_id was recorded before: the answer is that event, as it stands"})


class EventPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(EventSchema))
    next_cursor = ma.fields.String(allow_none=True)


class EventListArgs(PageArgs):
    status = Text(validate=OneOf(EVENT_STATUSES))
