"""The bureau's registry work: issuance batches (签发), tracing, verification, the audit log,
freezing accounts and revoking units (管理)."""
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from accounting.issuance import batches as issuance
from accounting.issuance import revocations, trace
from accounting.issuance.models import BatchLine, IssuanceBatch
from accounting.issuance.tasks import issue_approved_batch
from accounting.ledger import accounts
from accounting.ledger.models import Account, AuditRecord
from accounting.ledger.verify import verify_and_record
from accounting.record.models import GreenEvent
from api.actor import current_actor, roles_required
from api.after_commit import enqueue_after_commit
from api.id_ranges import INTEGER_MAX
from api.idempotency import idempotent
from api.pagination import CursorField, PageArgs, encode_cursor
from api.registry.requests import ledger_idempotency
from api.registry.schemas import (
    AccountStateSchema,
    AuditPageSchema,
    BatchDetailSchema,
    BatchPageSchema,
    BatchSchema,
    DecisionSchema,
    ProposeSchema,
    ReasonSchema,
    RevocationSchema,
    RevokeSchema,
    TraceSchema,
    VerifySchema,
)
from api.schemas_common import BoundedDate, Text
from api.sealing import seal_soon
from api.translated_validators import OneOf
from config.extensions import db

blp = Blueprint("registry", __name__, url_prefix="/api/v1", description="签发与管理: issuance and the registry")

SIGNED_IN = [{"bearerAuth": []}]
bureau_only = roles_required("auditor", "admin")


class BatchListArgs(PageArgs):
    cursor = CursorField(load_default=None, max_id=INTEGER_MAX)  # batches have integer ids
    status = Text(validate=OneOf(("proposed", "approved", "issued", "rejected")))
    vintage = BoundedDate()


def _page(items, limit, key):
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(key(items[-1])) if more else None}


