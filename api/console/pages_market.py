"""交易: the market as the bureau sees it. The pool, open listings, auctions (their bids always
shown to the bureau) with clearing, withdrawals to pay, deposits to record, each day's volume and
VWAP. Every action goes through the market's services, which write its audit record."""
from datetime import timedelta

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from accounting.business_day import shanghai_day
from accounting.ledger.donations import pool_figures
from accounting.ledger.models import Account
from accounting.market import auctions, money, stats
from accounting.market.models import MAX_AMOUNT_FEN, Auction, Deposit, Enterprise, Listing, Withdrawal
from accounting.market.orders import open_listings_query
from api.console.blueprint import act, bp, console_login_required, yuan
from api.console.charts import volume_and_vwap
from api.market.acting import named_account
from api.market.trading import seller_names
from api.schemas_common import NOT_TEXT
from config.db_types import utcnow
from config.extensions import db

STATS_DAYS = 30
LISTINGS_SHOWN, CLEARED_AUCTIONS_SHOWN, DEPOSITS_SHOWN = 50, 10, 20
BANK_REFERENCE_MAX = 64  # market_deposits.bank_reference, market_withdrawals.bank_reference
ACCOUNT_NUMBER_MAX = 12  # accounts.number


def shown_auctions(now) -> list[dict]:
    """Every auction not yet cleared (a closed one waits for a clearing), then the last cleared."""
    waiting = db.session.scalars(select(Auction).where(Auction.cleared_at.is_(None)).order_by(Auction.closes_at,
                                                                                                Auction.id)).all()
    cleared = db.session.scalars(select(Auction).where(Auction.cleared_at.is_not(None))
                                 .order_by(Auction.cleared_at.desc(), Auction.id.desc())
                                 .limit(CLEARED_AUCTIONS_SHOWN)).all()
    return [{"auction": found, "status": auctions.status(found, now), "bids": auctions.bids_of(found.id)}
            for found in [*waiting, *cleared]]


def numbers_of(account_ids: set[int]) -> dict[int, str]:
    return dict(db.session.execute(select(Account.id, Account.number).where(Account.id.in_(account_ids))).all())


@bp.get("/market")
@console_login_required
def market():
    now = utcnow()
    today = shanghai_day(now)
    first = today - timedelta(days=STATS_DAYS - 1)
    daily = stats.daily(db.session, first, today)
    # As GET /market/listings shows them: one past its expiry waits only for beat's sweep.
    listings = db.session.scalars(open_listings_query().where(
        or_(Listing.expires_at.is_(None), Listing.expires_at > now)).limit(LISTINGS_SHOWN)).all()
    auction_rows = shown_auctions(now)
    withdrawals = db.session.scalars(select(Withdrawal).where(Withdrawal.status == "pending")
                                     .order_by(Withdrawal.id)).all()
    deposits = db.session.scalars(select(Deposit).order_by(Deposit.id.desc()).limit(DEPOSITS_SHOWN)).all()
    accounts = ({listing.seller_account_id for listing in listings}
                | {bid.bidder_account_id for row in auction_rows for bid in row["bids"]}
                | {found.account_id for found in [*withdrawals, *deposits]})
    free_money = dict(db.session.execute(select(Account.id, Account.money_fen - Account.reserved_fen)
                                         .where(Account.id.in_({w.account_id for w in withdrawals}))).all())
    return render_template(
        "console/market.html", pool=pool_figures(), pool_wallet=money.wallet(named_account("pool")),
        listings=listings, auctions=auction_rows, withdrawals=withdrawals, free_money=free_money, deposits=deposits,
        names=seller_names(accounts), numbers=numbers_of(accounts), daily=daily,
        chart=volume_and_vwap(daily, first, today), first=first, today=today,
        enterprises_waiting=db.session.scalar(select(func.count()).where(Enterprise.status == "pending")))


def whole_number(text: str | None) -> int | None:
    """Plain ASCII digits as an int ("²" is a digit to str.isdigit, not to int()); else None."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


@bp.post("/market/deposits")
@console_login_required
def record_deposit():
    """A bank receipt: money in to an organization's account or the pool, once per bank reference."""
    back = url_for("console.market")
    number = (request.form.get("account") or "").strip()
    reference = (request.form.get("bank_reference") or "").strip()
    amount = whole_number(request.form.get("amount_fen"))
    if (not 0 < len(number) <= ACCOUNT_NUMBER_MAX or amount is None or not 1 <= amount <= MAX_AMOUNT_FEN
            or not 0 < len(reference) <= BANK_REFERENCE_MAX or NOT_TEXT.search(number + reference)):
        flash(_("Give an account number (or “pool”), an amount in fen (a whole number from 1) and a bank "
                "reference of up to 64 characters."), "error")
        return redirect(back)

    def record():
        account = db.session.get(Account, named_account("pool" if number.lower() == "pool" else number))
        found, new = money.deposit(account, amount, reference, g.console_user.id)
        return account.number, found, new

    def said(done) -> str:
        account_number, found, new = done
        if not new:
            return _("Bank reference %(reference)s was recorded before with this account and amount; nothing "
                     "changed.", reference=found.bank_reference)
        return _("Deposit of %(amount)s yuan to %(account)s recorded.", amount=yuan(found.amount_fen),
                 account=account_number)

    return act(record, said, back)


@bp.post("/market/withdrawals/<bigint_id:withdrawal_id>/pay")
@console_login_required
def pay_withdrawal(withdrawal_id):
    """Pay a withdrawal out to the organization's bank (the bank reference is optional)."""
    back = url_for("console.market")
    reference = (request.form.get("bank_reference") or "").strip() or None
    if reference is not None and (len(reference) > BANK_REFERENCE_MAX or NOT_TEXT.search(reference)):
        flash(_("A bank reference has at most 64 characters."), "error")
        return redirect(back)
    return act(lambda: money.pay_withdrawal(withdrawal_id, g.console_user.id, reference),
               lambda paid: _("Withdrawal #%(id)s paid: %(amount)s yuan.", id=paid.id, amount=yuan(paid.amount_fen)),
               back)


@bp.post("/market/auctions/<bigint_id:auction_id>/clear")
@console_login_required
def clear_auction(auction_id):
    """Clear a closed auction now instead of waiting for beat (clearing twice answers the first result)."""
    return act(lambda: auctions.clear_auction(auction_id, actor_id=g.console_user.id, now=utcnow()), cleared_message,
               url_for("console.market"))


def cleared_message(found: Auction) -> str:
    unsold = found.quantity_g - found.sold_g
    if found.clearing_price_fen_per_t is None:
        return _("Auction #%(id)s cleared: no bid won; %(unsold)s g went back to the pool.", id=found.id,
                 unsold=f"{unsold:,}")
    return _("Auction #%(id)s cleared at %(price)s yuan/t: %(sold)s g sold, %(unsold)s g back to the pool.",
             id=found.id, price=yuan(found.clearing_price_fen_per_t), sold=f"{found.sold_g:,}",
             unsold=f"{unsold:,}")
