"""Fan-out: each new notification becomes one delivery row per chat destination whose settings take it, grouped
into chat messages (a burst about one connection is one message) and held by quiet hours when not critical; and
one e-mail per venue person who chose e-mail for their alerts (core.email.venue), whose private chat copy stops
when they chose e-mail only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.email import venue as venue_email
from core.notifications.kinds import KINDS, Audience, NotificationKind
from storage.enums import ChatMessageStatus, Role, Severity
from storage.models import ChatAlertMessage, ChatDestination, Notification
from storage.queries import chat_alerts as q
from storage.queries import emails as emails_q

log = structlog.get_logger(__name__)

# Alerts about the same problem within this window share one message (edited as more arrive).
GROUP_WINDOW = timedelta(minutes=10)
# Notifications older than this are never fanned out (a destination only gets alerts raised after it was set up).
LOOKBACK = timedelta(days=1)
# Per-post kinds grouped by connection: twenty posts failing because one Page's token expired is one message.
GROUPED_BY_CONNECTION = frozenset(
    {
        NotificationKind.publish_failed,
        NotificationKind.publish_missed,
        NotificationKind.publish_in_doubt,
        NotificationKind.publish_needs_attention,
    }
)
CRITICAL = frozenset({Severity.error, Severity.critical})
SEVERITY_ORDER = (Severity.info, Severity.success, Severity.warning, Severity.error, Severity.critical)


@dataclass(frozen=True)
class _Person:
    role: Role | None
    staff: bool
    via: str = "chat"  # users.alert_via: "email" means no private chat copy (the e-mail carries it)


@dataclass(frozen=True)
class FanOut:
    seen: int  # notifications taken (a full batch means there may be more)
    added: int  # deliveries written


async def fan_out(session: AsyncSession, clock: Clock, *, limit: int = 200) -> FanOut:
    """Fan out up to `limit` new notifications in the caller's transaction."""
    now = clock.now()
    added = 0
    per_venue: dict[int, tuple[Sequence[ChatDestination], dict[int, _Person], ZoneInfo]] = {}
    mailed: dict[int, tuple[str, list[venue_email.Recipient]]] = {}
    batch = await q.unfanned(session, since=now - LOOKBACK, limit=limit)
    for account_id in sorted({n.account_id for n in batch}):
        destinations = await q.alert_destinations(session, account_id)
        user_ids = [d.user_id for d in destinations if d.user_id is not None]
        via = await emails_q.alert_via_of(session, user_ids)
        people = {
            uid: _Person(role, staff, via.get(uid, "chat"))
            for uid, (role, staff) in (await q.people_of(session, account_id, user_ids)).items()
        }
        per_venue[account_id] = (destinations, people, ZoneInfo(await q.venue_timezone(session, account_id)))
        recipients = [
            venue_email.Recipient(uid, address, role, staff)
            for uid, address, role, staff in await emails_q.alert_recipients(session, account_id)
        ]
        venue = await emails_q.venue_name(session, account_id) if recipients else ""  # only e-mails name it
        mailed[account_id] = (venue, recipients)
    # Every chat this batch may touch is locked up front, in id order: two workers fanning out disjoint batches
    # to the same chats would otherwise lock them in different orders and deadlock (seen by bench/chat.py).
    for destination_id in sorted({d.id for destinations, _, _ in per_venue.values() for d in destinations}):
        await q.lock_destination(session, destination_id)
    for notification in batch:
        if not await q.mark_fanned(session, notification.id, now=now):
            continue  # another worker fanned it out
        try:
            kind = NotificationKind(notification.kind)
        except ValueError:
            log.warning("chat_fanout_unknown_kind", kind=notification.kind, notification_id=notification.id)
            continue
        destinations, people, tz = per_venue[notification.account_id]
        for destination in destinations:
            if not takes(destination, kind, notification, now, people):
                continue
            delivery_id = await q.add_delivery_once(
                session, notification_id=notification.id, destination_id=destination.id, now=now
            )
            if delivery_id is None:
                continue
            message = await _message_for(session, destination, kind, notification, tz, now)
            await q.attach(session, delivery_id, message.id)
            added += 1
        venue, recipients = mailed[notification.account_id]
        wanted = [r for r in recipients if includes(kind, notification, r.user_id, _Person(r.role, r.staff))]
        await venue_email.queue_for(session, clock, notification, venue, wanted)
    await session.flush()
    return FanOut(seen=len(batch), added=added)


