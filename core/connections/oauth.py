"""The consent flow: a link to our confirmation page, a state bound to the browser that confirms, callback, pick."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.clock import Clock
from core.connections.lifecycle import PROVIDER_LABEL, ConnectionChange, save_target
from core.connections.pending import pack_pending, unpack_pending
from core.errors import Invalid, NotFound, PermissionDenied
from core.settings import Settings
from providers.base import Connector, Grant, Target
from providers.errors import ProviderError, RateLimited
from storage.crypto import TokenCipher
from storage.models import Connection, OAuthPurpose, OAuthState, Provider
from storage.queries import accounts as accounts_q
from storage.queries import connections as connections_q

STATE_TTL = timedelta(minutes=10)
PICK_TTL = timedelta(minutes=30)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def redirect_uri(settings: Settings, provider: Provider) -> str:
    """Built only from CHEERS_PUBLIC_URL, never from the request."""
    return f"{settings.cheers_public_url}/oauth/{provider.value}/callback"


def safe_return_to(value: str | None) -> str | None:
    """Only relative paths on our own site ("/planner"), never another origin; refused otherwise."""
    if not value:
        return None
    # Browsers drop tabs and newlines inside a URL and strip leading/trailing controls and spaces, so
    # "/\t/evil.example" becomes "//evil.example": refuse every control or space instead of guessing.
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in value):
        raise Invalid("return_to must not contain spaces or control characters", field="return_to")
    # A browser reads "\\" as "/", so any backslash could start a second slash; a colon before the query
    # could be a scheme. "%2F" stays literal in a path, so "/%2F%2Fevil" is a harmless same-site path.
    if not value.startswith("/") or value.startswith("//") or "\\" in value or ":" in value.split("?")[0]:
        raise Invalid("return_to must be a path on this site, like /planner", field="return_to")
    return value[:500]


@dataclass(frozen=True)
class ConsentLink:
    url: str
    state_id: int
    expires_at: datetime


async def start(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    cipher: TokenCipher,
    adapter: Connector,
    access: VenueAccess,
    *,
    connection: Connection | None = None,
    return_to: str | None = None,
) -> ConsentLink:
    """Create a single-use state and the link to our landing page (which then sends the browser on)."""
    raw_state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if adapter.uses_pkce else None
    now = clock.now()
    assert access.actor.user_id is not None, "a consent flow belongs to a person"
    state = await connections_q.add_state(
        session,
        OAuthState(
            state_hash=_hash(raw_state),
            account_id=access.account_id,
            user_id=access.actor.user_id,
            provider=adapter.provider,
            purpose=OAuthPurpose.reconnect if connection is not None else OAuthPurpose.connect,
            connection_id=connection.id if connection is not None else None,
            code_verifier_ciphertext=cipher.encrypt(verifier) if verifier else None,
            expires_at=now + STATE_TTL,
            return_to=safe_return_to(return_to),
            outcome={},
        ),
    )
    await access.record(
        session,
        clock,
        "reconnect_started" if connection else "connect_started",
        subject_type="connection",
        subject_id=connection.id if connection else None,
        provider=adapter.provider.value,
    )
    url = f"{settings.cheers_public_url}/oauth/{adapter.provider.value}/start?state={quote(raw_state)}"
    return ConsentLink(url=url, state_id=state.id, expires_at=state.expires_at)


class StateRefused(Invalid):
    """The state is unknown, expired, used, for another provider or another browser: change nothing."""


async def _load(session: AsyncSession, clock: Clock, provider: Provider, raw_state: str | None) -> OAuthState:
    if not raw_state:
        raise StateRefused("this sign-in link is incomplete (no state); start connecting again from CheersAI")
    state = await connections_q.state_by_hash(session, _hash(raw_state))
    # A Slack install's state (core.chat.installs) shares the table but never connects a provider.
    if state is None or state.provider is not provider or state.purpose is OAuthPurpose.slack_install:
        raise StateRefused("this sign-in link is not one we issued; start connecting again from CheersAI")
    if state.used_at is not None:
        raise StateRefused("this sign-in link was already used; start connecting again from CheersAI")
    if state.expires_at <= clock.now():
        raise StateRefused("this sign-in link expired (they last 10 minutes); start connecting again")
    return state


PROVIDER_NAME = {Provider.facebook: "Facebook", Provider.instagram: "Instagram", Provider.google_business: "Google"}


@dataclass(frozen=True)
class Landing:
    """What the confirmation page names before anything happens: the venue, who asked, what is reconnected."""

    provider: Provider
    purpose: OAuthPurpose
    venue_name: str
    person_name: str
    connection_name: str | None
    expires_at: datetime

    @property
    def headline(self) -> str:
        """The page's title: "Connect Facebook to The Red Lion", or for a reconnect which connection, where."""
        if self.purpose is OAuthPurpose.reconnect and self.connection_name:
            what = f"{PROVIDER_LABEL[self.provider]} {self.connection_name}"
            return f"Reconnect {what} at {self.venue_name}"
        return f"Connect {PROVIDER_NAME[self.provider]} to {self.venue_name}"


