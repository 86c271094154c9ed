"""Resolution: a chat alert whose every problem is solved (the post went out or was cancelled, the connection was
reconnected) is marked resolved, by whom and when, and queued for an in-place edit without its buttons. Read from
the state each pass, so core.publishing.transitions stays the one status writer and knows nothing of chats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.notifications import fanout
from core.notifications.kinds import NotificationKind
from core.posts.times import format_local
from storage.enums import ChatMessageStatus, ConnectionStatus, DeliveryStatus
from storage.models import Connection, Notification, Post
from storage.queries import chat_alerts as q

RESOLVE_LOOKBACK = timedelta(days=7)
TARGET_KINDS = fanout.GROUPED_BY_CONNECTION
CONNECTION_KINDS = frozenset(
    {
        NotificationKind.connection_needs_reconnect,
        NotificationKind.connection_expiring,
        NotificationKind.connection_revoked,
    }
)
# A delivery alert is over once the post is live (a retry went out, a person marked it) or was cancelled.
SOLVED_DELIVERY = frozenset({DeliveryStatus.published, DeliveryStatus.cancelled})
DECIDED = frozenset({"approved", "rejected"})  # an approval request's post, decided either way


async def resolve(session: AsyncSession, clock: Clock, *, limit: int = 200) -> int:
    """Mark messages whose every alert is solved (published, reconnected) and queue their in-place edit."""
    now = clock.now()
    count = 0
    for message in await q.unresolved_messages(session, since=now - RESOLVE_LOOKBACK, limit=limit):
        notes = await q.notifications_of(session, message.id)
        if not notes:
            continue
        solved = await _solved_by(session, notes)
        if solved is None:
            continue
        tz = await q.venue_timezone(session, message.account_id)
        who = f" by {solved}" if solved else ""
        message.resolved_at = now
        message.resolved_note = f"Resolved{who} at {format_local(now, tz, now=now)}."
        message.updated_at = now
        if message.ref is not None or message.status is ChatMessageStatus.sending:
            # Sent, or being posted right now with the old words: edit it once it is there.
            message.needs_update = True
            message.next_attempt_at = now
        count += 1
    await session.flush()
    return count


async def _solved_by(session: AsyncSession, notes: Sequence[Notification]) -> str | None:
    """'' or the person's name when every alert's problem is solved; None while any is open (or unknowable)."""
    target_ids = [n.subject.get("target_id") for n in notes if n.kind in TARGET_KINDS]
    connection_ids = [n.subject.get("connection_id") for n in notes if n.kind in CONNECTION_KINDS]
    targets = await q.targets(session, [t for t in target_ids if isinstance(t, int)])
    conns = await q.connections(session, [c for c in connection_ids if isinstance(c, int)])
    who: str | None = None
    for n in notes:
        if n.kind in TARGET_KINDS:
            target = targets.get(n.subject.get("target_id"))  # type: ignore[arg-type]
            if target is None or target.status not in SOLVED_DELIVERY:
                return None
            who = who or await q.last_actor(session, subject_type="post_target", subject_id=target.id,
                                            since=n.created_at)  # fmt: skip
        elif n.kind == NotificationKind.approval_requested:
            # Over once someone decided the post (in chat, the API or the CLI): its buttons would only say so.
            post = (
                await session.get(Post, n.subject.get("post_id")) if isinstance(n.subject.get("post_id"), int) else None
            )
            if post is None or post.approval not in DECIDED:
                return None
            who = who or await q.user_name(session, post.approval_decided_by_user_id)
        elif n.kind in CONNECTION_KINDS:
            connection = conns.get(n.subject.get("connection_id"))  # type: ignore[arg-type]
            if not _reconnected(connection):
                return None
            assert connection is not None
            who = who or await q.user_name(session, connection.connected_by_user_id)
        else:
            return None  # nothing tells when this kind is over
    return who or ""


def _reconnected(connection: Connection | None) -> bool:
    # The alert moved the connection off `active` in its own transaction: active again means it was reconnected.
    return connection is not None and connection.status is ConnectionStatus.active