@blp.route("/issuance/batches")
class Batches(MethodView):
    @bureau_only
    @blp.arguments(BatchListArgs(), location="query")
    @blp.response(200, BatchPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_issuance_batches")
    def get(self, args):
        """Issuance batches, newest first; filter by status or vintage day."""
        query = select(IssuanceBatch)
        if args.get("status"):
            query = query.where(IssuanceBatch.status == args["status"])
        if args.get("vintage"):
            query = query.where(IssuanceBatch.vintage == args["vintage"])
        if args["cursor"] is not None:
            query = query.where(IssuanceBatch.id < args["cursor"])
        items = list(db.session.scalars(query.order_by(IssuanceBatch.id.desc()).limit(args["limit"] + 1)))
        return _page(items, args["limit"], lambda batch: batch.id)

    @bureau_only
    @idempotent
    @blp.arguments(ProposeSchema())
    @blp.response(201, BatchPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="propose_issuance_batches")
    def post(self, args):
        """Propose the batches of a day (Asia/Shanghai); small ones are approved automatically and issued."""
        batches = issuance.propose_batches(args["date"], actor_id=current_actor().user_id,
                                           auto_approve_max_g=current_app.config["ISSUANCE_AUTO_APPROVE_MAX_G"])
        for batch in batches:
            if batch.status == "approved":
                enqueue_after_commit(issue_approved_batch, batch.id)
        seal_soon()
        return {"items": batches, "next_cursor": None}


@blp.route("/issuance/batches/<integer_id:batch_id>")
class OneBatch(MethodView):
    @bureau_only
    @blp.response(200, BatchDetailSchema)
    @blp.doc(security=SIGNED_IN, operationId="get_issuance_batch")
    def get(self, batch_id):
        """A batch for review: size, accounts, top accounts, share capped, a sample of its events."""
        batch = issuance.batch(batch_id)
        top = db.session.execute(
            select(Account.number, BatchLine.quantity_g).join(Account, Account.id == BatchLine.account_id)
            .where(BatchLine.batch_id == batch.id).order_by(BatchLine.quantity_g.desc()).limit(10)).all()
        sample = list(db.session.scalars(select(GreenEvent).where(GreenEvent.issuance_batch_id == batch.id)
                                         .order_by(GreenEvent.id).limit(20)))
        total = batch.quantity_g + batch.capped_g
        batch.top_accounts = [{"account_number": n, "quantity_g": q} for n, q in top]
        batch.capped_share = round(batch.capped_g / total, 4) if total else 0.0
        batch.sample_events = sample
        return batch


def _decide(decision):
    @bureau_only
    @blp.arguments(DecisionSchema(), required=False)
    @blp.response(200, BatchSchema)
    @blp.doc(security=SIGNED_IN, operationId=f"{decision}_issuance_batch")
    def post(self, args, batch_id):
        actor = current_actor().user_id
        if decision == "approve":
            batch = issuance.approve_batch(batch_id, actor, args.get("note"))
            enqueue_after_commit(issue_approved_batch, batch.id)
        else:
            batch = issuance.reject_batch(batch_id, actor, args.get("note") or "rejected")
        seal_soon()
        return batch

    post.__doc__ = {"approve": "Approve a proposed batch; it is issued right after.",
                    "reject": "Reject a proposed batch; its reductions are never issued."}[decision]
    return type(f"Batch{decision.title()}", (MethodView,), {"post": post})


for _decision in ("approve", "reject"):
    blp.route(f"/issuance/batches/<integer_id:batch_id>/{_decision}")(_decide(_decision))


@blp.route("/registry/units/<string:serial>")
class Unit(MethodView):
    @bureau_only
    @blp.response(200, TraceSchema)
    @blp.doc(security=SIGNED_IN, operationId="trace_unit")
    def get(self, serial):
        """Trace one unit: batch, block, every holder in order, the green action behind it."""
        return trace.trace_unit(serial)


@blp.route("/registry/verify")
class Verify(MethodView):
    @bureau_only
    @blp.response(200, VerifySchema)
    @blp.doc(security=SIGNED_IN, operationId="verify_registry")
    def get(self):
        """The invariants of DOMAIN.md §5 and MARKET.md, each ok or failed with counts; the run is recorded
        (its time and result are public on /public)."""
        report, _run = verify_and_record("api", actor_id=current_actor().user_id)
        return {"ok": all(check["ok"] for check in report), "invariants": report}


@blp.route("/audit-log")
class AuditLog(MethodView):
    @bureau_only
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, AuditPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_audit_log")
    def get(self, args):
        """The hash-chained audit log, newest first (unsealed records have no hash yet)."""
        query = select(AuditRecord)
        if args["cursor"] is not None:
            query = query.where(AuditRecord.id < args["cursor"])
        items = list(db.session.scalars(query.order_by(AuditRecord.id.desc()).limit(args["limit"] + 1)))
        return _page(items, args["limit"], lambda record: record.id)


def _account_action(action):
    @bureau_only
    @blp.arguments(ReasonSchema())
    @blp.response(200, AccountStateSchema)
    @blp.doc(security=SIGNED_IN, operationId=f"{action}_account")
    def post(self, args, number):
        account = accounts.account_by_number(number)
        changed = getattr(accounts, action)(account.id, current_actor().user_id, args["reason"])
        seal_soon()
        return changed

    post.__doc__ = {"freeze": "Freeze an account: its credits cannot move until unfrozen.",
                    "unfreeze": "Unfreeze an account."}[action]
    return type(f"Account{action.title()}", (MethodView,), {"post": post})


for _action in ("freeze", "unfreeze"):
    blp.route(f"/registry/accounts/<string:number>/{_action}")(_account_action(_action))


@blp.route("/registry/revocations")
class Revocations(MethodView):
    @bureau_only
    @idempotent
    @blp.arguments(RevokeSchema())
    @blp.response(201, RevocationSchema)
    @blp.doc(security=SIGNED_IN, operationId="revoke_units")
    def post(self, args):
        """Revoke a serial range: units still held move to revocation; retired ones are reported."""
        outcome = revocations.revoke_range(args["serial_prefix"], args["first"], args["last"], args["reason"],
                                        ledger_idempotency(), actor_id=current_actor().user_id)
        seal_soon()
        return outcome
