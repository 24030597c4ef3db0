"""The pool (碳普惠池): residents donate credits to it; anyone can see what it holds and received."""
import marshmallow as ma
from flask.views import MethodView

from accounting.ledger import donations
from accounting.ledger.accounts import SYSTEM_NUMBERS
from api.actor import roles_required
from api.idempotency import idempotent
from api.market.blueprint import blp
from api.registry.requests import acting_account_id, ledger_idempotency
from api.sealing import seal_soon
from api.translated_validators import Range


class DonationSchema(ma.Schema):
    amount_g = ma.fields.Integer(required=True, strict=True, validate=Range(1, 10**12))


class DonatedSchema(ma.Schema):
    transaction_id = ma.fields.Integer()
    amount_g = ma.fields.Integer()
    serials = ma.fields.List(ma.fields.String())
    pool_account_number = ma.fields.String()


class PoolSchema(ma.Schema):
    account_number = ma.fields.String()
    credits_g = ma.fields.Integer()
    money_fen = ma.fields.Integer()
    donated_total_g = ma.fields.Integer()
    sold_total_g = ma.fields.Integer()


@blp.route("/me/pool-donations")
class PoolDonations(MethodView):
    @roles_required("resident")
    @idempotent
    @blp.arguments(DonationSchema())
    @blp.response(201, DonatedSchema)
    @blp.doc(security=[{"bearerAuth": []}], operationId="donate_to_pool")
    def post(self, args):
        """公益捐赠: give credits to the pool; its sales fund the bureau's incentives."""
        moved = donations.donate(acting_account_id(), args["amount_g"], ledger_idempotency(), actor_id=None)
        seal_soon()
        return {"transaction_id": moved.transaction_id, "amount_g": moved.amount_g,
                "serials": [r.serials for r in moved.ranges], "pool_account_number": SYSTEM_NUMBERS["pool"]}


@blp.route("/market/pool")
class Pool(MethodView):
    @blp.response(200, PoolSchema)
    @blp.doc(operationId="get_pool")
    def get(self):
        """The pool, public: its account number, the credits and money it holds, all that was donated to
        it and all it sold (listings and auctions)."""
        return donations.pool_figures()
