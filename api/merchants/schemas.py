"""Merchant, campaign and coupon schemas."""
import marshmallow as ma

from api.id_ranges import INTEGER_MAX
from api.pagination import CursorField
from api.schemas_common import (
    DISTRICTS,
    BoundedAwareDateTime,
    BoundedDate,
    LocalDateTime,
    Text,
    TrimmedString,
)
from api.translated_validators import Length, OneOf, Range
from merchants.models import CATEGORIES


class MerchantApplySchema(ma.Schema):
    name = TrimmedString(required=True, validate=Length(1, 100))
    district = Text(required=True, validate=OneOf(DISTRICTS))
    address = TrimmedString(required=True, validate=Length(1, 200))
    category = Text(required=True, validate=OneOf(CATEGORIES))
    licence_number = TrimmedString(load_default="", validate=Length(max=32),
                                   metadata={"description": "统一社会信用代码"})


class MerchantSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    district = ma.fields.String()
    address = ma.fields.String()
    category = ma.fields.String()
    licence_number = ma.fields.String()
    status = ma.fields.String()
    account_number = ma.fields.String(allow_none=True)
    decision_note = ma.fields.String(allow_none=True)
    created_at = LocalDateTime()


class MerchantDecisionSchema(ma.Schema):
    note = TrimmedString(load_default=None, validate=Length(max=200))


class CampaignCreateSchema(ma.Schema):
    title = TrimmedString(required=True, validate=Length(1, 100))
    description = TrimmedString(load_default=None, validate=Length(max=2000))
    terms = TrimmedString(load_default=None, validate=Length(max=2000))
    face_value_fen = ma.fields.Integer(required=True, strict=True, validate=Range(1, 10_000_000))
    price_g = ma.fields.Integer(required=True, strict=True, validate=Range(1, 10_000_000))
    stock = ma.fields.Integer(required=True, strict=True, validate=Range(1, 10_000_000))
    per_resident_limit = ma.fields.Integer(load_default=1, strict=True, validate=Range(1, 1000))
    valid_from = BoundedAwareDateTime(required=True)
    valid_until = BoundedAwareDateTime(required=True)
    status = Text(load_default="published", validate=OneOf(("draft", "published")),
                              metadata={"description": "create as a draft, or published at once (default)"})


class CampaignSchema(ma.Schema):
    id = ma.fields.Integer()
    merchant_id = ma.fields.Integer()
    merchant_name = ma.fields.Function(lambda c: c.merchant.name)
    district = ma.fields.Function(lambda c: c.merchant.district)
    category = ma.fields.Function(lambda c: c.merchant.category)
    title = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    terms = ma.fields.String(allow_none=True)
    face_value_fen = ma.fields.Integer()
    price_g = ma.fields.Integer()
    stock = ma.fields.Integer()
    remaining = ma.fields.Integer()
    per_resident_limit = ma.fields.Integer()
    valid_from = LocalDateTime()
    valid_until = LocalDateTime()
    status = ma.fields.String()


class CampaignListArgs(ma.Schema):
    district = Text(validate=OneOf(DISTRICTS))
    category = Text(validate=OneOf(CATEGORIES))
    limit = ma.fields.Integer(load_default=20, validate=Range(1, 100))
    # a bad cursor, or one beyond campaigns' integer ids, is 422 at loading, never a 500 in the view
    cursor = CursorField(load_default=None, max_id=INTEGER_MAX)


class CouponSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    campaign_id = ma.fields.Integer()
    title = ma.fields.Function(lambda c: c.campaign.title)
    merchant_name = ma.fields.Function(lambda c: c.campaign.merchant.name)
    face_value_fen = ma.fields.Function(lambda c: c.campaign.face_value_fen)
    price_g = ma.fields.Integer()
    claimed_at = LocalDateTime()
    expires_at = LocalDateTime()
    redeemed_at = LocalDateTime(allow_none=True)


class CouponDetailSchema(CouponSchema):
    qr_token = ma.fields.String(metadata={"description": "what the QR holds; expires in 15 minutes"})
    qr_png_url = ma.fields.String()
    qr_svg_url = ma.fields.String()


class CouponPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(CouponSchema))
    next_cursor = ma.fields.String(allow_none=True)


class CampaignPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(CampaignSchema))
    next_cursor = ma.fields.String(allow_none=True)


class TokenSchema(ma.Schema):
    token = Text(required=True, validate=Length(1, 400))


class VerificationSchema(ma.Schema):
    valid = ma.fields.Boolean()
    reason = ma.fields.String(allow_none=True)
    reason_text = ma.fields.String(allow_none=True)
    coupon = ma.fields.Nested(CouponSchema)
    holder = ma.fields.String(metadata={"description": "the resident's display name, masked"})


class StatementArgs(ma.Schema):
    day_from = BoundedDate(data_key="from", required=True)
    day_to = BoundedDate(data_key="to", required=True)
