"""The media library: one row per uploaded file, one per prepared version of it (derivative)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.enums import MediaKind, MediaStatus
from storage.models.base import Base, CreatedMixin, IdMixin, utcnow
from storage.types import BigId, UTCDateTime


class MediaAsset(IdMixin, CreatedMixin, Base):
    """An uploaded file of a venue; identical bytes uploaded twice are one asset (sha256 per venue)."""

    __tablename__ = "media_assets"
    __table_args__ = (
        UniqueConstraint("account_id", "sha256", name="uq_media_assets_account_sha256"),
        Index("ix_media_assets_account_created", "account_id", "created_at"),
        Index("ix_media_assets_status_next_attempt", "status", "next_attempt_at"),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[MediaKind] = mapped_column(
        Enum(MediaKind, name="media_kind", native_enum=False, length=16, validate_strings=True), nullable=False
    )
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(BigId, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    blob_key: Mapped[str] = mapped_column(String(512), nullable=False)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    focal_x: Mapped[float] = mapped_column(Float, default=0.5, nullable=False)
    focal_y: Mapped[float] = mapped_column(Float, default=0.5, nullable=False)
    status: Mapped[MediaStatus] = mapped_column(
        Enum(MediaStatus, name="media_status", native_enum=False, length=16, validate_strings=True),
        default=MediaStatus.pending,
        nullable=False,
    )
    # How many times processing started (a claim counts, so a worker dying mid-file counts too).
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    processing_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    uploaded_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class MediaDerivative(IdMixin, CreatedMixin, Base):
    """One prepared version of an asset for a surface (an image preset, or a video's MP4 and poster)."""

    __tablename__ = "media_derivatives"
    __table_args__ = (UniqueConstraint("asset_id", "preset", name="uq_media_derivatives_asset_preset"),)

    asset_id: Mapped[int] = mapped_column(BigId, ForeignKey("media_assets.id", ondelete="CASCADE"), nullable=False)
    preset: Mapped[str] = mapped_column(String(64), nullable=False)
    blob_key: Mapped[str] = mapped_column(String(512), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    byte_size: Mapped[int] = mapped_column(BigId, nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)


class StoredBlob(CreatedMixin, Base):
    """How many rows (assets, derivatives, of any venue) use one stored file; the file goes when this reaches 0."""

    __tablename__ = "stored_blobs"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    refs: Mapped[int] = mapped_column(Integer, nullable=False)
