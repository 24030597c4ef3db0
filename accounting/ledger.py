"""The double-entry journal and serial blocks: every movement of credits goes through here.

A movement is one journal transaction: its idempotency key is claimed first (a replay
returns the first transaction), the accounts involved are locked in id order (so two
movements in opposite directions never deadlock), units are taken from the sender's
oldest blocks (splitting the last one), entries sum to zero and balances follow.

On PostgreSQL the hot path (claim, lock, move and post) talks to the session's own psycopg
connection with plain SQL, a few statements per movement, as the quantifier does; SQLite
runs the same steps through SQLAlchemy. Both end in the same rows, checked by the same
constraints and triggers.
"""
from collections.abc import Callable
from dataclasses import dataclass, replace

from psycopg.rows import namedtuple_row
from psycopg.types.json import Json
from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from accounting.errors import Conflict, DomainError
from accounting.models import (
    Account, AuditRecord, BlockMovement, CreditBlock, IssuanceBatch, JournalEntry, JournalTransaction,
)
from config.db_types import utcnow
from config.extensions import db

ACCOUNTS, BLOCKS, MOVES, ENTRIES = Account.__table__, CreditBlock.__table__, BlockMovement.__table__, JournalEntry.__table__
RECORDS = AuditRecord.__table__
SYSTEM_NUMBERS = {"issuance": "SYSISSUANCE", "escrow": "SYSESCROW", "retirement": "SYSRETIRED",
                  "revocation": "SYSREVOKED"}
BLOCKS_PER_FETCH = 200


class InsufficientBalance(DomainError):
    code = "insufficient_balance"


@dataclass(frozen=True)
class Idempotency:
    """Who may not repeat themselves (scope), the key they sent, and what they asked for."""

    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class MovedRange:
    block_id: int
    serial_prefix: str
    first: int
    last: int

    @property
    def serials(self) -> str:
        return f"{self.serial_prefix}-{self.first:09d}-{self.last:09d}"


_system_ids: dict[tuple[str, str], int] = {}


def system_account_id(kind: str) -> int:
    """The id of a system account (issuance, escrow, retirement, revocation); filed by migration."""
    cache_key = (db.session.get_bind().url.render_as_string(), kind)
    if cache_key not in _system_ids:
        _system_ids[cache_key] = db.session.scalar(select(Account.id).where(Account.number == SYSTEM_NUMBERS[kind]))
    return _system_ids[cache_key]


def postgres_connection():
    """The session's own psycopg connection (its transaction) on PostgreSQL; None on SQLite."""
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    db.session.flush()  # what the ORM holds pending goes first, as session.execute would autoflush
    return db.session.connection().connection.driver_connection


@dataclass(frozen=True)
class Claimed:
    """A journal transaction this database transaction has just claimed (its row is written)."""

    id: int
    kind: str
    idempotency_scope: str
    idempotency_key: str
    request_hash: str


CLAIM_SQL = (
    "INSERT INTO journal_transactions (kind, idempotency_scope, idempotency_key, request_hash, actor_id, memo, "
    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (idempotency_scope, idempotency_key) DO NOTHING RETURNING id"
)


def begin(kind: str, idempotency: Idempotency, actor_id: int | None, memo: str | None = None):
    """Claim the idempotency key: (new transaction, False), or (the first one, True) on a replay."""
    connection = postgres_connection()
    if connection is not None:
        # One statement: a concurrent twin holding the key makes it wait for the twin's commit
        # (then it inserts nothing and the first transaction is read) or rollback (then it inserts).
        created_at = utcnow()
        claimed = connection.execute(CLAIM_SQL, (kind, idempotency.scope, idempotency.key, idempotency.request_hash,
                                                 actor_id, memo, created_at)).fetchone()
        if claimed is not None:
            return Claimed(claimed[0], kind, idempotency.scope, idempotency.key, idempotency.request_hash), False
        existing = _by_key(idempotency)
    else:
        existing = _by_key(idempotency)
        if existing is None:
            transaction = JournalTransaction(
                kind=kind, idempotency_scope=idempotency.scope, idempotency_key=idempotency.key,
                request_hash=idempotency.request_hash, actor_id=actor_id, memo=memo, created_at=utcnow())
            try:
                with db.session.begin_nested():  # a concurrent twin waits here for the first to commit
                    db.session.add(transaction)
                return transaction, False
            except IntegrityError:
                existing = _by_key(idempotency)
    return _replayed(kind, idempotency, existing), True


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
                claimed.execute(CLAIM_SQL, tuple(claim.values()))
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
            return Begun(receiver_id, _replayed(kind, idempotency, _by_key(idempotency)), True)
        return Begun(receiver_id, Claimed(transaction_id, kind, idempotency.scope, idempotency.key,
                                          idempotency.request_hash), False,
                     {row.id: row for row in locked.fetchall()}, oldest.fetchall())


