"""/me…: a resident's own account, trips, events and authorized sources."""
import uuid

from flask.views import MethodView
from flask_smorest import Blueprint

from accounting.errors import NotFound
from accounting.issuance import summary
from accounting.ledger import accounts
from accounting.quantification import methodologies
from accounting.quantification.tasks import quantify_received
from accounting.record import recording, sources
from api import qr
from api.actor import current_actor, roles_required
from api.after_commit import QUANTIFY_WINDOW_SECONDS, enqueue_after_commit
from api.events_schemas import AcceptedEventSchema, EventListArgs, EventPageSchema, EventSchema, TripSchema
from api.idempotency import idempotent
from api.identity.models import User
from api.openapi import BINARY
from api.pagination import page
from api.resident.schemas import AuthorizationListSchema, AuthorizationSchema, MeSchema, SourceListSchema
from config.db_types import utcnow
from config.extensions import db

blp = Blueprint("resident", __name__, url_prefix="/api/v1", description="个人碳账户: a resident's own account")

resident_only = roles_required("resident")
SIGNED_IN = [{"bearerAuth": []}]


@blp.route("/me")
class Me(MethodView):
    @roles_required("resident", "merchant_staff", "auditor", "admin")
    @blp.response(200, MeSchema)
    @blp.doc(security=SIGNED_IN, operationId="get_me")
    def get(self):
        """Who I am, and my carbon account's figures (residents)."""
        actor = current_actor()
        user = db.session.get(User, actor.user_id)
        account = accounts.account_of_holder(actor.holder_id) if actor.holder_id else None
        return {"user": user, "account": summary.account_summary(account) if account else None}


@blp.route("/me/trips")
class Trips(MethodView):
    @resident_only
    @idempotent
    @blp.arguments(TripSchema())
    @blp.response(202, AcceptedEventSchema)
    @blp.doc(security=SIGNED_IN, operationId="record_trip")
    def post(self, trip):
        """Report a trip the app measured; it waits as `received` until quantified."""
        actor = current_actor()
        external_id = trip.pop("external_id", None) or f"app-{uuid.uuid4()}"
        now = utcnow()
        event, created = recording.record_trip(actor.account_id, trip, external_id, now=now,
                                               window_of=methodologies.claim_windows(now))
        if created:
            enqueue_after_commit(quantify_received, coalesce_seconds=QUANTIFY_WINDOW_SECONDS)
        return event | {"duplicate": not created}


@blp.route("/me/events")
class Events(MethodView):
    @resident_only
    @blp.arguments(EventListArgs(), location="query")
    @blp.response(200, EventPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_my_events")
    def get(self, args):
        """My green actions, newest first, with their status and reduction."""
        items = recording.events_of_account(
            current_actor().account_id, limit=args["limit"] + 1,
            before_id=args["cursor"], status=args.get("status"),
        )
        return page(items, args["limit"])


@blp.route("/me/events/<bigint_id:event_id>")
class OneEvent(MethodView):
    @resident_only
    @blp.response(200, EventSchema)
    @blp.doc(security=SIGNED_IN, operationId="get_my_event")
    def get(self, event_id):
        """One of my green actions (another resident's answers 404, as if it did not exist)."""
        event = recording.event_of_account(current_actor().account_id, event_id)
        if event is None:
            raise NotFound()
        return event


@blp.route("/me/sources")
class MySources(MethodView):
    @resident_only
    @blp.response(200, AuthorizationListSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_my_sources")
    def get(self):
        """The data sources I have authorized to report for me."""
        return {"items": sources.authorizations_of(current_actor().account_id)}


@blp.route("/me/sources/<string:code>")
class MySource(MethodView):
    @resident_only
    @blp.response(200, AuthorizationSchema)
    @blp.doc(security=SIGNED_IN, operationId="authorize_source")
    def put(self, code):
        """Authorize a data source to report my green actions."""
        return sources.authorize_source(current_actor().account_id, code)

    @resident_only
    @blp.response(204)
    @blp.doc(security=SIGNED_IN, operationId="revoke_source")
    def delete(self, code):
        """Revoke a data source; its later reports for me are refused."""
        sources.revoke_authorization(current_actor().account_id, code)


@blp.route("/sources")
class Sources(MethodView):
    @roles_required("resident", "merchant_staff", "auditor", "admin")
    @blp.response(200, SourceListSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_sources")
    def get(self):
        """Filed data sources a resident may authorize."""
        return {"items": sources.authorizable_sources()}


@blp.route("/me/account-code.png")
class AccountCode(MethodView):
    @resident_only
    @blp.response(200, BINARY, content_type="image/png", description="The QR code (image/png)")
    @blp.doc(security=SIGNED_IN, operationId="get_account_code_png")
    def get(self):
        """A QR of my public account number, for a recycling station to scan."""
        account = accounts.account_of_holder(current_actor().holder_id)
        return qr.png_response(account.number)
