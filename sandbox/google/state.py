"""The Google twin's state: the world (users, accounts, locations), OAuth grants and tokens, and the call log.

Pure bookkeeping on the twin clock; HTTP lives in `sandbox.google.oauth` and `sandbox.google.gbp`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.clock import TwinClock
from sandbox.google.faults import Faults
from sandbox.google.posts import PostStore
from sandbox.google.scenario import (
    ACCESS_TOKEN_TTL,
    CODE_TTL,
    TESTING_REFRESH_TTL,
    UNUSED_REFRESH_TTL,
    AccountSpec,
    ConsentSpec,
    LocationSpec,
    ScenarioSpec,
    default_scenario,
    subject_for,
)

_DURABLE = (
    "codes",
    "refresh_tokens",
    "access_tokens",
    "grants",
    "consent",
    "testing_mode",
    "project_number",
    "users",
    "accounts",
    "locations",
    "location_account",
)


class OAuthError(Exception):
    """An OAuth endpoint's error: `{"error": …, "error_description": …}` with an HTTP status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


@dataclass
class User:
    sub: str
    email: str
    name: str
    account_ids: list[str] = field(default_factory=list)
    lost_locations: set[str] = field(default_factory=set)  # access removed (403 on those)


@dataclass
class Account:
    spec: AccountSpec
    location_ids: list[str] = field(default_factory=list)

    @property
    def resource(self) -> dict[str, Any]:
        s = self.spec
        return {
            "name": f"accounts/{s.id}",
            "accountName": s.account_name,
            "type": s.type,
            "role": s.role,
            "verificationState": s.verification_state,
            "vettedState": s.vetted_state,
            "accountNumber": s.id.rjust(10, "5")[-10:],
            "permissionLevel": s.permission_level,
        }


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    sub: str
    scopes: tuple[str, ...]
    challenge: str | None
    challenge_method: str | None
    offline: bool
    issue_refresh: bool
    issued_at: datetime
    used: bool = False


@dataclass
class RefreshToken:
    token: str
    client_id: str
    sub: str
    scopes: tuple[str, ...]
    issued_at: datetime
    last_used: datetime
    revoked_at: datetime | None = None
    dead_reason: str | None = None  # set by the kill switch: revoked | testing_expiry | unused


@dataclass
class AccessToken:
    token: str
    client_id: str
    sub: str
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    offline: bool
    revoked_at: datetime | None = None


@dataclass
class TwinCall:
    """One request the twin received (control calls excluded): what tests inspect for token leaks."""

    method: str
    host: str  # the real host the path belongs to (or the prefix it was sent under)
    path: str  # without the host prefix
    query: str
    status: int
    authorization: bool  # an Authorization header was present


@dataclass
class TwinToken:
    """A token as the control interface reports it."""

    kind: str  # access | refresh
    token: str
    email: str
    scopes: list[str]
    issued_at: datetime
    expires_at: datetime | None
    revoked: bool
    dead_reason: str | None = None


