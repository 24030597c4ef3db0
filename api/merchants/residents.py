"""The resident's side of coupons: browse campaigns, claim, show the QR at the till."""
from flask import current_app, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from accounting.errors import NotFound
from api import qr
from api.actor import current_actor, roles_required
from api.idempotency import idempotent
from api.merchants.acting import acting_merchant_id
from api.merchants.schemas import (
    CampaignListArgs,
    CampaignPageSchema,
    CampaignSchema,
    CouponDetailSchema,
    CouponPageSchema,
    CouponSchema,
)
from api.openapi import BINARY, PROBLEM, TEXT
from api.pagination import PageArgs, encode_cursor
from api.registry.requests import ledger_idempotency
from api.sealing import seal_soon
from config.db_types import utcnow
from merchants import campaigns, coupons
from merchants.qr_tokens import coupon_token

blp = Blueprint("coupons", __name__, url_prefix="/api/v1", description="价值兑现: coupons for residents")

SIGNED_IN = [{"bearerAuth": []}]
resident_only = roles_required("resident")


@blp.route("/campaigns")
class Campaigns(MethodView):
    @roles_required("resident", "merchant_staff", "auditor", "admin")
    @blp.arguments(CampaignListArgs(), location="query")
    @blp.response(200, CampaignPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_campaigns")
    def get(self, args):
        """Open campaigns (filter by district and category) with their remaining stock."""
        items = campaigns.open_campaigns(district=args.get("district"), category=args.get("category"),
                                         limit=args["limit"] + 1, after_id=args["cursor"])
        more = len(items) > args["limit"]
        items = items[:args["limit"]]
        return {"items": items, "next_cursor": encode_cursor(items[-1].id) if more else None}


@blp.route("/campaigns/<integer_id:campaign_id>")
class OneCampaign(MethodView):
    @roles_required("resident", "merchant_staff", "auditor", "admin")
    @blp.response(200, CampaignSchema)
    @blp.doc(security=SIGNED_IN, operationId="get_campaign")
    def get(self, campaign_id):
        """One campaign with its remaining stock (a draft only for its own merchant and the bureau)."""
        actor = current_actor()
        return campaigns.visible_campaign(
            campaign_id, merchant_id=acting_merchant_id() if actor.role == "merchant_staff" else None,
            bureau=actor.role in ("auditor", "admin"))


@blp.route("/campaigns/<integer_id:campaign_id>/claim")
class Claim(MethodView):
    @resident_only
    @idempotent
    @blp.response(201, CouponSchema)
    @blp.alt_response(409, description="Sold out, over the per-resident limit, or the campaign is not open", **PROBLEM)
    @blp.alt_response(422, description="The balance is short of the price, or the Idempotency-Key is reused", **PROBLEM)
    @blp.doc(security=SIGNED_IN, operationId="claim_coupon")
    def post(self, campaign_id):
        """Claim a coupon: its price moves into escrow (409 sold out or over the limit, 422 when short)."""
        coupon = coupons.claim(campaign_id, current_actor().account_id, ledger_idempotency(), now=utcnow())
        seal_soon()
        return coupon


def _own_coupon(coupon_id: int):
    found = coupons.coupon(coupon_id)
    if found.account_id != current_actor().account_id:
        raise NotFound("coupon_not_found")
    return found


@blp.route("/me/coupons")
class MyCoupons(MethodView):
    @resident_only
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, CouponPageSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_my_coupons")
    def get(self, args):
        """My coupons, newest first."""
        items = coupons.coupons_of(current_actor().account_id, limit=args["limit"] + 1, before_id=args["cursor"])
        more = len(items) > args["limit"]
        items = items[:args["limit"]]
        return {"items": items, "next_cursor": encode_cursor(items[-1].id) if more else None}


@blp.route("/me/coupons/<bigint_id:coupon_id>")
class MyCoupon(MethodView):
    @resident_only
    @blp.response(200, CouponDetailSchema)
    @blp.doc(security=SIGNED_IN, operationId="get_my_coupon")
    def get(self, coupon_id):
        """One of my coupons, with a fresh QR token (valid 15 minutes) and the QR image addresses."""
        found = _own_coupon(coupon_id)
        found.qr_token = coupon_token(found.id, found.code, current_app.config["SECRET_KEY"])
        found.qr_png_url = url_for("coupons.CouponQrPng", coupon_id=found.id)
        found.qr_svg_url = url_for("coupons.CouponQrSvg", coupon_id=found.id)
        return found


# A coupon's QR in either form: how it is drawn, its media type, its body in the OpenAPI document.
QR_FORMS = {"png": (qr.png_response, "image/png", BINARY), "svg": (qr.svg_response, "image/svg+xml", TEXT)}


def _qr_view(image_format):
    render, media_type, body = QR_FORMS[image_format]

    @resident_only
    @blp.response(200, body, content_type=media_type, description=f"The QR code ({media_type})")
    @blp.doc(security=SIGNED_IN, operationId=f"get_coupon_qr_{image_format}")
    def get(self, coupon_id):
        found = _own_coupon(coupon_id)
        return render(coupon_token(found.id, found.code, current_app.config["SECRET_KEY"]))

    get.__doc__ = "The coupon's QR code: a signed token, valid 15 minutes, with no personal data."
    return get


blp.route("/me/coupons/<bigint_id:coupon_id>/qr.png")(type("CouponQrPng", (MethodView,), {"get": _qr_view("png")}))
blp.route("/me/coupons/<bigint_id:coupon_id>/qr.svg")(type("CouponQrSvg", (MethodView,), {"get": _qr_view("svg")}))
