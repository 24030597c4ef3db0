"""What the market's requests carry and its answers say (MARKET.md)."""
import marshmallow as ma

from accounting.market.models import MAX_AMOUNT_FEN, MAX_PRICE_FEN_PER_T, MAX_QUANTITY_G
from api.pagination import PageArgs
from api.schemas_common import DISTRICTS, BoundedAwareDateTime, BoundedDate, LocalDateTime, Text, TrimmedString
from api.translated_validators import Length, OneOf, Range

QUANTITY = ma.fields.Integer(required=True, strict=True, validate=Range(1, MAX_QUANTITY_G),
                             metadata={"description": "grams"})
PRICE = ma.fields.Integer(required=True, strict=True, validate=Range(1, MAX_PRICE_FEN_PER_T),
                          metadata={"description": "fen per tonne"})
AMOUNT_FEN = ma.fields.Integer(required=True, strict=True, validate=Range(1, MAX_AMOUNT_FEN),
                               metadata={"description": "fen"})
BANK_REFERENCE = TrimmedString(validate=Length(1, 64))


# --- enterprises ---------------------------------------------------------------------------------

class EnterpriseApplySchema(ma.Schema):
    name = TrimmedString(required=True, validate=Length(1, 100))
    credit_code = TrimmedString(required=True, validate=Length(18, 18),
                                metadata={"description": "统一社会信用代码 (GB 32100-2015), check character verified"})
    district = Text(required=True, validate=OneOf(DISTRICTS))


class EnterpriseDecisionSchema(ma.Schema):
    note = TrimmedString(load_default=None, validate=Length(max=200))


class EnterpriseSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    credit_code = ma.fields.String()
    district = ma.fields.String()
    status = ma.fields.String()
    account_number = ma.fields.String(allow_none=True)
    decision_note = ma.fields.String(allow_none=True)
    created_at = LocalDateTime()


# --- money ---------------------------------------------------------------------------------------

class WalletArgs(ma.Schema):
    account = TrimmedString(load_default=None, validate=Length(1, 12),
                            metadata={"description": "auditors: `pool` or an organization's account number"})


class WalletSchema(ma.Schema):
    account_number = ma.fields.String()
    credits_g = ma.fields.Integer(metadata={"description": "free to move"})
    listed_g = ma.fields.Integer(metadata={"description": "in open listings (and, for the pool, open auctions)"})
    money_fen = ma.fields.Integer(metadata={"description": "free to spend"})
    reserved_fen = ma.fields.Integer(metadata={"description": "held by open bids"})


class DepositSchema(ma.Schema):
    account_number = TrimmedString(required=True, validate=Length(1, 12),
                                   metadata={"description": "an organization's account number, or `pool`"})
    amount_fen = AMOUNT_FEN
    bank_reference = TrimmedString(required=True, validate=Length(1, 64))


class DepositedSchema(ma.Schema):
    id = ma.fields.Integer()
    account_number = ma.fields.String()
    amount_fen = ma.fields.Integer()
    bank_reference = ma.fields.String()
    transaction_id = ma.fields.Integer()
    created_at = LocalDateTime()


class WithdrawalAskSchema(ma.Schema):
    amount_fen = AMOUNT_FEN


class WithdrawalPaySchema(ma.Schema):
    bank_reference = TrimmedString(load_default=None, validate=Length(1, 64))


class WithdrawalSchema(ma.Schema):
    id = ma.fields.Integer()
    account_number = ma.fields.String()
    amount_fen = ma.fields.Integer()
    status = ma.fields.String()
    bank_reference = ma.fields.String(allow_none=True)
    created_at = LocalDateTime()
    paid_at = LocalDateTime(allow_none=True)


class WithdrawalPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(WithdrawalSchema))
    next_cursor = ma.fields.String(allow_none=True)


class WithdrawalListArgs(PageArgs):
    status = Text(load_default=None, validate=OneOf(("pending", "paid")))


# --- listings and orders -------------------------------------------------------------------------

class ListingCreateSchema(ma.Schema):
    quantity_g = QUANTITY
    price_fen_per_t = PRICE
    min_lot_g = ma.fields.Integer(load_default=1, strict=True, validate=Range(1, MAX_QUANTITY_G))
    expires_at = BoundedAwareDateTime(load_default=None)
    seller = Text(load_default=None, validate=OneOf(("pool",)),
                  metadata={"description": "auditors list the pool's credits with `pool`"})


