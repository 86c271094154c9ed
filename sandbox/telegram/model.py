"""The Telegram twin's plain data: people, chats, messages, files, updates, callback queries, faults, calls.

Also `TelegramError`, the `{"ok": false, "error_code": ..., "description": ...}` answer a Bot API method gives
(with the HTTP status equal to error_code, as Telegram does).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

MAX_TEXT = 4096  # characters of a message's text after entity parsing
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_BUTTONS = 100
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
CALLBACK_ANSWER_SECONDS = 15.0  # a callback query not answered by then is "too old"
UPDATE_KEPT_SECONDS = 24 * 3600.0  # Telegram keeps an update for 24 hours
MAX_CALLS_KEPT = 10_000  # the call log (not kept in the state file) keeps the newest ones

FaultKind = Literal["rate_limit", "server_error", "delay"]


class TelegramError(Exception):
    """A Bot API error: HTTP `code` with Telegram's JSON body."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON Telegram answers with."""
        out: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            out["parameters"] = {"retry_after": self.retry_after}
        return out


def bad_request(what: str) -> TelegramError:
    """A 400 "Bad Request: <what>"."""
    return TelegramError(400, f"Bad Request: {what}")


def random_string(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    """Random letters and digits (ids, file ids)."""
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass
class Person:
    """A Telegram user the twin knows (someone who wrote to the bot, or added it to a group)."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str = "en"

    def as_telegram(self) -> dict[str, Any]:
        """As a Telegram object."""
        out: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            out["username"] = self.username
        out["language_code"] = self.language_code
        return out


@dataclass
class Chat:
    id: int
    type: str  # "private" | "group" | "supergroup"
    title: str | None = None  # groups
    first_name: str | None = None  # private chats
    username: str | None = None

    def as_telegram(self) -> dict[str, Any]:
        """As a Telegram object."""
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.first_name or ""
            if self.username:
                out["username"] = self.username
        else:
            out["title"] = self.title or ""
            if self.type == "group":
                out["all_members_are_administrators"] = True
        return out


@dataclass
class Message:
    """A message in a chat, the bot's or a person's; `text` is plain (after parsing), `html` as the bot sent it."""

    chat_id: int
    message_id: int
    date: int
    from_id: int
    by_bot: bool
    text: str | None = None
    html: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    edits: int = 0
    edit_date: int | None = None
    document: dict[str, Any] | None = None
    photo: list[dict[str, Any]] | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    reply_to_message_id: int | None = None
    link_preview_disabled: bool = False
    deleted: bool = False


@dataclass
class StoredFile:
    """A file getFile can hand out: sent by a person (photo) or by the bot (sendDocument)."""

    file_id: str
    file_unique_id: str
    file_path: str
    size: int
    content_b64: str
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class Delivery:
    """One POST of an update to the webhook: the HTTP status (None: no answer) or what went wrong."""

    at: str
    url: str
    status: int | None
    error: str | None = None


@dataclass
class Update:
    update_id: int
    kind: str  # "message" | "callback_query" | "my_chat_member" | ...
    payload: dict[str, Any]
    created_at: datetime
    confirmed: bool = False  # delivered (webhook 2xx) or confirmed by a later getUpdates offset
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass
class CallbackQuery:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created_at: datetime
    answered: bool = False
    answer: dict[str, Any] | None = None


@dataclass
class Webhook:
    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class WebhookPolicy:
    """How the twin resends an update the webhook did not take: `resend_attempts` POSTs in all, `resend_interval`
    seconds apart, each waiting `timeout` seconds for an answer."""

    resend_attempts: int = 3
    resend_interval: float = 0.05
    timeout: float = 10.0


@dataclass
class Fault:
    kind: FaultKind
    remaining: int
    method: str | None = None  # a Bot API method such as "sendMessage" (any case); None: every method
    retry_after: int = 3
    status: int = 502
    seconds: float = 0.0


@dataclass
class CallRecord:
    """One Bot API call the twin received (file contents left out)."""

    method: str
    http_method: str
    params: dict[str, Any]
    at: str
    status: int = 200
    description: str | None = None
