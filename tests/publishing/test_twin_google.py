"""The engine against the Google twin over HTTP: a local post followed to LIVE, auth loss, lost answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.devtwins import twin_settings
from core.clock import FrozenClock
from core.runtime import Runtime
from core.settings import Settings
from storage.models import DeliveryStatus, Provider
from tests.conftest import make_settings
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.publishing.conftest import Drain
from tests.publishing.support import deliveries, notifications_of, schedule
from tests.publishing.twin_support import connected, ready_photo

LOCATION_ID = "2001"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, twins: Twins) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        cheers_connection_min_interval_seconds=0,
        **twin_settings(twins.meta_url, twins.google_url),
    )


async def _location(runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser) -> tuple[int, int, int]:
    venue_id, admin, ids = await connected(runtime, client, browser, Provider.google_business)
    photo = await ready_photo(runtime, client, admin)
    return venue_id, ids[0], photo


async def test_local_post_goes_live_after_processing_without_holding_a_worker(
    runtime: Runtime,
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    twins: Twins,
    drain: Drain,
    clock: FrozenClock,
) -> None:
    venue_id, connection_id, photo = await _location(runtime, client, browser)
    saved = await schedule(runtime, venue_id, [connection_id], text="Quiz night from 8pm", media_ids=[photo])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.processing and target.committed, f"{target.status}: {target.note}"
    clock.advance(seconds=31)
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.published, f"{target.status}: {target.note} {target.last_error}"
    assert target.permalink and target.external_id and "localPosts" in target.external_id
    [body] = await twins.google.received_post_bodies()
    assert body["summary"] == "Quiz night from 8pm" and body["media"][0]["mediaFormat"] == "PHOTO", body
    assert await twins.google.visible_post_count(LOCATION_ID) == 1


async def test_rejected_local_post_fails_with_googles_reason(
    runtime: Runtime,
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    twins: Twins,
    drain: Drain,
    clock: FrozenClock,
) -> None:
    venue_id, connection_id, photo = await _location(runtime, client, browser)
    saved = await schedule(runtime, venue_id, [connection_id], text="Book on 0161 496 0000 tonight", media_ids=[photo])
    await drain()
    clock.advance(seconds=31)
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.failed, f"{target.status}: {target.note}"
    assert "rejected" in (target.last_error or "").lower(), target.last_error
    assert len(await notifications_of(runtime, venue_id, "publish_failed")) == 1


async def test_expired_google_access_moves_posts_to_needs_reconnect_with_one_alert(
    runtime: Runtime,
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    twins: Twins,
    drain: Drain,
) -> None:
    venue_id, connection_id, photo = await _location(runtime, client, browser)
    await twins.google.expire_access_tokens()
    first = await schedule(runtime, venue_id, [connection_id], text="Roast", media_ids=[photo])
    second = await schedule(runtime, venue_id, [connection_id], text="Quiz", media_ids=[photo])
    await drain()
    await drain()
    statuses = [(await deliveries(runtime, s.post.id))[0].status for s in (first, second)]
    assert statuses == [DeliveryStatus.needs_reconnect] * 2, statuses
    assert len(await notifications_of(runtime, venue_id, "connection_needs_reconnect")) == 1
    assert await twins.google.visible_post_count(LOCATION_ID) == 0


async def test_answer_lost_after_google_created_the_post_is_in_doubt_and_never_posted_twice(
    runtime: Runtime,
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    twins: Twins,
    drain: Drain,
    clock: FrozenClock,
) -> None:
    venue_id, connection_id, photo = await _location(runtime, client, browser)
    await twins.google.commit_then_error(1, status=500)
    saved = await schedule(runtime, venue_id, [connection_id], text="Curry club", media_ids=[photo])
    await drain()
    clock.advance(hours=1)
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.in_doubt, f"{target.status}: {target.note}"
    assert await twins.google.visible_post_count(LOCATION_ID) == 1, "the post was created twice (or not at all)"
    assert len(await notifications_of(runtime, venue_id, "publish_in_doubt")) == 1


async def test_google_rate_limit_is_waited_out_and_then_published(
    runtime: Runtime,
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    twins: Twins,
    drain: Drain,
    clock: FrozenClock,
) -> None:
    from sandbox.google.twin import POSTS_API

    venue_id, connection_id, photo = await _location(runtime, client, browser)
    await twins.google.rate_limit(retry_after=120, apis=[POSTS_API])
    saved = await schedule(runtime, venue_id, [connection_id], text="Pie night", media_ids=[photo])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.retrying, f"{target.status}: {target.note}"
    wait = (target.due_at - clock.now()).total_seconds()
    assert 119 <= wait <= 121, f"Retry-After 120 s was not honoured: waits {wait} s"
    clock.advance(seconds=121)
    await drain()
    clock.advance(seconds=31)
    await drain()
    assert (await deliveries(runtime, saved.post.id))[0].status is DeliveryStatus.published
    assert await twins.google.visible_post_count(LOCATION_ID) == 1
