"""Pacing per connection lives in the database, so every worker process honours it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from core.clock import FrozenClock
from core.runtime import Runtime
from core.settings import Settings
from providers.base import StoredCredentials
from providers.publishing import Published, PublishRequest, Recorder, StepOutcome
from storage.models import DeliveryStatus, Provider
from tests import factories
from tests.conftest import make_settings
from tests.publishing.conftest import Drain
from tests.publishing.support import deliveries, schedule


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, cheers_connection_min_interval_seconds=5)


class BusyProvider:
    """Publishes, reporting Meta usage headers at `usage` percent."""

    def __init__(self, usage: int) -> None:
        self.usage = usage
        self.calls = 0

    async def publish(
        self, credentials: StoredCredentials, request: PublishRequest, stage: Mapping[str, Any], recorder: Recorder
    ) -> StepOutcome:
        self.calls += 1
        recorder.record(
            step="feed", method="POST", url="https://graph.invalid/feed", status=200, usage_percent=self.usage
        )
        return Published(f"id-{self.calls}")


async def _venue_with(runtime: Runtime, provider: BusyProvider) -> tuple[int, int]:
    venue_id = await factories.venue(runtime)
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token")
    runtime.use_providers({p: provider for p in Provider})  # type: ignore[misc]
    return venue_id, connection_id


async def test_calls_to_one_connection_are_spaced_by_the_minimum_interval(
    runtime: Runtime, drain: Drain, clock: FrozenClock
) -> None:
    provider = BusyProvider(usage=10)
    venue_id, connection_id = await _venue_with(runtime, provider)
    posts = [await schedule(runtime, venue_id, [connection_id], text=f"Post {n}") for n in range(3)]
    await drain()
    await drain()
    assert provider.calls == 1, f"{provider.calls} calls inside the 5 s spacing"
    clock.advance(seconds=5)
    await drain()
    assert provider.calls == 2
    clock.advance(seconds=5)
    await drain()
    statuses = [(await deliveries(runtime, p.post.id))[0].status for p in posts]
    assert statuses == [DeliveryStatus.published] * 3, statuses


async def test_high_usage_headers_slow_the_connection_before_it_is_throttled(
    runtime: Runtime, drain: Drain, clock: FrozenClock
) -> None:
    provider = BusyProvider(usage=95)
    venue_id, connection_id = await _venue_with(runtime, provider)
    await schedule(runtime, venue_id, [connection_id], text="One")
    second = await schedule(runtime, venue_id, [connection_id], text="Two")
    await drain()
    clock.advance(seconds=60)
    await drain()
    assert provider.calls == 1, "a connection at 95 % usage was called again within a minute"
    clock.advance(minutes=5)
    await drain()
    assert (await deliveries(runtime, second.post.id))[0].status is DeliveryStatus.published