def takes(
    destination: ChatDestination,
    kind: NotificationKind,
    notification: Notification,
    now: datetime,
    people: dict[int, _Person],
) -> bool:
    """Whether this chat's settings take this alert: on, the kind wanted and not muted, the kind's audience."""
    if not destination.alerts or destination.disabled_at is not None:
        return False
    if notification.created_at < destination.created_at:
        return False  # set up after it happened: no backlog of old alerts
    if destination.kinds is not None and kind.value not in destination.kinds:
        return False
    if kind.value in destination.muted and mute_holds(destination.muted[kind.value], now):
        return False
    audience = KINDS[kind].audience
    if destination.user_id is None:  # a channel
        return audience not in (Audience.on_call, Audience.author)
    person = people.get(destination.user_id)
    if person is None:
        return audience is Audience.author and destination.user_id == notification.subject.get("author_user_id")
    if person.via == "email":
        return False  # they chose e-mail only: the e-mail carries it, not their private chat
    return includes(kind, notification, destination.user_id, person)


def includes(kind: NotificationKind, notification: Notification, user_id: int, person: _Person) -> bool:
    """Whether the kind's audience includes this person of the venue (their private chat, their e-mail)."""
    audience = KINDS[kind].audience
    if audience is Audience.author:
        # Only the author (channels see it in the feed): "your post was approved / rejected".
        return user_id == notification.subject.get("author_user_id")
    if audience is Audience.on_call:
        return person.staff
    if audience is Audience.admins:
        return person.role in (Role.admin, Role.owner) or person.staff
    return person.role is not None or person.staff


def mute_holds(until: Any, now: datetime) -> bool:
    """Whether a chat's mute of one kind (`muted[kind]`: an ISO instant, or None) still holds back alerts at `now`
    (the planner's Chat page lists only the mutes that do)."""
    if until is None:
        return True  # until `alerts here` is said again
    try:
        return datetime.fromisoformat(str(until)) > now
    except ValueError:
        return True  # unreadable: keep the person's wish to hear less


def group_key(kind: NotificationKind, notification: Notification) -> str:
    """Alerts with the same key within the window share a message: per-post kinds by connection, others alone."""
    connection_id = notification.subject.get("connection_id")
    if kind in GROUPED_BY_CONNECTION and isinstance(connection_id, int):
        return f"{kind.value}:connection:{connection_id}"
    return f"{kind.value}:notification:{notification.id}"


def quiet_until(destination: ChatDestination, tz: ZoneInfo, now: datetime) -> datetime | None:
    """When this chat's quiet hours end (UTC), if `now` falls inside them; None outside them or when unset."""
    if not destination.quiet_start or not destination.quiet_end:
        return None
    try:
        start, end = time.fromisoformat(destination.quiet_start), time.fromisoformat(destination.quiet_end)
    except ValueError:
        return None
    if start == end:
        return None
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(now.tzinfo)


async def _message_for(
    session: AsyncSession,
    destination: ChatDestination,
    kind: NotificationKind,
    notification: Notification,
    tz: ZoneInfo,
    now: datetime,
) -> ChatAlertMessage:
    """The group's open message in this chat (edited to add this alert once sent), or a new one."""
    await q.lock_destination(session, destination.id)
    key = group_key(kind, notification)
    severity = notification.severity
    message = await q.open_group_message(session, destination_id=destination.id, group_key=key, now=now)
    if message is not None:
        if SEVERITY_ORDER.index(severity) > SEVERITY_ORDER.index(message.severity):
            message.severity = severity
        if message.severity in CRITICAL and message.status is ChatMessageStatus.pending:
            message.next_attempt_at = min(message.next_attempt_at, now)  # critical goes, even in quiet hours
            message.note = None
        if message.ref is not None or message.status is ChatMessageStatus.sending:
            message.needs_update = True
            message.next_attempt_at = min(message.next_attempt_at, now)
        message.updated_at = now
        return message
    held = None if severity in CRITICAL else quiet_until(destination, tz, now)
    message = ChatAlertMessage(
        destination_id=destination.id,
        account_id=destination.account_id,
        group_key=key,
        group_until=now + GROUP_WINDOW,
        severity=severity,
        status=ChatMessageStatus.pending,
        needs_update=False,
        attempts=0,
        posts_started=0,
        next_attempt_at=held or now,
        note=f"held by quiet hours until {held.astimezone(tz):%H:%M}" if held else None,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    await session.flush()
    return message
