"""Alert settings of a chat (`alerts here|me|mute|off`): the chat_destinations rows, for owners and admins.

A channel's row binds it to the venue (the venue context for everyone typing there) and says which kinds of
alert it wants. A person's own alerts (`alerts me`, or `alerts here` in a direct message) live on a row keyed by
their chat user id, which both Slack and Telegram accept as a DM address. Muting keeps the subscription and stores,
per kind, until when (None: until `alerts here` is said again, which clears every mute). `alerts off` stops alerts
and keeps the binding. Quiet hours (the venue's local times) hold non-critical alerts back each night.
Delivering the alerts is the outbox fan-out's job, not this module's.

The planner changes a chat's settings through these same calls, with the turn `turn_for` builds for the chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.chat.people import ChatTurn, VenueContext
from core.clock import Clock
from core.errors import Invalid, NotFound
from storage.models import ChatDestination, ChatPlatform
from storage.queries import chat as chat_q


@dataclass(frozen=True)
class AlertSettings:
    venue: str
    personal: bool  # a person's DM rather than a channel
    alerts: bool
    kinds: tuple[str, ...] | None  # None: every kind
    muted: dict[str, str | None]  # kind -> until (ISO, UTC) or None: until `alerts here`
    quiet: tuple[str, str] | None = None  # ("22:00", "07:00") in the venue's time, or None: no quiet hours


@dataclass(frozen=True)
class Destination:
    """A chat bound to the venue, as its settings pages show it (a channel, or the asking person's own DMs)."""

    id: int
    platform: ChatPlatform
    chat_id: str
    chat_name: str | None
    personal: bool
    alerts: bool
    kinds: tuple[str, ...] | None  # None: every kind
    muted: dict[str, str | None]
    quiet: tuple[str, str] | None
    disabled_reason: str | None  # set when delivery found the chat gone (the bot removed or blocked)


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


def _quiet(row: ChatDestination) -> tuple[str, str] | None:
    return (row.quiet_start, row.quiet_end) if row.quiet_start and row.quiet_end else None


def _settings(venue: VenueContext, row: ChatDestination) -> AlertSettings:
    return AlertSettings(
        venue=venue.name,
        personal=row.user_id is not None,
        alerts=row.alerts,
        kinds=tuple(row.kinds) if row.kinds is not None else None,
        muted=dict(row.muted),
        quiet=_quiet(row),
    )


async def set_quiet_hours(
    session: AsyncSession, clock: Clock, venue: VenueContext, turn: ChatTurn, start: str | None, end: str | None
) -> AlertSettings:
    """Hold this chat's non-critical alerts back from `start` to `end` each day ("22:00", the venue's time; past
    midnight when `end` is earlier); both None: no quiet hours. Critical alerts still go at once (the fan-out)."""
    row = await _this_chat(session, venue, turn)
    if start is None and end is None:
        row.quiet_start = row.quiet_end = None
    else:
        begins, ends = _clock_time(start, "quiet_start"), _clock_time(end, "quiet_end")
        if begins == ends:
            raise Invalid("quiet hours must start and end at different times", field="quiet_end",
                          remedy="choose an end time, e.g. 22:00 to 07:00, or clear both to have none")  # fmt: skip
        row.quiet_start, row.quiet_end = begins, ends
    row.updated_at = clock.now()
    await session.flush()
    await venue.access.record(
        session, clock, "chat_quiet_hours_set", subject_type="chat_destination", subject_id=row.id,
        start=row.quiet_start, end=row.quiet_end,
    )  # fmt: skip
    return _settings(venue, row)


def _clock_time(raw: str | None, field: str) -> str:
    try:
        return time.fromisoformat((raw or "").strip()).strftime("%H:%M")
    except ValueError:
        raise Invalid(
            f"'{raw or ''}' is not a time of day", field=field, remedy="give both times as HH:MM, e.g. 22:00 and 07:00"
        ) from None


async def destinations(session: AsyncSession, access: VenueAccess) -> list[Destination]:
    """The venue's chats: its channels and the acting person's own DMs (other people's own stay theirs)."""
    rows = await chat_q.destinations_of_account(session, access.account_id)
    return [
        Destination(
            id=row.id,
            platform=row.platform,
            chat_id=row.chat_id,
            chat_name=row.chat_name,
            personal=row.user_id is not None,
            alerts=row.alerts and row.disabled_at is None,
            kinds=tuple(row.kinds) if row.kinds is not None else None,
            muted=dict(row.muted),
            quiet=_quiet(row),
            disabled_reason=(row.disabled_reason or "the chat could not be reached") if row.disabled_at else None,
        )
        for row in rows
        if row.user_id is None or row.user_id == access.actor.user_id
    ]


async def turn_for(session: AsyncSession, access: VenueAccess, destination_id: int) -> tuple[Destination, ChatTurn]:
    """The chat `destination_id` and the turn that addresses it, to change its settings from outside the chat
    (the planner) through the same calls as `alerts here|me|mute|off`. NotFound for another venue's chat or another
    person's own DMs, like any object the person cannot see."""
    rows = await destinations(session, access)
    row = next((d for d in rows if d.id == destination_id), None)
    if row is None:
        raise NotFound(f"chat {destination_id} not found", remedy="reload the page to see this venue's chats")
    stored = await chat_q.get_destination_by_id(session, destination_id)
    assert stored is not None  # just listed
    return row, ChatTurn(
        platform=stored.platform,
        workspace_id=stored.workspace_id,
        # A person's own row is keyed by their chat user id: the turn is theirs, in their direct messages.
        chat_user_id=stored.chat_id if row.personal else "",
        display_name=None,
        chat_id=stored.chat_id,
        is_direct_message=row.personal,
    )
