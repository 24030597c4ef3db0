"""What waits for an auditor: methodology versions, issuance batches, merchant and enterprise applications."""
from flask import abort, g, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from accounting.issuance import batches as issuance
from accounting.issuance.models import BatchLine, IssuanceBatch
from accounting.issuance.tasks import issue_approved_batch
from accounting.ledger.models import Account
from accounting.market import enterprises, money
from accounting.market.models import Enterprise
from accounting.quantification import methodologies
from accounting.quantification.models import MethodologyVersion
from accounting.record.models import GreenEvent
from api.after_commit import enqueue_after_commit
from api.console.blueprint import act, bp, console_login_required, reason_from_form
from api.identity.models import User
from config.extensions import db
from merchants import applications
from merchants.models import Merchant


@bp.get("/queues")
@console_login_required
def queues():
    return render_template(
        "console/queues.html",
        versions=list(db.session.scalars(select(MethodologyVersion).where(MethodologyVersion.status == "filed")
                                         .order_by(MethodologyVersion.id))),
        batches=list(db.session.scalars(select(IssuanceBatch).where(IssuanceBatch.status == "proposed")
                                        .order_by(IssuanceBatch.id))),
        merchants=list(db.session.scalars(select(Merchant).where(Merchant.status == "pending").order_by(Merchant.id))),
        enterprises=list(db.session.scalars(select(Enterprise).where(Enterprise.status == "pending")
                                            .order_by(Enterprise.id))),
    )


def flatten(parameters: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in parameters.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@bp.get("/methodology-versions/<integer_id:version_id>")
@console_login_required
def methodology_version(version_id):
    version = db.session.get(MethodologyVersion, version_id) or abort(404)
    before = methodologies.previous_approved(version)
    new, old = flatten(version.parameters), flatten(before.parameters) if before else {}
    rows = [{"key": key, "old": old.get(key), "new": new.get(key), "changed": old.get(key) != new.get(key)}
            for key in sorted(set(new) | set(old))]
    return render_template("console/methodology_version.html", version=version, before=before, rows=rows)


@bp.post("/methodology-versions/<integer_id:version_id>/<string:decision>")
@console_login_required
def decide_methodology(version_id, decision):
    version = db.session.get(MethodologyVersion, version_id) or abort(404)
    reason = reason_from_form()
    back = url_for("console.methodology_version", version_id=version_id)
    if reason is None or decision not in ("approve", "reject"):
        return redirect(back)
    if decision == "approve":
        return act(lambda: methodologies.approve_version(version.methodology_id, version.version, g.console_user.id,
                                                         reason), _("Approved."), back)
    return act(lambda: methodologies.reject_version(version.methodology_id, version.version, g.console_user.id,
                                                    reason), _("Sent back to draft."), back)


@bp.get("/batches/<integer_id:batch_id>")
@console_login_required
def batch(batch_id):
    found = db.session.get(IssuanceBatch, batch_id) or abort(404)
    top = db.session.execute(
        select(Account.number, BatchLine.quantity_g).join(Account, Account.id == BatchLine.account_id)
        .where(BatchLine.batch_id == found.id).order_by(BatchLine.quantity_g.desc()).limit(10)).all()
    sample = list(db.session.scalars(select(GreenEvent).where(GreenEvent.issuance_batch_id == found.id)
                                     .order_by(GreenEvent.id).limit(25)))
    total = found.quantity_g + found.capped_g
    return render_template("console/batch.html", batch=found, top=top, sample=sample,
                           capped_share=(found.capped_g / total if total else 0))


@bp.post("/batches/<integer_id:batch_id>/<string:decision>")
@console_login_required
def decide_batch(batch_id, decision):
    reason = reason_from_form()
    back = url_for("console.batch", batch_id=batch_id)
    if reason is None or decision not in ("approve", "reject"):
        return redirect(back)
    if decision == "approve":
        def approve():
            issuance.approve_batch(batch_id, g.console_user.id, reason)
            enqueue_after_commit(issue_approved_batch, batch_id)
        return act(approve, _("Approved; issuing now."), back)
    return act(lambda: issuance.reject_batch(batch_id, g.console_user.id, reason), _("Rejected."), back)


@bp.get("/merchants/<integer_id:merchant_id>")
@console_login_required
def merchant(merchant_id):
    found = db.session.get(Merchant, merchant_id) or abort(404)
    return render_template("console/merchant.html", merchant=found,
                           account_number=applications.account_number(found))


@bp.post("/merchants/<integer_id:merchant_id>/<string:decision>")
@console_login_required
def decide_merchant(merchant_id, decision):
    reason = reason_from_form()
    back = url_for("console.merchant", merchant_id=merchant_id)
    if reason is None or decision not in ("approve", "reject", "suspend"):
        return redirect(back)
    if decision == "approve":
        return act(lambda: applications.approve(merchant_id, g.console_user.id, reason), _("Approved."), back)
    status = {"reject": "rejected", "suspend": "suspended"}[decision]
    return act(lambda: applications.decide_against(merchant_id, g.console_user.id, status, reason),
               _("Done."), back)


@bp.get("/enterprises/<integer_id:enterprise_id>")
@console_login_required
def enterprise(enterprise_id):
    found = db.session.get(Enterprise, enterprise_id) or abort(404)
    return render_template("console/enterprise.html", enterprise=found,
                           wallet=money.wallet(found.account_id) if found.account_id else None,
                           staff=list(db.session.scalars(select(User).where(User.enterprise_id == found.id)
                                                         .order_by(User.id))))


@bp.post("/enterprises/<integer_id:enterprise_id>/<string:decision>")
@console_login_required
def decide_enterprise(enterprise_id, decision):
    reason = reason_from_form()
    back = url_for("console.enterprise", enterprise_id=enterprise_id)
    if reason is None or decision not in ("approve", "reject"):
        return redirect(back)
    if decision == "approve":
        return act(lambda: enterprises.approve(enterprise_id, g.console_user.id, reason), _("Approved."), back)
    return act(lambda: enterprises.reject(enterprise_id, g.console_user.id, reason), _("Rejected."), back)
