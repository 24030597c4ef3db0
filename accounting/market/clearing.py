"""Clearing a one-sided auction (单向竞价): bids by price descending, then time ascending, take
the quantity until it is gone; the marginal bid is filled in part; every winner pays the lowest
winning bid's price (uniform price). Pure: the same bids always clear the same way."""
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SealedBid:
    id: int
    quantity_g: int
    price_fen_per_t: int
    placed_at: datetime


@dataclass(frozen=True)
class Clearing:
    price_fen_per_t: int | None  # None: no bid won (nothing sold)
    allocations: dict[int, int]  # every bid's id → grams won (0 for a loser)
    unsold_g: int


def clear(quantity_g: int, bids: list[SealedBid]) -> Clearing:
    left = quantity_g
    allocations = {bid.id: 0 for bid in bids}
    price = None
    for bid in sorted(bids, key=lambda b: (-b.price_fen_per_t, b.placed_at, b.id)):
        if left == 0:
            break
        allocations[bid.id] = min(bid.quantity_g, left)
        left -= allocations[bid.id]
        price = bid.price_fen_per_t
    return Clearing(price, allocations, left)
