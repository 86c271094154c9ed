"""The Meta twin's world and its rules: which tokens still work, what each fault changes.

The Graph endpoints (sandbox/meta/graph.py, sandbox/meta/login.py) and the control interface
(sandbox/meta/twin.py) share this one truth. Published content (posts, photos, containers) lives in
`self.content` (sandbox/meta/content.py), keyed by the same Page and Instagram ids.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import TwinClock
from sandbox.meta.content import ContentStore
from sandbox.meta.model import (
    COMMIT_FAULTS,
    DEFAULT_TASKS,
    FB_TIME,
    LONG_LIVED_SECONDS,
    MSG_APP_REMOVED,
    MSG_LOGGED_OUT,
    MSG_PASSWORD,
    MSG_ROLE_LOST,
    PAGE_FROM_SHORT_LIVED_SECONDS,
    SHORT_LIVED_SECONDS,
    App,
    AppGrant,
    AuthCode,
    CallRecord,
    Consent,
    Fault,
    GraphError,
    InstagramAccount,
    Page,
    Token,
    User,
    random_string,
)


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
        self.content = ContentStore(self.clock)  # posts, photos, videos, Instagram containers and media
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
            value="EAAU" + random_string(60),
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
            value="EAAP" + random_string(60),
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
                f"Error validating access token: Session has expired on {token.expires_at.strftime(FB_TIME)}. "
                f"The current time is {now.strftime(FB_TIME)}.",
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

    def take_fault(self, path: str, *, committed: bool = False) -> Fault | None:
        """The first armed fault that applies to `path`, counting one use; commit faults only once a write committed."""
        for fault in self.faults:
            if (fault.kind in COMMIT_FAULTS) != committed:
                continue
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

    # -- keeping (sandbox.persist) ---------------------------------------------------------------

    def durable(self) -> dict[str, Any]:
        """What survives a restart: the world, grants, tokens, codes and published content. Faults, the call
        log and the clock offset do not (they belong to one run's scenario)."""
        world = {name: getattr(self, name) for name in _DURABLE}
        content = {name: getattr(self.content, name) for name in _DURABLE_CONTENT}
        return {**world, "content": content}

    def restore(self, saved: dict[str, Any]) -> None:
        """Take back what `durable` returned (decoded); missing keys keep the default scenario's values."""
        for name in _DURABLE:
            if name in saved:
                setattr(self, name, saved[name])
        for name, value in saved.get("content", {}).items():
            if name in _DURABLE_CONTENT:
                setattr(self.content, name, value)

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
            "content": self.content.snapshot(),
        }


_DURABLE = (
    "code_expires_in",
    "consent",
    "usage",
    "revocations",
    "users",
    "pages",
    "instagram",
    "grants",
    "tokens",
    "codes",
    "_page_tokens",
    "_seq",
)
_DURABLE_CONTENT = ("settings", "posts", "photos", "videos", "containers", "media", "publishes", "_seq")


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
