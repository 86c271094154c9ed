"""Connections to a venue's Page, Instagram account or Business Profile location (tokens encrypted)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CreatedMixin, IdMixin, utcnow
from storage.types import BigId, JsonDoc, UTCDateTime


class Provider(enum.StrEnum):
    facebook = "facebook"
    instagram = "instagram"
    google_business = "google_business"


class ConnectionStatus(enum.StrEnum):
    active = "active"
    expiring = "expiring"
    needs_reconnect = "needs_reconnect"
    revoked = "revoked"
    disconnected = "disconnected"


class Connection(IdMixin, CreatedMixin, Base):
    __tablename__ = "connections"
    __table_args__ = (Index("ix_connections_account_provider", "account_id", "provider"),)

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    provider: Mapped[Provider] = mapped_column(
        Enum(Provider, name="provider", native_enum=False, length=32, validate_strings=True), nullable=False
    )
    status: Mapped[ConnectionStatus] = mapped_column(
        Enum(ConnectionStatus, name="connection_status", native_enum=False, length=32, validate_strings=True),
        default=ConnectionStatus.active,
        nullable=False,
    )
    external_id: Mapped[str] = mapped_column(String(255), nullable=False)
    display_name: Mapped[str] = mapped_column(String(255), nullable=False)
    # Tokens: ciphertext only, plus a masked hint so listing never needs to decrypt.
    access_token_ciphertext: Mapped[str | None] = mapped_column(Text, nullable=True)
    access_token_hint: Mapped[str | None] = mapped_column(String(32), nullable=True)
    refresh_token_ciphertext: Mapped[str | None] = mapped_column(Text, nullable=True)
    refresh_token_hint: Mapped[str | None] = mapped_column(String(32), nullable=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scopes: Mapped[list[str]] = mapped_column(JsonDoc, default=list, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
