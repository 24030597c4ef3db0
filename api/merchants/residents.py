"""The resident's side of coupons: browse campaigns, claim, show the QR at the till."""
from flask import current_app, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from accounting.errors import NotFound
from api import qr
from api.actor import current_actor, roles_required
from api.idempotency import idempotent
from api.merchants.schemas import (
    CampaignListArgs,
    CampaignPageSchema,
    CampaignSchema,
    CouponDetailSchema,
    CouponPageSchema,
    CouponSchema,
)
from api.merchants.sealing import seal_soon
from api.pagination import PageArgs, encode_cursor
from api.registry.requests import ledger_idempotency
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
    @blp.doc(security=SIGNED_IN)
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
    @blp.doc(security=SIGNED_IN)
    def get(self, campaign_id):
        """One campaign with its remaining stock."""
        return campaigns.campaign(campaign_id)


@blp.route("/campaigns/<integer_id:campaign_id>/claim")
class Claim(MethodView):
    @resident_only
    @idempotent
    @blp.response(201, CouponSchema)
    @blp.doc(security=SIGNED_IN)
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
    @blp.doc(security=SIGNED_IN)
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
    @blp.doc(security=SIGNED_IN)
    def get(self, coupon_id):
        """One of my coupons, with a fresh QR token (valid 15 minutes) and the QR image addresses."""
        found = _own_coupon(coupon_id)
        found.qr_token = coupon_token(found.id, found.code, current_app.config["SECRET_KEY"])
        found.qr_png_url = url_for("coupons.CouponQrPng", coupon_id=found.id)
        found.qr_svg_url = url_for("coupons.CouponQrSvg", coupon_id=found.id)
        return found


def _qr_view(render):
    @resident_only
    @blp.response(200, content_type="image/png" if render is qr.png_response else "image/svg+xml")
    @blp.doc(security=SIGNED_IN)
    def get(self, coupon_id):
        found = _own_coupon(coupon_id)
        return render(coupon_token(found.id, found.code, current_app.config["SECRET_KEY"]))

    get.__doc__ = "The coupon's QR code: a signed token, valid 15 minutes, with no personal data."
    return get


blp.route("/me/coupons/<bigint_id:coupon_id>/qr.png")(
    type("CouponQrPng", (MethodView,), {"get": _qr_view(qr.png_response)}))
blp.route("/me/coupons/<bigint_id:coupon_id>/qr.svg")(
    type("CouponQrSvg", (MethodView,), {"get": _qr_view(qr.svg_response)}))