def _replayed(kind: str, idempotency: Idempotency, existing: JournalTransaction) -> JournalTransaction:
    """The transaction that first claimed the key, if the request is the same one again."""
    if existing.request_hash != idempotency.request_hash or existing.kind != kind:
        raise DomainError("idempotency_key_reused")
    return existing


def _by_key(idempotency: Idempotency) -> JournalTransaction | None:
    return db.session.scalar(select(JournalTransaction).where(
        JournalTransaction.idempotency_scope == idempotency.scope,
        JournalTransaction.idempotency_key == idempotency.key))


LOCK_SQL = "SELECT id, kind, balance_g, frozen_at FROM accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE"


def lock_accounts(account_ids) -> dict[int, object]:
    """Lock the accounts' rows in ascending id order (the one global order: no deadlocks)."""
    connection = postgres_connection()
    if connection is not None:  # rows are locked as they leave the sort, so in id order
        with connection.cursor(row_factory=namedtuple_row) as cursor:
            return {row.id: row for row in cursor.execute(LOCK_SQL, (sorted(set(account_ids)),))}
    rows = db.session.execute(
        select(ACCOUNTS.c.id, ACCOUNTS.c.kind, ACCOUNTS.c.balance_g, ACCOUNTS.c.frozen_at)
        .where(ACCOUNTS.c.id.in_(sorted(set(account_ids)))).order_by(ACCOUNTS.c.id).with_for_update()
    ).all()
    return {row.id: row for row in rows}


def post_entries(transaction_id: int, amounts: dict[int, int]) -> None:
    """Write the entries of one transaction (they must sum to zero) and move the balances."""
    if sum(amounts.values()) != 0:
        raise AssertionError(f"unbalanced transaction {transaction_id}: {amounts}")  # invariant 1
    db.session.execute(insert(ENTRIES), [
        {"transaction_id": transaction_id, "account_id": account_id, "amount_g": amount}
        for account_id, amount in sorted(amounts.items()) if amount
    ])
    for account_id, amount in sorted(amounts.items()):
        if amount:
            db.session.execute(update(ACCOUNTS).where(ACCOUNTS.c.id == account_id)
                               .values(balance_g=ACCOUNTS.c.balance_g + amount))


def move_units(transaction_id: int, from_id: int, to_id: int, amount: int, *, status: str = "active",
               only=None) -> list[MovedRange]:
    """Move `amount` units from the sender's oldest active blocks to `to_id`, splitting the last.

    The caller holds both accounts' locks, so nobody else touches these blocks meanwhile.
    `only` narrows the blocks considered (e.g. one batch's serial range for a revocation).
    """
    moved, remaining, after = [], amount, (0, 0)
    while remaining > 0:
        query = (select(BLOCKS.c.id, BLOCKS.c.batch_id, BLOCKS.c.first_serial, BLOCKS.c.last_serial,
                        IssuanceBatch.serial_prefix)
                 .join(IssuanceBatch, IssuanceBatch.id == BLOCKS.c.batch_id)
                 .where(BLOCKS.c.account_id == from_id, BLOCKS.c.status == "active",
                        tuple_(BLOCKS.c.batch_id, BLOCKS.c.first_serial) > tuple_(*after))
                 .order_by(BLOCKS.c.batch_id, BLOCKS.c.first_serial).limit(BLOCKS_PER_FETCH))
        if only is not None:
            query = query.where(only)
        blocks = db.session.execute(query).all()
        if not blocks:
            raise InsufficientBalance(needed=amount, short=remaining)
        for block in blocks:
            size = block.last_serial - block.first_serial + 1
            take = min(size, remaining)
            moved.append(_take(transaction_id, block, take, from_id, to_id, status))
            remaining -= take
            if remaining == 0:
                break
        after = (blocks[-1].batch_id, blocks[-1].first_serial)
    db.session.execute(insert(MOVES), [
        {"transaction_id": transaction_id, "block_id": r.block_id, "from_account_id": from_id, "to_account_id": to_id}
        for r in moved
    ])
    return moved


