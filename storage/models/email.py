"""E-mails waiting to go out or sent: one row per message, written once by its `dedup_key` (an outbox)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.enums import ChatMessageStatus
from storage.models.base import Base, CreatedMixin, IdMixin, utcnow
from storage.types import UTCDateTime


class Email(IdMixin, CreatedMixin, Base):
    """One e-mail to one address, rendered when queued; sent under a lease with Resend's Idempotency-Key set from
    `dedup_key`, so a retry after a lost answer never delivers it twice."""

    __tablename__ = "emails"
    __table_args__ = (Index("ix_emails_due", "status", "next_attempt_at"),)

    # Who asked for it and about what: "incident:12:opened:ops@example.com", "notification:77:user:3", ...
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # ops_incident | ops_digest | venue_alert | ...
    to_address: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    text_body: Mapped[str] = mapped_column(Text, nullable=False)
    html_body: Mapped[str] = mapped_column(Text, nullable=False)
    # pending, sending (leased), sent, failed (gave up or refused for good); `gone` is unused for e-mail.
    status: Mapped[ChatMessageStatus] = mapped_column(
        Enum(ChatMessageStatus, name="chat_message_status", native_enum=False, length=16, validate_strings=True),
        nullable=False,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(128), nullable=True)  # Resend's id for the e-mail
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
