"""Clearing a one-sided auction (单向竞价): bids by price descending, then time ascending, take
the quantity until it is gone; the marginal bid is filled in part; every winner pays the lowest
winning bid's price (uniform price), its fee on top; what a bid reserved beyond that is released.
Pure: the same bids always clear the same way."""
from dataclasses import dataclass
from datetime import datetime

from accounting.market.pricing import cost_fen, fee_fen


@dataclass(frozen=True)
class SealedBid:
    id: int
    quantity_g: int
    price_fen_per_t: int
    placed_at: datetime
    reserved_fen: int = 0


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


@dataclass(frozen=True)
class Settlement:
    """What one bid won, paid (fee apart) and gets back of its reservation."""

    allocated_g: int
    amount_fen: int
    fee_fen: int
    released_fen: int


def reservation(quantity_g: int, price_fen_per_t: int, fee_bp: int) -> int:
    """What a bid holds of its bidder's money: all it could cost, with the fee, at its own price."""
    cost = cost_fen(quantity_g, price_fen_per_t)
    return cost + fee_fen(cost, fee_bp)


def settle(result: Clearing, bids: list[SealedBid], fee_bp: int) -> dict[int, Settlement]:
    """Every bid's settlement at the uniform price. A winner never pays more than its reservation:
    the price is at most its own and both roundings are monotone."""
    settlements = {}
    for bid in bids:
        won = result.allocations[bid.id]
        amount = cost_fen(won, result.price_fen_per_t) if won else 0
        fee = fee_fen(amount, fee_bp)
        settlements[bid.id] = Settlement(won, amount, fee, bid.reserved_fen - amount - fee)
    return settlements
