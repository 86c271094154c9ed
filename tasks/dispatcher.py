"""The dispatcher loop beside each worker: a core.dispatcher tick about once a second.

Every worker process runs one; claims are row-locked (SKIP LOCKED) or compare-and-set, so several loops
share the work instead of doubling it, and no single process is needed for deliveries to go out.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from core.dispatcher import Handoff, tick
from core.runtime import Runtime

log = structlog.get_logger(__name__)


class DispatcherLoop:
    """Ticks every `cheers_dispatch_interval_seconds` until stopped; a failed tick is logged and retried."""

    def __init__(self, runtime: Runtime, handoff: Handoff | None = None) -> None:
        self.runtime = runtime
        self.handoff = handoff
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
            await asyncio.sleep(0 if full else settings.cheers_dispatch_interval_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
