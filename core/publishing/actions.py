"""What a person can do to one delivery: retry it (API, `cheers retry`, chat later) — idempotent, audited —
and settle one CheersAI could not: mark it as published, or publish it again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.errors import Conflict, Invalid, NotFound
from core.notifications.outbox import CHAT_ALERTS_TASK
from core.publishing import transitions
from core.publishing.clock import clock_now
from core.publishing.labels import label_for
from core.runtime import Runtime
from storage.models import Connection, ConnectionStatus, DeliveryStatus, Post, PostTarget
from storage.models.posts import RETRYABLE
from storage.queries import posts as posts_q
from storage.uow import wake_after_commit

ALREADY_QUEUED = (
    DeliveryStatus.scheduled,
    DeliveryStatus.claimed,
    DeliveryStatus.processing,
    DeliveryStatus.retrying,
)
# What a person may mark as published: CheersAI could not tell, or could not send it.
MARKABLE = (DeliveryStatus.in_doubt, DeliveryStatus.needs_attention, DeliveryStatus.failed, DeliveryStatus.missed)


@dataclass(frozen=True)
class RetryResult:
    target: PostTarget
    changed: bool
    message: str


async def retry_target(
    runtime: Runtime,
    session: AsyncSession,
    access: VenueAccess,
    target_id: int,
    *,
    audit_action: str = "delivery_retried",
) -> RetryResult:
    """Send a failed, missed, in-doubt or waiting delivery again now; a queued one is left as it is."""
    target = await posts_q.get_target_in_account(session, access.account_id, target_id)
    if target is None:
        raise NotFound(f"delivery {target_id} not found")
    connection = await session.get(Connection, target.connection_id)
    post = await session.get(Post, target.post_id)
    assert connection is not None and post is not None
    label = label_for(connection)
    if target.status is DeliveryStatus.published:
        where = f": {target.permalink}" if target.permalink else ""
        raise Conflict(
            f"already live on {label}{where}",
            remedy="retrying would publish it a second time; post a correction instead if something is wrong",
        )
    if target.status is DeliveryStatus.cancelled:
        raise Conflict("this delivery was cancelled", remedy="create the post again to send it")
    if target.status in ALREADY_QUEUED:
        return RetryResult(target, False, f"Already on its way to {label} ({target.status.value}); nothing to do.")
    if target.status is DeliveryStatus.pending_approval or post.approval in ("pending", "rejected"):
        # A retry must never publish a post the venue has not approved (docs/weekly.md#approvals).
        raise Conflict(
            f"this post is {'still waiting for approval' if post.approval != 'rejected' else 'rejected'}, so it is "
            "not sent",
            remedy="an admin or owner of the venue approves it first (then retry); a rejected post is created again",
        )
    assert target.status in RETRYABLE
    if target.status is DeliveryStatus.in_doubt and await _being_checked(runtime, session, target):
        raise Conflict(
            f"CheersAI is checking {label} for this post right now",
            remedy="wait a minute: it is then published, sent again, or left for you to decide",
        )
    now = runtime.clock.now()
    waits = connection.status in (ConnectionStatus.needs_reconnect, ConnectionStatus.revoked)
    freshness = timedelta(minutes=post.freshness_minutes)
    previous = transitions.retry(target, now=now, freshness=freshness, waits=waits)
    await session.flush()
    await access.record(
        session, runtime.clock, audit_action, subject_type="post_target", subject_id=target.id,
        previous=previous.value, post_id=post.id,
    )  # fmt: skip
    if waits:
        return RetryResult(target, True, f"Queued; it goes out as soon as {label} is reconnected.")
    return RetryResult(target, True, f"Sending to {label} now.")


async def publish_again(runtime: Runtime, session: AsyncSession, access: VenueAccess, target_id: int) -> RetryResult:
    """A person's word that a delivery in doubt (or needing attention) did not go out: send it again now."""
    return await retry_target(runtime, session, access, target_id, audit_action="delivery_published_again")


MAX_PERMALINK = 2000  # post_targets.permalink's size: a longer paste is refused, not a database error


def checked_permalink(permalink: str | None) -> str | None:
    """The post's link a person gave for Mark published, trimmed (blank: none); Invalid unless it is https://."""
    permalink = (permalink or "").strip() or None
    parts = urlsplit(permalink or "")
    if permalink is not None and (parts.scheme != "https" or not parts.netloc):
        raise Invalid("the link must be the post's https:// address", field="permalink")
    if permalink is not None and len(permalink) > MAX_PERMALINK:
        raise Invalid(f"the link is longer than {MAX_PERMALINK} characters", field="permalink")
    return permalink


async def mark_published(
    runtime: Runtime, session: AsyncSession, access: VenueAccess, target_id: int, permalink: str | None
) -> RetryResult:
    """A person's word that a delivery is live (it was there after all, or they posted it by hand)."""
    permalink = checked_permalink(permalink)
    target = await posts_q.get_target_in_account(session, access.account_id, target_id)
    if target is None:
        raise NotFound(f"delivery {target_id} not found")
    connection = await session.get(Connection, target.connection_id)
    assert connection is not None
    label = label_for(connection)
    if target.status is DeliveryStatus.published:
        where = f": {target.permalink}" if target.permalink else ""
        raise Conflict(f"already live on {label}{where}", remedy="nothing to do")
    if target.status not in MARKABLE:
        raise Conflict(
            f"this delivery is {target.status.value.replace('_', ' ')}, so it cannot be marked as published",
            remedy="only a delivery in doubt, needing attention, failed or missed can be; if you posted it by hand, "
            "cancel the post so CheersAI does not send it as well",
        )
    previous = target.status
    note = f"Marked as published on {label} by a person ({previous.value.replace('_', ' ')} before)."
    transitions.published(target, now=runtime.clock.now(), note=note, permalink=permalink)
    await session.flush()
    await access.record(
        session, runtime.clock, "delivery_marked_published", subject_type="post_target", subject_id=target.id,
        previous=previous.value, post_id=target.post_id, permalink=target.permalink,
    )  # fmt: skip
    # Its chat alerts are over: wake the alert delivery so they are edited to "Resolved" now, not at the next sweep.
    wake_after_commit(session, CHAT_ALERTS_TASK)
    return RetryResult(target, True, f"Marked as published on {label}.")


async def _being_checked(runtime: Runtime, session: AsyncSession, target: PostTarget) -> bool:
    """Whether reconciliation holds a live lease on this in-doubt delivery (core.publishing.reconcile)."""
    if target.lease_token is None or target.lease_expires_at is None:
        return False
    return target.lease_expires_at > await clock_now(runtime, session)
