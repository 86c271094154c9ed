"""The bot's installs in chat workspaces: the install flow's state, the stored (encrypted) bot token, its erasure
when the workspace removes the app, and inbound events handled once.

The install flow reuses the consent flow's `oauth_states` rows (purpose `slack_install`): single use, ten minutes,
bound to the venue and person who started it and to their browser from the start (they are signed in when they
click "Add to Slack"), and only the state's SHA-256 is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.clock import Clock
from core.errors import Invalid, PermissionDenied
from storage.crypto import TokenCipher
from storage.enums import Channel, ChatPlatform, OAuthPurpose
from storage.models import ChatInstall, OAuthState
from storage.queries import accounts as accounts_q
from storage.queries import chat_installs as installs_q
from storage.queries import connections as connections_q
from storage.secrets import seal, unseal

INSTALL_STATE_TTL = timedelta(minutes=10)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class BotCredentials:
    """What answering a workspace needs: its bot token (decrypted, never shown) and the bot's own ids."""

    workspace_id: str
    bot_token: str = field(repr=False)
    bot_user_id: str | None
    app_id: str | None


async def credentials(
    session: AsyncSession, cipher: TokenCipher, platform: ChatPlatform, workspace_id: str
) -> BotCredentials | None:
    """The workspace's bot token from its stored install; None when never installed or since removed."""
    install = await installs_q.install_for(session, platform, workspace_id)
    if install is None or install.revoked_at is not None:
        return None
    token = unseal(install, "bot_token", cipher)
    if token is None:
        return None
    return BotCredentials(workspace_id, token, install.bot_user_id, install.app_id)


async def erase(session: AsyncSession, clock: Clock, platform: ChatPlatform, workspace_id: str, *, why: str) -> bool:
    """The workspace removed the app or revoked its token: forget the token (audited); False if none was kept."""
    erased = await installs_q.erase_token(session, platform, workspace_id, now=clock.now())
    if erased:
        install = await installs_q.install_for(session, platform, workspace_id)
        await _audit(session, clock, Actor.system(), install, "chat_install_revoked", why=why)
    return erased


async def first_time(session: AsyncSession, clock: Clock, platform: ChatPlatform, event_id: str) -> bool:
    """True the first time `event_id` is seen; the mark commits (or rolls back) with the caller's work."""
    return await installs_q.claim_inbound_event(session, platform, event_id, now=clock.now())


# --- the install flow -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstallStart:
    """The state to send to the platform's authorize page, and the browser cookie that must come back with it."""

    state: str = field(repr=False)
    browser_token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class InstalledBot:
    """What the platform's token exchange answered (oauth.v2.access for Slack)."""

    workspace_id: str
    workspace_name: str | None
    app_id: str | None
    bot_user_id: str | None
    bot_token: str = field(repr=False)
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Installed:
    install_id: int
    venue_name: str
    workspace_name: str
    reinstalled: bool


class InstallRefused(Invalid):
    """The install came back with a state we did not issue, used, expired, or in another browser: nothing kept."""


async def start_install(session: AsyncSession, clock: Clock, access: VenueAccess) -> InstallStart:
    """An admin starts installing the bot for their venue: a single-use state bound to them and this browser."""
    assert access.actor.user_id is not None, "an install belongs to a person"
    raw_state, browser_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = clock.now()
    state = await connections_q.add_state(
        session,
        OAuthState(
            state_hash=_hash(raw_state),
            account_id=access.account_id,
            user_id=access.actor.user_id,
            provider=None,  # an install connects no publishing provider
            purpose=OAuthPurpose.slack_install,
            browser_hash=_hash(browser_token),
            bound_at=now,
            expires_at=now + INSTALL_STATE_TTL,
            outcome={},
        ),
    )
    await access.record(session, clock, "chat_install_started", platform=ChatPlatform.slack.value)
    return InstallStart(raw_state, browser_token, state.expires_at)


async def complete_install(
    session: AsyncSession,
    clock: Clock,
    cipher: TokenCipher,
    *,
    raw_state: str | None,
    browser_token: str | None,
    viewer_user_id: int | None,
    exchange: Callable[[], Awaitable[InstalledBot]],
) -> Installed:
    """The platform sent the browser back: check state and browser, spend the state, exchange, store the token."""
    state = await _install_state(session, clock, raw_state)
    if not browser_token or not hmac.compare_digest(state.browser_hash or "", _hash(browser_token)):
        raise InstallRefused(
            "this install finished in a different browser from the one that started it",
            remedy="start again from Add to Slack in CheersAI and finish in the same browser",
        )
    if viewer_user_id is not None and viewer_user_id != state.user_id:
        raise PermissionDenied(
            "this install was started by someone else", remedy="start your own install from CheersAI"
        )
    if not await connections_q.use_state(session, state.id, now=clock.now()):
        raise InstallRefused("this install link was already used", remedy="start again from Add to Slack in CheersAI")
    bot = await exchange()
    install = await installs_q.install_for(session, ChatPlatform.slack, bot.workspace_id)
    reinstalled = install is not None
    if install is None:
        install = ChatInstall(platform=ChatPlatform.slack, workspace_id=bot.workspace_id)
    install.workspace_name = bot.workspace_name
    install.account_id = state.account_id
    install.installed_by_user_id = state.user_id
    install.app_id = bot.app_id
    install.bot_user_id = bot.bot_user_id
    install.scopes = list(bot.scopes)
    install.revoked_at = None
    seal(install, "bot_token", bot.bot_token, cipher)
    await installs_q.add_install(session, install)
    actor = Actor(user_id=state.user_id, channel=Channel.web)
    await _audit(session, clock, actor, install, "chat_install_saved", reinstalled=reinstalled)
    account = await accounts_q.get_account(session, state.account_id)
    return Installed(
        install.id, account.name if account else "your venue", bot.workspace_name or bot.workspace_id, reinstalled
    )


async def _install_state(session: AsyncSession, clock: Clock, raw_state: str | None) -> OAuthState:
    if not raw_state:
        raise InstallRefused("this install came back without its state", remedy="start again from CheersAI")
    state = await connections_q.state_by_hash(session, _hash(raw_state))
    if state is None or state.purpose is not OAuthPurpose.slack_install:
        raise InstallRefused("this install is not one CheersAI started", remedy="start again from CheersAI")
    if state.used_at is not None:
        raise InstallRefused("this install link was already used", remedy="start again from Add to Slack in CheersAI")
    if state.expires_at <= clock.now():
        raise InstallRefused("this install took longer than 10 minutes", remedy="start again from CheersAI")
    return state


async def _audit(
    session: AsyncSession, clock: Clock, actor: Actor, install: ChatInstall | None, action: str, **details: Any
) -> None:
    """Audit an install change under the venue that installed it (the token itself is never recorded)."""
    if install is None:
        return
    await audit.record(
        session,
        clock,
        actor,
        action,
        account_id=install.account_id,
        subject_type="chat_install",
        subject_id=install.id,
        platform=install.platform.value,
        workspace_id=install.workspace_id,
        **details,
    )