def s256(verifier: str) -> str:
    """The PKCE S256 transform: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class GoogleTwinState:
    """Everything the twin remembers; `reset()` returns to the default scenario."""

    def __init__(self, *, client_id: str, client_secret: str, clock: TwinClock | None = None) -> None:
        self.clients = {client_id: client_secret}
        self._owns_clock = clock is None
        self.clock = clock or TwinClock()
        self.reset()

    def reset(self) -> None:
        """Default scenario, no tokens, no faults; a shared clock is left alone (other twins use it)."""
        if self._owns_clock:
            self.clock.reset()
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.grants: dict[tuple[str, str], set[str]] = {}  # (client_id, sub) -> consented scopes
        self.calls: list[TwinCall] = []
        self.consent = ConsentSpec()
        self.faults = Faults()
        self.testing_mode = False
        self.posts = PostStore(self.clock)
        self.load(default_scenario())

    def load(self, scenario: ScenarioSpec) -> None:
        """Replace the world; tokens already issued keep working for users who still exist."""
        self.project_number = scenario.project_number
        self.users: dict[str, User] = {}
        self.accounts: dict[str, Account] = {}
        self.locations: dict[str, LocationSpec] = {}
        self.location_account: dict[str, str] = {}
        for u in scenario.users:
            user = User(sub=u.sub or subject_for(u.email), email=u.email, name=u.name or u.email.split("@")[0])
            for a in u.accounts:
                if a.id not in self.accounts:
                    self.accounts[a.id] = Account(spec=a)
                    for loc in a.locations:
                        self.locations.setdefault(loc.id, loc)
                        self.location_account.setdefault(loc.id, a.id)
                        self.accounts[a.id].location_ids.append(loc.id)
                user.account_ids.append(a.id)
            self.users[user.sub] = user

    # --- lookups -------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def user_by_email(self, email: str | None) -> User | None:
        if email is None:
            return next(iter(self.users.values()), None)
        return next((u for u in self.users.values() if u.email == email), None)

    def visible_locations(self, user: User, account_id: str) -> list[LocationSpec]:
        """The account's locations this user still manages."""
        account = self.accounts[account_id]
        return [self.locations[i] for i in account.location_ids if i not in user.lost_locations]

    def can_see_location(self, user: User, location_id: str) -> bool:
        account_id = self.location_account.get(location_id)
        return account_id in user.account_ids and location_id not in user.lost_locations

    # --- OAuth ---------------------------------------------------------------------------------

    def check_client(self, client_id: str, client_secret: str | None) -> None:
        if client_id not in self.clients:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if client_secret is not None and not secrets.compare_digest(self.clients[client_id], client_secret):
            raise OAuthError(401, "invalid_client", "Unauthorized")

    def issue_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        user: User,
        scopes: tuple[str, ...],
        challenge: str | None,
        challenge_method: str | None,
        offline: bool,
        force_consent: bool,
    ) -> AuthCode:
        """Record the consent and mint a single-use code (refresh token only on first consent or prompt=consent)."""
        key = (client_id, user.sub)
        first = key not in self.grants
        self.grants.setdefault(key, set()).update(scopes)
        code = AuthCode(
            code="4/0A" + secrets.token_urlsafe(40),
            client_id=client_id,
            redirect_uri=redirect_uri,
            sub=user.sub,
            scopes=scopes,
            challenge=challenge,
            challenge_method=challenge_method,
            offline=offline,
            issue_refresh=offline and (first or force_consent),
            issued_at=self.now(),
        )
        self.codes[code.code] = code
        return code

    def redeem_code(self, *, client_id: str, code: str, redirect_uri: str, verifier: str | None) -> dict[str, Any]:
        """The authorization_code grant: every check the real endpoint makes, then the token response."""
        record = self.codes.get(code)
        if record is None:
            raise OAuthError(400, "invalid_grant", "Malformed auth code.")
        if record.used or self.now() >= record.issued_at + CODE_TTL or record.client_id != client_id:
            raise OAuthError(400, "invalid_grant", "Bad Request")
        if redirect_uri != record.redirect_uri:
            raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
        if record.challenge is not None:
            if not verifier:
                raise OAuthError(400, "invalid_grant", "Missing code verifier.")
            expected = s256(verifier) if record.challenge_method == "S256" else verifier
            if not secrets.compare_digest(expected, record.challenge):
                raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
        record.used = True
        refresh: RefreshToken | None = None
        if record.issue_refresh:
            now = self.now()
            refresh = RefreshToken(
                token="1//0g" + secrets.token_urlsafe(40),
                client_id=client_id,
                sub=record.sub,
                scopes=record.scopes,
                issued_at=now,
                last_used=now,
            )
            self.refresh_tokens[refresh.token] = refresh
        access = self._issue_access(client_id, record.sub, record.scopes, offline=record.offline)
        body = self._token_body(access)
        if refresh is not None:
            body["refresh_token"] = refresh.token
        return body

    def refresh(self, *, client_id: str, token: str) -> dict[str, Any]:
        """The refresh_token grant: a new access token, no new refresh token."""
        record = self.refresh_tokens.get(token)
        if record is None:
            raise OAuthError(400, "invalid_grant", "Bad Request")
        if record.client_id != client_id:
            raise OAuthError(401, "unauthorized_client", "Unauthorized")
        if self.refresh_dead_reason(record) is not None:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        record.last_used = self.now()
        return self._token_body(self._issue_access(client_id, record.sub, record.scopes, offline=True))

    def refresh_dead_reason(self, record: RefreshToken) -> str | None:
        now = self.now()
        if record.revoked_at is not None:
            return "revoked"
        if record.dead_reason is not None:
            return record.dead_reason
        if self.testing_mode and now >= record.issued_at + TESTING_REFRESH_TTL:
            return "testing_expiry"
        if now >= record.last_used + UNUSED_REFRESH_TTL:
            return "unused"
        return None

    def revoke(self, token: str) -> None:
        """Revoke a token and its whole grant (Google drops the app's access for that user)."""
        record: RefreshToken | AccessToken | None = self.refresh_tokens.get(token) or self.access_tokens.get(token)
        if record is None or record.revoked_at is not None:
            raise OAuthError(400, "invalid_token", "Token expired or revoked")
        self.revoke_grant(record.client_id, record.sub)

    def revoke_grant(self, client_id: str, sub: str) -> None:
        now = self.now()
        records: list[RefreshToken | AccessToken] = [*self.refresh_tokens.values(), *self.access_tokens.values()]
        for rec in records:
            if rec.client_id == client_id and rec.sub == sub and rec.revoked_at is None:
                rec.revoked_at = now
        self.grants.pop((client_id, sub), None)

    def valid_access(self, token: str | None) -> AccessToken | None:
        """The live access token behind a bearer value, or None (unknown, revoked or expired)."""
        record = self.access_tokens.get(token or "")
        if record is None or record.revoked_at is not None or self.now() >= record.expires_at:
            return None
        return record

    def kill_refresh_tokens(self, *, token: str | None, email: str | None, reason: str) -> int:
        """The kill switch: `revoked` drops the whole grant, other reasons only the refresh token(s)."""
        user = self.user_by_email(email) if email else None
        victims = [
            r
            for r in self.refresh_tokens.values()
            if (token is None or r.token == token) and (user is None or r.sub == user.sub) and r.revoked_at is None
        ]
        for r in victims:
            if reason == "revoked":
                self.revoke_grant(r.client_id, r.sub)
            else:
                r.dead_reason = reason
        return len(victims)

    def _issue_access(self, client_id: str, sub: str, scopes: tuple[str, ...], *, offline: bool) -> AccessToken:
        now = self.now()
        access = AccessToken(
            token="ya29.a0" + secrets.token_urlsafe(60),
            client_id=client_id,
            sub=sub,
            scopes=scopes,
            issued_at=now,
            expires_at=now + ACCESS_TOKEN_TTL,
            offline=offline,
        )
        self.access_tokens[access.token] = access
        return access

    @staticmethod
    def _token_body(access: AccessToken) -> dict[str, Any]:
        return {
            "access_token": access.token,
            "expires_in": int(ACCESS_TOKEN_TTL.total_seconds()),
            "scope": " ".join(access.scopes),
            "token_type": "Bearer",
        }

    # --- keeping (sandbox.persist) ---------------------------------------------------------------

    def durable(self) -> dict[str, Any]:
        """What survives a restart: the world, grants, codes, tokens and posts. Faults, the call log, the
        request meters and the clock offset do not (they belong to one run's scenario)."""
        world = {name: getattr(self, name) for name in _DURABLE}
        return {**world, "posts": {"settings": self.posts.settings, "posts": self.posts.posts}}

    def restore(self, saved: dict[str, Any]) -> None:
        """Take back what `durable` returned (decoded); missing keys keep the default scenario's values."""
        for name in _DURABLE:
            if name in saved:
                setattr(self, name, saved[name])
        posts = saved.get("posts", {})
        self.posts.settings = posts.get("settings", self.posts.settings)
        self.posts.posts = posts.get("posts", self.posts.posts)

    # --- reporting -----------------------------------------------------------------------------

    def tokens(self) -> list[TwinToken]:
        """Every token issued so far, newest last."""
        emails = {u.sub: u.email for u in self.users.values()}
        out = [
            TwinToken(
                kind="refresh",
                token=r.token,
                email=emails.get(r.sub, ""),
                scopes=list(r.scopes),
                issued_at=r.issued_at,
                expires_at=None,
                revoked=r.revoked_at is not None,
                dead_reason=self.refresh_dead_reason(r),
            )
            for r in self.refresh_tokens.values()
        ]
        out += [
            TwinToken(
                kind="access",
                token=a.token,
                email=emails.get(a.sub, ""),
                scopes=list(a.scopes),
                issued_at=a.issued_at,
                expires_at=a.expires_at,
                revoked=a.revoked_at is not None,
            )
            for a in self.access_tokens.values()
        ]
        return sorted(out, key=lambda t: t.issued_at)
