"""Bureau views of quantification: results with filters, flagged patterns, totals."""
import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from accounting.quantification import reports, review
from accounting.record.models import EVENT_STATUSES
from accounting.record.rules import RECYCLING_CATEGORIES, TRIP_MODES
from api.actor import roles_required
from api.events_schemas import EventSchema
from api.pagination import PageArgs, encode_cursor
from api.schemas_common import DISTRICTS, BoundedDate, LocalDateTime, Text
from api.translated_validators import Length, OneOf

blp = Blueprint("bureau", __name__, url_prefix="/api/v1", description="Bureau: quantification results and reports")

SIGNED_IN = [{"bearerAuth": []}]
bureau_only = roles_required("auditor", "admin")


class EventFilterArgs(ma.Schema):
    day_from = BoundedDate(data_key="from", metadata={"description": "first day (Asia/Shanghai), inclusive"})
    day_to = BoundedDate(data_key="to", metadata={"description": "last day (Asia/Shanghai), inclusive"})
    kind = Text(validate=OneOf(("trip", "recycling")))
    mode = Text(validate=OneOf(TRIP_MODES))
    category = Text(validate=OneOf(RECYCLING_CATEGORIES))
    district = Text(validate=OneOf(DISTRICTS))
    source = Text(validate=Length(1, 32))
    status = Text(validate=OneOf(EVENT_STATUSES))


class BureauEventArgs(EventFilterArgs, PageArgs):
    pass


class SummaryArgs(EventFilterArgs):
    group_by = Text(load_default="day", validate=OneOf(reports.GROUPINGS))


class BureauEventSchema(EventSchema):
    account_number = ma.fields.String()
    district = ma.fields.String(allow_none=True)


class BureauEventPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(BureauEventSchema))
    next_cursor = ma.fields.String(allow_none=True)


class FlagSchema(ma.Schema):
    id = ma.fields.Integer()
    account_id = ma.fields.Integer()
    day = ma.fields.Date()
    code = ma.fields.String()
    event_id = ma.fields.Integer(allow_none=True)
    detail = ma.fields.String()
    created_at = LocalDateTime()


class FlagPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(FlagSchema))
    next_cursor = ma.fields.String(allow_none=True)


class SummaryRowSchema(ma.Schema):
    key = ma.fields.String(allow_none=True)
    events = ma.fields.Integer()
    reduction_g = ma.fields.Integer()
    capped_g = ma.fields.Integer()


class SummarySchema(ma.Schema):
    group_by = ma.fields.String()
    items = ma.fields.List(ma.fields.Nested(SummaryRowSchema))


def _with_account(row):
    event, number, district = row
    event.account_number, event.district = number, district
    return event


@blp.route("/bureau/events")
class BureauEvents(MethodView):
    @bureau_only
    @blp.arguments(BureauEventArgs(), location="query")
    @blp.response(200, BureauEventPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_bureau_events")
    def get(self, args):
        """Quantification results by date, kind, mode, category, district, source and status."""
        limit, cursor = args.pop("limit"), args.pop("cursor")
        rows = reports.find_events(limit=limit + 1, before_id=cursor, **args)
        items = [_with_account(row) for row in rows[:limit]]
        return {"items": items, "next_cursor": encode_cursor(items[-1].id) if len(rows) > limit else None}


@blp.route("/bureau/flags")
class Flags(MethodView):
    @bureau_only
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, FlagPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_review_flags")
    def get(self, args):
        """Open review flags: suspicious patterns waiting for an auditor, newest first."""
        flags = review.open_flags(args["limit"] + 1, args["cursor"])
        more = len(flags) > args["limit"]
        flags = flags[:args["limit"]]
        return {"items": flags, "next_cursor": encode_cursor(flags[-1].id) if more else None}


@blp.route("/reports/summary")
class Summary(MethodView):
    @bureau_only
    @blp.arguments(SummaryArgs(), location="query")
    @blp.response(200, SummarySchema)
    @blp.doc(security=SIGNED_IN, operationId="get_report_summary")
    def get(self, args):
        """Totals (events, reduction_g, capped_g) grouped by day, mode, category, district, source or status."""
        group_by = args.pop("group_by")
        return {"group_by": group_by, "items": reports.summary(group_by, **args)}
