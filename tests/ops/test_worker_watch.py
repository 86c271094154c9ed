"""The worker's heartbeat loop runs the ops check in the background, one at a time: a slow check is never cut off
(a cut could land between a chat post and its record), the next tick is skipped instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from tasks.heartbeat import HeartbeatLoop
from tests import factories
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, heartbeat_interval_seconds=0.05, cheers_ops_watch_seconds=0.1)


@pytest.fixture
async def runtime(settings: Settings, clock: FrozenClock) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, clock=clock)
    yield rt
    await rt.close()


async def test_a_slow_check_is_not_cut_off_and_the_next_tick_is_skipped(runtime: Runtime) -> None:
    release = asyncio.Event()
    runs: list[str] = []

    async def slow_watch(rt: Runtime) -> dict[str, Any]:
        runs.append("started")
        await release.wait()  # as a chat API taking longer than CHEERS_OPS_WATCH_SECONDS
        runs.append("finished")
        return {}

    loop = HeartbeatLoop(runtime, "worker", watch=slow_watch)
    with capture_logs() as logs:
        loop.start()
        try:
            await factories.eventually(lambda: asyncio.sleep(0, runs == ["started"] or None), what="the first check")

            async def skipped() -> bool | None:
                await asyncio.sleep(0)
                return any(e["event"] == "ops_watch_still_running" for e in logs) or None

            await factories.eventually(skipped, what="a tick skipped while the check runs")
            assert runs == ["started"], f"a second check started beside the first, or the first was cut: {runs}"
            release.set()
            await factories.eventually(
                lambda: asyncio.sleep(0, runs[:3] == ["started", "finished", "started"] or None),
                what="the check finishing, then the next one starting",
            )
        finally:
            release.set()
            await loop.stop()
    assert not [e for e in logs if e["event"] == "ops_watch_failed"], logs
