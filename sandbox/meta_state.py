"""The Meta twin's world: users, Pages, Instagram accounts, app grants, tokens, faults and a call log.

Plain data plus the rules that decide whether a token still works, so the Graph endpoints
(sandbox/meta_graph.py) and the control interface (sandbox/meta.py) share one truth. Publishing
(posts, photos, containers) will hang off the same Page/Instagram records in a later issue.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sandbox.clock import TwinClock

SHORT_LIVED_SECONDS = 5400  # provider-facts §1.2: real values disagree, so configurable
LONG_LIVED_SECONDS = 5_184_000  # ≈ 60 days (§1.3)
PAGE_FROM_SHORT_LIVED_SECONDS = 3600  # §1.4: Page tokens from a short-lived user token last 1 h
CODE_TTL_SECONDS = 600
DATA_ACCESS_DAYS = 90
DEFAULT_TASKS = ("ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE")
ALWAYS_GRANTED = "public_profile"

# Messages as Meta words them (provider-facts §2.3); 460/492 wording is unverified.
MSG_APP_REMOVED = "Error validating access token: The user has not authorized application {app}."
MSG_PASSWORD = (
    "Error validating access token: The session has been invalidated because the user changed their "
    "password or Facebook has changed the session for security reasons."
)
MSG_ROLE_LOST = "Error validating access token: The user is not an admin of this Page or has lost their role on it."
MSG_LOGGED_OUT = "Error validating access token: The session is invalid because the user logged out."
_FB_TIME = "%A, %d-%b-%y %H:%M:%S UTC"

TokenKind = Literal["USER", "PAGE"]
FaultKind = Literal["rate_limit", "server_error", "delay"]


class GraphError(Exception):
    """A Graph error the twin answers with the real envelope; `status` follows provider-facts §2."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        status: int | None = None,
        is_transient: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.status = status or graph_status(code)
        self.is_transient = is_transient
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException", "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        error["fbtrace_id"] = "A" + _random(10)
        return {"error": error}


def graph_status(code: int) -> int:
    """HTTP status Meta uses for an error code: 500 for 1/2, 403 for permission, else 400."""
    if code in (1, 2):
        return 500
    if 200 <= code <= 299:
        return 403
    return 400


def _random(n: int) -> str:
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


