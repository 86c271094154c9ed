"""The delivery state machine on an in-memory publisher: every outcome, on SQLite and PostgreSQL."""

from __future__ import annotations

from core.clock import FrozenClock
from core.notifications.actions import Action, Offer
from core.runtime import Runtime
from providers.errors import Transient
from storage.models import AttemptOutcome, DeliveryStatus
from tests.publishing.conftest import Drain, Venue
from tests.publishing.support import attempts, deliveries, notifications_of, schedule


async def test_due_post_is_published_with_its_permalink_and_a_feed_record(
    runtime: Runtime, venue: Venue, drain: Drain
) -> None:
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    result = await drain()
    assert len(result.claimed) == 1, f"the due delivery was not claimed: {result}"
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.published, target.note
    assert target.permalink == "https://fake.invalid/p/1"
    [attempt] = await attempts(runtime, target.id)
    assert attempt.outcome is AttemptOutcome.published and attempt.exchanges, "the attempt keeps its snapshot"
    assert [n.kind for n in await notifications_of(runtime, venue.id)] == ["publish_succeeded"]


async def test_post_scheduled_later_is_not_claimed_before_its_time(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    await schedule(runtime, venue.id, [venue.connection_id], when="2026-11-25T19:30")
    assert not (await drain()).claimed, "a post due at 19:30 was claimed at 12:00"
    clock.advance(hours=7, minutes=31)
    assert len((await drain()).claimed) == 1


async def test_timeout_after_send_marks_in_doubt_and_never_resends(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    venue.publisher.script = [Transient("Facebook did not answer in time.", sent=True)]
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.in_doubt, target.note
    clock.advance(hours=1)
    await drain()
    assert len(venue.publisher.calls) == 1, "an in-doubt delivery was sent again automatically"
    assert [n.kind for n in await notifications_of(runtime, venue.id, "publish_in_doubt")] == ["publish_in_doubt"]


async def test_passing_failure_before_send_retries_after_backoff_then_publishes(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    venue.publisher.script = [Transient("Could not reach Facebook.", sent=False)]
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    base = runtime.settings.cheers_publish_retry_base_seconds
    wait = (target.due_at - clock.now()).total_seconds()
    assert target.status is DeliveryStatus.retrying, target.note
    assert base / 2 <= wait <= base, f"first backoff should be within [{base / 2}, {base}] s, was {wait}"
    await drain()
    assert len(venue.publisher.calls) == 1, "retried before its backoff was over"
    clock.advance(seconds=base + 1)
    await drain()
    assert (await deliveries(runtime, saved.post.id))[0].status is DeliveryStatus.published


async def test_retries_are_bounded_and_the_last_failure_alerts_with_the_manual_package(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    limit = runtime.settings.cheers_publish_max_retries
    venue.publisher.script = [Transient("Could not reach Facebook.", sent=False) for _ in range(limit + 1)]
    saved = await schedule(runtime, venue.id, [venue.connection_id], freshness_minutes=24 * 60)
    for _ in range(limit + 1):
        await drain()
        clock.advance(hours=1)
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.failed, f"after {limit + 1} passing failures: {target.status} {target.note}"
    assert "gave up after" in (target.last_error or "")
    [alert] = await notifications_of(runtime, venue.id, "publish_failed")
    offered = [(o.action, o.target_id) for o in map(Offer.from_payload, alert.payload["actions"])]
    assert offered == [(Action.retry, target.id), (Action.manual_package, target.id)], alert.payload
