"""The movement primitive: every movement of credits, whatever feature makes it, is one call of
the ledger's server-side function (`ledger_move`, or `ledger_issue` for a batch coming into
being), one round trip that claims the idempotency key, locks the accounts in id order, moves
the oldest blocks, posts the entries and balances and appends the audit record. The SQL is in
the migrations; the database also refuses every broken invariant whoever writes.
"""
import json
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.serials import MovedRange
from config.db_types import utcnow
from config.extensions import driver_connection

REFUSED = "BZ001"  # the SQLSTATE of the ledger functions' refusals


class InsufficientBalance(DomainError):
    code = "insufficient_balance"


class InsufficientFunds(DomainError):
    code = "insufficient_funds"


# What a refusal of the ledger's functions becomes here (the API maps each code to a status).
# Anything else they raise (an unbalanced posting: a bug, not a refusal) stays an error.
REFUSALS = {"insufficient_balance": InsufficientBalance, "account_not_found": NotFound, "account_frozen": Conflict,
            "nothing_to_move": Conflict, "same_account": DomainError, "invalid_amount": DomainError,
            "idempotency_key_reused": DomainError, "insufficient_funds": InsufficientFunds,
            "no_fill": Conflict, "self_trade": Conflict, "listing_not_found": NotFound}


@dataclass(frozen=True)
class Moved:
    """One movement: its journal transaction, the units moved, and whether it was a replay."""

    transaction_id: int
    amount_g: int
    ranges: list[MovedRange]
    replayed: bool


@dataclass(frozen=True)
class Within:
    """Only units first..last of one batch (a revocation's range)."""

    batch_id: int
    first: int
    last: int


@dataclass(frozen=True)
class Audit:
    """Who the audit record names, and what about (the function adds the movement's own facts)."""

    actor: str = "system"
    action: str | None = None  # default: the movement's kind
    subject: str | None = None  # default: transaction:<id>
    payload: dict | None = None


_ARGUMENTS = (
    "p_kind => %(kind)s, p_scope => %(scope)s, p_key => %(key)s, p_request_hash => %(request_hash)s, "
    "p_actor_id => %(actor_id)s, p_memo => %(memo)s, p_from => %(from_id)s, p_to => {to}, "
    "p_amount => %(amount)s, p_status => %(status)s, p_within_batch => %(within_batch)s, "
    "p_within_first => %(within_first)s, p_within_last => %(within_last)s, "
    "p_sender_may_be_frozen => %(sender_may_be_frozen)s, p_receiver_may_be_frozen => %(receiver_may_be_frozen)s, "
    "p_audit_actor => %(audit_actor)s, p_audit_action => %(audit_action)s, p_audit_subject => %(audit_subject)s, "
    "p_audit_payload => %(audit_payload)s, p_at => %(at)s"
)
MOVE_TO_ACCOUNT = f"SELECT * FROM ledger_move({_ARGUMENTS.format(to='%(to_id)s')})"
# A holder's account by its public number, found in the same statement (none: refused as not found).
_HOLDER_BY_NUMBER = "(SELECT id FROM accounts WHERE number = %(to_number)s AND kind = 'holder')"
MOVE_TO_NUMBER = f"SELECT * FROM ledger_move({_ARGUMENTS.format(to=_HOLDER_BY_NUMBER)})"
ISSUE = (
    "SELECT * FROM ledger_issue(p_batch => %(batch_id)s, p_scope => %(scope)s, p_key => %(key)s, "
    "p_request_hash => %(request_hash)s, p_actor_id => %(actor_id)s, p_memo => %(memo)s, "
    "p_accounts => %(accounts)s, p_quantities => %(quantities)s, p_audit_actor => %(audit_actor)s, "
    "p_audit_subject => %(audit_subject)s, p_audit_payload => %(audit_payload)s, p_at => %(at)s)"
)


def move(kind: str, from_id: int, to: int | str, amount_g: int | None, idempotency: Idempotency, *,
         actor_id: int | None, memo: str | None = None, status: str = "active", within: Within | None = None,
         audit: Audit = Audit(), sender_may_be_frozen: bool = False, receiver_may_be_frozen: bool = False,
         at: datetime | None = None) -> Moved:
    """Move `amount_g` units (None: all `within` holds) from one account to another, given by id or,
    for a holder's account, by its public number. A replay returns the first movement."""
    if amount_g is not None and (not isinstance(amount_g, int) or isinstance(amount_g, bool)):
        raise DomainError("invalid_amount")
    parameters = {
        "kind": kind, "scope": idempotency.scope, "key": idempotency.key, "request_hash": idempotency.request_hash,
        "actor_id": actor_id, "memo": memo, "from_id": from_id, "amount": amount_g, "status": status,
        "within_batch": within and within.batch_id, "within_first": within and within.first,
        "within_last": within and within.last, "sender_may_be_frozen": sender_may_be_frozen,
        "receiver_may_be_frozen": receiver_may_be_frozen, "audit_actor": audit.actor, "audit_action": audit.action,
        "audit_subject": audit.subject, "audit_payload": Jsonb(audit.payload or {}), "at": at or utcnow(),
    }
    if isinstance(to, str):
        statement, parameters["to_number"] = MOVE_TO_NUMBER, to
    else:
        statement, parameters["to_id"] = MOVE_TO_ACCOUNT, to
    rows = call_ledger(statement, parameters)
    ranges = [MovedRange(row[2], row[3], row[4], row[5]) for row in rows]
    return Moved(rows[0][0], sum(r.units for r in ranges), ranges, rows[0][1])


