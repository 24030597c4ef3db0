"""单向竞价: the bureau auctions the pool's credits; enterprises bid sealed; it clears at one price."""
from flask.views import MethodView
from sqlalchemy import func, select

from accounting.market import auctions
from accounting.market.models import Auction, Bid
from api.actor import current_actor, roles_required
from api.idempotency import idempotent
from api.market.acting import buying_account
from api.market.blueprint import SIGNED_IN, blp, bureau_only, enterprise_only
from api.market.schemas import (
    AuctionCreateSchema,
    AuctionPageSchema,
    AuctionSchema,
    BidCreateSchema,
    BidListSchema,
    BidSchema,
    ClearingSchema,
)
from api.market.trading import seller_names
from api.pagination import PageArgs, page
from api.registry.requests import ledger_idempotency
from api.sealing import seal_soon
from config.db_types import utcnow
from config.extensions import db

BUREAU = ("auditor", "admin")


def _signed_in_role() -> str | None:
    """The role of a signed-in caller of a public read, or None for the public."""
    from flask_jwt_extended import get_jwt, verify_jwt_in_request

    verify_jwt_in_request(optional=True)
    return get_jwt().get("role")


def bid_view(bid: Bid, names: dict[int, str]) -> dict:
    return {"id": bid.id, "bidder": names.get(bid.bidder_account_id, ""), "quantity_g": bid.quantity_g,
            "price_fen_per_t": bid.price_fen_per_t, "reserved_fen": bid.reserved_fen,
            "allocated_g": bid.allocated_g, "amount_fen": bid.amount_fen, "released_fen": bid.released_fen,
            "created_at": bid.created_at}


def auction_view(found: Auction, *, show_bids: bool) -> dict:
    now = utcnow()
    view = {"id": found.id, "status": auctions.status(found, now), "quantity_g": found.quantity_g,
            "reserve_price_fen_per_t": found.reserve_price_fen_per_t, "opens_at": found.opens_at,
            "closes_at": found.closes_at,
            "bid_count": db.session.scalar(select(func.count()).where(Bid.auction_id == found.id)),
            "clearing": auctions.clearing_view(found) if found.cleared_at else None, "bids": None}
    if show_bids or found.cleared_at is not None:  # sealed until cleared, but never from the bureau
        bids = auctions.bids_of(found.id)
        names = seller_names({bid.bidder_account_id for bid in bids})
        view["bids"] = [bid_view(bid, names) for bid in bids]
    return view


@blp.route("/market/auctions")
class Auctions(MethodView):
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, AuctionPageSchema)
    @blp.doc(operationId="list_market_auctions")
    def get(self, args):
        """Auctions, newest first (public; bids sealed until clearing)."""
        query = select(Auction).order_by(Auction.id.desc()).limit(args["limit"] + 1)
        if args["cursor"]:
            query = query.where(Auction.id < args["cursor"])
        found = page(db.session.scalars(query).all(), args["limit"])
        show = _signed_in_role() in BUREAU
        return {**found, "items": [auction_view(a, show_bids=show) for a in found["items"]]}

    @bureau_only
    @idempotent
    @blp.arguments(AuctionCreateSchema())
    @blp.response(201, AuctionSchema)
    @blp.doc(security=SIGNED_IN, operationId="open_market_auction")
    def post(self, args):
        """Auction the pool's credits: they go into the auction's escrow at once."""
        found = auctions.create(args["quantity_g"], args["reserve_price_fen_per_t"], args["opens_at"],
                                args["closes_at"], ledger_idempotency(), actor_id=current_actor().user_id,
                                now=utcnow())
        seal_soon()
        return auction_view(found, show_bids=True)


@blp.route("/market/auctions/<bigint_id:auction_id>")
class AuctionResource(MethodView):
    @blp.response(200, AuctionSchema)
    @blp.doc(operationId="get_market_auction")
    def get(self, auction_id):
        """One auction: its bids shown to the bureau, and to everyone once it has cleared."""
        return auction_view(auctions.auction(auction_id), show_bids=_signed_in_role() in BUREAU)


@blp.route("/market/auctions/<bigint_id:auction_id>/bids")
class Bids(MethodView):
    @enterprise_only
    @idempotent
    @blp.arguments(BidCreateSchema())
    @blp.response(201, BidSchema)
    @blp.doc(security=SIGNED_IN, operationId="place_market_bid")
    def post(self, args, auction_id):
        """A sealed bid at or above the reserve; it reserves what it could cost of the enterprise's money."""
        bid = auctions.place_bid(auction_id, buying_account(), args["quantity_g"], args["price_fen_per_t"],
                                 actor_id=current_actor().user_id, now=utcnow())
        seal_soon()
        return bid_view(bid, seller_names({bid.bidder_account_id}))

    @enterprise_only
    @blp.response(200, BidListSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_my_market_bids")
    def get(self, auction_id):
        """The enterprise's own bids on an auction (and, once cleared, what each won)."""
        auctions.auction(auction_id)
        account = buying_account()
        bids = [bid for bid in auctions.bids_of(auction_id) if bid.bidder_account_id == account]
        names = seller_names({account})
        return {"items": [bid_view(bid, names) for bid in bids]}


@blp.route("/market/auctions/<bigint_id:auction_id>/clear")
class Clearing(MethodView):
    @roles_required(*BUREAU)
    @idempotent
    @blp.response(200, ClearingSchema)
    @blp.doc(security=SIGNED_IN, operationId="clear_market_auction")
    def post(self, auction_id):
        """Clear after the close (beat does it too): uniform price, reservations released, the unsold
        back to the pool. Clearing again answers the same result."""
        found = auctions.clear_auction(auction_id, actor_id=current_actor().user_id, now=utcnow())
        seal_soon()
        return auctions.clearing_view(found)
