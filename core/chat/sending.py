"""How core hands an alert to a chat platform: the address, the chat-neutral message, the sender protocol and the
typed errors a sender raises (bot.slack.sender implements it for Slack; tests use an in-memory fake)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from core.notifications.actions import Offer
from storage.enums import ChatPlatform


@dataclass(frozen=True)
class ChatAddress:
    """Where a message goes; `token` is the workspace's bot token (decrypted), None in single-workspace mode."""

    platform: ChatPlatform
    workspace_id: str
    chat_id: str
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AlertItem:
    """One alert of a grouped message (one failed post) and what can be done to it."""

    text: str
    offers: tuple[Offer, ...] = ()


@dataclass(frozen=True)
class AlertMessage:
    """An alert as every platform renders it (the front doors map it onto bot.messages.ChatMessage)."""

    title: str
    lines: tuple[str, ...] = ()
    items: tuple[AlertItem, ...] = ()
    offers: tuple[Offer, ...] = ()


class SendError(Exception):
    """A send that did not succeed; the subclass says what delivery does next."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(SendError):
    """The platform asked us to wait `retry_after` seconds before the next message to this chat."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Gone(SendError):
    """The chat is gone (archived, deleted, bot removed, the person blocked the bot) or, with `install=True`, the
    bot's install is revoked; `what` says it in a few words for the venue's feed ("the person blocked the bot")."""

    def __init__(self, reason: str, *, install: bool = False, what: str | None = None) -> None:
        super().__init__(reason)
        self.install = install
        self.what = what


class MessageGone(SendError):
    """The message to edit no longer exists (someone deleted it): nothing to edit, the chat itself is fine."""


class Transient(SendError):
    """A passing failure before the platform applied anything (connection refused, 5xx on a read): retry."""


class AnswerLost(SendError):
    """The request may have been applied but its answer never came (timeout, 5xx after sending)."""


class ChatSender(Protocol):
    """Posts and edits messages in one platform's chats."""

    async def post(self, address: ChatAddress, message: AlertMessage) -> str:
        """Post `message`; returns the platform's reference to it (Slack: the message ts)."""
        ...

    async def update(self, address: ChatAddress, ref: str, message: AlertMessage) -> None:
        """Replace the message `ref` with `message` (buttons left out are removed)."""
        ...

    async def close(self) -> None:
        """Release what the sender holds (its HTTP session); the runtime calls it when it closes."""
        ...


Senders = Mapping[ChatPlatform, ChatSender]