class ListingSchema(ma.Schema):
    id = ma.fields.Integer()
    seller_name = ma.fields.String()
    status = ma.fields.String()
    quantity_g = ma.fields.Integer()
    remaining_g = ma.fields.Integer()
    price_fen_per_t = ma.fields.Integer()
    min_lot_g = ma.fields.Integer()
    expires_at = LocalDateTime(allow_none=True)
    created_at = LocalDateTime()


class ListingPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ListingSchema))
    next_cursor = ma.fields.String(allow_none=True)


class CancelledSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    returned_g = ma.fields.Integer()


class RetireOnPurchaseSchema(ma.Schema):
    beneficiary = TrimmedString(required=True, validate=Length(1, 100))
    purpose = TrimmedString(required=True, validate=Length(1, 200))


class OrderCreateSchema(ma.Schema):
    quantity_g = QUANTITY
    max_price_fen_per_t = PRICE
    listing_id = ma.fields.Integer(load_default=None, strict=True, validate=Range(1, 2**63 - 1))
    fill = Text(load_default="partial", validate=OneOf(("partial", "all_or_none")))
    retire = ma.fields.Nested(RetireOnPurchaseSchema, load_default=None)


class FillSchema(ma.Schema):
    listing_id = ma.fields.Integer()
    quantity_g = ma.fields.Integer()
    price_fen_per_t = ma.fields.Integer()
    amount_fen = ma.fields.Integer()
    fee_fen = ma.fields.Integer()
    serials = ma.fields.List(ma.fields.String())


class OrderSchema(ma.Schema):
    id = ma.fields.Integer()
    quantity_g = ma.fields.Integer()
    filled_g = ma.fields.Integer()
    cost_fen = ma.fields.Integer()
    fee_fen = ma.fields.Integer()
    fills = ma.fields.List(ma.fields.Nested(FillSchema))
    retirement_number = ma.fields.String(allow_none=True)
    certificate_url = ma.fields.String(allow_none=True)
    created_at = LocalDateTime()


# --- auctions ------------------------------------------------------------------------------------

class AuctionCreateSchema(ma.Schema):
    quantity_g = QUANTITY
    reserve_price_fen_per_t = PRICE
    opens_at = BoundedAwareDateTime(load_default=None)
    closes_at = BoundedAwareDateTime(required=True)


class BidCreateSchema(ma.Schema):
    quantity_g = QUANTITY
    price_fen_per_t = PRICE


class BidSchema(ma.Schema):
    id = ma.fields.Integer()
    bidder = ma.fields.String()
    quantity_g = ma.fields.Integer()
    price_fen_per_t = ma.fields.Integer()
    reserved_fen = ma.fields.Integer()
    allocated_g = ma.fields.Integer(allow_none=True)
    amount_fen = ma.fields.Integer(allow_none=True)
    released_fen = ma.fields.Integer(allow_none=True)
    created_at = LocalDateTime()


class AllocationSchema(ma.Schema):
    bid_id = ma.fields.Integer()
    quantity_g = ma.fields.Integer()
    amount_fen = ma.fields.Integer()
    fee_fen = ma.fields.Integer()
    released_fen = ma.fields.Integer()


class ClearingSchema(ma.Schema):
    auction_id = ma.fields.Integer()
    clearing_price_fen_per_t = ma.fields.Integer(allow_none=True)
    unsold_g = ma.fields.Integer()
    cleared_at = LocalDateTime()
    allocations = ma.fields.List(ma.fields.Nested(AllocationSchema))


class AuctionSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": "scheduled, open, closed (to clear) or cleared"})
    quantity_g = ma.fields.Integer()
    reserve_price_fen_per_t = ma.fields.Integer()
    opens_at = LocalDateTime()
    closes_at = LocalDateTime()
    bid_count = ma.fields.Integer()
    clearing = ma.fields.Nested(ClearingSchema, allow_none=True)
    bids = ma.fields.List(ma.fields.Nested(BidSchema), allow_none=True,
                          metadata={"description": "to the bureau always, to everyone after clearing"})


class AuctionPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AuctionSchema))
    next_cursor = ma.fields.String(allow_none=True)


class BidListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(BidSchema))


# --- statistics ----------------------------------------------------------------------------------

class StatsArgs(ma.Schema):
    start = BoundedDate(data_key="from", load_default=None)
    end = BoundedDate(data_key="to", load_default=None)


class DayStatsSchema(ma.Schema):
    day = ma.fields.Date()
    volume_g = ma.fields.Integer()
    turnover_fen = ma.fields.Integer()
    vwap_fen_per_t = ma.fields.Integer()
    high_fen_per_t = ma.fields.Integer()
    low_fen_per_t = ma.fields.Integer()
    trades = ma.fields.Integer()


class StatsSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(DayStatsSchema))
