"""Posts, their deliveries (one post x one connection = one post_target), attempts, and per-connection pacing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.enums import AttemptOutcome, DeliveryStatus, Provider
from storage.models.base import Base, CreatedMixin, IdMixin, utcnow
from storage.types import BigId, JsonDoc, UTCDateTime

# Statuses the dispatcher claims when due.
CLAIMABLE = (DeliveryStatus.scheduled, DeliveryStatus.retrying, DeliveryStatus.processing)
# Statuses a person may edit or cancel (nothing is in flight and nothing is live).
EDITABLE = (
    DeliveryStatus.scheduled,
    DeliveryStatus.retrying,
    DeliveryStatus.needs_reconnect,
    DeliveryStatus.failed,
    DeliveryStatus.missed,
    DeliveryStatus.pending_approval,
)
# Final for the engine: only a person moves these on.
SETTLED = (
    DeliveryStatus.published,
    DeliveryStatus.failed,
    DeliveryStatus.missed,
    DeliveryStatus.in_doubt,
    DeliveryStatus.needs_attention,
    DeliveryStatus.cancelled,
)
RETRYABLE = (
    DeliveryStatus.failed,
    DeliveryStatus.missed,
    DeliveryStatus.in_doubt,
    DeliveryStatus.needs_reconnect,
    DeliveryStatus.needs_attention,
)


class Post(IdMixin, CreatedMixin, Base):
    """What a venue wants said, when, and where; its deliveries carry the per-connection state."""

    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_account_scheduled", "account_id", "scheduled_at"),)

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    link: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # Per-provider caption overrides: {"instagram": "...", "google_business": "..."}.
    captions: Mapped[dict[str, str]] = mapped_column(JsonDoc, default=dict, nullable=False)
    # Per-provider options: {"instagram": {"surface": "story"}, "google_business": {...GoogleOptions}}.
    options: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    freshness_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    # Approval (docs/weekly.md): None when the venue does not ask for it; "pending", "approved" or "rejected".
    approval: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    approval_decided_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    approval_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approval_note: Mapped[str | None] = mapped_column(Text, nullable=True)  # the reason given with a rejection
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class PostMedia(IdMixin, Base):
    """Which library assets a post uses, in order (lets the library refuse deleting what is scheduled)."""

    __tablename__ = "post_media"
    __table_args__ = (
        UniqueConstraint("post_id", "position", name="uq_post_media_post_position"),
        Index("ix_post_media_asset", "asset_id"),
    )

    post_id: Mapped[int] = mapped_column(BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    asset_id: Mapped[int] = mapped_column(BigId, ForeignKey("media_assets.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)


class PostTarget(IdMixin, CreatedMixin, Base):
    """One delivery: a post going to one connection, moving through DeliveryStatus."""

    __tablename__ = "post_targets"
    __table_args__ = (
        UniqueConstraint("post_id", "connection_id", name="uq_post_targets_post_connection"),
        Index("ix_post_targets_status_due", "status", "due_at"),
        Index("ix_post_targets_connection_status", "connection_id", "status"),
        Index("ix_post_targets_account_status", "account_id", "status"),
    )

    post_id: Mapped[int] = mapped_column(BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    connection_id: Mapped[int] = mapped_column(BigId, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False)
    provider: Mapped[Provider] = mapped_column(
        Enum(Provider, name="provider", native_enum=False, length=32, validate_strings=True), nullable=False
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, name="delivery_status", native_enum=False, length=32, validate_strings=True),
        default=DeliveryStatus.scheduled,
        nullable=False,
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # provider attempts so far
    retries: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # passing failures in a row
    lease_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The adapter's progress (Instagram container id, unpublished photo ids, GBP local post name).
    stage: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    committed: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)  # a post may be visible
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    permalink: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Plain words for the current state ("Waiting for Instagram to process the video") and, after a
    # failure, the reason, the provider's code and what to do.
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remedy: Mapped[str | None] = mapped_column(Text, nullable=True)
    content_version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class PublishAttempt(IdMixin, Base):
    """One run of a delivery against its provider, recorded before the call, with redacted snapshots."""

    __tablename__ = "publish_attempts"
    __table_args__ = (UniqueConstraint("target_id", "number", name="uq_publish_attempts_target_number"),)

    target_id: Mapped[int] = mapped_column(BigId, ForeignKey("post_targets.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[AttemptOutcome] = mapped_column(
        Enum(AttemptOutcome, name="attempt_outcome", native_enum=False, length=32, validate_strings=True),
        default=AttemptOutcome.in_flight,
        nullable=False,
    )
    lease_token: Mapped[str] = mapped_column(String(64), nullable=False)
    worker: Mapped[str] = mapped_column(String(128), nullable=False)
    payload_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    exchanges: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list, nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ConnectionPacing(Base):
    """When a connection may next be called, shared by every worker process (never process memory)."""

    __tablename__ = "connection_pacing"

    connection_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    next_allowed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    usage_percent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
