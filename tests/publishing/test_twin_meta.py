"""The engine against the Meta twin over HTTP: Instagram containers to a permalink, Facebook photos,
a lost answer after Facebook created the post, the Instagram quota, and a Page token revoked mid-run."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.devtwins import twin_settings
from core.clock import FrozenClock
from core.runtime import Runtime
from core.settings import Settings
from storage.models import Connection, DeliveryStatus, Provider
from tests.conftest import make_settings
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.publishing.conftest import Drain
from tests.publishing.support import attempts, deliveries, notifications_of, schedule
from tests.publishing.twin_support import connected, ready_photo


@pytest.fixture
def settings(database_url: str, tmp_path: Path, twins: Twins) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        cheers_connection_min_interval_seconds=0,
        **twin_settings(twins.meta_url, twins.google_url),
    )


async def _place(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, provider: Provider
) -> tuple[int, Connection, int]:
    venue_id, admin, ids = await connected(runtime, client, browser, provider)
    photo = await ready_photo(runtime, client, admin, 1200, 1500)
    async with runtime.uow() as uow:
        connection = await uow.session.get(Connection, ids[0])
        assert connection is not None
    return venue_id, connection, photo


async def test_instagram_photo_goes_through_a_container_to_a_permalink(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, ig, photo = await _place(runtime, client, browser, Provider.instagram)
    saved = await schedule(runtime, venue_id, [ig.id], text="Quiz night #pubquiz", media_ids=[photo])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.processing and "container_id" in target.stage, target.note
    assert not target.committed, "an unpublished container is not a visible post"
    clock.advance(seconds=10)
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.published, f"{target.status}: {target.note} {target.last_error}"
    assert target.permalink and target.permalink.startswith("https://www.instagram.com/"), target.permalink
    assert len(await twins.meta.instagram_media(ig.ig_business_id)) == 1
    steps = [e["step"] for a in await attempts(runtime, target.id) for e in a.exchanges]
    assert steps == ["create container", "container status", "read publishing limit", "publish", "read permalink"]


async def test_facebook_answer_lost_after_the_post_was_created_is_in_doubt_and_posted_once(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, page, photo = await _place(runtime, client, browser, Provider.facebook)
    await twins.meta.commit_then_error(1, code=2)
    saved = await schedule(runtime, venue_id, [page.id], text="Sunday roast from 12", media_ids=[photo])
    await drain()
    clock.advance(seconds=3600)
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.in_doubt, f"{target.status}: {target.note}"
    assert len(await twins.meta.visible_posts(page.page_id)) == 1, "Facebook has the post exactly once"
    assert len(await notifications_of(runtime, venue_id, "publish_in_doubt")) == 1


async def test_exhausted_instagram_quota_waits_without_calling_media_publish(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, ig, photo = await _place(runtime, client, browser, Provider.instagram)
    await twins.meta.exhaust_quota(ig.ig_business_id)
    saved = await schedule(runtime, venue_id, [ig.id], text="Curry club", media_ids=[photo], freshness_minutes=600)
    await drain()
    clock.advance(seconds=10)
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.retrying, f"{target.status}: {target.note}"
    assert (target.due_at - clock.now()).total_seconds() > 600, "the quota wait was not honoured"
    assert await twins.meta.instagram_media(ig.ig_business_id) == [], "media_publish went out over the quota"


async def test_page_token_revoked_mid_run_flags_the_connection_once_and_waits(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain
) -> None:
    venue_id, page, _ = await _place(runtime, client, browser, Provider.facebook)
    first = await schedule(runtime, venue_id, [page.id], text="Live music Friday")
    await drain()
    assert (await deliveries(runtime, first.post.id))[0].status is DeliveryStatus.published
    await twins.meta.expire_token(user_id=None)
    later = [await schedule(runtime, venue_id, [page.id], text=f"Post {n}") for n in range(2)]
    await drain()
    await drain()
    statuses = [(await deliveries(runtime, s.post.id))[0].status for s in later]
    assert statuses == [DeliveryStatus.needs_reconnect] * 2, statuses
    assert len(await notifications_of(runtime, venue_id, "connection_needs_reconnect")) == 1
    assert len(await twins.meta.visible_posts(page.page_id)) == 1
