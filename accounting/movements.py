"""A simple movement from one account to another, begun and carried out in as few round trips
as PostgreSQL allows; the steps are ledger's (claim the key, lock in id order, take the
oldest blocks, post), so SQLite runs them one by one through SQLAlchemy and both end in the
same rows, checked by the same constraints and triggers.
"""
from collections.abc import Callable
from dataclasses import dataclass, replace

from psycopg.rows import namedtuple_row
from psycopg.types.json import Json
from sqlalchemy import insert, select

from accounting.ledger import (
    BLOCKS_PER_FETCH, CLAIM_SQL, LOCK_SQL, RECORDS, Claimed, Idempotency, InsufficientBalance, MovedRange, begin,
    first_transaction, lock_accounts, move_units, post_entries, postgres_connection, transaction_by_key,
)
from accounting.models import Account
from config.db_types import utcnow
from config.extensions import db


@dataclass(frozen=True)
class Begun:
    """A movement begun: its receiver, its transaction (claimed, or the first one on a replay), and,
    when claimed, the two accounts' locked rows and (PostgreSQL) the sender's oldest blocks."""

    receiver_id: int | None
    transaction: object | None = None
    replayed: bool = False
    accounts: dict | None = None
    oldest_blocks: list | None = None


# begin() for a movement to a holder's account given by number, finding it in the same statement:
# nothing is claimed when there is no such holder or it is the sender itself.
CLAIM_TO_HOLDER_SQL = """
WITH receiver AS (SELECT id FROM accounts WHERE number = %(number)s AND kind = 'holder'),
claimed AS (
    INSERT INTO journal_transactions (kind, idempotency_scope, idempotency_key, request_hash, actor_id, memo, created_at)
    SELECT %(kind)s::text, %(scope)s::text, %(key)s::text, %(request_hash)s::text, %(actor_id)s::int, %(memo)s::text,
           %(created_at)s::timestamptz
    FROM receiver WHERE receiver.id <> %(sender)s
    ON CONFLICT (idempotency_scope, idempotency_key) DO NOTHING RETURNING id)
SELECT (SELECT id FROM receiver), (SELECT id FROM claimed)"""
LOCK_TO_HOLDER_SQL = (
    "SELECT id, kind, balance_g, frozen_at FROM accounts "
    "WHERE id = %(sender)s OR (number = %(number)s AND kind = 'holder') ORDER BY id FOR UPDATE"
)


def begin_movement(kind: str, idempotency: Idempotency, actor_id: int | None, memo: str | None, sender_id: int,
                   amount: int, *, receiver_id: int | None = None, receiver_number: str | None = None) -> Begun:
    """begin() and lock_accounts() of a movement from `sender_id` to `receiver_id`, or to the holder
    account `receiver_number` (no claim if there is none, or it is the sender's own).

    On PostgreSQL one round trip carries three statements, each run after the one before: the
    claim (which waits for a twin holding the key), the two accounts' locks in id order, and the
    sender's oldest blocks holding `amount` units, read once the locks are held. On a replay or a
    refusal the locks are only kept until the caller rolls back or commits.
    """
    connection = postgres_connection()
    if connection is None:
        if receiver_number is not None:
            receiver_id = db.session.scalar(select(Account.id).where(Account.number == receiver_number,
                                                                     Account.kind == "holder"))
            if receiver_id is None or receiver_id == sender_id:
                return Begun(receiver_id)
        transaction, replayed = begin(kind, idempotency, actor_id, memo)
        if replayed:
            return Begun(receiver_id, transaction, True)
        return Begun(receiver_id, transaction, False, lock_accounts([sender_id, receiver_id]))
    created_at = utcnow()
    claim = {"kind": kind, "scope": idempotency.scope, "key": idempotency.key, "request_hash": idempotency.request_hash,
             "actor_id": actor_id, "memo": memo, "created_at": created_at}
    with connection.cursor() as claimed, connection.cursor(row_factory=namedtuple_row) as locked, \
            connection.cursor() as oldest:
        with connection.pipeline():
            if receiver_number is not None:
                claimed.execute(CLAIM_TO_HOLDER_SQL, claim | {"number": receiver_number, "sender": sender_id})
                locked.execute(LOCK_TO_HOLDER_SQL, {"sender": sender_id, "number": receiver_number})
            else:
                claimed.execute(CLAIM_SQL, (kind, idempotency.scope, idempotency.key, idempotency.request_hash,
                                            actor_id, memo, created_at))
                locked.execute(LOCK_SQL, (sorted({sender_id, receiver_id}),))
            _oldest(oldest, sender_id, amount)
        if receiver_number is not None:
            receiver_id, transaction_id = claimed.fetchone()
            if receiver_id is None or receiver_id == sender_id:
                return Begun(receiver_id)
        else:
            row = claimed.fetchone()
            transaction_id = row[0] if row else None
        if transaction_id is None:
            return Begun(receiver_id, first_transaction(kind, idempotency, transaction_by_key(idempotency)), True)
        return Begun(receiver_id, Claimed(transaction_id, kind, idempotency.scope, idempotency.key,
                                          idempotency.request_hash), False,
                     {row.id: row for row in locked.fetchall()}, oldest.fetchall())


