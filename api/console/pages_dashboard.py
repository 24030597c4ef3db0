"""The dashboard: totals, reductions per day by mode and category, districts, what waits."""
from datetime import timedelta

from flask import render_template
from sqlalchemy import func, select

from accounting.business_day import SHANGHAI
from accounting.issuance.models import IssuanceBatch
from accounting.ledger.accounts import SYSTEM_NUMBERS
from accounting.ledger.models import Account, AuditRecord, JournalEntry, JournalTransaction
from accounting.market.models import Auction, Enterprise, Withdrawal
from accounting.quantification import reports
from accounting.quantification.models import MethodologyVersion, ReviewFlag
from api.console.blueprint import bp, console_login_required
from api.console.charts import stacked_bars
from config.db_types import utcnow
from config.extensions import db
from merchants.models import Merchant

CHART_DAYS = 14


def registry_totals() -> dict:
    balances = dict(db.session.execute(select(Account.number, Account.balance_g).where(
        Account.number.in_([SYSTEM_NUMBERS["retirement"], SYSTEM_NUMBERS["revocation"]]))).all())
    spent = db.session.scalar(select(func.coalesce(func.sum(JournalEntry.amount_g), 0))
                              .join(JournalTransaction).where(JournalTransaction.kind == "claim",
                                                              JournalEntry.amount_g > 0))
    issued = db.session.scalar(select(func.coalesce(func.sum(IssuanceBatch.quantity_g), 0))
                               .where(IssuanceBatch.status == "issued"))
    return {"issued": int(issued), "spent": int(spent),
            "retired": balances.get(SYSTEM_NUMBERS["retirement"], 0),
            "revoked": balances.get(SYSTEM_NUMBERS["revocation"], 0)}


def waiting() -> dict:
    count = lambda query: db.session.scalar(select(func.count()).select_from(query.subquery()))  # noqa: E731
    return {
        "batches": count(select(IssuanceBatch.id).where(IssuanceBatch.status == "proposed")),
        "methodologies": count(select(MethodologyVersion.id).where(MethodologyVersion.status == "filed")),
        "merchants": count(select(Merchant.id).where(Merchant.status == "pending")),
        "flags": count(select(ReviewFlag.id).where(ReviewFlag.resolved_at.is_(None))),
        "enterprises": count(select(Enterprise.id).where(Enterprise.status == "pending")),
        "withdrawals": count(select(Withdrawal.id).where(Withdrawal.status == "pending")),
        # Closed but not cleared: beat clears them; one still here could not clear (a frozen winner).
        "auctions": count(select(Auction.id).where(Auction.cleared_at.is_(None), Auction.closes_at <= utcnow())),
    }


def last_verification() -> AuditRecord | None:
    return db.session.scalar(select(AuditRecord).where(AuditRecord.action == "registry_verified")
                             .order_by(AuditRecord.id.desc()).limit(1))


@bp.get("/")
@console_login_required
def dashboard():
    today = utcnow().astimezone(SHANGHAI).date()
    daily = reports.daily_reductions_by(("mode", "category"), CHART_DAYS, today)  # one scan for both charts
    return render_template(
        "console/dashboard.html", totals=registry_totals(), waiting=waiting(),
        by_mode=stacked_bars(daily["mode"]), by_category=stacked_bars(daily["category"]),
        districts=reports.summary("district", day_from=today - timedelta(days=29)),
        verification=last_verification(), today=today,
    )