def _bound_to(state: OAuthState, browser_token: str | None) -> bool:
    return (
        state.browser_hash is not None
        and bool(browser_token)
        and hmac.compare_digest(state.browser_hash, _hash(browser_token or ""))
    )


async def _landing_state(
    session: AsyncSession,
    clock: Clock,
    provider: Provider,
    raw_state: str | None,
    *,
    browser_token: str | None,
    viewer_user_id: int | None,
) -> OAuthState:
    state = await _load(session, clock, provider, raw_state)
    # The link was made for one person: someone else signed in to CheersAI must not connect in their name.
    if viewer_user_id is not None and viewer_user_id != state.user_id:
        person = await accounts_q.get_user(session, state.user_id)
        raise PermissionDenied(
            f"this link was made for {person.name if person else 'someone else'}, not for you",
            remedy="sign in to CheersAI as them, or ask CheersAI for your own link",
        )
    if state.bound_at is not None and not _bound_to(state, browser_token):
        raise StateRefused(
            "this sign-in link was already opened in another browser; start connecting again from this one"
        )
    return state


async def describe_landing(
    session: AsyncSession,
    clock: Clock,
    provider: Provider,
    raw_state: str | None,
    *,
    browser_token: str | None,
    viewer_user_id: int | None,
) -> Landing:
    """What the confirmation page shows. Reads only: a link preview or a scanner that fetches it spends nothing."""
    state = await _landing_state(
        session, clock, provider, raw_state, browser_token=browser_token, viewer_user_id=viewer_user_id
    )
    account = await accounts_q.get_account(session, state.account_id)
    person = await accounts_q.get_user(session, state.user_id)
    connection = (
        await connections_q.get(session, state.account_id, state.connection_id)
        if state.connection_id is not None
        else None
    )
    return Landing(
        provider=provider,
        purpose=state.purpose,
        venue_name=account.name if account else "your venue",
        person_name=person.name if person else "a CheersAI user",
        connection_name=connection.display_name if connection else None,
        expires_at=state.expires_at,
    )


async def open_landing(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    cipher: TokenCipher,
    adapter: Connector,
    raw_state: str | None,
    *,
    browser_token: str | None = None,
    viewer_user_id: int | None = None,
) -> tuple[str, str]:
    """The person confirmed: bind the flow to this browser; returns (provider consent URL, browser cookie value).

    The browser that confirmed first may confirm again (back button); any other browser is refused.
    """
    state = await _landing_state(
        session, clock, adapter.provider, raw_state, browser_token=browser_token, viewer_user_id=viewer_user_id
    )
    if state.bound_at is None or browser_token is None:
        browser_token = secrets.token_urlsafe(32)
        if not await connections_q.bind_state(session, state.id, browser_hash=_hash(browser_token), now=clock.now()):
            raise StateRefused(
                "this sign-in link was already opened in another browser; start connecting again from this one"
            )
    verifier = cipher.decrypt(state.code_verifier_ciphertext) if state.code_verifier_ciphertext else None
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=") if verifier else None
    )
    url = adapter.authorize_url(
        state=raw_state or "", redirect_uri=redirect_uri(settings, adapter.provider), code_challenge=challenge
    )
    return url, browser_token