def move_and_post(transaction_id: int, from_id: int, to_id: int, amount: int, *, status: str = "active",
                  audit_entry: Callable[[list[MovedRange]], dict], oldest_blocks: list | None = None
                  ) -> list[MovedRange]:
    """The whole of a simple movement once the accounts are locked: units from the sender's oldest
    blocks to `to_id` (move_units), the two entries and balances (post_entries), and its audit
    record, audit_entry(ranges) (see audit.entry). `oldest_blocks` is what begin_movement read.
    Returns the ranges moved."""
    connection = postgres_connection()
    if connection is None:
        ranges = move_units(transaction_id, from_id, to_id, amount, status=status)
        post_entries(transaction_id, {from_id: -amount, to_id: amount})
        db.session.execute(insert(RECORDS).values(audit_entry(ranges)))
        return ranges
    return _move_and_post_pg(connection, transaction_id, from_id, to_id, amount, status, audit_entry, oldest_blocks)


# The sender's oldest active blocks (ix_credit_blocks_active_by_account) after (batch, first serial),
# as many as hold the units still needed and no more: every block holds at least one unit, so
# LIMIT `needed` (at most BLOCKS_PER_FETCH) rows always suffice, and the running sum drops the
# rows after the block that completes the amount.
BLOCKS_SQL = """
SELECT id, batch_id, first_serial, last_serial, serial_prefix FROM (
    SELECT b.id, b.batch_id, b.first_serial, b.last_serial, i.serial_prefix,
           sum(b.last_serial - b.first_serial + 1) OVER (ORDER BY b.batch_id, b.first_serial)
               - (b.last_serial - b.first_serial + 1) AS before
    FROM credit_blocks AS b JOIN issuance_batches AS i ON i.id = b.batch_id
    WHERE b.account_id = %(account)s AND b.status = 'active' AND (b.batch_id, b.first_serial) > (%(batch)s, %(first)s)
    ORDER BY b.batch_id, b.first_serial LIMIT %(limit)s) AS oldest
WHERE before < %(needed)s ORDER BY batch_id, first_serial"""


def _oldest(cursor, account_id: int, needed: int, after: tuple[int, int] = (0, 0)):
    return cursor.execute(BLOCKS_SQL, {"account": account_id, "batch": after[0], "first": after[1],
                                       "limit": min(needed, BLOCKS_PER_FETCH), "needed": needed})


