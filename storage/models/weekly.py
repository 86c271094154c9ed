"""The weekly plan: a venue's recurring slots, and one row per slot and local date it was turned into a post."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CreatedMixin, IdMixin, utcnow
from storage.types import BigId, JsonDoc, UTCDateTime


class WeeklySlot(IdMixin, CreatedMixin, Base):
    """A post the venue makes every week: weekday and wall time in the venue's timezone, a text template (the date
    filled in), media from the library (one, or a rotation), targets and per-platform captions."""

    __tablename__ = "weekly_slots"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    weekday: Mapped[int] = mapped_column(Integer, nullable=False)  # 0 Monday … 6 Sunday
    local_time: Mapped[str] = mapped_column(String(5), nullable=False)  # "20:00", the venue's wall time
    text_template: Mapped[str] = mapped_column(Text, nullable=False)
    media_asset_ids: Mapped[list[int]] = mapped_column(JsonDoc, default=list, nullable=False)  # rotated weekly
    connection_ids: Mapped[list[int]] = mapped_column(JsonDoc, default=list, nullable=False)
    captions: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    active_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    active_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)  # rises with every edit
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class WeeklyPost(IdMixin, CreatedMixin, Base):
    """A slot on one local date, made once: the unique key is what makes a rerun, a second scheduler or a crash
    halfway create nothing twice. `post_version` is the post's version as made, so a hand edit is told apart."""

    __tablename__ = "weekly_posts"
    __table_args__ = (UniqueConstraint("slot_id", "local_date", name="uq_weekly_posts_slot_date"),)

    slot_id: Mapped[int] = mapped_column(BigId, ForeignKey("weekly_slots.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    local_date: Mapped[date] = mapped_column(Date, nullable=False)
    post_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    slot_version: Mapped[int] = mapped_column(Integer, nullable=False)
    post_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # "made" (post_id set), "not_made" (reason says why and how to fix), "skipped" (a person skipped it).
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. how a daylight-saving gap was resolved
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
