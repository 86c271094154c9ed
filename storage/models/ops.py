"""Operational state: heartbeats, job runs, task statistics, incidents and where ops are told of them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.enums import ChatMessageStatus, ChatPlatform, Severity
from storage.models.base import Base, CreatedMixin, IdMixin, utcnow
from storage.types import BigId, JsonDoc, UTCDateTime


class Heartbeat(Base):
    """Last sign of life of one worker or scheduler process."""

    __tablename__ = "heartbeats"

    component: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    info: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)


class JobRun(IdMixin, Base):
    """One run of a periodic job, by the scheduler or by an operator (`cheers jobs run`)."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_name_started_at", "name", "started_at"),)

    name: Mapped[str] = mapped_column(String(64), nullable=False)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


class TaskStat(Base):
    """Runs of one task in one minute by one process, flushed by the taskiq middleware (the failure-rate rule)."""

    __tablename__ = "task_stats"
    __table_args__ = (Index("ix_task_stats_bucket", "bucket"),)

    task_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)  # the minute, UTC
    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    max_ms: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)  # "TypeName: message", cut to 500 chars
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Incident(IdMixin, CreatedMixin, Base):
    """Something wrong with the service itself (a job failing, the scheduler gone): one open row per `key`, updated
    while it lasts and resolved when its condition clears; ops destinations and e-mails are told from it."""

    __tablename__ = "incidents"
    __table_args__ = (
        # De-duplication while open: a second evaluator racing to open the same incident hits this.
        Index(
            "uq_incidents_open_key",
            "key",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_incidents_status_opened_at", "status", "opened_at"),
    )

    rule: Mapped[str] = mapped_column(String(32), nullable=False)  # job_failing, scheduler_down, ...
    key: Mapped[str] = mapped_column(String(200), nullable=False)  # rule + what it is about: "job_failing:housekeeping"
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # open | resolved
    severity: Mapped[Severity] = mapped_column(
        Enum(Severity, name="severity", native_enum=False, length=16, validate_strings=True), nullable=False
    )
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")  # what is true now, in plain words
    subject: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)  # {"job": ...}
    facts: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)  # numbers behind `detail`
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    silenced_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    silenced_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # Rises with every change people should see (opened, detail changed, silenced, resolved); the ops fan-out
    # tells destinations about each version it has not told yet (`told_version`).
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    told_version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class OpsDigest(IdMixin, CreatedMixin, Base):
    """One day's digest for ops destinations (written once per day by the ops-digest job, sent by the fan-out)."""

    __tablename__ = "ops_digests"

    day: Mapped[date] = mapped_column(Date, unique=True, nullable=False)  # the UTC day it covers
    body: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    told_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OpsDestination(IdMixin, CreatedMixin, Base):
    """A chat subscribed to the service's own incidents by staff (`alerts ops here`); separate from venues' alerts."""

    __tablename__ = "ops_destinations"
    __table_args__ = (
        UniqueConstraint("platform", "workspace_id", "chat_id", name="uq_ops_destinations_platform_chat"),
    )

    platform: Mapped[ChatPlatform] = mapped_column(
        Enum(ChatPlatform, name="chat_platform", native_enum=False, length=16, validate_strings=True), nullable=False
    )
    workspace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    chat_id: Mapped[str] = mapped_column(String(64), nullable=False)
    chat_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class OpsMessage(IdMixin, CreatedMixin, Base):
    """One chat message in one ops destination about one incident (posted once, edited as it changes) or one digest.
    Sent under a lease like chat_alert_messages: `posts_started` keeps a lost answer from posting it a third time."""

    __tablename__ = "ops_messages"
    __table_args__ = (
        UniqueConstraint("subject_key", "destination_id", name="uq_ops_messages_subject_destination"),
        Index("ix_ops_messages_due", "status", "next_attempt_at"),
    )

    subject_key: Mapped[str] = mapped_column(String(64), nullable=False)  # "incident:12" | "digest:2026-12-05"
    incident_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=True, index=True
    )
    digest_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ops_digests.id", ondelete="CASCADE"), nullable=True
    )
    destination_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ops_destinations.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[ChatMessageStatus] = mapped_column(
        Enum(ChatMessageStatus, name="chat_message_status", native_enum=False, length=16, validate_strings=True),
        nullable=False,
    )
    ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    needs_update: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    posts_started: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