# Every write of a movement in one statement. The block cut in two (if any) becomes `split` in
# `relabeled`, and its parts are made from the rows that UPDATE returns, so they are inserted
# after it (the exclusion constraint never sees a part overlap its parent).
WRITE_SQL = """
WITH relabeled AS (
    UPDATE credit_blocks AS b
    SET account_id = CASE WHEN b.id = %(split)s THEN b.account_id ELSE %(to)s END,
        status = CASE WHEN b.id = %(split)s THEN 'split' ELSE %(status)s END
    WHERE b.id = ANY(%(blocks)s::bigint[])
    RETURNING b.id, b.batch_id, b.first_serial, b.last_serial),
parts AS (
    INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, parent_id, created_in)
    SELECT r.batch_id, p.first_serial, p.last_serial, p.account_id, p.status, r.id, %(tx)s
    FROM relabeled AS r,
         LATERAL (VALUES (r.first_serial, %(cut)s::bigint, %(to)s::bigint, %(status)s::text),
                         (%(cut)s::bigint + 1, r.last_serial, %(from)s::bigint, 'active')
         ) AS p(first_serial, last_serial, account_id, status)
    WHERE r.id = %(split)s
    RETURNING id, account_id),
movements AS (
    INSERT INTO block_movements (transaction_id, block_id, from_account_id, to_account_id)
    SELECT %(tx)s, id, %(from)s, %(to)s FROM relabeled WHERE id IS DISTINCT FROM %(split)s
    UNION ALL
    SELECT %(tx)s, id, %(from)s, %(to)s FROM parts WHERE account_id = %(to)s),
entries AS (
    INSERT INTO journal_entries (transaction_id, account_id, amount_g)
    VALUES (%(tx)s, %(from)s, -%(amount)s::bigint), (%(tx)s, %(to)s, %(amount)s::bigint)),
balances AS (
    UPDATE accounts SET balance_g = balance_g + CASE WHEN id = %(from)s THEN -%(amount)s::bigint ELSE %(amount)s::bigint END
    WHERE id IN (%(from)s, %(to)s)),
audit AS (
    INSERT INTO audit_records (actor, action, subject, payload, payload_digest, created_at)
    VALUES (%(actor)s, %(action)s, %(subject)s, %(payload)s, %(payload_digest)s, %(created_at)s))
SELECT id FROM parts WHERE account_id = %(to)s"""


def _move_and_post_pg(connection, transaction_id, from_id, to_id, amount, status, audit_entry,
                      oldest_blocks) -> list[MovedRange]:
    """move_and_post in one statement after begin_movement's (plus one per further BLOCKS_PER_FETCH
    blocks taken)."""
    moved, taken, split, cut = [], [], None, None
    remaining, after = amount, (0, 0)
    with connection.cursor() as cursor:
        while remaining > 0:
            if oldest_blocks is not None:
                blocks, oldest_blocks = oldest_blocks, None
            else:
                blocks = _oldest(cursor, from_id, remaining, after).fetchall()
            if not blocks:
                raise InsufficientBalance(needed=amount, short=remaining)
            for block_id, _batch_id, first, last, prefix in blocks:
                take = min(last - first + 1, remaining)
                remaining -= take
                taken.append(block_id)
                if take == last - first + 1:  # the whole block changes hands
                    moved.append(MovedRange(block_id, prefix, first, last))
                else:  # the last block taken splits: the part moved and the part kept
                    split, cut = block_id, first + take - 1
                    moved.append(MovedRange(0, prefix, first, cut))
                if remaining == 0:
                    break
            after = (blocks[-1][1], blocks[-1][2])
        record = audit_entry(moved)  # the entries are -amount and +amount: they sum to zero (invariant 1)
        cursor.execute(WRITE_SQL, {
            "tx": transaction_id, "from": from_id, "to": to_id, "amount": amount, "status": status,
            "blocks": taken, "split": split, "cut": cut, **record, "payload": Json(record["payload"]),
        })
        part = cursor.fetchone()
    if split is not None:
        moved[-1] = replace(moved[-1], block_id=part[0])
    return moved
