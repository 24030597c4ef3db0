"""The market's one blueprint (交易): the pool, enterprises, money, listings, orders, auctions, statistics."""
from flask_smorest import Blueprint

from api.actor import roles_required

blp = Blueprint("market", __name__, url_prefix="/api/v1", description="交易: the pool and the market")

SIGNED_IN = [{"bearerAuth": []}]
bureau_only = roles_required("auditor", "admin")
enterprise_only = roles_required("enterprise_staff")
organization_staff = roles_required("merchant_staff", "enterprise_staff")
