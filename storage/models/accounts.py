"""Venues, people and the memberships that give people a role in a venue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.enums import Role
from storage.models.base import Base, CreatedMixin, IdMixin
from storage.types import BigId, UTCDateTime


class Account(IdMixin, CreatedMixin, Base):
    """A venue (pub, bar, restaurant): the tenant everything else belongs to."""

    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    # Approvals (docs/weekly.md): posts written by editors wait for an admin or owner; optionally so do the posts
    # the weekly plan makes.
    approve_editor_posts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)
    approve_weekly_posts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)


class User(IdMixin, CreatedMixin, Base):
    """A person; `is_staff` marks the service's own operators, who may act across venues."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320), unique=True, nullable=True)
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # How the person's own alerts reach them: "chat" (their private chat, `alerts me`), "email", or "both".
    alert_via: Mapped[str] = mapped_column(String(8), default="chat", server_default="chat", nullable=False)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", lazy="raise")


class Membership(IdMixin, CreatedMixin, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("account_id", "user_id", name="uq_memberships_account_user"),)

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="role", native_enum=False, length=16, validate_strings=True), nullable=False
    )

    user: Mapped[User] = relationship(back_populates="memberships", lazy="raise")
    account: Mapped[Account] = relationship(lazy="raise")


class Invitation(IdMixin, CreatedMixin, Base):
    """An offer to join a venue with a role, accepted by the invited person; only the token's SHA-256 is kept."""

    __tablename__ = "invitations"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="role", native_enum=False, length=16, validate_strings=True), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    invited_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    accepted_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