@dataclass(frozen=True)
class Choice:
    external_id: str
    name: str
    details: dict[str, Any]


@dataclass(frozen=True)
class CallbackOutcome:
    """What the callback page (and the API) tells the person."""

    status: str  # connected | choose | denied | failed
    message: str
    account_id: int
    state_id: int
    changes: tuple[ConnectionChange, ...] = ()
    choices: tuple[Choice, ...] = ()
    remedy: str | None = None
    return_to: str | None = None


def _outcome(
    state: OAuthState,
    *,
    status: str,
    message: str,
    remedy: str | None = None,
    changes: tuple[ConnectionChange, ...] = (),
    choices: tuple[Choice, ...] = (),
) -> CallbackOutcome:
    return CallbackOutcome(
        status=status,
        message=message,
        account_id=state.account_id,
        state_id=state.id,
        changes=changes,
        choices=choices,
        remedy=remedy,
        return_to=state.return_to,
    )


async def complete(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    cipher: TokenCipher,
    adapter: Connector,
    *,
    raw_state: str | None,
    browser_token: str | None,
    code: str | None,
    error: str | None,
) -> CallbackOutcome:
    """Handle the provider's callback: verify state and browser, exchange, list targets, save or ask."""
    state = await _load(session, clock, adapter.provider, raw_state)
    if (
        state.browser_hash is None
        or not browser_token
        or not hmac.compare_digest(state.browser_hash, _hash(browser_token))
    ):
        raise StateRefused(
            "this sign-in finished in a different browser from the one that started it; "
            "start connecting again and finish in the same browser"
        )
    if not await connections_q.use_state(session, state.id, now=clock.now()):
        raise StateRefused("this sign-in link was already used; start connecting again from CheersAI")
    if error or not code:
        outcome = _outcome(
            state,
            status="denied",
            message="Connection cancelled: permission was not given.",
            remedy="Start again and approve every permission CheersAI asks for.",
        )
        state.outcome = {"status": outcome.status}
        return outcome
    verifier = cipher.decrypt(state.code_verifier_ciphertext) if state.code_verifier_ciphertext else None
    try:
        grant = await adapter.exchange_code(
            code=code, redirect_uri=redirect_uri(settings, adapter.provider), code_verifier=verifier
        )
        targets = await adapter.list_targets(grant)
    except RateLimited as exc:
        # Adapters word throttling for background work ("trying again later"); nothing retries a consent.
        state.outcome = {"status": "failed", "error": exc.__class__.__name__}
        minutes = max(1, math.ceil((exc.retry_after or 60) / 60))
        host = "Google" if adapter.provider is Provider.google_business else "Facebook"
        return _outcome(
            state,
            status="failed",
            message=f"{host} is rate limiting CheersAI right now, so nothing was connected.",
            remedy=f"Wait about {minutes} minute{'s' if minutes != 1 else ''}, then start connecting again.",
        )
    except ProviderError as exc:
        state.outcome = {"status": "failed", "error": exc.__class__.__name__}
        return _outcome(state, status="failed", message=exc.message, remedy=exc.remedy)
    if state.purpose is OAuthPurpose.reconnect:
        return await _reconnect(session, clock, cipher, state, grant, targets)
    if len(targets) == 1:
        change = await save_target(session, clock, cipher, state.account_id, state.user_id, grant, targets[0])
        state.outcome = {"status": "connected", "connection_ids": [change.connection_id]}
        return _outcome(state, status="connected", message=change.summary, changes=(change,))
    if not targets:
        state.outcome = {"status": "failed", "error": "no_targets"}
        return _outcome(state, status="failed", message="Nothing to connect: no place was granted.")
    state.pending_ciphertext = cipher.encrypt(pack_pending(grant, targets))
    state.pending_expires_at = clock.now() + PICK_TTL
    state.outcome = {"status": "choose"}
    choices = tuple(Choice(t.external_id, t.name, _public(t)) for t in targets)
    return _outcome(
        state, status="choose", message=f"You granted {len(targets)} places. Choose which to connect.", choices=choices
    )


