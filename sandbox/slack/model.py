"""The Slack twin's plain data: workspaces, people, channels, installs, messages, views, files, faults, calls.

Also `SlackError`, the `{"ok": false, "error": ...}` answer a Web API method gives (HTTP 200, as Slack does).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

TRIGGER_TTL_SECONDS = 3.0  # a trigger_id works for 3 seconds (Slack's documented window)
CODE_TTL_SECONDS = 600.0  # an OAuth code is good for 10 minutes
RESPONSE_URL_TTL_SECONDS = 1800.0  # a response_url works for 30 minutes ...
RESPONSE_URL_USES = 5  # ... and up to five times
MAX_TEXT = 40_000  # chat.postMessage truncates past this; the twin refuses (msg_too_long) so a test sees it

FaultKind = Literal["rate_limit", "server_error", "delay", "error", "lost"]
LostHow = Literal["error", "drop", "hang"]


class SlackError(Exception):
    """A Web API error: HTTP 200 with `{"ok": false, "error": code}` plus Slack's extra fields."""

    def __init__(self, code: str, *, status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}


def random_string(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def slack_id(prefix: str) -> str:
    """An id the way Slack writes them: a type letter and upper-case letters and digits."""
    return prefix + random_string(10, string.ascii_uppercase + string.digits)


@dataclass
class Team:
    id: str
    name: str
    domain: str
    bot_user_id: str = ""  # the app's bot user in this workspace
    bot_id: str = ""
    active: bool = True  # False: the workspace is gone (account_inactive for its tokens)


@dataclass
class User:
    id: str
    team_id: str
    name: str
    real_name: str
    is_admin: bool = False
    is_bot: bool = False
    deleted: bool = False
    tz: str = "Europe/London"
    email: str | None = None


@dataclass
class Channel:
    id: str
    team_id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    created: float = 0.0


@dataclass
class App:
    id: str
    client_id: str
    client_secret: str
    signing_secret: str
    name: str = "CheersAI Sandbox"
    redirect_uris: list[str] = field(default_factory=list)  # empty: any redirect_uri is accepted


@dataclass
class Install:
    """A bot token: which workspace and bot user it acts as, its scopes, and whether it still works."""

    token: str
    team_id: str
    app_id: str
    bot_user_id: str
    bot_id: str
    scopes: list[str]
    installer_id: str
    issued_at: datetime
    revoked: bool = False
    revoked_via: str | None = None


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str | None
    team_id: str
    user_id: str
    scopes: list[str]
    issued_at: datetime
    used: bool = False


@dataclass
class Edit:
    at: datetime
    text: str
    blocks: list[Any] | None


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    user: str
    bot_id: str | None = None
    blocks: list[Any] | None = None
    thread_ts: str | None = None
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None
    files: list[str] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)  # earlier versions, oldest first
    deleted: bool = False
    via: str = "api"  # "api" | "response_url" | "upload"

    def as_slack(self, team_id: str) -> dict[str, Any]:
        """The message as Slack's answers show it."""
        out: dict[str, Any] = {"type": "message", "text": self.text, "user": self.user, "ts": self.ts, "team": team_id}
        if self.bot_id:
            out["bot_id"] = self.bot_id
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.files:
            out["files"] = [{"id": f} for f in self.files]
        if self.edits:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


@dataclass
class Ephemeral:
    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[Any] | None = None
    thread_ts: str | None = None
    via: str = "api"


@dataclass
class Trigger:
    id: str
    team_id: str
    user_id: str
    issued_at: datetime
    used: bool = False


@dataclass
class View:
    id: str
    team_id: str
    user_id: str
    type: str  # "modal" | "home"
    view: dict[str, Any]  # what the app sent
    hash: str
    external_id: str | None = None
    root_view_id: str | None = None
    previous_view_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier versions (views.update / publish)

    def as_slack(self, app_id: str, bot_id: str) -> dict[str, Any]:
        v = self.view
        return {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.type,
            "title": v.get("title"),
            "submit": v.get("submit"),
            "close": v.get("close"),
            "blocks": v.get("blocks", []),
            "private_metadata": v.get("private_metadata", ""),
            "callback_id": v.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self.hash,
            "clear_on_close": bool(v.get("clear_on_close", False)),
            "notify_on_close": bool(v.get("notify_on_close", False)),
            "root_view_id": self.root_view_id or self.id,
            "previous_view_id": self.previous_view_id,
            "app_id": app_id,
            "external_id": self.external_id or "",
            "bot_id": bot_id,
        }


@dataclass
class File:
    id: str
    team_id: str
    filename: str
    length: int
    upload_id: str
    created: datetime
    title: str | None = None
    alt_txt: str | None = None
    content_b64: str | None = None  # base64 of what was posted to the upload URL (JSON-safe for persistence)
    uploaded_bytes: int | None = None  # None until the upload URL has been posted to
    content_type: str | None = None
    shares: list[dict[str, Any]] = field(default_factory=list)  # {"channel", "thread_ts", "ts"}
    completed: bool = False


@dataclass
class Answer:
    """One POST to a response_url, as the app sent it."""

    at: datetime
    body: dict[str, Any]


@dataclass
class ResponseUrl:
    id: str
    team_id: str
    channel: str
    user: str
    issued_at: datetime
    message_ts: str | None = None  # the message an interaction came from (replace_original / delete_original)
    answers: list[Answer] = field(default_factory=list)


@dataclass
class Fault:
    kind: FaultKind
    remaining: int
    method: str | None = None  # a Web API method such as "chat.postMessage"; None: every method
    retry_after: int = 1
    status: int = 500
    seconds: float = 0.0
    error: str = "fatal_error"
    how: LostHow = "error"


@dataclass
class Pacing:
    """chat.postMessage per channel: `per_second` sustained with bursts of `burst` (a token bucket)."""

    enabled: bool = True
    per_second: float = 1.0
    burst: int = 50


@dataclass
class Bucket:
    tokens: float
    at: datetime


@dataclass
class CallRecord:
    """One Web API call the twin received; `token_in_url` is true when the token sat in the query string."""

    method: str
    http_method: str
    content_type: str
    token_source: str | None  # "header" | "body" | "query" | "basic" | None
    token_in_url: bool
    at: str
    status: int = 200
    error: str | None = None
