"""Credentials: API tokens, one-time login links, browser sessions and their CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.accounts import forbidden_character
from core.access.audit import Actor
from core.clock import Clock
from core.errors import AuthenticationRequired, Invalid, NotFound
from core.settings import Settings
from storage.crypto import mask
from storage.models import ApiToken, Channel, User, WebSession
from storage.queries import accounts as accounts_q
from storage.queries import auth as auth_q

API_TOKEN_PREFIX = "cheers_pat_"  # noqa: S105 - a prefix, not a secret
LOGIN_SALT = "cheers.login-link"
# Writing last_seen on every request would make every read a write; a minute's precision is plenty.
TOUCH_EVERY = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    """SHA-256 of a random token: enough for 256-bit secrets, and lookups stay indexable."""
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_api_token(
    session: AsyncSession, clock: Clock, actor: Actor, *, user_id: int, name: str
) -> tuple[ApiToken, str]:
    """Create a bearer token for a person; the raw token is returned once and never stored."""
    user = await accounts_q.get_user(session, user_id)
    if user is None:
        raise NotFound(f"person {user_id} not found")
    name = name.strip() or "api token"
    found = forbidden_character(name)
    if found is not None:
        raise Invalid(
            f"names can't contain control or text-direction characters: the token name contains {found}",
            remedy="type the name again without invisible characters",
            field="name",
        )
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = await auth_q.add_api_token(
        session, user_id=user_id, name=name[:200], token_hash=hash_token(raw), hint=mask(raw)
    )
    await audit.record(
        session,
        clock,
        actor,
        "token_created",
        subject_type="user",
        subject_id=user_id,
        token_id=token.id,
        name=token.name,
    )
    return token, raw


async def list_api_tokens(session: AsyncSession, user_id: int) -> list[ApiToken]:
    """A person's tokens, masked (only hints are stored besides the hash)."""
    return list(await auth_q.tokens_of_user(session, user_id))


async def revoke_api_token(session: AsyncSession, clock: Clock, actor: Actor, *, user_id: int, token_id: int) -> None:
    if not await auth_q.revoke_api_token(session, user_id=user_id, token_id=token_id, now=clock.now()):
        raise NotFound(f"token {token_id} not found")
    await audit.record(
        session, clock, actor, "token_revoked", subject_type="user", subject_id=user_id, token_id=token_id
    )


async def authenticate_bearer(session: AsyncSession, clock: Clock, raw: str) -> User:
    found = await auth_q.user_by_token_hash(session, hash_token(raw)) if raw.startswith(API_TOKEN_PREFIX) else None
    if found is None:
        raise AuthenticationRequired("the API token is unknown or revoked", remedy="create a new token")
    token, user = found
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        await auth_q.touch_token(session, token.id, now)
    return user


def _signer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.cheers_secret_key, salt=LOGIN_SALT)


@dataclass(frozen=True)
class IssuedLink:
    url: str
    expires_in_minutes: int


async def issue_login_link(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    actor: Actor,
    *,
    user_id: int,
    account_id: int | None = None,
) -> IssuedLink:
    """A signed, expiring, single-use link; opening it shows a confirm page, only its POST logs in."""
    user = await accounts_q.get_user(session, user_id)
    if user is None or not user.is_active:
        raise NotFound(f"person {user_id} not found")
    nonce = secrets.token_urlsafe(24)
    ttl = settings.login_link_ttl_minutes
    await auth_q.add_login_link(
        session, user_id=user_id, nonce=nonce, expires_at=clock.now() + timedelta(minutes=ttl), issued_by=actor.user_id
    )
    await audit.record(
        session, clock, actor, "login_link_issued", account_id=account_id, subject_type="user", subject_id=user_id
    )
    signed = _signer(settings).dumps({"n": nonce})
    return IssuedLink(url=f"{settings.cheers_public_url}/auth/login/{signed}", expires_in_minutes=ttl)


class LinkState(StrEnum):
    valid = "valid"
    used = "used"
    expired = "expired"
    invalid = "invalid"