class MetaTwinState:
    """Everything the twin knows; reset() returns to the default scenario."""

    def __init__(self, *, app_id: str, app_secret: str, clock: TwinClock | None = None) -> None:
        self.clock = clock or TwinClock()
        self.apps = {app_id: App(app_id, app_secret)}
        self.app_id = app_id
        self.reset()

    # -- world ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the default scenario with no tokens, faults or calls; the clock is reset too."""
        self.clock.reset()
        self.code_expires_in = SHORT_LIVED_SECONDS
        self.consent = Consent()
        self.faults: list[Fault] = []
        self.calls: list[CallRecord] = []
        self.revocations: list[dict[str, Any]] = []
        self.usage: dict[str, int] | None = None  # X-App-Usage sent on every answer when set
        self.load_scenario(default_scenario())

    def load_scenario(self, spec: dict[str, Any]) -> None:
        """Replace users, Pages and Instagram accounts; grants, tokens and codes start empty."""
        self.users: dict[str, User] = {}
        self.pages: dict[str, Page] = {}
        self.instagram: dict[str, InstagramAccount] = {}
        self.grants: dict[tuple[str, str], AppGrant] = {}
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, AuthCode] = {}
        self._page_tokens: dict[tuple[str, str], str] = {}
        self._seq = 0
        for u in spec.get("users", []):
            user = User(id=str(u.get("id") or self._new_id("1000")), name=u["name"])
            self.users[user.id] = user
            for p in u.get("pages", []):
                page_id = str(p.get("id") or self._new_id("1090"))
                if page_id not in self.pages:
                    page = Page(id=page_id, name=p["name"], category=p.get("category", "Pub"))
                    if ig := p.get("instagram"):
                        account = InstagramAccount(
                            id=str(ig.get("id") or self._new_id("1784")),
                            username=ig["username"],
                            name=ig.get("name", p["name"]),
                            profile_picture_url=ig.get(
                                "profile_picture_url", f"https://sandbox.invalid/ig/{ig['username']}.jpg"
                            ),
                        )
                        self.instagram[account.id] = account
                        page.instagram_id = account.id
                    self.pages[page_id] = page
                user.roles[page_id] = list(p.get("tasks", DEFAULT_TASKS))

    def _new_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:012d}"

    def default_user(self) -> User:
        return next(iter(self.users.values()))

    # -- tokens --------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def issue_user_token(self, user_id: str, app_id: str, *, long_lived: bool) -> Token:
        seconds = LONG_LIVED_SECONDS if long_lived else self.code_expires_in
        now = self.now()
        token = Token(
            value="EAAU" + _random(60),
            kind="USER",
            app_id=app_id,
            user_id=user_id,
            issued_at=now,
            expires_at=now + timedelta(seconds=seconds),
            long_lived=long_lived,
        )
        self.tokens[token.value] = token
        return token

    def page_token(self, user_token: Token, page_id: str) -> Token:
        """The Page token /me/accounts hands out (stable per user token, as Meta's is)."""
        known = self._page_tokens.get((user_token.value, page_id))
        if known and known in self.tokens and self.tokens[known].problem is None:
            return self.tokens[known]
        now = self.now()
        token = Token(
            value="EAAP" + _random(60),
            kind="PAGE",
            app_id=user_token.app_id,
            user_id=user_token.user_id,
            issued_at=now,
            expires_at=None if user_token.long_lived else now + timedelta(seconds=PAGE_FROM_SHORT_LIVED_SECONDS),
            long_lived=user_token.long_lived,
            page_id=page_id,
            parent=user_token.value,
        )
        self.tokens[token.value] = token
        self._page_tokens[(user_token.value, page_id)] = token.value
        return token

    def token_error(self, value: str) -> GraphError | None:
        """Why a token no longer works (190 with Meta's subcode), or None when it does."""
        token = self.tokens.get(value)
        if token is None:
            if not value.startswith("EAA"):
                return GraphError(190, f"Malformed access token {value}")
            return GraphError(190, MSG_LOGGED_OUT, subcode=467)
        if token.problem is not None:
            return GraphError(190, token.problem[1], subcode=token.problem[0])
        now = self.now()
        if token.expires_at is not None and token.expires_at <= now:
            return GraphError(
                190,
                f"Error validating access token: Session has expired on {token.expires_at.strftime(_FB_TIME)}. "
                f"The current time is {now.strftime(_FB_TIME)}.",
                subcode=463,
            )
        return None

    def check_token(self, value: str | None) -> Token:
        """The live token for `value`, or the GraphError Meta would answer with."""
        if not value:
            raise GraphError(104, "An access token is required to request this resource.")
        error = self.token_error(value)
        if error is not None:
            raise error
        return self.tokens[value]

    def grant_for(self, token: Token) -> AppGrant:
        grant = self.grants.get((token.user_id, token.app_id))
        if grant is None or not grant.active:  # unreachable while tokens are invalidated on revoke
            raise GraphError(190, MSG_APP_REMOVED.format(app=token.app_id), subcode=458)
        return grant

    def granted_pages(self, token: Token) -> list[Page]:
        """Pages the token reaches: ticked in the dialog and the user still has a role there."""
        grant = self.grant_for(token)
        user = self.users[token.user_id]
        if token.kind == "PAGE":
            return [self.pages[token.page_id]] if token.page_id in user.roles else []
        return [self.pages[p] for p in grant.page_ids if p in user.roles and p in self.pages]

    def _invalidate(self, subcode: int, message: str, *, user_id: str, page_id: str | None = None) -> int:
        hit = 0
        for token in self.tokens.values():
            if token.user_id == user_id and token.problem is None and (page_id is None or token.page_id == page_id):
                token.problem = (subcode, message)
                hit += 1
        return hit

    # -- faults (the control interface) --------------------------------------------------------

    def expire_tokens(self, *, token: str | None = None, user_id: str | None = None) -> int:
        """Make tokens lapse now (190/463): one token, or every token of a user."""
        past = self.now() - timedelta(seconds=1)
        hit = 0
        for t in self.tokens.values():
            if (token is not None and t.value == token) or (user_id is not None and t.user_id == user_id):
                t.expires_at = past
                hit += 1
        return hit

    def revoke_app(self, user_id: str, app_id: str | None = None, *, via: str = "control") -> None:
        """The user removes the app: the grant ends and every token answers 190/458."""
        app_id = app_id or self.app_id
        if grant := self.grants.get((user_id, app_id)):
            grant.active = False
        self._invalidate(458, MSG_APP_REMOVED.format(app=app_id), user_id=user_id)
        self.revocations.append({"user_id": user_id, "app_id": app_id, "via": via, "at": self.now().isoformat()})

    def change_password(self, user_id: str) -> None:
        self._invalidate(460, MSG_PASSWORD, user_id=user_id)

    def lose_role(self, user_id: str, page_id: str) -> None:
        """The user is removed from the Page: its Page tokens answer 190/492 and /me/accounts drops it."""
        self.users[user_id].roles.pop(page_id, None)
        self._invalidate(492, MSG_ROLE_LOST, user_id=user_id, page_id=page_id)

    def drop_scope(self, user_id: str, scope: str, app_id: str | None = None) -> None:
        if grant := self.grants.get((user_id, app_id or self.app_id)):
            if scope in grant.scopes:
                grant.scopes.remove(scope)
            if scope not in grant.declined:
                grant.declined.append(scope)

    def unlink_instagram(self, page_id: str) -> None:
        self.pages[page_id].instagram_id = None

    def take_fault(self, path: str) -> Fault | None:
        """The first armed fault that applies to `path`, counting one use of it."""
        for fault in self.faults:
            if fault.remaining > 0 and (fault.path_contains is None or fault.path_contains in path):
                fault.remaining -= 1
                return fault
        return None

    def secret_values(self) -> list[str]:
        """Every value that must never appear in a URL: tokens, app secrets, app tokens."""
        values = list(self.tokens)
        for app in self.apps.values():
            values += [app.secret, f"{app.id}|{app.secret}"]
        return values

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What the control interface's GET /_twin/state answers (JSON-ready)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "now": self.now().isoformat(),
            "users": [asdict(u) for u in self.users.values()],
            "pages": [asdict(p) for p in self.pages.values()],
            "instagram": [asdict(i) for i in self.instagram.values()],
            "grants": [
                {**asdict(g), "data_access_expires_at": iso(g.data_access_expires_at)} for g in self.grants.values()
            ],
            "tokens": [
                {
                    **asdict(t),
                    "issued_at": iso(t.issued_at),
                    "expires_at": iso(t.expires_at),
                    "valid": self.token_error(t.value) is None,
                }
                for t in self.tokens.values()
            ],
            "revocations": list(self.revocations),
            "consent": asdict(self.consent),
            "faults": [asdict(f) for f in self.faults if f.remaining > 0],
            "calls": [asdict(c) for c in self.calls],
        }


def default_scenario() -> dict[str, Any]:
    """What `make dev` starts with: one owner, two Pages, one of them linked to Instagram."""
    return {
        "users": [
            {
                "id": "100000000000001",
                "name": "Sandbox Owner",
                "pages": [
                    {
                        "id": "109000000000001",
                        "name": "The Red Lion",
                        "instagram": {"id": "17841400000000001", "username": "theredlion", "name": "The Red Lion"},
                    },
                    {"id": "109000000000002", "name": "The Red Lion Kitchen", "category": "Restaurant"},
                ],
            }
        ]
    }
