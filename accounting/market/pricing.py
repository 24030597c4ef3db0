"""Prices in fen per tonne, amounts in fen, and the one rounding rule (MARKET.md)."""
GRAMS_PER_TONNE = 1_000_000
BASIS_POINTS = 10_000


def cost_fen(quantity_g: int, price_fen_per_t: int) -> int:
    """What q grams cost at p fen/t: rounded up, so the seller is never short-changed."""
    return -(-quantity_g * price_fen_per_t // GRAMS_PER_TONNE)


def fee_fen(cost: int, fee_bp: int) -> int:
    """The buyer's fee on a cost: rounded down."""
    return cost * fee_bp // BASIS_POINTS