def _take(transaction_id, block, take, from_id, to_id, status) -> MovedRange:
    """The whole block changes hands, or it splits into the part moved and the part kept."""
    if take == block.last_serial - block.first_serial + 1:
        db.session.execute(update(BLOCKS).where(BLOCKS.c.id == block.id).values(account_id=to_id, status=status))
        return MovedRange(block.id, block.serial_prefix, block.first_serial, block.last_serial)
    db.session.execute(update(BLOCKS).where(BLOCKS.c.id == block.id).values(status="split"))
    cut = block.first_serial + take - 1
    moved_id = db.session.execute(insert(BLOCKS).values(
        batch_id=block.batch_id, first_serial=block.first_serial, last_serial=cut, account_id=to_id,
        status=status, parent_id=block.id, created_in=transaction_id).returning(BLOCKS.c.id)).scalar()
    db.session.execute(insert(BLOCKS).values(
        batch_id=block.batch_id, first_serial=cut + 1, last_serial=block.last_serial, account_id=from_id,
        status="active", parent_id=block.id, created_in=transaction_id))
    return MovedRange(moved_id, block.serial_prefix, block.first_serial, cut)


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


def isolate_range(transaction_id: int, account_id: int, batch_id: int, first: int, last: int) -> int:
    """Split the account's active blocks of a batch at `first` and after `last`, so the range is
    made of whole blocks; returns how many of its units lie inside. The holder does not change."""
    for cut in (first, last + 1):
        block = db.session.execute(select(BLOCKS).where(
            BLOCKS.c.account_id == account_id, BLOCKS.c.batch_id == batch_id, BLOCKS.c.status == "active",
            BLOCKS.c.first_serial < cut, BLOCKS.c.last_serial >= cut)).first()
        if block is None:
            continue
        db.session.execute(update(BLOCKS).where(BLOCKS.c.id == block.id).values(status="split"))
        db.session.execute(insert(BLOCKS), [
            {"batch_id": batch_id, "first_serial": block.first_serial, "last_serial": cut - 1,
             "account_id": account_id, "status": "active", "parent_id": block.id, "created_in": transaction_id},
            {"batch_id": batch_id, "first_serial": cut, "last_serial": block.last_serial,
             "account_id": account_id, "status": "active", "parent_id": block.id, "created_in": transaction_id},
        ])
    sizes = db.session.execute(select(BLOCKS.c.first_serial, BLOCKS.c.last_serial).where(
        BLOCKS.c.account_id == account_id, BLOCKS.c.batch_id == batch_id, BLOCKS.c.status == "active",
        BLOCKS.c.first_serial >= first, BLOCKS.c.last_serial <= last)).all()
    return sum(b.last_serial - b.first_serial + 1 for b in sizes)


def ranges_of(transaction_id: int) -> list[MovedRange]:
    """The serial ranges a transaction moved (for replays and listings)."""
    rows = db.session.execute(
        select(BLOCKS.c.id, IssuanceBatch.serial_prefix, BLOCKS.c.first_serial, BLOCKS.c.last_serial)
        .join(MOVES, MOVES.c.block_id == BLOCKS.c.id).join(IssuanceBatch, IssuanceBatch.id == BLOCKS.c.batch_id)
        .where(MOVES.c.transaction_id == transaction_id).order_by(BLOCKS.c.batch_id, BLOCKS.c.first_serial)
    ).all()
    return [MovedRange(*row) for row in rows]


def ensure_movable(accounts: dict, *account_ids: int) -> None:
    for account_id in account_ids:
        if account_id not in accounts:
            raise Conflict("account_not_found")
        if accounts[account_id].frozen_at is not None:
            raise Conflict("account_frozen")


def ensure_system_accounts(connection) -> None:
    """File the system accounts where missing (the migration does; tests after a truncate)."""
    existing = set(connection.execute(select(ACCOUNTS.c.number).where(
        ACCOUNTS.c.number.in_(SYSTEM_NUMBERS.values()))).scalars())
    missing = [{"number": number, "kind": kind, "balance_g": 0, "created_at": utcnow()}
               for kind, number in SYSTEM_NUMBERS.items() if number not in existing]
    if missing:
        connection.execute(insert(ACCOUNTS), missing)


def forget_cached_ids() -> None:
    """Drop cached system-account ids (after a test empties the database)."""
    _system_ids.clear()
