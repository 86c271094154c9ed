"""Linking a chat account to a person with a one-time code: issued to the person (API or an operator's CLI),
typed in chat as `link CODE`. Codes last 10 minutes, work once and are kept only as their SHA-256.

Wrong codes are counted per chat identity: after MAX_WRONG_TRIES the identity may not try again for LOCK_FOR.
A chat identity already linked to someone re-links only with a new code issued to the new person (audited with
the previous person), so whoever holds a code speaks for the person it was issued to, nobody else.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.chat.people import ChatTurn
from core.clock import Clock
from core.errors import NotFound
from storage.models import ChatIdentity, ChatLinkCode, ChatPlatform
from storage.queries import accounts as accounts_q
from storage.queries import chat as chat_q
from storage.queries import chat_installs as installs_q

log = structlog.get_logger(__name__)

# No 0/O, 1/I/L or U: nothing that reads as another character when typed from a phone or read aloud.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8  # 30^8 ≈ 6.6e11 codes, against 5 tries per chat identity per LOCK_FOR
CODE_TTL = timedelta(minutes=10)
MAX_WRONG_TRIES = 5
LOCK_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class LinkCode:
    code: str  # shown once, grouped like 4F7Q-92KD
    expires_at: datetime


@dataclass(frozen=True)
class LinkOutcome:
    """What `link CODE` did: `linked` True when the chat identity now speaks for `user_name`."""

    linked: bool
    message: str
    remedy: str | None = None
    user_name: str | None = None


@dataclass(frozen=True)
class LinkedChat:
    """A chat account that speaks for a person: where (platform, workspace) and as whom the chat knows them."""

    platform: ChatPlatform
    workspace: str | None  # the Slack workspace's name when the install is known; None for Telegram (one bot)
    display_name: str | None
    linked_at: datetime | None


async def linked_chats(session: AsyncSession, user_id: int) -> list[LinkedChat]:
    """The chat accounts linked to person `user_id` (each Slack workspace and Telegram account they linked)."""
    chats: list[LinkedChat] = []
    for identity in await chat_q.identities_of_user(session, user_id):
        workspace: str | None = None
        if identity.platform is ChatPlatform.slack:
            install = await installs_q.install_for(session, identity.platform, identity.workspace_id)
            workspace = (install.workspace_name if install else None) or identity.workspace_id
        chats.append(LinkedChat(identity.platform, workspace, identity.display_name, identity.linked_at))
    return chats


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalise(code: str) -> str:
    """What a typed code means: case, spaces and dashes don't matter ('4f7q 92kd' is 4F7Q-92KD)."""
    return "".join(ch for ch in code.upper() if ch not in " -_")


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


async def issue_link_code(session: AsyncSession, clock: Clock, actor: Actor, user_id: int) -> LinkCode:
    """A fresh code for person `user_id` (the caller has checked who may ask: the person, or the operator)."""
    if await accounts_q.get_user(session, user_id) is None:
        raise NotFound(f"person {user_id} not found")
    code = new_code()
    expires_at = (clock.now() + CODE_TTL).replace(microsecond=0)
    row = await chat_q.add_link_code(
        session, ChatLinkCode(code_hash=code_hash(code), user_id=user_id, expires_at=expires_at, created_at=clock.now())
    )
    await audit.record(
        session, clock, actor, "chat_link_code_created", subject_type="user", subject_id=user_id,
        code_id=row.id, expires_at=expires_at.isoformat(),
    )  # fmt: skip
    return LinkCode(code=code, expires_at=expires_at)


