"""Registry health (verification, the audit chain), the audit log, and CSV exports."""
from datetime import date, timedelta

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from accounting.business_day import SHANGHAI, day_start
from accounting.errors import DomainError
from accounting.issuance.models import IssuanceBatch
from accounting.ledger import audit
from accounting.ledger.models import Account, AuditRecord, Retirement
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.verify import verify_and_record
from api.console.blueprint import bp, console_login_required
from api.console.pages_dashboard import last_verification
from api.csv_export import csv_download
from api.id_ranges import BIGINT_MAX
from api.schemas_common import outside_calendar_message, within_calendar
from config.db_types import utcnow
from config.extensions import db
from merchants.models import Merchant
from merchants.statements import HEADER, statement_rows, statement_totals


@bp.get("/health")
@console_login_required
def health():
    chain = audit.verify_chain()
    return render_template("console/health.html", last=last_verification(), chain=chain, report=None)


@bp.post("/health/verify")
@console_login_required
def run_verification():
    """Seal what is pending, check every invariant, and record that it was checked and by whom."""
    db.session.commit()
    seal_audit_log()
    report, _run = verify_and_record("console", actor_id=g.console_user.id)
    ok = all(check["ok"] for check in report)
    audit.record(audit.actor_label(g.console_user.id), "registry_verified", "registry", {
        "ok": ok, "failed": [check["invariant"] for check in report if not check["ok"]]})
    flash(_("Every invariant holds.") if ok else
          _("Some invariants failed; see below."), "ok" if ok else "error")
    return render_template("console/health.html", last=None, chain=audit.verify_chain(), report=report)


@bp.get("/audit")
@console_login_required
def audit_log():
    before = request.args.get("before", type=int)
    if before is not None and not 0 < before <= BIGINT_MAX:  # beyond the id column: never handed out
        raise DomainError("validation_failed", errors={"before": [_("Not a valid cursor.")]})
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(100)
    if before:
        query = query.where(AuditRecord.id < before)
    return render_template("console/audit.html", records=list(db.session.scalars(query)))


def _period() -> tuple[date, date]:
    today = utcnow().astimezone(SHANGHAI).date()
    try:
        first = date.fromisoformat(request.args.get("from") or (today - timedelta(days=30)).isoformat())
        last = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        abort(400)
    outside = {name: [outside_calendar_message()] for name, day in (("from", first), ("to", last))
               if not within_calendar(day)}
    if outside:  # as the API answers a date it cannot hold (day_start of 9999-12-31 + 1 would overflow)
        raise DomainError("validation_failed", errors=outside)
    if last < first or (last - first).days > 366:
        abort(400)
    return first, last


def _csv(name: str, header: list[str], rows, first: date, last: date) -> Response:
    return csv_download(f"{name}-{first}-{last}.csv", header, rows)


@bp.get("/exports")
@console_login_required
def exports():
    return render_template("console/exports.html", merchants=list(db.session.scalars(
        select(Merchant).where(Merchant.status != "pending").order_by(Merchant.name))))


@bp.get("/exports/batches.csv")
@console_login_required
def export_batches():
    first, last = _period()
    batches = db.session.scalars(select(IssuanceBatch).where(IssuanceBatch.vintage.between(first, last))
                                 .order_by(IssuanceBatch.vintage, IssuanceBatch.id))
    rows = ([b.serial_prefix, b.vintage, b.status, b.quantity_g, b.capped_g, b.accounts_count, b.events_count,
             b.auto_approved, b.approved_by, b.approved_at, b.issued_at, b.decision_note] for b in batches)
    return _csv("batches", ["serial_prefix", "vintage", "status", "quantity_g", "capped_g", "accounts", "events",
                            "auto_approved", "approved_by", "approved_at", "issued_at", "note"], rows, first, last)


@bp.get("/exports/retirements.csv")
@console_login_required
def export_retirements():
    first, last = _period()
    retirements = db.session.execute(
        select(Retirement, Account.number).join(Account, Account.id == Retirement.account_id)
        .where(Retirement.created_at >= day_start(first), Retirement.created_at < day_start(last + timedelta(days=1)))
        .order_by(Retirement.id))
    rows = ([r.number, r.created_at.isoformat(), number, r.amount_g, r.beneficiary, r.purpose]
            for r, number in retirements)
    return _csv("retirements", ["number", "time", "account", "amount_g", "beneficiary", "purpose"], rows, first, last)


@bp.get("/exports/merchants/<integer_id:merchant_id>/statement.csv")
@console_login_required
def export_statement(merchant_id):
    first, last = _period()
    found = db.session.get(Merchant, merchant_id) or abort(404)
    if found.account_id is None:
        flash(_("This merchant is not approved and has no statement."), "error")
        return redirect(url_for("console.exports"))
    rows = statement_rows(found, first, last)
    return csv_download(f"statement-{found.id}-{first}-{last}.csv", HEADER, rows, statement_totals(rows))
