"""The dispatcher loop beside each worker: no pause after a full batch, a jittered pause when idle."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from core.runtime import Runtime
from core.settings import Settings
from tasks.dispatcher import JITTER, DispatcherLoop
from tests import factories
from tests.conftest import make_settings
from tests.publishing.support import schedule


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, cheers_dispatch_batch=1, cheers_dispatch_interval_seconds=2.0)


class Extremes(random.Random):
    """`uniform` answers its lower bound, then its upper bound, alternately."""

    def __init__(self) -> None:
        super().__init__(0)
        self.turn = 0

    def uniform(self, a: float, b: float) -> float:
        self.turn += 1
        return a if self.turn % 2 else b


async def test_the_loop_goes_again_at_once_after_a_full_batch_and_pauses_with_jitter_when_idle(
    runtime: Runtime,
) -> None:
    venue_id = await factories.venue(runtime)
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token")
    await schedule(runtime, venue_id, [connection_id])  # one due post: a full batch of 1
    pauses: list[float] = []
    three = asyncio.Event()

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) >= 3:
            three.set()
            await asyncio.Event().wait()  # park here until the loop is stopped
        await asyncio.sleep(0)

    async def keep(target_id: int, token: str) -> None:
        """Leave the claimed delivery with its lease: this test is about the loop, not the publish."""

    loop = DispatcherLoop(runtime, keep, rng=Extremes(), sleep=sleep)
    loop.start()
    try:
        await asyncio.wait_for(three.wait(), timeout=30)
    finally:
        await loop.stop()
    assert pauses == pytest.approx([0, 2.0 * (1 - JITTER), 2.0 * (1 + JITTER)]), (
        f"expected no pause after the full batch, then the 2 s interval jittered to its bounds; got {pauses}"
    )


def test_idle_pauses_of_many_workers_spread_over_the_interval_plus_or_minus_a_fifth(runtime: Runtime) -> None:
    pauses = [DispatcherLoop(runtime, rng=random.Random(seed)).idle_pause(1.0) for seed in range(50)]
    assert all(1 - JITTER <= p <= 1 + JITTER for p in pauses), f"a pause outside 1 s ± {JITTER:.0%}: {pauses}"
    assert max(pauses) - min(pauses) > JITTER, f"50 workers would tick nearly in lockstep: {sorted(pauses)}"
