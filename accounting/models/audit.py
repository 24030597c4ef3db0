"""The audit log: appended inside each registry transaction, hash-chained afterwards.

Writers only INSERT (no lock, no hash); a sealing task takes the unsealed records in id
order, gives each the next `seq` and hash = SHA-256(previous hash + the record), so the
hot path never waits on one chain head and the unsealed gap is visible (seq IS NULL).
"""
from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from config.db_types import BigId, UTCDateTime, utcnow
from config.extensions import db


class AuditRecord(db.Model):
    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict] = mapped_column(JSON)
    payload_digest: Mapped[str] = mapped_column(String(64))
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    sealed_at = mapped_column(UTCDateTime, nullable=True)
