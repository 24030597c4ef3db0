"""交易 at its simplest: a holder sends units to another holder's account by its number."""
from accounting.ledger.audit import actor_label
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.movement import Audit, Moved, move


def transfer(from_id: int, to_number: str, amount_g: int, idempotency: Idempotency, *, actor_id: int | None,
             memo: str | None = None) -> Moved:
    """One movement from the sender's account to the holder account `to_number`; an unknown number
    is refused as not found, the sender's own as same_account, a short balance as insufficient."""
    return move("transfer", from_id, to_number, amount_g, idempotency, actor_id=actor_id, memo=memo,
                audit=Audit(actor=actor_label(actor_id)))
