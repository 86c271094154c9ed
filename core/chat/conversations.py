"""Guided chat flows (Telegram's step-by-step /schedule) kept in the database, chat-neutral.

One flow per chat and person (`chat_conversations`). It lives in the database rather than in a process's memory,
so any web process continues it and a restart keeps it. Each step moves its `version` on with a conditional
UPDATE (… WHERE version = :read), so a stale button, a double click or a second process racing is refused, never
applied twice. A flow that has not moved for its lifetime reads as gone; its row stays until the person's next
start replaces it (so there is never more than one per chat and person), and finishing or cancelling deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.chat.people import ChatTurn
from core.clock import Clock
from core.settings import Settings
from storage.models import ChatConversation
from storage.queries import chat_conversations as conversations_q

log = structlog.get_logger(__name__)


def lifetime(settings: Settings) -> timedelta:
    """How long a flow waits for its next step (CHEERS_TELEGRAM_FLOW_MINUTES) before it reads as gone."""
    return timedelta(minutes=settings.cheers_telegram_flow_minutes)


@dataclass(frozen=True)
class Conversation:
    """A flow as read: its step, what it has gathered so far (`data`, JSON) and the version a change must match."""

    id: int
    kind: str
    step: str
    version: int
    account_id: int | None
    user_id: int | None
    expires_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


def _of(row: ChatConversation) -> Conversation:
    return Conversation(
        id=row.id,
        kind=row.kind,
        step=row.step,
        version=row.version,
        account_id=row.account_id,
        user_id=row.user_id,
        expires_at=row.expires_at,
        data=dict(row.data or {}),
    )


async def start(
    session: AsyncSession,
    clock: Clock,
    turn: ChatTurn,
    *,
    kind: str,
    step: str,
    data: dict[str, Any],
    account_id: int | None,
    user_id: int | None,
    ttl: timedelta,
) -> Conversation:
    """Begin a flow for the turn's chat and person, replacing any they had (its buttons become stale)."""
    now = clock.now()
    row = await conversations_q.put(
        session,
        platform=turn.platform,
        workspace_id=turn.workspace_id,
        chat_id=turn.chat_id,
        chat_user_id=turn.chat_user_id,
        kind=kind,
        step=step,
        data=data,
        account_id=account_id,
        user_id=user_id,
        expires_at=now + ttl,
        now=now,
    )
    log.info("chat_flow_started", conversation_id=row.id, kind=kind, step=step, version=row.version)
    return _of(row)


async def current(session: AsyncSession, clock: Clock, turn: ChatTurn) -> Conversation | None:
    """The turn's chat person's flow, or None when there is none or it has expired."""
    row = await conversations_q.get(session, turn.platform, turn.workspace_id, turn.chat_id, turn.chat_user_id)
    if row is None or row.expires_at <= clock.now():
        return None
    return _of(row)


async def at_version(
    session: AsyncSession, clock: Clock, turn: ChatTurn, conversation_id: int, version: int
) -> Conversation | None:
    """The turn's flow if it is the one a button names, at that button's version; None for a stale button."""
    found = await current(session, clock, turn)
    if found is None or found.id != conversation_id or found.version != version:
        return None
    return found


async def advance(
    session: AsyncSession,
    clock: Clock,
    conversation: Conversation,
    *,
    step: str,
    data: dict[str, Any],
    ttl: timedelta,
) -> Conversation | None:
    """The flow moved to `step` with `data` (its lifetime starts again), or None when another change got there
    first or it expired: the caller tells the person the button is out of date."""
    now = clock.now()
    moved = await conversations_q.advance(
        session, conversation.id, conversation.version, step=step, data=data, expires_at=now + ttl, now=now
    )
    if not moved:
        log.info("chat_flow_stale", conversation_id=conversation.id, version=conversation.version, step=step)
        return None
    return Conversation(
        id=conversation.id,
        kind=conversation.kind,
        step=step,
        version=conversation.version + 1,
        account_id=conversation.account_id,
        user_id=conversation.user_id,
        expires_at=now + ttl,
        data=dict(data),
    )


async def finish(session: AsyncSession, clock: Clock, conversation: Conversation) -> bool:
    """End the flow as read (done); False when it had moved on, expired or gone, so the caller does nothing twice."""
    if conversation.expires_at <= clock.now():
        return False
    done = await conversations_q.remove(session, conversation.id, conversation.version)
    if done:
        log.info("chat_flow_finished", conversation_id=conversation.id, version=conversation.version)
    return done


async def cancel(session: AsyncSession, clock: Clock, turn: ChatTurn) -> bool:
    """End the turn's chat person's flow, whatever its step; False when none was going (an expired one is gone)."""
    row = await conversations_q.get(session, turn.platform, turn.workspace_id, turn.chat_id, turn.chat_user_id)
    if row is None:
        return False
    active = row.expires_at > clock.now()
    removed = await conversations_q.remove(session, row.id)
    if removed and active:
        log.info("chat_flow_cancelled", conversation_id=row.id, version=row.version)
    return removed and active
