"""Users (credentials and role) and revoked tokens."""
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from config.db_types import UTCDateTime, utcnow
from config.extensions import db

ROLES = ("resident", "merchant_staff", "enterprise_staff", "auditor", "admin")


class User(db.Model):
    """A person who signs in; residents act for their own holder."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES}", name="role"),
        CheckConstraint("role <> 'resident' OR holder_id IS NOT NULL", name="resident_has_holder"),
        CheckConstraint("merchant_id IS NULL OR role = 'merchant_staff'", name="only_staff_belong_to_merchants"),
        CheckConstraint("enterprise_id IS NULL OR role = 'enterprise_staff'", name="only_staff_belong_to_enterprises"),
        # A password exists exactly while the account is open.
        CheckConstraint("(password_hash IS NULL) = (closed_at IS NOT NULL)", name="password_while_open"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    # None once the account is closed: nothing can sign in as it again.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(64))
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holders.id"), index=True)
    # Merchant staff act for exactly one merchant.
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    # Enterprise staff act for exactly one enterprise (the one they applied for, or were added to).
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"), index=True)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_login_at = mapped_column(UTCDateTime, nullable=True)
    # PIPL closure (注销账户): phone and name are a pseudonym since; every token of the user is refused.
    closed_at = mapped_column(UTCDateTime, nullable=True)

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)


class RevokedToken(db.Model):
    """A signed-out token or session (refresh token id); kept until it would have expired."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at = mapped_column(UTCDateTime, nullable=False, index=True)
    revoked_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


def mask_phone(phone: str) -> str:
    """138****1234: enough for a person to recognise their own number, no more (PIPL)."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
