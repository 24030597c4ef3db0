"""挂牌 and orders: sellers list credits into escrow; enterprises buy, cheapest then oldest, paying
as the credits move (delivery versus payment)."""
from flask import url_for
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select, tuple_

from accounting.errors import DomainError
from accounting.ledger.accounts import system_account_id
from accounting.market import listings, orders
from accounting.market.models import Enterprise, Listing, Order
from api.actor import current_actor, roles_required
from api.idempotency import idempotent
from api.market.acting import buying_account, organization_account
from api.market.blueprint import SIGNED_IN, blp, enterprise_only
from api.market.schemas import (
    CancelledSchema,
    ListingCreateSchema,
    ListingPageSchema,
    ListingSchema,
    OrderCreateSchema,
    OrderSchema,
)
from api.pagination import PageArgs, page
from api.registry.requests import ledger_idempotency
from api.sealing import seal_soon
from config.db_types import utcnow
from config.extensions import db
from merchants.models import Merchant

BUREAU = ("auditor", "admin")
POOL_NAME = "碳普惠池 (Binzhou carbon inclusion pool)"


def seller_names(account_ids: set[int]) -> dict[int, str]:
    """Who sells, by account: a merchant's or an enterprise's name, or the pool."""
    names = {system_account_id("pool"): POOL_NAME}
    for model in (Merchant, Enterprise):
        names.update(db.session.execute(select(model.account_id, model.name)
                                        .where(model.account_id.in_(account_ids - names.keys()))).all())
    return names


def listing_view(found: Listing, names: dict[int, str] | None = None) -> dict:
    names = names or seller_names({found.seller_account_id})
    return {"id": found.id, "seller_name": names.get(found.seller_account_id, ""), "status": found.status,
            "quantity_g": found.quantity_g, "remaining_g": found.remaining_g,
            "price_fen_per_t": found.price_fen_per_t, "min_lot_g": found.min_lot_g, "expires_at": found.expires_at,
            "created_at": found.created_at}


def _seller_account(seller: str | None) -> int:
    """Staff list their organization's credits; the bureau lists the pool's (`seller: "pool"`)."""
    if current_actor().role in BUREAU:
        if seller != "pool":
            raise DomainError("validation_failed", errors={"seller": [_("The bureau lists the pool's credits: "
                                                                        "send seller \"pool\".")]})
        return system_account_id("pool")
    if seller is not None:
        raise DomainError("forbidden_role")
    return organization_account()


@blp.route("/market/listings")
class Listings(MethodView):
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, ListingPageSchema)
    @blp.doc(operationId="list_market_listings")
    def get(self, args):
        """Open listings, cheapest then oldest (public): what an order would fill from, in order."""
        now = utcnow()
        query = orders.open_listings_query().where((Listing.expires_at.is_(None)) | (Listing.expires_at > now))
        if args["cursor"]:
            after = db.session.get(Listing, args["cursor"])
            if after is not None:
                query = query.where(tuple_(Listing.price_fen_per_t, Listing.id)
                                    > tuple_(after.price_fen_per_t, after.id))
        found = page(db.session.scalars(query.limit(args["limit"] + 1)).all(), args["limit"])
        names = seller_names({listing.seller_account_id for listing in found["items"]})
        return {**found, "items": [listing_view(listing, names) for listing in found["items"]]}

    @roles_required("merchant_staff", "enterprise_staff", *BUREAU)
    @idempotent
    @blp.arguments(ListingCreateSchema())
    @blp.response(201, ListingSchema)
    @blp.doc(security=SIGNED_IN, operationId="create_market_listing")
    def post(self, args):
        """挂牌: offer credits at a price; they move into the listing's escrow at once."""
        found = listings.open_listing(_seller_account(args["seller"]), args["quantity_g"], args["price_fen_per_t"],
                                      args["min_lot_g"], args["expires_at"], ledger_idempotency(),
                                      actor_id=current_actor().user_id, now=utcnow())
        seal_soon()
        return listing_view(found)


@blp.route("/market/listings/<bigint_id:listing_id>")
class ListingResource(MethodView):
    @blp.response(200, ListingSchema)
    @blp.doc(operationId="get_market_listing")
    def get(self, listing_id):
        """One listing, whatever its state (public)."""
        return listing_view(listings.listing(listing_id))

    @roles_required("merchant_staff", "enterprise_staff", *BUREAU)
    @idempotent
    @blp.response(200, CancelledSchema)
    @blp.doc(security=SIGNED_IN, operationId="cancel_market_listing")
    def delete(self, listing_id):
        """Cancel an open listing of one's own (the bureau: the pool's); what is left returns to the seller."""
        seller = system_account_id("pool") if current_actor().role in BUREAU else organization_account()
        found, returned = listings.close(listing_id, "cancelled", ledger_idempotency(),
                                         actor_id=current_actor().user_id, now=utcnow(), seller_account_id=seller)
        seal_soon()
        return {"id": found.id, "status": found.status, "returned_g": returned}


def order_answer(found: Order) -> dict:
    view = orders.order_view(found)
    view["certificate_url"] = (url_for("holders.RetirementCertificate", number=view["retirement_number"])
                               if view["retirement_number"] else None)
    return view


@blp.route("/market/orders")
class Orders(MethodView):
    @enterprise_only
    @idempotent
    @blp.arguments(OrderCreateSchema())
    @blp.response(201, OrderSchema)
    @blp.doc(security=SIGNED_IN, operationId="place_market_order")
    def post(self, args):
        """Buy: fill from open listings at or below the price, cheapest then oldest, in one transaction
        (credits and money move together or not at all); with `retire`, retired at once with a certificate."""
        retire = orders.Retire(**args["retire"]) if args["retire"] else None
        placed, _ = orders.place(buying_account(), args["quantity_g"], args["max_price_fen_per_t"],
                                 ledger_idempotency(), listing_id=args["listing_id"],
                                 all_or_none=args["fill"] == "all_or_none", retire=retire,
                                 actor_id=current_actor().user_id)
        seal_soon()
        return order_answer(orders.order(placed.id))


@blp.route("/market/orders/<bigint_id:order_id>")
class OrderResource(MethodView):
    @roles_required("enterprise_staff", *BUREAU)
    @blp.response(200, OrderSchema)
    @blp.doc(security=SIGNED_IN, operationId="get_market_order")
    def get(self, order_id):
        """An order with its fills: its buyer's staff and the bureau."""
        found = orders.order(order_id)
        if found is None or (current_actor().role not in BUREAU and found.buyer_account_id != buying_account()):
            raise DomainError("order_not_found")
        return order_answer(found)
