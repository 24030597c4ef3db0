"""Trace: find a unit, account, batch, merchant or coupon, and follow credits back to actions."""
import re

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from accounting.errors import DomainError
from accounting.issuance import revocations, trace
from accounting.issuance.models import IssuanceBatch
from accounting.ledger import accounts, history, serials
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import Account, Holder
from accounting.market.models import Enterprise
from accounting.record import recording
from accounting.record.models import GreenEvent
from api.console.blueprint import act, bp, console_login_required, reason_from_form
from api.identity.models import User
from api.registry.schemas import MAX_SERIAL
from config.extensions import db
from merchants.models import Campaign, CampaignEscrow, Coupon, Merchant

ACCOUNT_NUMBER = re.compile(r"^(BZ|ES)\d{10}$")


@bp.get("/trace")
@console_login_required
def search():
    """One box for everything: a serial, an account number, a batch, a merchant, a coupon."""
    q = (request.args.get("q") or "").strip()
    if not q:
        return render_template("console/search.html", q=q, merchants=[], coupons=[])
    if serials.parse_unit(q):
        return redirect(url_for("console.unit", serial=q))
    if ACCOUNT_NUMBER.match(q):
        return redirect(url_for("console.account", number=q))
    if serials.PREFIX.match(q):
        found = db.session.scalar(select(IssuanceBatch.id).where(IssuanceBatch.serial_prefix == q))
        if found:
            return redirect(url_for("console.batch", batch_id=found))
    # Ids are looked up only for plain ASCII digits that fit the column ("²" is a digit to
    # str.isdigit but not to int(); merchants.id is a 32-bit integer, coupons.id 64-bit).
    digits = q.isascii() and q.isdigit()
    merchants = list(db.session.scalars(select(Merchant).where(
        or_(Merchant.name.contains(q), Merchant.id == (int(q) if digits and len(q) < 10 else -1))).limit(20)))
    coupons = list(db.session.scalars(select(Coupon).where(
        or_(Coupon.code == q, Coupon.id == (int(q) if digits and len(q) < 18 else -1))).limit(20)))
    return render_template("console/search.html", q=q, merchants=merchants, coupons=coupons)


@bp.get("/units/<string:serial>")
@console_login_required
def unit(serial):
    try:
        found = trace.trace_unit(serial)
    except DomainError:
        abort(404)
    line_events = [] if found["event"] is None else list(db.session.scalars(select(GreenEvent).where(
        GreenEvent.issuance_batch_id == found["batch"].id, GreenEvent.account_id == found["event"].account_id)
        .order_by(GreenEvent.id).limit(200)))
    return render_template("console/unit.html", trace=found, line_events=line_events)


@bp.get("/accounts/<string:number>")
@console_login_required
def account(number):
    found = db.session.scalar(select(Account).where(Account.number == number)) or abort(404)
    holder = db.session.get(Holder, found.holder_id) if found.holder_id else None
    user = db.session.scalar(select(User).where(User.holder_id == found.holder_id)) if found.holder_id else None
    merchant = db.session.scalar(select(Merchant).where(or_(
        Merchant.account_id == found.id, Merchant.escrow_account_id == found.id,
        Merchant.id == select(Campaign.merchant_id).join(CampaignEscrow, CampaignEscrow.campaign_id == Campaign.id)
        .where(CampaignEscrow.account_id == found.id).scalar_subquery())))
    enterprise = db.session.scalar(select(Enterprise).where(Enterprise.account_id == found.id))
    return render_template(
        "console/account.html", account=found, holder=holder, user=user, merchant=merchant, enterprise=enterprise,
        totals=history.account_totals(found.id), movements=history.movements_of(found.id, limit=50),
        events=recording.events_of_account(found.id, limit=50))


@bp.post("/accounts/<string:number>/<string:action>")
@console_login_required
def account_action(number, action):
    found = db.session.scalar(select(Account).where(Account.number == number)) or abort(404)
    reason = reason_from_form()
    back = url_for("console.account", number=number)
    if reason is None or action not in ("freeze", "unfreeze"):
        return redirect(back)
    operation = accounts.freeze if action == "freeze" else accounts.unfreeze
    return act(lambda: operation(found.id, g.console_user.id, reason),
               _("Account frozen.") if action == "freeze" else _("Account unfrozen."),
               back)


@bp.post("/revocations")
@console_login_required
def revoke():
    reason = reason_from_form()
    back = request.referrer or url_for("console.dashboard")
    prefix = request.form.get("serial_prefix", "")
    try:
        first, last = int(request.form.get("first", "")), int(request.form.get("last", ""))
    except ValueError:
        first = last = 0
    if reason is None or not serials.PREFIX.match(prefix) or not 1 <= first <= last <= MAX_SERIAL:
        if reason is not None:
            flash(_("Give a batch and a valid serial range."), "error")
        return redirect(back)
    key = request.form.get("idempotency_key") or f"console-{prefix}-{first}-{last}"
    idempotency = Idempotency(f"user:{g.console_user.id}", key, f"{prefix}:{first}:{last}")
    return act(lambda: revocations.revoke_range(prefix, first, last, reason, idempotency, actor_id=g.console_user.id),
               _("Units still held were revoked."), back)


@bp.get("/coupons/<bigint_id:coupon_id>")
@console_login_required
def coupon(coupon_id):
    found = db.session.get(Coupon, coupon_id) or abort(404)
    holder = db.session.get(Account, found.account_id)
    return render_template("console/coupon.html", coupon=found, holder=holder)