async def _reconnect(
    session: AsyncSession,
    clock: Clock,
    cipher: TokenCipher,
    state: OAuthState,
    grant: Grant,
    targets: list[Target],
) -> CallbackOutcome:
    connection = await connections_q.get(session, state.account_id, state.connection_id or 0)
    if connection is None:
        raise NotFound("the connection being reconnected no longer exists")
    match = next((t for t in targets if t.external_id == connection.external_id), None)
    if match is None:
        granted = ", ".join(f"{t.name} ({t.external_id})" for t in targets) or "nothing"
        state.outcome = {"status": "failed", "error": "wrong_target"}
        return _outcome(
            state,
            status="failed",
            message=(
                f"This reconnects {connection.display_name} ({connection.external_id}), but you granted {granted}."
            ),
            remedy=f"Reconnect again and select {connection.display_name} when asked which to share.",
        )
    change = await save_target(
        session, clock, cipher, state.account_id, state.user_id, grant, match, existing=connection
    )
    state.outcome = {"status": "connected", "connection_ids": [change.connection_id]}
    return _outcome(state, status="connected", message=change.summary, changes=(change,))


async def pick(
    session: AsyncSession,
    clock: Clock,
    cipher: TokenCipher,
    access: VenueAccess,
    *,
    state_id: int,
    external_ids: list[str],
) -> list[ConnectionChange]:
    """Connect the places the person chose after one consent granted several."""
    state = await connections_q.state_for_account(session, access.account_id, state_id)
    if state is None or state.pending_ciphertext is None:
        raise NotFound("there is no choice waiting for this connection attempt")
    if state.pending_expires_at is None or state.pending_expires_at <= clock.now():
        raise Invalid("this choice expired; connect again")
    if not external_ids:
        raise Invalid("choose at least one place to connect", field="external_ids")
    grant, targets = unpack_pending(cipher.decrypt(state.pending_ciphertext))
    by_id = {t.external_id: t for t in targets}
    unknown = [e for e in external_ids if e not in by_id]
    if unknown:
        raise Invalid(f"not among the places you granted: {', '.join(unknown)}", field="external_ids")
    changes = [
        await save_target(session, clock, cipher, state.account_id, state.user_id, grant, by_id[e])
        for e in dict.fromkeys(external_ids)
    ]
    state.pending_ciphertext = None
    state.pending_expires_at = None
    state.outcome = {"status": "connected", "connection_ids": [c.connection_id for c in changes]}
    await session.flush()
    return changes


async def pending_choices(
    session: AsyncSession, clock: Clock, cipher: TokenCipher, access: VenueAccess, state_id: int
) -> tuple[Choice, ...]:
    state = await connections_q.state_for_account(session, access.account_id, state_id)
    if (
        state is None
        or state.pending_ciphertext is None
        or (state.pending_expires_at is not None and state.pending_expires_at <= clock.now())
    ):
        raise NotFound("there is no choice waiting for this connection attempt")
    _, targets = unpack_pending(cipher.decrypt(state.pending_ciphertext))
    return tuple(Choice(t.external_id, t.name, _public(t)) for t in targets)


def _public(target: Target) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "page_id": target.page_id,
            "ig_business_id": target.ig_business_id,
            "location_name": target.location_name,
        }.items()
        if v
    }


async def cleanup_states(session: AsyncSession, clock: Clock) -> int:
    """Delete expired consent states (and expired pending picks)."""
    return await connections_q.delete_stale_states(session, now=clock.now())


async def browser_state(session: AsyncSession, state_id: int, browser_token: str | None) -> OAuthState:
    """The state behind a pick made in the browser that went through consent (cookie-bound)."""
    state = await connections_q.state_by_id(session, state_id)
    if (
        state is None
        or state.browser_hash is None
        or not browser_token
        or not hmac.compare_digest(state.browser_hash, _hash(browser_token))
    ):
        raise StateRefused("this choice belongs to another browser; start connecting again")
    return state
