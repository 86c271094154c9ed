"""What a person can do to one delivery: retry it (API, `cheers retry`, chat later) — idempotent, audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.access import VenueAccess
from core.errors import Conflict, NotFound
from core.publishing import label_for
from core.runtime import Runtime
from storage.models import Connection, ConnectionStatus, DeliveryStatus, Post, PostTarget
from storage.models.posts import RETRYABLE
from storage.queries import posts as posts_q

ALREADY_QUEUED = (
    DeliveryStatus.scheduled,
    DeliveryStatus.claimed,
    DeliveryStatus.processing,
    DeliveryStatus.retrying,
)


@dataclass(frozen=True)
class RetryResult:
    target: PostTarget
    changed: bool
    message: str


async def retry_target(runtime: Runtime, session: AsyncSession, access: VenueAccess, target_id: int) -> RetryResult:
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
    assert target.status in RETRYABLE
    now = runtime.clock.now()
    previous = target.status
    if previous is DeliveryStatus.missed or target.cutoff_at <= now:
        # A person chose to send it late: the cutoff restarts from now.
        target.cutoff_at = now + timedelta(minutes=post.freshness_minutes)
    if previous in (DeliveryStatus.in_doubt, DeliveryStatus.needs_attention):
        # "Publish again" is a person's decision that the first attempt did not go out.
        target.stage, target.committed = {}, False
    elif not target.committed:
        target.stage = {}
    waits = connection.status in (ConnectionStatus.needs_reconnect, ConnectionStatus.revoked)
    target.status = DeliveryStatus.needs_reconnect if waits else DeliveryStatus.scheduled
    target.due_at = now
    target.retries = 0
    target.last_error = target.error_code = target.remedy = None
    target.note = f"Retry requested ({previous.value} before)."
    target.updated_at = now
    await session.flush()
    await access.record(
        session, runtime.clock, "delivery_retried", subject_type="post_target", subject_id=target.id,
        previous=previous.value, post_id=post.id,
    )  # fmt: skip
    if waits:
        return RetryResult(target, True, f"Queued; it goes out as soon as {label} is reconnected.")
    return RetryResult(target, True, f"Sending to {label} now.")
