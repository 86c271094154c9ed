"""Recovery against the Meta twin over HTTP: a real reconnect resumes waiting posts, passing errors back
off, a cutoff turns waiting into missed, an unlinked account explains itself, usage headers pace a burst."""

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
from tests.connections.helpers import reconnect_link
from tests.publishing.conftest import Drain
from tests.publishing.support import deliveries, notifications_of, schedule
from tests.publishing.twin_support import connected, ready_photo


@pytest.fixture
def settings(database_url: str, tmp_path: Path, twins: Twins) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        cheers_connection_min_interval_seconds=0,
        **twin_settings(twins.meta_url, twins.google_url),
    )


async def _connection(runtime: Runtime, connection_id: int) -> Connection:
    async with runtime.uow() as uow:
        row = await uow.session.get(Connection, connection_id)
        assert row is not None
        return row


async def test_waiting_posts_go_out_once_after_a_real_reconnect(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain
) -> None:
    venue_id, admin, [page_id, *_] = await connected(runtime, client, browser, Provider.facebook)
    await twins.meta.expire_token()
    saved = await schedule(runtime, venue_id, [page_id], text="Beer festival this weekend")
    await drain()
    assert (await deliveries(runtime, saved.post.id))[0].status is DeliveryStatus.needs_reconnect
    link = await reconnect_link(client, admin, page_id)
    page = await browser.open_link(link["url"])
    assert page.status_code == 200, page.text
    assert (await _connection(runtime, page_id)).status.value == "active", "the reconnect did not restore access"
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.published, f"{target.status}: {target.note} {target.last_error}"
    connection = await _connection(runtime, page_id)
    assert len(await twins.meta.visible_posts(connection.page_id)) == 1


async def test_server_error_before_anything_can_publish_backs_off_then_publishes_once(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, admin, [ig_id] = await connected(runtime, client, browser, Provider.instagram)
    photo = await ready_photo(runtime, client, admin, 1200, 1500)
    await twins.meta.server_error(1, code=2, path_contains="/media")  # the container create, which is harmless
    saved = await schedule(runtime, venue_id, [ig_id], text="Wings Wednesday", media_ids=[photo])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    base = runtime.settings.cheers_publish_retry_base_seconds
    wait = (target.due_at - clock.now()).total_seconds()
    assert target.status is DeliveryStatus.retrying, f"{target.status}: {target.note}"
    assert base / 2 <= wait <= base, f"backoff {wait} s outside [{base / 2}, {base}]"
    clock.advance(seconds=base + 1)
    await drain()
    clock.advance(seconds=10)
    await drain()
    assert (await deliveries(runtime, saved.post.id))[0].status is DeliveryStatus.published
    ig = await _connection(runtime, ig_id)
    assert len(await twins.meta.instagram_media(ig.ig_business_id)) == 1


async def test_post_waiting_for_a_reconnect_past_its_cutoff_is_missed_and_never_sent(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, _, [page_id, *_] = await connected(runtime, client, browser, Provider.facebook)
    await twins.meta.expire_token()
    saved = await schedule(runtime, venue_id, [page_id], text="Quiz tonight!", freshness_minutes=30)
    await drain()
    clock.advance(minutes=31)
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.missed, f"{target.status}: {target.note}"
    assert len(await notifications_of(runtime, venue_id, "publish_missed")) == 1
    assert await twins.meta.visible_posts((await _connection(runtime, page_id)).page_id) == []


async def test_instagram_account_unlinked_from_its_page_fails_with_what_to_do(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain
) -> None:
    venue_id, admin, [ig_id] = await connected(runtime, client, browser, Provider.instagram)
    photo = await ready_photo(runtime, client, admin, 1200, 1500)
    ig = await _connection(runtime, ig_id)
    assert ig.page_id is not None
    await twins.meta.unlink_instagram(ig.page_id)
    saved = await schedule(runtime, venue_id, [ig_id], text="Steak night", media_ids=[photo])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status in (DeliveryStatus.failed, DeliveryStatus.needs_reconnect), f"{target.status}: {target.note}"
    assert target.last_error and target.remedy, "the failure must say why and what to do"


async def test_high_usage_headers_pace_a_burst_so_it_never_meets_a_throttle(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, _, [page_id, *_] = await connected(runtime, client, browser, Provider.facebook)
    await twins.meta.settings(usage={"call_count": 92, "total_time": 40, "total_cputime": 30})
    posts = [await schedule(runtime, venue_id, [page_id], text=f"Burst {n}") for n in range(5)]
    for _ in range(3):
        await drain()
        clock.advance(seconds=30)
    page = (await _connection(runtime, page_id)).page_id
    published = len(await twins.meta.visible_posts(page))
    assert published <= runtime.settings.cheers_connection_max_in_flight, (
        f"{published} posts went out within 90 s at 92 % usage; the engine should have slowed down"
    )
    await twins.meta.settings(usage=None)
    for _ in range(6):
        clock.advance(minutes=5)
        await drain()
    statuses = [(await deliveries(runtime, p.post.id))[0].status for p in posts]
    assert statuses == [DeliveryStatus.published] * 5, statuses
    assert len(await twins.meta.visible_posts(page)) == 5
