"""Alerts delivered to chats: one row per (notification, destination), the chat messages that carry them, and
per-chat pacing shared by every worker process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.enums import ChatMessageStatus, ChatPlatform, Severity
from storage.models.base import Base, CreatedMixin, IdMixin, utcnow
from storage.types import BigId, UTCDateTime


class ChatAlertFanout(Base):
    """A notification already fanned out to the venue's chat destinations (insert-once)."""

    __tablename__ = "chat_alert_fanouts"

    notification_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ChatAlertMessage(IdMixin, CreatedMixin, Base):
    """One message in one chat, carrying one alert or a group of alerts about the same problem."""

    __tablename__ = "chat_alert_messages"
    __table_args__ = (
        Index("ix_chat_alert_messages_due", "status", "next_attempt_at"),
        Index("ix_chat_alert_messages_group", "destination_id", "group_key"),
    )

    destination_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("chat_destinations.id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    # Alerts with the same key arriving within the group window share this message (kind + connection).
    group_key: Mapped[str] = mapped_column(String(200), nullable=False)
    group_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    severity: Mapped[Severity] = mapped_column(
        Enum(Severity, name="severity", native_enum=False, length=16, validate_strings=True), nullable=False
    )
    status: Mapped[ChatMessageStatus] = mapped_column(
        Enum(ChatMessageStatus, name="chat_message_status", native_enum=False, length=16, validate_strings=True),
        nullable=False,
    )
    ref: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the platform's id (Slack: ts)
    # Sent, but its content changed since (more alerts joined, or resolved): edit it in place.
    needs_update: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    posts_started: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # posts that may have landed
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sending_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it waits (quiet hours, pacing)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class ChatAlertDelivery(IdMixin, CreatedMixin, Base):
    """One notification for one destination, written once: two workers or a redelivered task never post it twice."""

    __tablename__ = "chat_alert_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "destination_id", name="uq_chat_alert_deliveries_notification_dest"),
    )

    notification_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False
    )
    destination_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("chat_destinations.id", ondelete="CASCADE"), nullable=False
    )
    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("chat_alert_messages.id", ondelete="CASCADE"), nullable=True, index=True
    )


class ChatPacing(Base):
    """When a chat may next receive a message (Slack: about one per second per channel), shared across processes."""

    __tablename__ = "chat_pacing"

    platform: Mapped[ChatPlatform] = mapped_column(
        Enum(ChatPlatform, name="chat_platform", native_enum=False, length=16, validate_strings=True),
        primary_key=True,
    )
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_allowed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
