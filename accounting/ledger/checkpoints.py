"""Checkpoints of the audit chain kept outside the database.

Each sealing appends the chain's head (sequence, hash, time) to an append-only file in
AUDIT_CHECKPOINT_DIR (in production: a bucket with object lock, or a write-once mount, fed the same
lines). An insider who rewrites the sealed records and hashes the chain again produces a chain
that verifies with itself, but no longer with the heads written down as it grew.
"""
import json
import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from config.extensions import db

# One file per database: its name and oid (a database dropped and made again is another chain).
THIS_DATABASE = text("SELECT current_database() || '-' || oid FROM pg_database WHERE datname = current_database()")


def _file(directory: str | Path) -> Path:
    return Path(directory) / f"audit-chain-heads-{db.session.scalar(THIS_DATABASE)}.jsonl"


def append(directory: str | Path, seq: int, head_hash: str, sealed_at: datetime) -> None:
    """Write down the chain's head as of this sealing; flushed to disk before returning."""
    path = _file(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"seq": seq, "hash": head_hash, "sealed_at": sealed_at.isoformat()}) + "\n"
    with open(path, "a", encoding="utf-8") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())


def read_all(directory: str | Path) -> list[dict]:
    """Every head written down, oldest first (a torn last line, from a crash mid-write, is skipped)."""
    path = _file(directory)
    if not path.exists():
        return []
    heads = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            heads.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return heads


def latest(directory: str | Path) -> dict | None:
    heads = read_all(directory)
    return heads[-1] if heads else None
