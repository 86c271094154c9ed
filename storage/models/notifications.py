"""The notifications outbox, per-person read marks and the de-duplication windows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.enums import Severity
from storage.models.base import Base, CreatedMixin, IdMixin
from storage.types import BigId, JsonDoc, UTCDateTime


class Notification(IdMixin, CreatedMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_account_id_id", "account_id", "id"),
        Index("ix_notifications_created_at", "created_at"),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    severity: Mapped[Severity] = mapped_column(
        Enum(Severity, name="severity", native_enum=False, length=16, validate_strings=True), nullable=False
    )
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    subject: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    dedup_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class NotificationRead(Base):
    __tablename__ = "notification_reads"

    notification_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class NotificationDedup(Base):
    """One row per (venue, key): a notification with that key is recorded again only after `until`."""

    __tablename__ = "notification_dedup"
    __table_args__ = (UniqueConstraint("account_id", "dedup_key", name="uq_notification_dedup_account_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    dedup_key: Mapped[str] = mapped_column(String(200), nullable=False)
    until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
