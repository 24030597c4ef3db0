"""Turning a request into the registry's plain arguments: the acting account, an idempotency key."""
import uuid

from flask import request

from accounting.errors import DomainError
from accounting.ledger.idempotency import Idempotency, request_hash
from api.actor import current_actor
from api.merchants.acting import acting_merchant
from merchants.applications import sending_account


def acting_account_id() -> int:
    """The account of whoever is signed in (a merchant's, for its staff); roles without one cannot move credits."""
    actor = current_actor()
    account_id = actor.account_id
    if actor.role == "merchant_staff":
        account_id = sending_account(acting_merchant())
    if account_id is None:
        raise DomainError("no_account")
    return account_id


def ledger_idempotency() -> Idempotency:
    """Every movement carries a key (invariant 7): the client's Idempotency-Key, or a fresh one."""
    key = request.headers.get("Idempotency-Key") or f"auto-{uuid.uuid4()}"
    return Idempotency(idempotency_scope(), key, request_hash(request.method, request.path,
                                                              request.get_data(cache=True)))


def idempotency_scope() -> str:
    """Whose keys these are: a user's keys never meet another's (the API's replay store uses it too)."""
    return f"user:{current_actor().user_id}"
