"""The record (记录): filed data sources (备案), their stations, residents' consent, and the
green actions the sources report."""
import re
from datetime import date

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db_types import UTCDateTime, utcnow
from config.extensions import db

SOURCE_KINDS = ("transit", "bikeshare", "recycling", "app")
SOURCE_STATUSES = ("approved", "suspended")


class DataSource(db.Model):
    """A machine that reports green actions, with its own signing credentials."""

    __tablename__ = "data_sources"
    __table_args__ = (
        CheckConstraint(f"kind IN {SOURCE_KINDS}", name="kind"),
        CheckConstraint(f"status IN {SOURCE_STATUSES}", name="status"),
        CheckConstraint("trust_level BETWEEN 0 AND 3", name="trust_level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(64))
    trust_level: Mapped[int] = mapped_column(SmallInteger, default=1)
    status: Mapped[str] = mapped_column(String(12), default="approved")
    # The app's own sensor source signs nothing: residents post as themselves.
    api_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    # The HMAC secret must be recoverable to check signatures, so it is encrypted, not hashed.
    secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    stations: Mapped[list["Station"]] = relationship(back_populates="source")


class Station(db.Model):
    """A recycling station filed under a source; events name it by code."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    district: Mapped[str | None] = mapped_column(String(32))
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    source: Mapped[DataSource] = relationship(back_populates="stations")


class SourceAuthorization(db.Model):
    """A resident's consent that a source may report for their account (PIPL)."""

    __tablename__ = "source_authorizations"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"), primary_key=True)
    granted_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    revoked_at = mapped_column(UTCDateTime, nullable=True)

    source: Mapped[DataSource] = relationship()


CONSENT_ACTIONS = ("authorize", "withdraw")
# Why a consent changed: the resident's own choice, or the closing of their account.
CONSENT_CAUSES = ("resident", "account_closed")


class ConsentEvent(db.Model):
    """One authorization or withdrawal of a data source, with its time (PIPL art. 15, 44): the
    history `SourceAuthorization` (the consent as it stands) cannot keep. Append-only."""

    __tablename__ = "consent_events"
    __table_args__ = (
        CheckConstraint(f"action IN {CONSENT_ACTIONS}", name="action"),
        CheckConstraint(f"cause IN {CONSENT_CAUSES}", name="cause"),
        # A resident's history, newest first, is read by (account, id).
        Index("ix_consent_events_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"))
    action: Mapped[str] = mapped_column(String(10))
    cause: Mapped[str] = mapped_column(String(16), default="resident")
    # What the source reports once authorized (its kind: transit, bikeshare, recycling), as it was then.
    scope: Mapped[str] = mapped_column(String(12))
    at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    source: Mapped[DataSource] = relationship(lazy="joined", viewonly=True)


EVENT_KINDS = ("trip", "recycling")
EVENT_STATUSES = ("received", "quantified", "capped", "rejected", "issued")
ACCEPTED_STATUSES = ("quantified", "capped", "issued")
# Accounts are split into lanes (account id mod lanes) so several workers can quantify
# at once while each resident's events are still taken strictly in arrival order.
QUANTIFY_LANES = 4


class SeenSignature(db.Model):
    """A signed source request already received: the same signature again is a replay, refused.

    Kept in the database, in the request's own transaction, so no write depends on Redis, every
    web worker sees every other's, and a request whose batch was refused leaves nothing behind.
    Kept for as long as its timestamp could still be accepted, then swept.
    """

    __tablename__ = "seen_signatures"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"))
    expires_at = mapped_column(UTCDateTime, nullable=False, index=True)


class GreenEvent(db.Model):
    """A reported green action; quantification fills in reduction_g, capped_g and reason."""

    __tablename__ = "green_events"
    __table_args__ = (
        # The same (source, external_id) twice is one event: EventKey holds the keys (a unique index
        # of a partitioned table must hold the partition key, and a resend may carry another time).
        CheckConstraint(f"kind IN {EVENT_KINDS}", name="kind"),
        CheckConstraint(f"status IN {EVENT_STATUSES}", name="status"),
        CheckConstraint("ended_at >= started_at", name="ends_after_start"),
        CheckConstraint(
            "(kind = 'trip' AND mode IS NOT NULL AND category IS NULL"
            " AND (distance_m IS NOT NULL OR steps IS NOT NULL))"
            " OR (kind = 'recycling' AND category IS NOT NULL AND mode IS NULL AND weight_g IS NOT NULL)",
            name="shape_matches_kind",
        ),
        CheckConstraint("distance_m IS NULL OR distance_m >= 0", name="distance_not_negative"),
        CheckConstraint("steps IS NULL OR steps >= 0", name="steps_not_negative"),
        CheckConstraint("weight_g IS NULL OR weight_g > 0", name="weight_positive"),
        CheckConstraint("reduction_g IS NULL OR reduction_g >= 0", name="reduction_not_negative"),
        CheckConstraint("capped_g IS NULL OR capped_g >= 0", name="capped_not_negative"),
        CheckConstraint("status = 'received' OR methodology_version_id IS NOT NULL OR reason IS NOT NULL",
                        name="quantified_by_a_version"),
        # A resident's history, newest first, is read by (account, id).
        Index("ix_green_events_account_id_id", "account_id", "id"),
        # Overlap and duplicate-claim checks look up a resident's trips by time.
        Index("ix_green_events_account_id_started_at", "account_id", "started_at"),
        # The quantifier's queue: only received events, by lane, in arrival order.
        Index("ix_green_events_received_lane", text(f"(account_id % {QUANTIFY_LANES})"), "id",
              postgresql_where=text("status = 'received'")),
        # Issuance gathers a day's verified reductions that no batch holds yet.
        Index("ix_green_events_unbatched", "started_at",
              postgresql_where=text("issuance_batch_id IS NULL AND status IN ('quantified', 'capped')")),
        # A batch's events (trace, verification). Partial: an event is quantified long before it is
        # issued, and leaving the NULLs out spares every quantification write one index entry.
        Index("ix_green_events_issuance_batch_id", "issuance_batch_id",
              postgresql_where=text("issuance_batch_id IS NOT NULL")),
        # Monthly partitions of Asia/Shanghai months of started_at (migrations/versions/0009).
        {"postgresql_partition_by": "RANGE (started_at)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, Sequence("green_events_id_seq"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str | None] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(16))
    # In the primary key because it is the partition key; the id alone is unique (one sequence).
    started_at = mapped_column(UTCDateTime, nullable=False, primary_key=True)
    ended_at = mapped_column(UTCDateTime, nullable=False)
    distance_m: Mapped[int | None] = mapped_column(Integer)
    steps: Mapped[int | None] = mapped_column(Integer)
    weight_g: Mapped[int | None] = mapped_column(Integer)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    status: Mapped[str] = mapped_column(String(12), default="received", server_default="received")
    reduction_g: Mapped[int | None] = mapped_column(BigInteger)
    capped_g: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(48))
    received_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Filled by quantification: which version, which factor, and how the grams came out.
    methodology_version_id: Mapped[int | None] = mapped_column(ForeignKey("methodology_versions.id"))
    factor: Mapped[str | None] = mapped_column(String(16))
    rationale: Mapped[str | None] = mapped_column(String(300))
    quantified_at = mapped_column(UTCDateTime, nullable=True)
    # 签发: the batch that certified this reduction; one at most (invariant 5).
    issuance_batch_id: Mapped[int | None] = mapped_column(ForeignKey("issuance_batches.id"))

    source = relationship("DataSource", lazy="joined", viewonly=True)


# The tables PostgreSQL makes for green_events' months: partitions of the one table the models
# declare, not tables of their own (schema comparisons leave them out).
EVENT_PARTITION_NAME = re.compile(r"^green_events_(p\d{6}|default)$")


class EventKey(db.Model):
    """Which event holds a (source, external_id): the duplicate guard, exact across every month.

    Not partitioned and never archived, so a resend with another time, or of an event whose month
    is archived, is still a duplicate. Ingest claims the keys in the statement that inserts the
    events; a trigger on green_events claims them for any other writer (0009_event_partitions.sql).
    """

    __tablename__ = "event_keys"

    source_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger)
    # Where the event is: its partition (a duplicate's lookup reads one month, not every month).
    started_at = mapped_column(UTCDateTime, nullable=False)


class EventArchive(db.Model):
    """A month of green events written to a compressed file and detached (`flask events archive`)."""

    __tablename__ = "event_archives"

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day (Asia/Shanghai)
    file_name: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int] = mapped_column(BigInteger)
    file_sha256: Mapped[str] = mapped_column(String(64))  # of the .csv.gz, also written beside it
    content_sha256: Mapped[str] = mapped_column(String(64))  # of the CSV as COPY wrote it, id order
    archived_at = mapped_column(UTCDateTime, nullable=False)
    restored_at = mapped_column(UTCDateTime, nullable=True)  # NULL while the rows are in the file


class EventArchiveBatch(db.Model):
    """An issuance batch's events in an archived month, totalled before the rows left: what
    `registry verify` checks the batch against while they are away."""

    __tablename__ = "event_archive_batches"

    month: Mapped[date] = mapped_column(ForeignKey("event_archives.month"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    reduction_g: Mapped[int] = mapped_column(BigInteger)
    not_issued: Mapped[int] = mapped_column(BigInteger)