async def redeem_code(session: AsyncSession, clock: Clock, turn: ChatTurn, code: str) -> LinkOutcome:
    """Link the turn's chat identity to the person `code` was issued to, or count a wrong try.

    Never raises for a wrong, used or expired code: the failed try must be committed with the answer.
    """
    now = clock.now()
    identity = await _identity(session, clock, turn)
    if identity.link_locked_until is not None and identity.link_locked_until > now:
        return _locked(identity.link_locked_until, now)
    row = await chat_q.link_code_by_hash(session, code_hash(code))
    if row is None:
        return await _wrong(session, clock, identity, turn, "That code isn't right.")
    if row.used_at is not None:
        return await _wrong(session, clock, identity, turn, "That code has already been used.")
    if row.expires_at <= now:
        return await _wrong(session, clock, identity, turn, "That code has expired (codes last 10 minutes).")
    if not await chat_q.use_link_code(session, row.id, identity_id=identity.id, now=now):
        return await _wrong(session, clock, identity, turn, "That code has already been used.")
    user = await accounts_q.get_user(session, row.user_id)
    assert user is not None  # the code is deleted with its person
    previous = identity.user_id
    identity.user_id = user.id
    identity.linked_at = now
    identity.failed_link_tries = 0
    identity.link_locked_until = None
    if previous != user.id:
        identity.current_account_id = None  # the old person's venue choice is not the new person's
    if turn.display_name:
        identity.display_name = turn.display_name[:255]
    await session.flush()
    await audit.record(
        session, clock, Actor(user_id=user.id, channel=turn.channel), "chat_identity_linked",
        subject_type="chat_identity", subject_id=identity.id, platform=turn.platform.value,
        workspace_id=turn.workspace_id, chat_user_id=turn.chat_user_id, code_id=row.id, previous_user_id=previous,
    )  # fmt: skip
    log.info("chat_identity_linked", identity_id=identity.id, user_id=user.id, relinked=previous not in (None, user.id))
    return LinkOutcome(linked=True, message=f"Linked: here you are {user.name} in CheersAI.", user_name=user.name)


async def _identity(session: AsyncSession, clock: Clock, turn: ChatTurn) -> ChatIdentity:
    identity = await chat_q.get_identity(session, turn.platform, turn.workspace_id, turn.chat_user_id, lock=True)
    if identity is not None:
        return identity
    return await chat_q.add_identity(
        session,
        ChatIdentity(
            platform=turn.platform,
            workspace_id=turn.workspace_id,
            chat_user_id=turn.chat_user_id,
            display_name=(turn.display_name or "")[:255] or None,
            failed_link_tries=0,
            created_at=clock.now(),
        ),
    )


async def _wrong(
    session: AsyncSession, clock: Clock, identity: ChatIdentity, turn: ChatTurn, problem: str
) -> LinkOutcome:
    now = clock.now()
    identity.failed_link_tries += 1
    if identity.failed_link_tries >= MAX_WRONG_TRIES:
        identity.failed_link_tries = 0
        identity.link_locked_until = now + LOCK_FOR
        await session.flush()
        await audit.record(
            session, clock, Actor(user_id=None, channel=turn.channel), "chat_link_locked",
            subject_type="chat_identity", subject_id=identity.id, platform=turn.platform.value,
            workspace_id=turn.workspace_id, chat_user_id=turn.chat_user_id,
        )  # fmt: skip
        log.warning("chat_link_locked", identity_id=identity.id, platform=turn.platform.value)
        minutes = int(LOCK_FOR.total_seconds() // 60)
        return LinkOutcome(
            linked=False,
            message=f"{problem} That was {MAX_WRONG_TRIES} wrong codes, so linking from this chat account is "
            f"paused for {minutes} minutes.",
            remedy=f"wait until {identity.link_locked_until:%H:%M} UTC, then type a fresh code",
        )
    await session.flush()
    left = MAX_WRONG_TRIES - identity.failed_link_tries
    return LinkOutcome(
        linked=False,
        message=f"{problem} {left} more wrong {'code' if left == 1 else 'codes'} and linking pauses for a while.",
        remedy="check the code, or get a new one (codes last 10 minutes and work once)",
    )


def _locked(until: datetime, now: datetime) -> LinkOutcome:
    minutes = max(1, int((until - now).total_seconds() + 59) // 60)
    return LinkOutcome(
        linked=False,
        message=f"Too many wrong codes from this chat account: linking is paused for {minutes} more "
        f"{'minute' if minutes == 1 else 'minutes'} (until {until:%H:%M} UTC).",
        remedy="wait, then type a fresh code",
    )
