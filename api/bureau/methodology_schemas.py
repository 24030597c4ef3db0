"""Methodology filing schemas; a version's parameters are checked against its kind."""
import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from accounting.record.rules import RECYCLING_CATEGORIES, TRIP_MODES
from api.schemas_common import BoundedAwareDateTime, LocalDateTime, Text, TrimmedString
from api.translated_validators import Length, OneOf, Range

_l = lazy_gettext  # Flask-Babel's usual short name for it; babel.cfg extracts _l(...)

# Factors are decimal strings: exact, never floats (DOMAIN.md §2).
DECIMAL = ma.validate.Regexp(r"^\d{1,6}(\.\d{1,6})?$", error=_l("Not a decimal string like \"26.9\"."))


def _every_key(names):
    def check(mapping):
        missing = sorted(set(names) - set(mapping))
        if missing:
            raise ma.ValidationError(_("Missing: %(names)s.", names=", ".join(missing)))
    return check


def _factor_map(names):
    return ma.fields.Dict(keys=Text(validate=OneOf(names)),
                          values=Text(validate=DECIMAL), required=True, validate=_every_key(names))


def _positive(maximum):
    return ma.fields.Integer(required=True, strict=True, validate=Range(1, maximum))


class DailyTripCapSchema(ma.Schema):
    walk = _positive(1_000_000)
    all_trips = _positive(1_000_000)


class WindowFields(ma.Schema):
    unit = Text()
    claim_window_days = _positive(90)
    future_tolerance_minutes = ma.fields.Integer(required=True, strict=True, validate=Range(0, 60))


class TripParametersSchema(WindowFields):
    factors = _factor_map(TRIP_MODES)
    max_speed_kmh = ma.fields.Dict(keys=Text(validate=OneOf(TRIP_MODES)),
                                   values=ma.fields.Integer(strict=True, validate=Range(1, 500)),
                                   required=True, validate=_every_key(TRIP_MODES))
    max_steps_per_minute = _positive(1000)
    min_distance_m = _positive(1_000_000)
    min_steps = _positive(1_000_000)
    max_distance_m = _positive(2_000_000)
    max_steps = _positive(1_000_000)
    daily_cap_g = ma.fields.Nested(DailyTripCapSchema, required=True)


class RecyclingParametersSchema(WindowFields):
    factors = _factor_map(RECYCLING_CATEGORIES)
    daily_cap_weight_g = _positive(1_000_000)


PARAMETER_SCHEMAS = {"trip": TripParametersSchema(), "recycling": RecyclingParametersSchema()}


class MethodologyCreateSchema(ma.Schema):
    code = Text(required=True, validate=ma.validate.Regexp(r"^[A-Z][A-Z0-9]{1,15}$"))
    kind = Text(required=True, validate=OneOf(("trip", "recycling")))
    name = TrimmedString(required=True, validate=Length(1, 100))
    description = TrimmedString(load_default=None, validate=Length(max=2000))


class VersionCreateSchema(ma.Schema):
    parameters = ma.fields.Dict(required=True, metadata={"description": "TripParameters or RecyclingParameters"})
    sources = ma.fields.Dict(keys=Text(), values=Text(), load_default=dict,
                             metadata={"description": "where each factor comes from"})
    effective_from = BoundedAwareDateTime(required=True)
    effective_to = BoundedAwareDateTime(load_default=None)


class ApprovalSchema(ma.Schema):
    note = TrimmedString(load_default=None, validate=Length(max=200))


class VersionSchema(ma.Schema):
    id = ma.fields.Integer()
    version = ma.fields.Integer()
    status = ma.fields.String()
    parameters = ma.fields.Dict()
    sources = ma.fields.Dict()
    effective_from = LocalDateTime()
    effective_to = LocalDateTime(allow_none=True)
    created_by = ma.fields.Integer(allow_none=True)
    filed_by = ma.fields.Integer(allow_none=True)
    filed_at = LocalDateTime(allow_none=True)
    approved_by = ma.fields.Integer(allow_none=True)
    approved_at = LocalDateTime(allow_none=True)
    approval_note = ma.fields.String(allow_none=True)


class MethodologySchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    kind = ma.fields.String()
    name = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    versions = ma.fields.List(ma.fields.Nested(VersionSchema))


class MethodologyListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MethodologySchema))
