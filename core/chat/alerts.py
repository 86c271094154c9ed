"""Alert settings of a chat (`alerts here|me|mute|off`): the chat_destinations rows, for owners and admins.

A channel's row binds it to the venue (the venue context for everyone typing there) and says which kinds of
alert it wants. A person's own alerts (`alerts me`, or `alerts here` in a direct message) live on a row keyed by
their chat user id, which both Slack and Telegram accept as a DM address. Muting keeps the subscription and stores,
per kind, until when (None: until `alerts here` is said again, which clears every mute). `alerts off` stops alerts
and keeps the binding. Delivering the alerts is the outbox fan-out's job, not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.chat.people import ChatTurn, VenueContext
from core.clock import Clock
from core.errors import Invalid
from storage.models import ChatDestination
from storage.queries import chat as chat_q


@dataclass(frozen=True)
class AlertSettings:
    venue: str
    personal: bool  # a person's DM rather than a channel
    alerts: bool
    kinds: tuple[str, ...] | None  # None: every kind
    muted: dict[str, str | None]  # kind -> until (ISO, UTC) or None: until `alerts here`


async def subscribe(
    session: AsyncSession,
    clock: Clock,
    venue: VenueContext,
    turn: ChatTurn,
    kinds: Sequence[str] | None,
    *,
    personal: bool,
) -> AlertSettings:
    """Send the venue's alerts (of `kinds`, or all) to this channel, or to the person's DM when `personal`."""
    personal = personal or turn.is_direct_message
    chat_id = turn.own_chat_id if personal else turn.chat_id
    access = venue.access
    row = await chat_q.get_destination(session, turn.platform, turn.workspace_id, chat_id, access.account_id)
    if row is None:
        row = await chat_q.add_destination(
            session,
            ChatDestination(
                platform=turn.platform,
                workspace_id=turn.workspace_id,
                chat_id=chat_id,
                account_id=access.account_id,
                user_id=access.actor.user_id if personal else None,
                created_by_user_id=access.actor.user_id,
                alerts=True,
                kinds=None,
                muted={},
                created_at=clock.now(),
                updated_at=clock.now(),
            ),
        )
    row.alerts = True
    row.kinds = list(kinds) if kinds else None
    row.muted = {}
    row.disabled_at = None
    row.disabled_reason = None
    row.updated_at = clock.now()
    await session.flush()
    await access.record(
        session, clock, "chat_alerts_on", subject_type="chat_destination", subject_id=row.id,
        platform=turn.platform.value, chat_id=chat_id, kinds=row.kinds, personal=personal,
    )  # fmt: skip
    return _settings(venue, row)


async def mute(
    session: AsyncSession,
    clock: Clock,
    venue: VenueContext,
    turn: ChatTurn,
    kinds: Sequence[str],
    until: datetime | None,
) -> AlertSettings:
    """Hold back `kinds` in this chat until `until` (None: until alerts are set up again with `alerts here`)."""
    row = await _this_chat(session, venue, turn)
    muted: dict[str, Any] = dict(row.muted)
    for kind in kinds:
        muted[kind] = until.isoformat() if until is not None else None
    row.muted = muted
    row.updated_at = clock.now()
    await session.flush()
    await venue.access.record(
        session, clock, "chat_alerts_muted", subject_type="chat_destination", subject_id=row.id,
        kinds=list(kinds), until=until.isoformat() if until else None,
    )  # fmt: skip
    return _settings(venue, row)


async def switch_off(session: AsyncSession, clock: Clock, venue: VenueContext, turn: ChatTurn) -> AlertSettings:
    """No more alerts in this chat; a channel stays bound to the venue."""
    row = await _this_chat(session, venue, turn)
    row.alerts = False
    row.updated_at = clock.now()
    await session.flush()
    await venue.access.record(session, clock, "chat_alerts_off", subject_type="chat_destination", subject_id=row.id)
    return _settings(venue, row)


async def _this_chat(session: AsyncSession, venue: VenueContext, turn: ChatTurn) -> ChatDestination:
    chat_id = turn.own_chat_id if turn.is_direct_message else turn.chat_id
    row = await chat_q.get_destination(session, turn.platform, turn.workspace_id, chat_id, venue.access.account_id)
    if row is None or row.disabled_at is not None:
        raise Invalid(
            f"this chat gets no alerts for {venue.name} yet",
            remedy="type `alerts here` first (or `alerts me` for your own)",
        )
    return row


def _settings(venue: VenueContext, row: ChatDestination) -> AlertSettings:
    return AlertSettings(
        venue=venue.name,
        personal=row.user_id is not None,
        alerts=row.alerts,
        kinds=tuple(row.kinds) if row.kinds is not None else None,
        muted=dict(row.muted),
    )
