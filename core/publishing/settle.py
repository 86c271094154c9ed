"""Applying a delivery's outcome: published, or settled (core.publishing.outcomes), with what follows it — the
connection flagged or paced, the notification raised, and a paced connection's waiting deliveries told why they
wait. The status itself is written by core.publishing.transitions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.connections import lifecycle as connections
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind, offers_for
from core.publishing import transitions
from core.publishing.labels import excerpt, label_for
from core.publishing.outcomes import Hold, Settle, held_by_rate_limit, held_by_usage
from core.runtime import Runtime
from providers.publishing import Published
from storage.models import Connection, Post, PostTarget, Severity
from storage.queries import pacing as pacing_q

log = structlog.get_logger(__name__)

# Meta's usage headers: slow a connection down before it reaches 100 % (docs/providers.md#graph-rate-limits).
USAGE_SLOW, USAGE_STOP = 75, 90


async def mark_published(
    runtime: Runtime,
    session: AsyncSession,
    target: PostTarget,
    post: Post,
    connection: Connection,
    result: Published,
    now: datetime,
) -> None:
    """Record a live delivery and its success in the feed."""
    note = f"Live on {label_for(connection)}."
    first = transitions.published(
        target, now=now, note=note, permalink=result.permalink, external_id=result.external_id
    )
    if first:
        await notifications.notify(
            session,
            runtime.clock,
            account_id=post.account_id,
            kind=NotificationKind.publish_succeeded,
            severity=Severity.info,
            title=f"Published on {label_for(connection)}: {excerpt(post.text)}",
            subject={"post_id": post.id, "target_id": target.id, "connection_id": connection.id},
            payload={"permalink": target.permalink, "external_id": target.external_id},
        )


async def apply_settle(
    runtime: Runtime, session: AsyncSession, target: PostTarget, post: Post, connection: Connection, settle: Settle
) -> None:
    """Write a settled state onto the delivery, flag the connection, pace it, and raise the alert."""
    now = runtime.clock.now()
    transitions.settle(target, settle, now)
    if settle.reconnect:
        await connections.mark_needs_reconnect(
            session, runtime.clock, connection, settle.error or "access lost", remedy=settle.remedy
        )
    if settle.pace_until is not None:
        await pacing_q.pace(session, connection.id, not_before=settle.pace_until, now=now, reason="rate_limited")
        # The connection's other waiting deliveries cannot be claimed until then either: say so on them.
        hold = held_by_rate_limit(label_for(connection), settle.pace_until)
        await hold_waiting(session, connection.id, hold, now, except_id=target.id)
    if settle.notify:
        severity = Severity.warning if settle.notify is NotificationKind.publish_missed else Severity.error
        headline = {
            NotificationKind.publish_failed: "Not published",
            NotificationKind.publish_missed: "Missed",
            NotificationKind.publish_in_doubt: "Check whether this went out",
        }.get(settle.notify, "Needs your attention")
        await notifications.notify(
            session,
            runtime.clock,
            account_id=post.account_id,
            kind=settle.notify,
            severity=severity,
            title=f"{headline} on {label_for(connection)}: {excerpt(post.text)}",
            subject={"post_id": post.id, "target_id": target.id, "connection_id": connection.id},
            payload={"reason": settle.error, "remedy": settle.remedy},
            actions=offers_for(settle.notify, target_id=target.id),
            dedup_key=f"{settle.notify.value}:{target.id}:{target.attempts}",
        )
    await session.flush()


async def pace_by_usage(session: AsyncSession, connection: Connection, usage: int | None, now: datetime) -> None:
    """Slow the connection down by Meta's usage headers, and hold its waiting deliveries behind the pause.

    The hold includes the delivery just settled: a throttle whose Retry-After (3 s) is shorter than the
    usage pause (5 min at 100 %) would otherwise say "trying again at <3 s later>" while it waits 5 min.
    Whichever wait is longer wins, with its reason: the hold never pulls a due time earlier.
    """
    if usage is None or usage < USAGE_SLOW:
        return
    wait = timedelta(minutes=5) if usage >= USAGE_STOP else timedelta(seconds=60)
    await pacing_q.pace(
        session, connection.id, not_before=now + wait, now=now, usage_percent=usage, reason=f"usage {usage}%"
    )
    await hold_waiting(session, connection.id, held_by_usage(label_for(connection), usage, now + wait), now)


async def hold_waiting(
    session: AsyncSession, connection_id: int, hold: Hold, now: datetime, *, except_id: int | None = None
) -> None:
    held = await pacing_q.hold_behind_pace(
        session,
        connection_id,
        until=hold.until,
        now=now,
        note=hold.note,
        note_past_cutoff=hold.note_past_cutoff,
        except_id=except_id,
    )
    if held:
        log.info("deliveries_held_behind_pace", connection_id=connection_id, held=held, until=hold.until.isoformat())
