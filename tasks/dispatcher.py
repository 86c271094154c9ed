"""The dispatcher loop beside each worker: a core.publishing.dispatcher tick about once a second, and at once when
a commit makes a delivery due (PostgreSQL LISTEN/NOTIFY, storage.wake) or when the last tick saw one fall due
within the interval.

Every worker process runs one; claims are row-locked (SKIP LOCKED) or compare-and-set, so several loops
share the work instead of doubling it, and no single process is needed for deliveries to go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from core.publishing.dispatcher import Handoff, TickResult, tick
from core.runtime import Runtime
from storage.wake import DueListener

log = structlog.get_logger(__name__)

# Each idle sleep is the interval times a factor in [1 - JITTER, 1 + JITTER], so workers started together
# drift apart instead of ticking in lockstep (chaos Found 10: lined-up loops claim half as often).
JITTER = 0.2
# Woken by a commit: wait this long for the commits right behind it, and never tick more often than MIN_GAP.
DEBOUNCE = 0.02
MIN_GAP = 0.05
# Past a due time (the database's clock may have moved on a little less than ours)
LATE = 0.005
# Waking for a due time seen by the last tick: not sooner than this (± JITTER) after it, so a minute of posts due
# at scattered times is claimed a few at a time, not one tick (and one claim per worker) per due time.
DUE_GAP = 0.2
# While the LISTEN connection cannot be made, try again at most this often (ticks go on at the interval).
RELISTEN_EVERY = 5.0


class DispatcherLoop:
    """Ticks every `cheers_dispatch_interval_seconds` ± JITTER until stopped, sooner when something falls due;
    a failed tick is logged and retried. On PostgreSQL it also LISTENs for commits that make a delivery due."""

    def __init__(
        self,
        runtime: Runtime,
        handoff: Handoff | None = None,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        listen: bool = True,
    ) -> None:
        self.runtime = runtime
        self.handoff = handoff
        self._rng = rng or random.Random()  # noqa: S311 - spreads ticks out; nothing secret
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        postgres = runtime.db.dialect == "postgresql"
        self.listener = DueListener(runtime.settings.database) if listen and postgres else None
        self._listen_tried = -RELISTEN_EVERY

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="dispatcher")

    async def _run(self) -> None:
        settings = self.runtime.settings
        interval = settings.cheers_dispatch_interval_seconds
        horizon = timedelta(seconds=interval * (1 + JITTER))
        while True:
            started = time.monotonic()
            result: TickResult | None = None
            try:
                await self._listen()
                if self.listener is not None:
                    self.listener.woken.clear()  # a commit from here on is after this tick's probe: tick again
                result = await tick(self.runtime, self.handoff, horizon=horizon)
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the loop
                log.warning("dispatcher_tick_failed", error=exc.__class__.__name__, detail=str(exc)[:200])
            await self._pause(self.pause_after(result, interval), started)

    def pause_after(self, result: TickResult | None, interval: float) -> float:
        """0 after a full batch (more is due: going again at once is what lets throughput exceed batch/interval);
        else the jittered interval, or less when the tick saw something fall due sooner."""
        if result is not None and len(result.claimed) >= self.runtime.settings.cheers_dispatch_batch:
            return 0.0
        pause = self.idle_pause(interval)
        if result is not None and result.next_in is not None:
            pause = min(pause, max(self.idle_pause(DUE_GAP), result.next_in.total_seconds() + LATE))
        if self.listener is not None and not self.listener.listening:
            pause = min(pause, RELISTEN_EVERY)  # not woken by commits now: come back to listen again
        return pause

    def idle_pause(self, interval: float) -> float:
        """The interval, jittered by up to ±JITTER."""
        return interval * self._rng.uniform(1 - JITTER, 1 + JITTER)

    async def _listen(self) -> None:
        listener = self.listener
        if listener is None or listener.listening or time.monotonic() - self._listen_tried < RELISTEN_EVERY:
            return
        if not await listener.ensure():
            self._listen_tried = time.monotonic()  # refused: try again in a while, ticking at the interval meanwhile

    async def _pause(self, seconds: float, started: float) -> None:
        """Sleep `seconds`, or less when a commit wakes us (then debounced, and at least MIN_GAP after `started`)."""
        listener = self.listener
        if seconds <= 0 or listener is None:
            await self._sleep(seconds)
            return
        sleeping = asyncio.ensure_future(self._sleep(seconds))
        woken = asyncio.ensure_future(listener.woken.wait())
        try:
            await asyncio.wait({sleeping, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (sleeping, woken):
                waiter.cancel()
            await asyncio.gather(sleeping, woken, return_exceptions=True)
        if listener.woken.is_set():
            await asyncio.sleep(max(DEBOUNCE, MIN_GAP - (time.monotonic() - started)))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.listener is not None:
            await self.listener.close()
