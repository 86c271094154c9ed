"""The Meta twin's plain data: users, Pages, Instagram accounts, grants, tokens, codes, faults, calls.

Also the Graph error the twin answers with, and the parsed request / answer the endpoints exchange.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

SHORT_LIVED_SECONDS = 5400  # docs/providers.md#meta-tokens: sources disagree, so configurable
LONG_LIVED_SECONDS = 5_184_000  # ≈ 60 days
PAGE_FROM_SHORT_LIVED_SECONDS = 3600  # Page tokens from a short-lived user token last 1 h
CODE_TTL_SECONDS = 600
DATA_ACCESS_DAYS = 90
DEFAULT_TASKS = ("ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE")
ALWAYS_GRANTED = "public_profile"

# Messages as Meta words them (docs/providers.md#graph-errors); 460/492 wording is unverified.
MSG_APP_REMOVED = "Error validating access token: The user has not authorized application {app}."
MSG_PASSWORD = (
    "Error validating access token: The session has been invalidated because the user changed their "
    "password or Facebook has changed the session for security reasons."
)
MSG_ROLE_LOST = "Error validating access token: The user is not an admin of this Page or has lost their role on it."
MSG_LOGGED_OUT = "Error validating access token: The session is invalid because the user logged out."
FB_TIME = "%A, %d-%b-%y %H:%M:%S UTC"

TokenKind = Literal["USER", "PAGE"]
FaultKind = Literal["rate_limit", "server_error", "delay", "graph_error", "commit_then_error", "commit_then_hang"]
COMMIT_FAULTS = frozenset({"commit_then_error", "commit_then_hang"})  # strike after a write has been committed


class GraphError(Exception):
    """A Graph error the twin answers with the real envelope; `status` follows docs/providers.md#graph-errors."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        status: int | None = None,
        is_transient: bool | None = None,
        headers: dict[str, str] | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.status = status or graph_status(code)
        self.is_transient = is_transient
        self.headers = headers or {}
        self.user_title = user_title
        self.user_msg = user_msg

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException", "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = "A" + random_string(10)
        return {"error": error}


def graph_status(code: int) -> int:
    """HTTP status Meta uses for an error code: 500 for 1/2, 403 for permission, else 400."""
    if code in (1, 2):
        return 500
    if 200 <= code <= 299:
        return 403
    return 400


def random_string(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass
class InstagramAccount:
    id: str
    username: str
    name: str
    profile_picture_url: str


@dataclass
class Page:
    id: str
    name: str
    category: str = "Pub"
    instagram_id: str | None = None


@dataclass
class User:
    id: str
    name: str
    roles: dict[str, list[str]] = field(default_factory=dict)  # page id → tasks the user may do there


@dataclass
class AppGrant:
    """What one user allowed one app: scopes, declined scopes and the Pages ticked in the dialog."""

    user_id: str
    app_id: str
    scopes: list[str]
    declined: list[str]
    page_ids: list[str]
    data_access_expires_at: datetime
    active: bool = True


@dataclass
class Token:
    value: str
    kind: TokenKind
    app_id: str
    user_id: str
    issued_at: datetime
    expires_at: datetime | None  # None: never expires (Page token from a long-lived user token)
    long_lived: bool = False
    page_id: str | None = None
    parent: str | None = None  # the user token a Page token was derived from
    problem: tuple[int, str] | None = None  # (190 subcode, message) once invalidated


@dataclass
class AuthCode:
    value: str
    app_id: str
    redirect_uri: str
    user_id: str
    issued_at: datetime
    used: bool = False


@dataclass
class Consent:
    """How the auto-approving dialog answers: who consents, which Pages, which scopes are declined."""

    user_id: str | None = None  # None: the first user of the scenario
    page_ids: list[str] | None = None  # None: every Page the user has a role on
    denied_scopes: list[str] = field(default_factory=list)
    deny: bool = False


@dataclass
class Fault:
    kind: FaultKind
    remaining: int
    code: int = 4
    seconds: float = 0.0
    path_contains: str | None = None
    regain_minutes: int = 5
    is_transient: bool | None = None
    retry_after: int | None = None  # seconds, sent as Retry-After with a throttle
    subcode: int | None = None  # graph_error: any Graph error, answered before anything is done
    message: str | None = None
    status: int | None = None


@dataclass
class CallRecord:
    """One request the twin received; `secret_in_url` is true when a token or secret sat in the URL."""

    method: str
    path: str
    query: str
    token_source: str | None  # "header" | "query" | "form" | None
    form_keys: list[str]
    secret_in_url: bool
    at: str
    status: int = 0


@dataclass
class App:
    id: str
    secret: str
    name: str = "CheersAI Sandbox"


@dataclass
class GraphRequest:
    method: str
    path: str  # without the mount prefix, e.g. "/v25.0/me/accounts"
    params: dict[str, str]  # query and body merged (body wins, as on Graph)
    token: str | None
    url: str  # the full URL as received, to build paging.next from


@dataclass
class Answer:
    status: int = 200
    json: dict[str, Any] | None = None
    location: str | None = None
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
