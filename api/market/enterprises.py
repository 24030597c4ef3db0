"""企业: staff apply, the bureau approves or rejects; the enterprise's statement as CSV."""
from flask.views import MethodView
from sqlalchemy import select

from accounting.errors import DomainError
from accounting.ledger.models import Account
from accounting.market import enterprises, statements
from api.actor import current_actor, roles_required
from api.csv_export import csv_download
from api.idempotency import idempotent
from api.identity.models import User
from api.market.acting import acting_enterprise
from api.market.blueprint import SIGNED_IN, blp, bureau_only, enterprise_only
from api.market.schemas import EnterpriseApplySchema, EnterpriseDecisionSchema, EnterpriseSchema
from api.merchants.schemas import StatementArgs
from api.openapi import TEXT
from api.sealing import seal_soon
from config.extensions import db


def enterprise_view(found) -> dict:
    number = db.session.scalar(select(Account.number).where(Account.id == found.account_id)) \
        if found.account_id else None
    return {"id": found.id, "name": found.name, "credit_code": found.credit_code, "district": found.district,
            "status": found.status, "account_number": number, "decision_note": found.decision_note,
            "created_at": found.created_at}


def _visible_enterprise(enterprise_id: int):
    if current_actor().role == "enterprise_staff":
        return acting_enterprise(enterprise_id)
    return enterprises.enterprise(enterprise_id)


@blp.route("/enterprises")
class Enterprises(MethodView):
    @enterprise_only
    @idempotent
    @blp.arguments(EnterpriseApplySchema())
    @blp.response(201, EnterpriseSchema)
    @blp.doc(security=SIGNED_IN, operationId="apply_as_enterprise")
    def post(self, args):
        """Apply as an enterprise with its 统一社会信用代码; the bureau approves. The applicant belongs to it."""
        user = db.session.get(User, current_actor().user_id)
        if user.enterprise_id is not None:
            raise DomainError("already_in_enterprise")
        found = enterprises.apply(**args, applied_by=user.id)
        user.enterprise_id = found.id
        seal_soon()
        return enterprise_view(found)


@blp.route("/enterprises/<integer_id:enterprise_id>")
class EnterpriseResource(MethodView):
    @roles_required("enterprise_staff", "auditor", "admin")
    @blp.response(200, EnterpriseSchema)
    @blp.doc(security=SIGNED_IN, operationId="get_enterprise")
    def get(self, enterprise_id):
        """An enterprise: its staff see their own, the bureau any."""
        return enterprise_view(_visible_enterprise(enterprise_id))


@blp.route("/enterprises/<integer_id:enterprise_id>/approve")
class EnterpriseApproval(MethodView):
    @bureau_only
    @idempotent
    @blp.arguments(EnterpriseDecisionSchema())
    @blp.response(200, EnterpriseSchema)
    @blp.doc(security=SIGNED_IN, operationId="approve_enterprise")
    def post(self, args, enterprise_id):
        """Approve: the enterprise gets its account (credits and money) and may trade."""
        found = enterprises.approve(enterprise_id, current_actor().user_id, args["note"])
        seal_soon()
        return enterprise_view(found)


@blp.route("/enterprises/<integer_id:enterprise_id>/reject")
class EnterpriseRejection(MethodView):
    @bureau_only
    @idempotent
    @blp.arguments(EnterpriseDecisionSchema())
    @blp.response(200, EnterpriseSchema)
    @blp.doc(security=SIGNED_IN, operationId="reject_enterprise")
    def post(self, args, enterprise_id):
        """Reject a pending application."""
        found = enterprises.reject(enterprise_id, current_actor().user_id, args["note"] or "")
        seal_soon()
        return enterprise_view(found)


@blp.route("/enterprises/<integer_id:enterprise_id>/statement.csv")
class EnterpriseStatement(MethodView):
    @roles_required("enterprise_staff", "auditor", "admin")
    @blp.arguments(StatementArgs(), location="query")
    @blp.response(200, TEXT, content_type="text/csv", description="The statement (text/csv)")
    @blp.doc(security=SIGNED_IN, operationId="get_enterprise_statement")
    def get(self, args, enterprise_id):
        """The enterprise's statement: each movement of its credits and money, with running balances."""
        found = _visible_enterprise(enterprise_id)
        if found.account_id is None:
            raise DomainError("enterprise_not_approved")
        rows = statements.statement_rows(found.account_id, args["day_from"], args["day_to"])
        return csv_download(f"enterprise-{found.id}-{args['day_from']}-{args['day_to']}.csv", statements.HEADER,
                            rows, statements.statement_totals(rows))
