"""The dispatcher loop beside each worker: a core.publishing.dispatcher tick about once a second.

Every worker process runs one; claims are row-locked (SKIP LOCKED) or compare-and-set, so several loops
share the work instead of doubling it, and no single process is needed for deliveries to go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

import structlog

from core.publishing.dispatcher import Handoff, tick
from core.runtime import Runtime

log = structlog.get_logger(__name__)

# Each idle sleep is the interval times a factor in [1 - JITTER, 1 + JITTER], so workers started together
# drift apart instead of ticking in lockstep (chaos Found 10: lined-up loops claim half as often).
JITTER = 0.2


class DispatcherLoop:
    """Ticks every `cheers_dispatch_interval_seconds` ± JITTER until stopped; a failed tick is logged and retried."""

    def __init__(
        self,
        runtime: Runtime,
        handoff: Handoff | None = None,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.runtime = runtime
        self.handoff = handoff
        self._rng = rng or random.Random()  # noqa: S311 - spreads ticks out; nothing secret
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="dispatcher")

    async def _run(self) -> None:
        settings = self.runtime.settings
        while True:
            full = False
            try:
                result = await tick(self.runtime, self.handoff)
                full = len(result.claimed) >= settings.cheers_dispatch_batch
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the loop
                log.warning("dispatcher_tick_failed", error=exc.__class__.__name__, detail=str(exc)[:200])
            # A full batch means more is due: go again at once instead of capping throughput at batch/interval.
            await self._sleep(0 if full else self.idle_pause(settings.cheers_dispatch_interval_seconds))

    def idle_pause(self, interval: float) -> float:
        """The interval, jittered by up to ±JITTER."""
        return interval * self._rng.uniform(1 - JITTER, 1 + JITTER)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