def issue(batch_id: int, lines: list[tuple[int, int]], idempotency: Idempotency, *, actor_id: int | None,
          memo: str, audit: Audit, at: datetime | None = None) -> tuple[int, bool]:
    """A batch's units come into being on its accounts, laid end to end in the lines' order:
    (transaction id, replayed)."""
    row = call_ledger(ISSUE, {
        "batch_id": batch_id, "scope": idempotency.scope, "key": idempotency.key,
        "request_hash": idempotency.request_hash, "actor_id": actor_id, "memo": memo,
        "accounts": [account for account, _ in lines], "quantities": [quantity for _, quantity in lines],
        "audit_actor": audit.actor, "audit_subject": audit.subject, "audit_payload": Jsonb(audit.payload or {}),
        "at": at or utcnow()})[0]
    return row[0], row[1]


@dataclass(frozen=True)
class Leg:
    """One movement inside an exchange: credits (grams, `status` they become) or money (fen)."""

    from_id: int
    to_id: int
    amount: int
    status: str = "active"


@dataclass(frozen=True)
class Exchanged:
    """An exchange's journal transaction, the ranges each credit leg moved, and whether it was a replay."""

    transaction_id: int
    ranges: dict[int, list[MovedRange]]
    replayed: bool


EXCHANGE = (
    "SELECT * FROM ledger_exchange(p_kind => %(kind)s, p_scope => %(scope)s, p_key => %(key)s, "
    "p_request_hash => %(request_hash)s, p_actor_id => %(actor_id)s, p_memo => %(memo)s, "
    "p_credit_from => %(credit_from)s, p_credit_to => %(credit_to)s, p_credit_amount => %(credit_amount)s, "
    "p_credit_status => %(credit_status)s, p_money_from => %(money_from)s, p_money_to => %(money_to)s, "
    "p_money_amount => %(money_amount)s, p_release_account => %(release_account)s, "
    "p_release_amount => %(release_amount)s, p_audit_actor => %(audit_actor)s, p_audit_subject => %(audit_subject)s, "
    "p_audit_payload => %(audit_payload)s, p_at => %(at)s)"
)


def exchange(kind: str, idempotency: Idempotency, *, credits: list[Leg] = (), money: list[Leg] = (),
             releases: list[tuple[int, int]] = (), actor_id: int | None, memo: str | None = None,
             audit: Audit = Audit(), at: datetime | None = None) -> Exchanged:
    """Credits and money moved together in one journal transaction, or nothing (delivery versus
    payment); `releases` (account, fen) give back what open bids reserved first. A replay returns
    the first transaction (and no ranges)."""
    rows = call_ledger(EXCHANGE, {
        "kind": kind, "scope": idempotency.scope, "key": idempotency.key, "request_hash": idempotency.request_hash,
        "actor_id": actor_id, "memo": memo, "credit_from": [leg.from_id for leg in credits],
        "credit_to": [leg.to_id for leg in credits], "credit_amount": [leg.amount for leg in credits],
        "credit_status": [leg.status for leg in credits], "money_from": [leg.from_id for leg in money],
        "money_to": [leg.to_id for leg in money], "money_amount": [leg.amount for leg in money],
        "release_account": [account for account, _ in releases], "release_amount": [fen for _, fen in releases],
        "audit_actor": audit.actor, "audit_subject": audit.subject, "audit_payload": Jsonb(audit.payload or {}),
        "at": at or utcnow()})
    ranges: dict[int, list[MovedRange]] = {}
    for _, _, leg, *moved in rows:
        if leg is not None:
            ranges.setdefault(leg - 1, []).append(MovedRange(*moved))
    return Exchanged(rows[0][0], ranges, rows[0][1])


def call_ledger(statement: str, parameters: dict) -> list[tuple]:
    """Run one of the ledger's functions; its refusals become the domain's errors (REFUSALS)."""
    try:
        with driver_connection().cursor() as cursor:
            return cursor.execute(statement, parameters).fetchall()
    except psycopg.Error as error:
        code = error.diag.message_primary
        if error.diag.sqlstate != REFUSED or code not in REFUSALS:
            raise
        raise REFUSALS[code](code, **json.loads(error.diag.message_detail or "{}")) from None


LOCK_ACCOUNTS = "SELECT id FROM accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE"


def lock_accounts(account_ids) -> None:
    """Lock the accounts' rows in ascending id order (the one global order: no deadlocks), for a
    caller that makes several movements among them and must hold them all first."""
    with driver_connection().cursor() as cursor:
        cursor.execute(LOCK_ACCOUNTS, (sorted(set(account_ids)),))


RANGES_OF = (
    "SELECT b.id, i.serial_prefix, m.first_serial, m.last_serial FROM block_movements AS m "
    "JOIN credit_blocks AS b ON b.id = m.block_id JOIN issuance_batches AS i ON i.id = b.batch_id "
    "WHERE m.transaction_id = %s ORDER BY b.batch_id, m.first_serial"
)


def ranges_of(transaction_id: int) -> list[MovedRange]:
    """The serial ranges a transaction moved (for replays and listings)."""
    with driver_connection().cursor() as cursor:
        return [MovedRange(*row) for row in cursor.execute(RANGES_OF, (transaction_id,))]
