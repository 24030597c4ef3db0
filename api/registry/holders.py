"""What any holder does with credits: transfer (交易), retire (注销), read its ledger."""
from flask import current_app, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from accounting.errors import NotFound
from accounting.ledger import checkpoints, history, movement, retirements, transfers
from api.actor import roles_required
from api.certificates import retirement_certificate_svg
from api.idempotency import idempotent
from api.openapi import PROBLEM, TEXT
from api.pagination import PageArgs, encode_cursor
from api.registry.requests import acting_account_id, ledger_idempotency
from api.registry.schemas import (
    CheckpointSchema,
    LedgerPageSchema,
    MovementSchema,
    RetirementSchema,
    RetireSchema,
    TransferSchema,
)
from api.sealing import seal_soon

blp = Blueprint("holders", __name__, url_prefix="/api/v1", description="交易与注销: moving and retiring credits")

SIGNED_IN = [{"bearerAuth": []}]
holders_only = roles_required("resident", "merchant_staff")


def retirement_view(retirement) -> dict:
    ranges = movement.ranges_of(retirement.transaction_id)
    return {
        "id": retirement.id, "number": retirement.number, "amount_g": retirement.amount_g,
        "beneficiary": retirement.beneficiary, "purpose": retirement.purpose, "created_at": retirement.created_at,
        "serials": [r.serials for r in ranges],
        "certificate_url": url_for("holders.RetirementCertificate", number=retirement.number),
    }


@blp.route("/transfers")
class Transfers(MethodView):
    @holders_only
    @idempotent
    @blp.arguments(TransferSchema())
    @blp.response(201, MovementSchema)
    @blp.doc(security=SIGNED_IN, operationId="transfer_credits")
    def post(self, args):
        """Send credits from my account to another account by its number (422 when short)."""
        movement = transfers.transfer(acting_account_id(), args["to_account_number"], args["amount_g"],
                                     ledger_idempotency(), actor_id=None, memo=args["memo"])
        seal_soon()
        return movement


@blp.route("/retirements")
class Retirements(MethodView):
    @holders_only
    @idempotent
    @blp.arguments(RetireSchema())
    @blp.response(201, RetirementSchema)
    @blp.doc(security=SIGNED_IN, operationId="retire_credits")
    def post(self, args):
        """Retire (注销) credits for a beneficiary and purpose; the serials are listed publicly."""
        retirement = retirements.retire(acting_account_id(), args["amount_g"], args["beneficiary"], args["purpose"],
                                     ledger_idempotency(), actor_id=None)
        seal_soon()
        return retirement_view(retirement)


@blp.route("/retirements/<string:number>")
class PublicRetirement(MethodView):
    @blp.response(200, RetirementSchema)
    @blp.doc(operationId="get_retirement")
    def get(self, number):
        """A retirement, public: anyone can check a certificate's number."""
        return retirement_view(retirements.retirement_by_number(number))


@blp.route("/audit-checkpoint")
class AuditCheckpoint(MethodView):
    @blp.response(200, CheckpointSchema)
    @blp.alt_response(404, description="Nothing sealed yet", **PROBLEM)
    @blp.doc(operationId="get_audit_checkpoint")
    def get(self):
        """Public: the audit chain's latest head as written down outside the database (sequence, hash,
        time), for anyone to keep and compare later; a rewritten chain no longer passes through it."""
        head = checkpoints.latest(current_app.config["AUDIT_CHECKPOINT_DIR"])
        if head is None:
            raise NotFound("checkpoint_not_found")
        return head


@blp.route("/retirements/<string:number>/certificate.svg")
class RetirementCertificate(MethodView):
    @blp.response(200, TEXT, content_type="image/svg+xml", description="The certificate (image/svg+xml)")
    @blp.doc(operationId="get_retirement_certificate_svg")
    def get(self, number):
        """The retirement certificate (SVG, with a QR code of its public address)."""
        retirement = retirements.retirement_by_number(number)
        view = retirement_view(retirement)
        check_url = url_for("holders.PublicRetirement", number=number, _external=True)
        return retirement_certificate_svg(view, check_url)


@blp.route("/me/ledger")
class MyLedger(MethodView):
    @holders_only
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, LedgerPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_my_ledger")
    def get(self, args):
        """My credit movements, newest first: type, signed amount, serial ranges."""
        lines = history.movements_of(acting_account_id(), limit=args["limit"] + 1, before_id=args["cursor"])
        more = len(lines) > args["limit"]
        lines = lines[:args["limit"]]
        return {"items": lines, "next_cursor": encode_cursor(lines[-1]["id"]) if more else None}
