"""/me/consents, /me/export and DELETE /me: a resident's rights over their personal information."""
import marshmallow as ma
from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from accounting.ledger.accounts import SYSTEM_NUMBERS, account_of_holder
from accounting.record import consents
from api.actor import current_actor, roles_required
from api.identity import limits, tokens
from api.openapi import BINARY, PROBLEM
from api.pagination import PageArgs, page
from api.privacy import closure
from api.privacy.export import export_zip
from api.schemas_common import LocalDateTime, Text, TrimmedString
from api.translated_validators import Length, OneOf
from config.db_types import utcnow
from config.extensions import db, limiter

blp = Blueprint("privacy", __name__, url_prefix="/api/v1",
                description="个人信息权利: consent history, export, account closure (PIPL)")

SIGNED_IN = [{"bearerAuth": []}]
resident_only = roles_required("resident")
BALANCE_CHOICES = ("donate", "retire")


class ConsentEventSchema(ma.Schema):
    id = ma.fields.Integer()
    at = LocalDateTime()
    action = ma.fields.String(metadata={"description": "authorize | withdraw"})
    source_code = ma.fields.Function(lambda event: event.source.code)
    source_name = ma.fields.Function(lambda event: event.source.name)
    scope = ma.fields.String(metadata={"description": "what the source reports once authorized (its kind)"})
    cause = ma.fields.String(metadata={"description": "resident (my own choice) | account_closed"})


class ConsentPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ConsentEventSchema))
    next_cursor = ma.fields.String(allow_none=True)


class CloseAccountSchema(ma.Schema):
    password = Text(required=True, load_only=True, validate=Length(1, 128))
    balance = Text(required=True, validate=OneOf(BALANCE_CHOICES), metadata={
        "description": "donate: the whole balance to the pool (碳普惠池); retire: retired (注销) for `beneficiary`"})
    beneficiary = TrimmedString(load_default=None, validate=Length(1, 100), metadata={
        "description": "needed with retire: the name the public retirement and its certificate carry"})
    purpose = TrimmedString(load_default=None, validate=Length(1, 200))

    @ma.validates_schema
    def beneficiary_to_retire(self, data, **kwargs):
        if data.get("balance") == "retire" and not data.get("beneficiary"):
            raise ma.ValidationError("beneficiary_required", field_name="beneficiary")


class ClosedRetirementSchema(ma.Schema):
    number = ma.fields.String()
    certificate_url = ma.fields.String()


class ClosedSchema(ma.Schema):
    closed_at = LocalDateTime()
    account_number = ma.fields.String()
    balance = ma.fields.String(metadata={"description": "what became of the balance: donate | retire"})
    amount_g = ma.fields.Integer(metadata={"description": "the balance donated or retired (after coupons released)"})
    released_coupons = ma.fields.Integer(metadata={"description": "coupons still claimed, released: price back"})
    released_g = ma.fields.Integer()
    forgone_g = ma.fields.Integer(metadata={"description": "reductions in no issuance batch yet: never issued"})
    withdrawn_consents = ma.fields.Integer()
    donation_transaction_id = ma.fields.Integer(allow_none=True)
    pool_account_number = ma.fields.String(allow_none=True)
    retirement = ma.fields.Nested(ClosedRetirementSchema, allow_none=True)


@blp.route("/me/consents")
class MyConsents(MethodView):
    @resident_only
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, ConsentPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_my_consents")
    def get(self, args):
        """Every authorization and withdrawal of a data source I made (or my account's closing made), newest
        first."""
        items = consents.history_of(current_actor().account_id, limit=args["limit"] + 1, before_id=args["cursor"])
        return page(items, args["limit"])


@blp.route("/me/export")
class MyExport(MethodView):
    @resident_only
    @blp.response(200, BINARY, content_type="application/zip",
                  description="A zip: export.json (everything) and profile, consents, events, ledger, coupons, "
                              "transfers, retirements and donations as CSV",
                  headers={"Content-Disposition": {"description": "attachment; the zip's file name",
                                                   "schema": {"type": "string"}}})
    @blp.doc(security=SIGNED_IN, operationId="export_my_data")
    def get(self):
        """All my personal information and carbon records, in one zip, written while it downloads."""
        actor = current_actor()
        number = account_of_holder(actor.holder_id).number
        filename = f"binzhou-carbon-{number}-{utcnow():%Y%m%d}.zip"
        return Response(export_zip(db.engine, actor.user_id, actor.account_id), mimetype="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store"})


@blp.route("/me")
class CloseAccount(MethodView):
    # Password guessing with a stolen token is slowed here as sign-in is (per client address).
    decorators = [limiter.limit(limits.per_phone, methods=["DELETE"])]

    @resident_only
    @blp.arguments(CloseAccountSchema())
    @blp.response(200, ClosedSchema)
    @blp.alt_response(403, description="Wrong password (nothing changed)", **PROBLEM)
    @blp.alt_response(429, description="Too many attempts from this address", **PROBLEM)
    @blp.doc(security=SIGNED_IN, operationId="close_my_account")
    def delete(self, args):
        """Close my account (注销账户): the balance donated to the pool or retired as I choose, coupons still
        claimed released first, consents withdrawn, sessions ended, phone and name replaced by a pseudonym.
        Issued credits stay traceable, to the pseudonym. Cannot be undone."""
        closed = closure.close_account(current_actor().user_id, args["password"], args["balance"],
                                       args["beneficiary"], args["purpose"], now=utcnow())
        tokens.revoke_current_session()
        retirement = closed.retirement
        return {**vars(closed),
                "donation_transaction_id": closed.donation.transaction_id if closed.donation else None,
                "pool_account_number": SYSTEM_NUMBERS["pool"] if closed.donation else None,
                "retirement": {"number": retirement.number, "certificate_url": url_for(
                    "holders.RetirementCertificate", number=retirement.number)} if retirement else None}
