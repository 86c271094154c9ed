"""Instagram deliveries in doubt, reconciled against the Meta twin over HTTP: the staged container's
status_code says exactly what happened (PUBLISHED → found, FINISHED → publish it once)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from core.clock import FrozenClock
from core.publishing.dispatcher import tick
from core.publishing.engine import run_delivery
from core.runtime import Runtime
from storage.models import AttemptOutcome, DeliveryStatus, Provider
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.factories import eventually
from tests.publishing.conftest import Drain
from tests.publishing.reconcile_support import clock, explain, only_delivery, place, reconcile, settings
from tests.publishing.support import attempts, schedule

__all__ = ["clock", "settings"]  # fixtures for this module


async def _worker_dies_before_media_publish(runtime: Runtime, twins: Twins, target_id: int) -> None:
    """Claim the delivery and start it; the quota read before media_publish hangs, and the worker is killed."""
    # Long enough that a busy machine cannot let the call finish (and media_publish follow) before the kill.
    await twins.meta.delay(3.0, path_contains="content_publishing_limit")
    claims: list[tuple[int, str]] = []

    async def keep(claimed_id: int, token: str) -> None:
        claims.append((claimed_id, token))

    await tick(runtime, keep)
    [(claimed_id, token)] = claims
    assert claimed_id == target_id
    worker = asyncio.create_task(run_delivery(runtime, target_id, token, worker="doomed"))

    async def in_flight() -> bool | None:
        return True if any(a.outcome is AttemptOutcome.in_flight for a in await attempts(runtime, target_id)) else None

    await eventually(in_flight, what="the attempt to be recorded before the provider call")

    async def inside_the_quota_read() -> bool | None:
        return True if any("content_publishing_limit" in c["path"] for c in await twins.meta.calls()) else None

    await eventually(inside_the_quota_read, what="the worker to be inside the held quota read")
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker


async def test_lost_media_publish_answer_is_found_by_the_container_and_published_with_the_media_id(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, ig, photo = await place(runtime, client, browser, Provider.instagram)
    saved = await schedule(runtime, venue_id, [ig.id], text="Quiz night #pubquiz", media_ids=[photo])
    await drain()  # the container
    clock.advance(seconds=10)
    await twins.meta.commit_then_error(1, code=2, path_contains="media_publish")
    await drain()  # media_publish goes through at Instagram; its answer is a 500
    target = await only_delivery(runtime, saved.post.id)
    assert target.status is DeliveryStatus.in_doubt, f"the lost answer did not leave it in doubt: {explain(target)}"
    result = await reconcile(runtime)
    target = await only_delivery(runtime, saved.post.id)
    [media] = await twins.meta.instagram_media(ig.ig_business_id)
    assert target.status is DeliveryStatus.published, f"the published container was not found: {explain(target)}"
    assert (target.external_id, target.permalink) == (media["id"], media["permalink"]), "not Instagram's media"
    assert result["found"] == 1, result
    steps = [e["step"] for e in (await attempts(runtime, target.id))[-1].exchanges]
    assert steps[0] == "reconcile: container status", steps
    await drain()
    assert len(await twins.meta.instagram_media(ig.ig_business_id)) == 1, "reconciling published it twice"


async def test_finished_container_whose_worker_died_before_media_publish_is_published_once(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, ig, photo = await place(runtime, client, browser, Provider.instagram)
    saved = await schedule(runtime, venue_id, [ig.id], text="Wings Wednesday", media_ids=[photo])
    await drain()  # the container, FINISHED at once for images on the twin
    container = (await only_delivery(runtime, saved.post.id)).stage["container_id"]
    clock.advance(seconds=10)
    await _worker_dies_before_media_publish(runtime, twins, (await only_delivery(runtime, saved.post.id)).id)
    clock.advance(seconds=runtime.settings.cheers_publish_lease_seconds + 1)
    await drain()  # the sweep: the lease ran out with an attempt in flight
    target = await only_delivery(runtime, saved.post.id)
    assert target.status is DeliveryStatus.in_doubt, f"a dead worker's delivery must be in doubt: {explain(target)}"
    assert await twins.meta.instagram_media(ig.ig_business_id) == []
    result = await reconcile(runtime)
    target = await only_delivery(runtime, saved.post.id)
    assert result["continue"] == 1 and target.status is DeliveryStatus.processing, explain(target)
    assert target.stage["container_id"] == container, "the FINISHED container should be published, not remade"
    await drain()
    target = await only_delivery(runtime, saved.post.id)
    [media] = await twins.meta.instagram_media(ig.ig_business_id)
    assert target.status is DeliveryStatus.published, explain(target)
    assert target.external_id == media["id"], "published under an id Instagram does not know"
    await reconcile(runtime)
    await drain()
    assert len(await twins.meta.instagram_media(ig.ig_business_id)) == 1, "the post went out twice"
