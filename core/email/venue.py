"""Venue alerts by e-mail: the people of a venue who chose e-mail (users.alert_via "email" or "both") get one
e-mail per notification their role is meant to hear about, queued in the outbox during the chat fan-out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.email import outbox
from core.email.render import email_bodies
from storage.enums import Role
from storage.models import Notification

KIND = "venue_alert"
# A receipt for every live post is not an alert: it stays in the feed (and chats that asked for it), never mailed.
NOT_MAILED = frozenset({"publish_succeeded"})
CHANGE_HOW = "To change how your alerts reach you, type `alerts by chat` (or email, or both) to the CheersAI bot."


@dataclass(frozen=True)
class Recipient:
    """A venue person who takes alerts by e-mail."""

    user_id: int
    address: str
    role: Role | None
    staff: bool


def dedup_key(notification_id: int, user_id: int) -> str:
    return f"notification:{notification_id}:user:{user_id}"


def bodies(notification: Notification, venue: str) -> tuple[str, str, str]:
    """(subject, text, html) of a venue alert: what happened, why and what to do, and where to change this."""
    payload = notification.payload or {}
    lines = [f"Venue: {venue}"]
    lines += [str(v) for v in (payload.get("reason"), payload.get("remedy")) if v]
    lines.append(CHANGE_HOW)
    text, html = email_bodies(notification.title, lines, None)
    return f"[{venue}] {notification.title}", text, html


async def queue_for(
    session: AsyncSession, clock: Clock, notification: Notification, venue: str, recipients: Sequence[Recipient]
) -> int:
    """Queue the notification's e-mail for each recipient (insert-once per person); how many were queued now."""
    if notification.kind in NOT_MAILED or not recipients:
        return 0
    subject, text, html = bodies(notification, venue)
    queued = 0
    for person in recipients:
        added = await outbox.enqueue(
            session,
            clock,
            dedup_key=dedup_key(notification.id, person.user_id),
            kind=KIND,
            to=person.address,
            subject=subject,
            text=text,
            html=html,
        )
        queued += int(added)
    return queued
