"""Merchant staff and the bureau: applications, campaigns, the till (verify, redeem), absorption."""
import secrets

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import bindparam, select

from accounting.errors import DomainError
from accounting.ledger import retirements
from accounting.ledger.models import Account
from api.actor import current_actor, roles_required
from api.csv_export import csv_download
from api.idempotency import idempotent
from api.identity.models import User
from api.merchants.acting import acting_merchant, acting_merchant_id
from api.merchants.schemas import (
    CampaignCreateSchema,
    CampaignSchema,
    CouponSchema,
    MerchantApplySchema,
    MerchantDecisionSchema,
    MerchantSchema,
    StatementArgs,
    TokenSchema,
    VerificationSchema,
)
from api.messages import title_and_detail
from api.openapi import PROBLEM, TEXT
from api.registry.holders import retirement_view
from api.registry.requests import ledger_idempotency
from api.registry.schemas import RetirementSchema, RetireSchema
from api.sealing import seal_soon
from config.db_types import utcnow
from config.extensions import db
from merchants import applications, campaigns, coupons
from merchants.qr_tokens import read_token
from merchants.statements import HEADER, statement_rows, statement_totals

blp = Blueprint("merchants", __name__, url_prefix="/api/v1", description="商户: applications, campaigns, the till")

SIGNED_IN = [{"bearerAuth": []}]
staff_only = roles_required("merchant_staff")
bureau_only = roles_required("auditor", "admin")


def merchant_view(found) -> dict:
    return {**{c.key: getattr(found, c.key) for c in found.__table__.columns},
            "account_number": applications.account_number(found)}


@blp.route("/merchants")
class Merchants(MethodView):
    @staff_only
    @idempotent
    @blp.arguments(MerchantApplySchema())
    @blp.response(201, MerchantSchema)
    @blp.doc(security=SIGNED_IN, operationId="apply_as_merchant")
    def post(self, args):
        """Apply as a merchant; the bureau approves. The applicant belongs to it from now on."""
        user = db.session.get(User, current_actor().user_id)
        if user.merchant_id is not None:
            raise DomainError("already_member")
        found = applications.apply(**args, applied_by=user.id)
        user.merchant_id = found.id
        seal_soon()
        return merchant_view(found)


@blp.route("/merchants/<integer_id:merchant_id>")
class OneMerchant(MethodView):
    @roles_required("merchant_staff", "auditor", "admin")
    @blp.response(200, MerchantSchema)
    @blp.doc(security=SIGNED_IN, operationId="get_merchant")
    def get(self, merchant_id):
        """A merchant: its own staff or the bureau."""
        if current_actor().role == "merchant_staff":
            return merchant_view(acting_merchant(merchant_id))
        return merchant_view(applications.merchant(merchant_id))


def _decision(action):
    @bureau_only
    @blp.arguments(MerchantDecisionSchema(), required=False)
    @blp.response(200, MerchantSchema)
    @blp.doc(security=SIGNED_IN, operationId=f"{action}_merchant")
    def post(self, args, merchant_id):
        actor, note = current_actor().user_id, args.get("note")
        if action == "approve":
            found = applications.approve(merchant_id, actor, note)
        else:
            found = applications.decide_against(merchant_id, actor, {"reject": "rejected", "suspend": "suspended"}[
                action], note or action)
        seal_soon()
        return merchant_view(found)

    post.__doc__ = {"approve": "Approve (or reinstate) a merchant: it gets a registry account and an escrow.",
                    "reject": "Reject a merchant application.",
                    "suspend": "Suspend a merchant: no claims or redemptions until approved again."}[action]
    return type(f"Merchant{action.title()}", (MethodView,), {"post": post})


for _action in ("approve", "reject", "suspend"):
    blp.route(f"/merchants/<integer_id:merchant_id>/{_action}")(_decision(_action))


@blp.route("/merchants/<integer_id:merchant_id>/campaigns")
class MerchantCampaigns(MethodView):
    @staff_only
    @idempotent
    @blp.arguments(CampaignCreateSchema())
    @blp.response(201, CampaignSchema)
    @blp.doc(security=SIGNED_IN, operationId="create_campaign")
    def post(self, args, merchant_id):
        """Create a campaign: published at once (default) or as a draft."""
        found = acting_merchant(merchant_id)
        publish = args.pop("status") == "published"
        return campaigns.create(found.id, args, actor_id=current_actor().user_id, publish=publish)


def _campaign_action(action):
    @staff_only
    @blp.response(200, CampaignSchema)
    @blp.doc(security=SIGNED_IN, operationId=f"{action}_campaign")
    def post(self, merchant_id, campaign_id):
        return campaigns.change_status(campaign_id, acting_merchant(merchant_id).id, action)

    post.__doc__ = {"publish": "Publish a draft or paused campaign.", "pause": "Pause a campaign.",
                    "end": "End a campaign for good."}[action]
    return type(f"Campaign{action.title()}", (MethodView,), {"post": post})


