"""Money accounts: the wallet, deposits an auditor records, withdrawals asked and paid."""
from flask.views import MethodView
from sqlalchemy import select

from accounting.errors import DomainError
from accounting.ledger.models import Account
from accounting.market import money
from accounting.market.models import Withdrawal
from api.actor import current_actor, roles_required
from api.idempotency import idempotent
from api.market.acting import named_account, organization_account
from api.market.blueprint import SIGNED_IN, blp, bureau_only, organization_staff
from api.market.schemas import (
    DepositedSchema,
    DepositSchema,
    WalletArgs,
    WalletSchema,
    WithdrawalAskSchema,
    WithdrawalListArgs,
    WithdrawalPageSchema,
    WithdrawalPaySchema,
    WithdrawalSchema,
)
from api.pagination import page
from api.sealing import seal_soon
from config.extensions import db

BUREAU = ("auditor", "admin")


def _number(account_id: int) -> str:
    return db.session.scalar(select(Account.number).where(Account.id == account_id))


def withdrawal_view(found: Withdrawal) -> dict:
    return {"id": found.id, "account_number": _number(found.account_id), "amount_fen": found.amount_fen,
            "status": found.status, "bank_reference": found.bank_reference, "created_at": found.created_at,
            "paid_at": found.paid_at}


@blp.route("/market/wallet")
class Wallet(MethodView):
    @roles_required("merchant_staff", "enterprise_staff", *BUREAU)
    @blp.arguments(WalletArgs(), location="query")
    @blp.response(200, WalletSchema)
    @blp.doc(security=SIGNED_IN, operationId="get_wallet")
    def get(self, args):
        """One account, two balances: credits (grams) and money (fen), and what is set apart of each."""
        if current_actor().role in BUREAU:
            return money.wallet(named_account(args["account"]))
        if args["account"] is not None:
            raise DomainError("forbidden_role")  # staff see their own organization's wallet only
        return money.wallet(organization_account())


@blp.route("/market/deposits")
class Deposits(MethodView):
    @bureau_only
    @idempotent
    @blp.arguments(DepositSchema())
    @blp.response(201, DepositedSchema)
    @blp.alt_response(200, schema=DepositedSchema, description="This bank reference was recorded before, "
                                                                 "with the same account and amount")
    @blp.doc(security=SIGNED_IN, operationId="record_deposit")
    def post(self, args):
        """Record money received from a bank, once per bank reference (the same again answers the first)."""
        account = db.session.get(Account, named_account(args["account_number"]))
        found, new = money.deposit(account, args["amount_fen"], args["bank_reference"], current_actor().user_id)
        seal_soon()
        view = {"id": found.id, "account_number": account.number, "amount_fen": found.amount_fen,
                "bank_reference": found.bank_reference, "transaction_id": found.transaction_id,
                "created_at": found.created_at}
        return (view, 201) if new else (view, 200)


@blp.route("/market/withdrawals")
class Withdrawals(MethodView):
    @organization_staff
    @idempotent
    @blp.arguments(WithdrawalAskSchema())
    @blp.response(201, WithdrawalSchema)
    @blp.doc(security=SIGNED_IN, operationId="ask_withdrawal")
    def post(self, args):
        """Ask for money to be paid out to the organization's bank account; an auditor pays it."""
        found = money.ask_withdrawal(organization_account(), args["amount_fen"], current_actor().user_id)
        seal_soon()
        return withdrawal_view(found)

    @roles_required("merchant_staff", "enterprise_staff", *BUREAU)
    @blp.arguments(WithdrawalListArgs(), location="query")
    @blp.response(200, WithdrawalPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_withdrawals")
    def get(self, args):
        """Withdrawals, newest first: the bureau sees all (`?status=pending` to pay), staff their own."""
        query = select(Withdrawal).order_by(Withdrawal.id.desc()).limit(args["limit"] + 1)
        if current_actor().role not in BUREAU:
            query = query.where(Withdrawal.account_id == organization_account())
        if args["status"]:
            query = query.where(Withdrawal.status == args["status"])
        if args["cursor"]:
            query = query.where(Withdrawal.id < args["cursor"])
        listed = page(db.session.scalars(query).all(), args["limit"])
        return {**listed, "items": [withdrawal_view(found) for found in listed["items"]]}


@blp.route("/market/withdrawals/<bigint_id:withdrawal_id>/pay")
class WithdrawalPayment(MethodView):
    @bureau_only
    @idempotent
    @blp.arguments(WithdrawalPaySchema())
    @blp.response(200, WithdrawalSchema)
    @blp.doc(security=SIGNED_IN, operationId="pay_withdrawal")
    def post(self, args, withdrawal_id):
        """Pay a withdrawal out: the money leaves for the bank, or nothing moves if it is no longer there."""
        found = money.pay_withdrawal(withdrawal_id, current_actor().user_id, args["bank_reference"])
        seal_soon()
        return withdrawal_view(found)
