"""Connections to a venue's Page, Instagram account or Business Profile location (tokens encrypted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.enums import ConnectionStatus, OAuthPurpose, Provider
from storage.models.base import Base, CreatedMixin, IdMixin, utcnow
from storage.types import BigId, JsonDoc, UTCDateTime


class Connection(IdMixin, CreatedMixin, Base):
    """One publishable place of a venue; reconnecting updates this row, so history keeps pointing here."""

    __tablename__ = "connections"
    __table_args__ = (
        Index("ix_connections_account_provider", "account_id", "provider"),
        UniqueConstraint("account_id", "provider", "external_id", name="uq_connections_account_provider_external"),
        Index("ix_connections_provider_user_id", "provider_user_id"),
    )

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
    # Meta: the long-lived user token behind the page token (what can lapse, and what revokes).
    user_token_ciphertext: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_token_hint: Mapped[str | None] = mapped_column(String(32), nullable=True)
    user_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    data_access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    provider_user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    page_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ig_business_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    location_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    scopes: Mapped[list[str]] = mapped_column(JsonDoc, default=list, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    last_diagnosis: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)
    diagnosed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    connected_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class OAuthState(IdMixin, CreatedMixin, Base):
    """One consent flow: single use, expiring, bound to venue, person, provider and (once opened) a browser."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    # None for a state that connects no provider (a Slack install, core.chat.installs).
    provider: Mapped[Provider | None] = mapped_column(
        Enum(Provider, name="provider", native_enum=False, length=32, validate_strings=True), nullable=True
    )
    purpose: Mapped[OAuthPurpose] = mapped_column(
        Enum(OAuthPurpose, name="oauth_purpose", native_enum=False, length=16, validate_strings=True), nullable=False
    )
    connection_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("connections.id", ondelete="CASCADE"), nullable=True
    )
    code_verifier_ciphertext: Mapped[str | None] = mapped_column(Text, nullable=True)
    browser_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    return_to: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # When one consent grants several places, the candidates (tokens encrypted) wait here for the pick.
    pending_ciphertext: Mapped[str | None] = mapped_column(Text, nullable=True)
    pending_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)


class MetaDataRequest(IdMixin, CreatedMixin, Base):
    """A Meta deauthorize or data-deletion callback we received (signed_request verified)."""

    __tablename__ = "meta_data_requests"

    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    provider_user_id: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    confirmation_code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    connection_ids: Mapped[list[int]] = mapped_column(JsonDoc, default=list, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
