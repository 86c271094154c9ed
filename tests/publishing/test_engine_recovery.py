"""Reconnects, cutoffs, lost hand-offs, dead workers and pacing: the engine repairs from the tables."""

from __future__ import annotations

from sqlalchemy import update

from core.clock import FrozenClock
from core.publishing.dispatcher import tick
from core.publishing.engine import _begin
from core.runtime import Runtime
from providers.errors import AuthExpired, MetadataMissing, RateLimited
from providers.publishing import Pending
from storage.models import Connection, ConnectionStatus, DeliveryStatus
from tests import factories
from tests.publishing.conftest import Drain, Venue
from tests.publishing.support import attempts, deliveries, notifications_of, schedule


async def _lose_handoffs(runtime: Runtime) -> list[tuple[int, str]]:
    """A tick whose broker messages all vanish: the claims stay, nobody runs them."""

    async def lost(target_id: int, token: str) -> None:
        return None

    return (await tick(runtime, lost)).claimed


async def _reconnect(runtime: Runtime, connection_id: int) -> None:
    async with runtime.uow() as uow:
        await uow.session.execute(
            update(Connection).where(Connection.id == connection_id).values(status=ConnectionStatus.active)
        )
        await uow.commit()


async def test_expired_token_flags_the_connection_once_and_posts_resume_after_reconnect(
    runtime: Runtime, venue: Venue, drain: Drain
) -> None:
    venue.publisher.script = [AuthExpired("The Facebook access has expired.", remedy="Reconnect it.")]
    first = await schedule(runtime, venue.id, [venue.connection_id], text="Quiz night")
    second = await schedule(runtime, venue.id, [venue.connection_id], text="Curry club")
    await drain()
    await drain()
    for saved in (first, second):
        [target] = await deliveries(runtime, saved.post.id)
        assert target.status is DeliveryStatus.needs_reconnect, f"post {saved.post.id}: {target.note}"
    alerts = await notifications_of(runtime, venue.id, "connection_needs_reconnect")
    assert len(alerts) == 1, f"expected one reconnect alert for the connection, got {len(alerts)}"
    assert len(venue.publisher.calls) == 1, "the second post was sent on a connection known to be dead"
    await _reconnect(runtime, venue.connection_id)
    await drain()
    for saved in (first, second):
        assert (await deliveries(runtime, saved.post.id))[0].status is DeliveryStatus.published


async def test_delivery_past_its_cutoff_is_missed_with_an_alert_instead_of_going_out_late(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    venue.publisher.script = [AuthExpired("The Facebook access has expired.")]
    saved = await schedule(runtime, venue.id, [venue.connection_id], freshness_minutes=60)
    await drain()
    clock.advance(minutes=61)
    await _reconnect(runtime, venue.connection_id)
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.missed, f"reconnected after the cutoff: {target.status}"
    assert len(venue.publisher.calls) == 1, "a post past its cutoff was sent"
    assert len(await notifications_of(runtime, venue.id, "publish_missed")) == 1


async def test_lost_handoff_is_claimed_again_after_the_lease_and_published_once(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    assert len(await _lose_handoffs(runtime)) == 1
    clock.advance(seconds=runtime.settings.cheers_publish_lease_seconds + 1)
    result = await drain()
    assert result.requeued == 1 and len(result.claimed) == 1, result
    assert (await deliveries(runtime, saved.post.id))[0].status is DeliveryStatus.published
    assert len(venue.publisher.calls) == 1


async def test_worker_dying_mid_call_leaves_the_delivery_in_doubt_not_resent(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    [(target_id, token)] = await _lose_handoffs(runtime)
    begun = await _begin(runtime, target_id, token, "doomed-worker")  # attempt recorded, then the worker dies
    assert not isinstance(begun, str), begun
    clock.advance(seconds=runtime.settings.cheers_publish_lease_seconds + 1)
    result = await drain()
    assert result.in_doubt == 1, result
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.in_doubt
    [attempt] = await attempts(runtime, target.id)
    assert attempt.outcome.value == "in_doubt"
    assert not venue.publisher.calls, "the engine re-sent a delivery whose first attempt may have published"


async def test_rate_limit_waits_as_told_and_paces_the_whole_connection(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    venue.publisher.script = [RateLimited("Facebook is limiting how often we may call it.", retry_after=600)]
    first = await schedule(runtime, venue.id, [venue.connection_id], text="One")
    await drain()
    second = await schedule(runtime, venue.id, [venue.connection_id], text="Two")
    clock.advance(minutes=5)
    await drain()
    assert len(venue.publisher.calls) == 1, "a paced connection was called before Retry-After"
    [target] = await deliveries(runtime, first.post.id)
    assert target.status is DeliveryStatus.retrying
    clock.advance(minutes=6)
    await drain()
    await drain()
    statuses = [(await deliveries(runtime, s.post.id))[0].status for s in (first, second)]
    assert statuses == [DeliveryStatus.published, DeliveryStatus.published], statuses


async def test_burst_on_one_connection_is_claimed_a_few_at_a_time(runtime: Runtime, venue: Venue) -> None:
    for n in range(6):
        await schedule(runtime, venue.id, [venue.connection_id], text=f"Post {n}")
    other = await factories.connection(runtime, venue.id, access_token="page-token-2")
    await schedule(runtime, venue.id, [other], text="Other page")
    claimed = await _lose_handoffs(runtime)
    cap = runtime.settings.cheers_connection_max_in_flight
    assert len(claimed) == cap + 1, f"expected {cap} for the busy connection and 1 for the other, got {claimed}"


async def test_provider_still_processing_is_checked_again_later_with_its_stage(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    venue.publisher.script = [Pending({"container_id": "c-1"}, check_after=20, note="Instagram is processing it.")]
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.processing and target.stage == {"container_id": "c-1"}
    clock.advance(seconds=21)
    await drain()
    assert venue.publisher.calls[-1][1] == {"container_id": "c-1"}, "the stage was not handed back"
    assert (await deliveries(runtime, saved.post.id))[0].status is DeliveryStatus.published


async def test_missing_metadata_fails_with_the_remedy(runtime: Runtime, venue: Venue, drain: Drain) -> None:
    venue.publisher.script = [MetadataMissing("The Page is not reachable.", remedy="Connect the Page again.")]
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.failed
    assert target.remedy and target.remedy.startswith("Connect the Page again."), target.remedy


async def test_redelivered_handoff_while_the_first_run_is_alive_does_not_publish_again(
    runtime: Runtime, venue: Venue
) -> None:
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    [(target_id, token)] = await _lose_handoffs(runtime)
    first = await _begin(runtime, target_id, token, "slow-worker")  # its provider call is still running
    assert not isinstance(first, str), first
    from core.publishing.engine import run_delivery

    assert await run_delivery(runtime, target_id, token, worker="second-worker") == "already_running"
    assert not venue.publisher.calls, "the broker's redelivered copy called the provider a second time"
    assert [a.worker for a in await attempts(runtime, target_id)] == ["slow-worker"]
    assert (await deliveries(runtime, saved.post.id))[0].status is DeliveryStatus.claimed
