"""Chat: bot installs, the people and chats the bot knows, one-time link codes and handled inbound events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.enums import ChatPlatform
from storage.models.base import Base, CreatedMixin, IdMixin, utcnow
from storage.types import BigId, JsonDoc, UTCDateTime


def _platform() -> Enum:
    return Enum(ChatPlatform, name="chat_platform", native_enum=False, length=16, validate_strings=True)


class ChatInstall(IdMixin, CreatedMixin, Base):
    """The bot installed in a workspace (a Slack team, a Telegram bot); its token encrypted like provider tokens."""

    __tablename__ = "chat_installs"
    __table_args__ = (UniqueConstraint("platform", "workspace_id", name="uq_chat_installs_platform_workspace"),)

    platform: Mapped[ChatPlatform] = mapped_column(_platform(), nullable=False)
    workspace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    workspace_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The venue whose admin installed it; other venues may bind their own channels in the same workspace.
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    installed_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    app_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    bot_user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    bot_token_ciphertext: Mapped[str | None] = mapped_column(Text, nullable=True)
    bot_token_hint: Mapped[str | None] = mapped_column(String(32), nullable=True)
    scopes: Mapped[list[str]] = mapped_column(JsonDoc, default=list, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class ChatIdentity(IdMixin, CreatedMixin, Base):
    """A person as a chat platform knows them; `user_id` is set once they link with a one-time code."""

    __tablename__ = "chat_identities"
    __table_args__ = (
        UniqueConstraint("platform", "workspace_id", "chat_user_id", name="uq_chat_identities_platform_user"),
    )

    platform: Mapped[ChatPlatform] = mapped_column(_platform(), nullable=False)
    workspace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    chat_user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The venue chosen with `venue NAME`, for a person in several venues talking to the bot directly.
    current_account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True
    )
    failed_link_tries: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    link_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ChatLinkCode(IdMixin, CreatedMixin, Base):
    """A one-time code that links a chat identity to a person; only its SHA-256 is kept."""

    __tablename__ = "chat_link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_by_identity_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("chat_identities.id", ondelete="SET NULL"), nullable=True
    )


class ChatDestination(IdMixin, CreatedMixin, Base):
    """A chat (a channel, or a person's DM) that acts for a venue and may receive its alerts."""

    __tablename__ = "chat_destinations"
    __table_args__ = (
        UniqueConstraint(
            "platform", "workspace_id", "chat_id", "account_id", name="uq_chat_destinations_platform_chat_account"
        ),
        Index("ix_chat_destinations_account_alerts", "account_id", "alerts"),
    )

    platform: Mapped[ChatPlatform] = mapped_column(_platform(), nullable=False)
    workspace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    chat_id: Mapped[str] = mapped_column(String(64), nullable=False)
    chat_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    # A person's DM (`alerts me`): whose it is; None for a channel.
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    alerts: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    kinds: Mapped[list[str] | None] = mapped_column(JsonDoc, nullable=True)  # None: every kind
    muted: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)  # kind -> until (ISO)
    quiet_start: Mapped[str | None] = mapped_column(String(5), nullable=True)  # "22:00", the venue's time
    quiet_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class ChatInboundEvent(IdMixin, Base):
    """An inbound event handled once (Slack event_id, Telegram update_id), written with the work it caused."""

    __tablename__ = "chat_inbound_events"
    __table_args__ = (UniqueConstraint("platform", "event_id", name="uq_chat_inbound_events_platform_event"),)

    platform: Mapped[ChatPlatform] = mapped_column(_platform(), nullable=False)
    event_id: Mapped[str] = mapped_column(String(128), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class ChatConversation(IdMixin, CreatedMixin, Base):
    """A guided flow in progress (Telegram's step-by-step /schedule): one per chat and person, kept in the database
    so any web process continues it and a restart keeps it; `version` rises with each step, so a stale button or a
    racing second process is refused instead of applied twice."""

    __tablename__ = "chat_conversations"
    __table_args__ = (
        UniqueConstraint(
            "platform", "workspace_id", "chat_id", "chat_user_id", name="uq_chat_conversations_platform_chat_user"
        ),
    )

    platform: Mapped[ChatPlatform] = mapped_column(_platform(), nullable=False)
    workspace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    chat_id: Mapped[str] = mapped_column(String(64), nullable=False)
    chat_user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # "schedule"
    step: Mapped[str] = mapped_column(String(32), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    # The venue the flow acts for (decided when it started) and the person it runs as.
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
