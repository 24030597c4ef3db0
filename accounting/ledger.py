"""The double-entry journal and serial blocks: every movement of credits goes through here.

A movement is one journal transaction: its idempotency key is claimed first (a replay
returns the first transaction), the accounts involved are locked in id order (so two
movements in opposite directions never deadlock), units are taken from the sender's
oldest blocks (splitting the last one), entries sum to zero and balances follow.

On PostgreSQL the hot path (claim, lock, move and post) talks to the session's own psycopg
connection with plain SQL, a few statements per movement, as the quantifier does; SQLite
runs the same steps through SQLAlchemy. Both end in the same rows, checked by the same
constraints and triggers. A simple movement from one account to another strings these
steps together in accounting.movements.
"""
from dataclasses import dataclass

from psycopg.rows import namedtuple_row
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
        existing = transaction_by_key(idempotency)
    else:
        existing = transaction_by_key(idempotency)
        if existing is None:
            transaction = JournalTransaction(
                kind=kind, idempotency_scope=idempotency.scope, idempotency_key=idempotency.key,
                request_hash=idempotency.request_hash, actor_id=actor_id, memo=memo, created_at=utcnow())
            try:
                with db.session.begin_nested():  # a concurrent twin waits here for the first to commit
                    db.session.add(transaction)
                return transaction, False
            except IntegrityError:
                existing = transaction_by_key(idempotency)
    return first_transaction(kind, idempotency, existing), True


def first_transaction(kind: str, idempotency: Idempotency, existing: JournalTransaction) -> JournalTransaction:
    """The transaction that first claimed the key, if the request is the same one again."""
    if existing.request_hash != idempotency.request_hash or existing.kind != kind:
        raise DomainError("idempotency_key_reused")
    return existing


def transaction_by_key(idempotency: Idempotency) -> JournalTransaction | None:
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
