"""Appending to the audit log, sealing it into a SHA-256 chain, and verifying the chain."""
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, bindparam, cast, func, select, text, update

from accounting.ledger.models import AuditRecord
from config.db_types import utcnow
from config.extensions import db

RECORDS = AuditRecord.__table__
# What ledger_audit stored as the payload's digest, computed again from the payload as it is now.
PAYLOAD_DIGEST = func.encode(func.sha256(func.convert_to(cast(RECORDS.c.payload, Text), "UTF8")), "hex")
SEAL_LOCK = 7_302_000
GENESIS = "0" * 64


def digest(text_: str) -> str:
    return hashlib.sha256(text_.encode()).hexdigest()


APPEND = text("SELECT ledger_audit(:actor, :action, :subject, CAST(:payload AS jsonb), :at)")


def record(actor: str, action: str, subject: str, payload: dict) -> None:
    """Append a registry action; cheap, lock-free, sealed into the chain shortly after.

    Through the database's `ledger_audit`, as the ledger's own functions append, so every payload
    is digested one way; values JSON has no type for (times, dates) go as text.
    """
    db.session.execute(APPEND, {"actor": actor, "action": action, "subject": subject,
                                "payload": json.dumps(payload, default=str, ensure_ascii=False), "at": utcnow()})


def actor_label(actor_id: int | None) -> str:
    return f"user:{actor_id}" if actor_id is not None else "system"


def chain_hash(prev_hash: str, seq: int, row) -> str:
    created: datetime = row.created_at
    body = "|".join((prev_hash, str(seq), str(row.id), row.actor, row.action, row.subject, row.payload_digest,
                     created.isoformat()))
    return digest(body)


@dataclass(frozen=True)
class Head:
    """The chain as one sealing left it: its last record's sequence and hash, and how many it sealed."""

    seq: int
    hash: str
    count: int


def seal_pending(limit: int = 5000) -> Head | None:
    """Chain the oldest unsealed records; one sealer at a time (advisory lock). None when there was
    nothing to seal (or another sealer is at it)."""
    if not db.session.scalar(select(func.pg_try_advisory_xact_lock(SEAL_LOCK))):
        return None
    head = db.session.execute(
        select(RECORDS.c.seq, RECORDS.c.hash).where(RECORDS.c.seq.is_not(None)).order_by(RECORDS.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    rows = db.session.execute(select(RECORDS).where(RECORDS.c.seq.is_(None)).order_by(RECORDS.c.id).limit(limit)).all()
    now, sealed = utcnow(), []
    for row in rows:
        seq += 1
        current = chain_hash(prev, seq, row)
        sealed.append({"b_id": row.id, "b_seq": seq, "b_prev": prev, "b_hash": current})
        prev = current
    if not sealed:
        return None
    db.session.execute(
        update(RECORDS).where(RECORDS.c.id == bindparam("b_id")).values(
            seq=bindparam("b_seq"), prev_hash=bindparam("b_prev"), hash=bindparam("b_hash"), sealed_at=now),
        sealed,
    )
    return Head(seq, prev, len(sealed))


def verify_chain(heads: list[dict] = ()) -> dict:
    """Walk the sealed chain from its first record: hashes link, payloads match their digests, and the
    chain passes through every head written down outside the database (`heads`, see checkpoints)."""
    expected = {head["seq"]: head["hash"] for head in heads}
    prev, checked, broken = GENESIS, 0, []
    query = select(RECORDS, PAYLOAD_DIGEST.label("recomputed")).where(RECORDS.c.seq.is_not(None)).order_by(RECORDS.c.seq)
    for row in db.session.execute(query.execution_options(yield_per=5000)):
        checked += 1
        if row.seq != checked or row.prev_hash != prev or row.hash != chain_hash(prev, row.seq, row) \
                or row.payload_digest != row.recomputed or expected.get(row.seq, row.hash) != row.hash:
            broken.append(row.seq)
        prev = row.hash or prev
    unsealed = db.session.execute(
        select(RECORDS.c.id, RECORDS.c.created_at).where(RECORDS.c.seq.is_(None)).order_by(RECORDS.c.id).limit(1)
    ).first()
    pending = db.session.scalar(select(func.count()).select_from(RECORDS).where(RECORDS.c.seq.is_(None)))
    # A head written down beyond the chain's end: sealed records were removed since.
    broken += sorted(seq for seq in expected if seq > checked)
    return {
        "ok": not broken, "sealed": checked, "broken_at": broken[:10], "head_hash": prev if checked else None,
        "unsealed": pending,
        "oldest_unsealed_seconds": round((utcnow() - unsealed.created_at).total_seconds(), 1) if unsealed else 0,
    }
