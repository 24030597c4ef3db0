"""Filed data sources (备案), their stations, and residents' authorizations of them."""
from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, SmallInteger, String
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
