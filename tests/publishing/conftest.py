"""Fixtures for the engine: a venue with a connection, an in-memory publisher, and a drain helper."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.publishing.dispatcher import TickResult, tick
from core.publishing.engine import run_delivery
from core.runtime import Runtime
from core.settings import Settings
from storage.models import Provider
from tests import factories
from tests.conftest import make_settings
from tests.connections.conftest import browser, network, twins  # noqa: F401 - end-to-end fixtures
from tests.publishing.fakes import ScriptedPublisher


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """No spacing between calls to one connection, so tests need not move the clock between posts
    (test_pacing covers spacing)."""
    return make_settings(database_url, tmp_path, cheers_connection_min_interval_seconds=0)


@dataclass
class Venue:
    id: int
    connection_id: int
    publisher: ScriptedPublisher


@pytest.fixture
async def venue(runtime: Runtime) -> Venue:
    """A venue with one Facebook connection, every provider answered by a scripted in-memory publisher."""
    venue_id = await factories.venue(runtime)
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token-1")
    publisher = ScriptedPublisher()
    runtime.use_providers({p: publisher for p in Provider})  # type: ignore[misc]
    return Venue(venue_id, connection_id, publisher)


Drain = Callable[[], Awaitable[TickResult]]


@pytest.fixture
def drain(runtime: Runtime) -> Drain:
    """One dispatcher tick whose hand-offs run the deliveries right here (no broker), one after another as a
    single worker would: the tick sends its hand-offs side by side, and the scripted publisher answers in order."""
    one_at_a_time = asyncio.Lock()

    async def run() -> TickResult:
        async def handoff(target_id: int, token: str) -> None:
            async with one_at_a_time:
                await run_delivery(runtime, target_id, token, worker="test")

        return await tick(runtime, handoff)

    return run