LINK_MESSAGES = {
    LinkState.used: "This login link has already been used. Ask for a new one.",
    LinkState.expired: "This login link has expired. Ask for a new one.",
    LinkState.invalid: "This login link is not valid. Check you copied all of it, or ask for a new one.",
}


async def inspect_login_link(session: AsyncSession, clock: Clock, settings: Settings, signed: str) -> LinkState:
    """What the confirm page should say; reading a link never uses it up (previews are safe)."""
    try:
        payload = _signer(settings).loads(signed, max_age=settings.login_link_ttl_minutes * 60)
    except SignatureExpired:
        return LinkState.expired
    except BadSignature:
        return LinkState.invalid
    link = await auth_q.get_login_link(session, str(payload.get("n", "")))
    if link is None:
        return LinkState.invalid
    if link.used_at is not None:
        return LinkState.used
    if link.expires_at <= clock.now():
        return LinkState.expired
    return LinkState.valid


@dataclass(frozen=True)
class NewSession:
    user: User
    raw_token: str
    csrf_token: str
    max_age_seconds: int


async def consume_login_link(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    signed: str,
    *,
    previous_session_token: str | None,
) -> NewSession:
    """Use the link once and open a fresh session (any session the browser had is ended)."""
    state = await inspect_login_link(session, clock, settings, signed)
    if state is not LinkState.valid:
        raise Invalid(LINK_MESSAGES[state], link_state=state.value)
    payload = _signer(settings).loads(signed)
    link = await auth_q.get_login_link(session, str(payload["n"]))
    assert link is not None  # inspect_login_link found it
    if not await auth_q.consume_login_link(session, link_id=link.id, now=clock.now()):
        raise Invalid(LINK_MESSAGES[LinkState.used], link_state=LinkState.used.value)
    user = await accounts_q.get_user(session, link.user_id)
    if user is None or not user.is_active:
        raise Invalid(LINK_MESSAGES[LinkState.invalid], link_state=LinkState.invalid.value)
    if previous_session_token:
        await auth_q.revoke_session_by_hash(
            session, hash_token(previous_session_token), now=clock.now(), reason="rotated_at_login"
        )
    new = await start_session(session, clock, settings, user)
    await audit.record(
        session,
        clock,
        Actor(user.id, Channel.web, user.is_staff),
        "login_link_used",
        subject_type="user",
        subject_id=user.id,
        login_link_id=link.id,
    )
    return new


async def start_session(session: AsyncSession, clock: Clock, settings: Settings, user: User) -> NewSession:
    raw = secrets.token_urlsafe(32)
    ttl = timedelta(hours=settings.session_ttl_hours)
    await auth_q.add_web_session(session, user_id=user.id, token_hash=hash_token(raw), expires_at=clock.now() + ttl)
    return NewSession(
        user=user, raw_token=raw, csrf_token=csrf_token_for(settings, raw), max_age_seconds=int(ttl.total_seconds())
    )


async def resolve_session(session: AsyncSession, clock: Clock, raw: str) -> tuple[WebSession, User]:
    now = clock.now()
    found = await auth_q.live_session(session, hash_token(raw), now)
    if found is None:
        raise AuthenticationRequired("your session has ended", remedy="log in again with a new login link")
    web_session, user = found
    if web_session.last_seen_at is None or now - web_session.last_seen_at > TOUCH_EVERY:
        await auth_q.touch_session(session, web_session.id, now)
    return web_session, user


async def end_session(session: AsyncSession, clock: Clock, raw: str) -> None:
    await auth_q.revoke_session_by_hash(session, hash_token(raw), now=clock.now(), reason="logout")


def csrf_token_for(settings: Settings, raw_session_token: str) -> str:
    """The CSRF token is bound to the session: an HMAC of it under the service secret."""
    return hmac.new(settings.cheers_secret_key.encode(), b"csrf:" + raw_session_token.encode(), "sha256").hexdigest()


def csrf_ok(settings: Settings, raw_session_token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token_for(settings, raw_session_token), presented or "")
