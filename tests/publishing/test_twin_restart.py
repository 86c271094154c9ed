"""Restarting `make dev`: the sandbox twins keep their state in var/twins/, so connections made before the restart
still work after it (on other ports too), published posts are still there and a container staged before the restart
still publishes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.devtwins import twin_settings, twins_dir
from core.clock import FrozenClock
from core.publishing.dispatcher import TickResult, tick
from core.publishing.engine import run_delivery
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from sandbox.clock import TwinClock
from sandbox.google.twin import running_google_twin
from sandbox.meta.twin import running_meta_twin
from storage.models import Connection, DeliveryStatus, Provider
from tests import factories
from tests.conftest import make_settings
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.test_diagnose import diagnose, failing
from tests.publishing.conftest import Drain
from tests.publishing.support import deliveries, schedule
from tests.publishing.twin_support import connected, ready_photo


class KeptTwins:
    """Both twins as `make dev` runs them (state kept under var/twins/), stopped and started at will."""

    def __init__(self, var_dir: Path, clock: FrozenClock) -> None:
        self.var_dir = var_dir
        self.clock = clock
        self._stack: contextlib.AsyncExitStack | None = None
        self.current: Twins | None = None

    async def start(self) -> Twins:
        kept = twins_dir(self.var_dir)
        stack = contextlib.AsyncExitStack()
        meta_url, meta, meta_state = await stack.enter_async_context(
            running_meta_twin(clock=TwinClock(self.clock), state_file=kept / "meta.json")
        )
        google_url, google, google_state = await stack.enter_async_context(
            running_google_twin(clock=TwinClock(self.clock), state_file=kept / "google.json")
        )
        self._stack, self.current = stack, Twins(meta_url, meta, meta_state, google_url, google, google_state)
        return self.current

    async def stop(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self.current = None, None


@pytest.fixture
async def kept(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[KeptTwins]:
    twins = KeptTwins(tmp_path / "var", clock)
    await twins.start()
    yield twins
    await twins.stop()


@pytest.fixture
def twins(kept: KeptTwins) -> Twins:
    assert kept.current is not None
    return kept.current


@pytest.fixture
def settings(database_url: str, tmp_path: Path, twins: Twins) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        cheers_connection_min_interval_seconds=0,
        **twin_settings(twins.meta_url, twins.google_url),
    )


def drain_of(runtime: Runtime) -> Drain:
    """The publishing conftest's drain, for a runtime built inside the test."""
    one_at_a_time = asyncio.Lock()

    async def run() -> TickResult:
        async def handoff(target_id: int, token: str) -> None:
            async with one_at_a_time:
                await run_delivery(runtime, target_id, token, worker="test")

        return await tick(runtime, handoff)

    return run


async def _row(runtime: Runtime, connection_id: int) -> Connection:
    async with runtime.uow() as uow:
        row = await uow.session.get(Connection, connection_id)
        assert row is not None
        return row


async def test_connections_posts_and_staged_containers_survive_a_twin_restart_on_other_ports(
    runtime: Runtime,
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    kept: KeptTwins,
    drain: Drain,
    clock: FrozenClock,
) -> None:
    fb_venue, fb_admin, [page_id, *_] = await connected(runtime, client, browser, Provider.facebook)
    ig_venue, ig_admin, [ig_id] = await connected(runtime, client, browser, Provider.instagram)
    _, google_admin, [location_id, *_] = await connected(runtime, client, browser, Provider.google_business)
    before = await schedule(runtime, fb_venue, [page_id], text="Quiz night before the restart")
    photo = await ready_photo(runtime, client, ig_admin, 1200, 1500)
    staged = await schedule(runtime, ig_venue, [ig_id], text="Curry club", media_ids=[photo])
    await drain()
    [fb_target] = await deliveries(runtime, before.post.id)
    assert fb_target.status is DeliveryStatus.published, f"{fb_target.status}: {fb_target.note}"
    [ig_target] = await deliveries(runtime, staged.post.id)
    assert ig_target.status is DeliveryStatus.processing and "container_id" in ig_target.stage, ig_target.note
    old = kept.current
    assert old is not None

    await kept.stop()  # Ctrl-C on `make dev`
    assert (twins_dir(kept.var_dir) / "meta.json").exists() and (twins_dir(kept.var_dir) / "google.json").exists()
    twins = await kept.start()  # the next `make dev`; free ports, so other ones than before
    assert (twins.meta_url, twins.google_url) != (old.meta_url, old.google_url)
    after = runtime.settings.model_copy(update=twin_settings(twins.meta_url, twins.google_url))
    restarted = build_runtime(after, clock=clock)
    try:
        async with factories.app_client(restarted) as client2:
            for who, connection_id in ((fb_admin, page_id), (ig_admin, ig_id), (google_admin, location_id)):
                doc = await diagnose(client2, who, connection_id)
                assert doc["healthy"] is True and failing(doc) == {}, doc
            clock.advance(seconds=10)
            later = await schedule(restarted, fb_venue, [page_id], text="Quiz night after the restart")
            drain2 = drain_of(restarted)
            await drain2()
            [ig_target] = await deliveries(restarted, staged.post.id)
            assert ig_target.status is DeliveryStatus.published, f"{ig_target.status}: {ig_target.note}"
            [fb_later] = await deliveries(restarted, later.post.id)
            assert fb_later.status is DeliveryStatus.published, f"{fb_later.status}: {fb_later.note}"
    finally:
        await restarted.close()
    page = await _row(runtime, page_id)
    visible = [p["id"] for p in await twins.meta.visible_posts(page.page_id)]
    assert visible == [fb_target.external_id, fb_later.external_id], "the first post is still on the Page"
    ig = await _row(runtime, ig_id)
    assert len(await twins.meta.instagram_media(ig.ig_business_id)) == 1
    assert [c.status.value for c in [await _row(runtime, i) for i in (page_id, ig_id, location_id)]] == ["active"] * 3
