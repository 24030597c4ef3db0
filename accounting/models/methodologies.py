"""Filed methodologies (备案) and their versions; approved versions never change."""
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db_types import UTCDateTime, utcnow
from config.extensions import db

VERSION_STATUSES = ("draft", "filed", "approved", "retired")


class Methodology(db.Model):
    """A way of quantifying one kind of green action (trips, recycling)."""

    __tablename__ = "methodologies"
    __table_args__ = (CheckConstraint("kind IN ('trip', 'recycling')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    versions: Mapped[list["MethodologyVersion"]] = relationship(
        back_populates="methodology", order_by="MethodologyVersion.version"
    )


class MethodologyVersion(db.Model):
    """Factors, caps and limits in force from `effective_from` once approved.

    The version in force at a moment is the approved one with the latest
    effective_from not after it (and effective_to, if set, after it).
    """

    __tablename__ = "methodology_versions"
    __table_args__ = (
        UniqueConstraint("methodology_id", "version", name="uq_methodology_versions_number"),
        CheckConstraint(f"status IN {VERSION_STATUSES}", name="status"),
        CheckConstraint("effective_to IS NULL OR effective_to > effective_from", name="effective_range"),
        CheckConstraint("status <> 'approved' OR approved_at IS NOT NULL", name="approval_recorded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    methodology_id: Mapped[int] = mapped_column(ForeignKey("methodologies.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    parameters: Mapped[dict] = mapped_column(JSON)
    sources: Mapped[dict] = mapped_column(JSON)
    effective_from = mapped_column(UTCDateTime, nullable=False)
    effective_to = mapped_column(UTCDateTime, nullable=True)
    # Actors are user ids from the sign-in layer, kept as plain numbers (no reach into it).
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    filed_by: Mapped[int | None] = mapped_column(Integer)
    filed_at = mapped_column(UTCDateTime, nullable=True)
    approved_by: Mapped[int | None] = mapped_column(Integer)
    approved_at = mapped_column(UTCDateTime, nullable=True)
    approval_note: Mapped[str | None] = mapped_column(String(200))

    methodology: Mapped[Methodology] = relationship(back_populates="versions")
