"""交易: the pool and the market between organizations (MARKET.md), on one blueprint."""
from api.market import auctions, enterprises, money, pool, stats, trading  # noqa: F401  (routes on the blueprint)
from api.market.blueprint import blp  # noqa: F401
