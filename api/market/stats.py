"""Market statistics per Asia/Shanghai day (public)."""
from datetime import timedelta

from flask.views import MethodView
from flask_babel import gettext as _

from accounting.business_day import shanghai_day
from accounting.errors import DomainError
from accounting.market import stats
from api.market.blueprint import blp
from api.market.schemas import StatsArgs, StatsSchema
from config.db_types import utcnow
from config.extensions import db

MAX_DAYS = 366
DEFAULT_DAYS = 30


@blp.route("/market/stats")
class Stats(MethodView):
    @blp.arguments(StatsArgs(), location="query")
    @blp.response(200, StatsSchema)
    @blp.doc(operationId="get_market_stats")
    def get(self, args):
        """Per day: volume, turnover (fees apart), VWAP, high, low and the number of trades; the last
        30 days unless `from`/`to` say otherwise (at most 366 days)."""
        end = args["end"] or shanghai_day(utcnow())
        start = args["start"] or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end or (end - start).days >= MAX_DAYS:
            raise DomainError("validation_failed", errors={"from": [
                _("Must be on or before to, and at most %(days)s days before it.", days=MAX_DAYS)]})
        return {"items": stats.daily(db.session, start, end)}