for _action in ("publish", "pause", "end"):
    blp.route(f"/merchants/<integer_id:merchant_id>/campaigns/<integer_id:campaign_id>/{_action}")(
        _campaign_action(_action))


def _scanned_coupon(token: str):
    """The coupon a scanned token names; a token whose one-time code does not match is forged."""
    coupon_id, code = read_token(token, current_app.config["SECRET_KEY"])
    found = coupons.coupon(coupon_id)
    if not secrets.compare_digest(found.code, code):
        raise DomainError("qr_invalid")
    return found


@blp.route("/redemptions/verify")
class VerifyRedemption(MethodView):
    @staff_only
    @blp.arguments(TokenSchema())
    @blp.response(200, VerificationSchema)
    @blp.doc(security=SIGNED_IN, operationId="verify_redemption")
    def post(self, args):
        """What a scanned coupon is, for whom, and whether this shop can redeem it now. Changes nothing."""
        found = _scanned_coupon(args["token"])
        verdict = coupons.check(found, acting_merchant_id(), now=utcnow())
        if verdict.reason == "coupon_of_another_merchant":
            raise DomainError("coupon_of_another_merchant")
        holder = db.session.scalar(HOLDER_NAME, {"account_id": found.account_id})
        reason_text = title_and_detail(verdict.reason, _reason_params(found))[1] if verdict.reason else None
        return {"valid": verdict.valid, "reason": verdict.reason, "reason_text": reason_text, "coupon": found,
                "holder": _masked_name(holder)}


# The name the cashier sees (masked) of a coupon's holder: built once, bound per scan.
HOLDER_NAME = (select(User.display_name).join(Account, Account.holder_id == User.holder_id)
               .where(Account.id == bindparam("account_id")))


def _masked_name(name: str | None) -> str:
    if name is None:
        return "—"
    return (name[0] + "*" * (len(name) - 1)) if len(name) > 1 else name


def _reason_params(found) -> dict:
    return {"at": coupons.shown_time(found.redeemed_at) if found.redeemed_at else "",
            "merchant": found.campaign.merchant.name}


@blp.route("/redemptions")
class Redemptions(MethodView):
    @staff_only
    @blp.arguments(TokenSchema())
    @blp.response(200, CouponSchema)
    @blp.alt_response(409, description="Already redeemed, or expired", **PROBLEM)
    @blp.doc(security=SIGNED_IN, operationId="redeem_coupon")
    def post(self, args):
        """Redeem at the till: the coupon is used and its credits go to the merchant; twice is 409."""
        coupon_id, code = read_token(args["token"], current_app.config["SECRET_KEY"])
        # redeem() reads the coupon once, under its lock, and checks the one-time code itself.
        redeemed = coupons.redeem(coupon_id, code, acting_merchant_id(), current_actor().user_id, now=utcnow())
        seal_soon()
        return redeemed


@blp.route("/merchants/<integer_id:merchant_id>/retirements")
class MerchantRetirements(MethodView):
    @staff_only
    @idempotent
    @blp.arguments(RetireSchema())
    @blp.response(201, RetirementSchema)
    @blp.doc(security=SIGNED_IN, operationId="retire_merchant_credits")
    def post(self, args, merchant_id):
        """消纳: retire absorbed credits for a beneficiary and purpose, with a certificate."""
        found = acting_merchant(merchant_id)
        retirement = retirements.retire(applications.sending_account(found), args["amount_g"], args["beneficiary"],
                                        args["purpose"], ledger_idempotency(), actor_id=current_actor().user_id)
        seal_soon()
        return retirement_view(retirement)


@blp.route("/merchants/<integer_id:merchant_id>/statement.csv")
class Statement(MethodView):
    @roles_required("merchant_staff", "auditor", "admin")
    @blp.arguments(StatementArgs(), location="query")
    @blp.response(200, TEXT, content_type="text/csv", description="The statement (text/csv)")
    @blp.doc(security=SIGNED_IN, operationId="get_merchant_statement_csv")
    def get(self, args, merchant_id):
        """Claims, redemptions, returns and retirements of a period (Asia/Shanghai days), as CSV."""
        found = (acting_merchant(merchant_id) if current_actor().role == "merchant_staff"
                 else applications.merchant(merchant_id))
        rows = statement_rows(found, args["day_from"], args["day_to"])
        return csv_download(f"statement-{found.id}-{args['day_from']}-{args['day_to']}.csv", HEADER, rows,
                            statement_totals(rows))
