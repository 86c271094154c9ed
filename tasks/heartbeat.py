"""A worker's own heartbeat: a loop beside the task runner that writes to the database, flushes the task
statistics and, every CHEERS_OPS_WATCH_SECONDS, checks the ops rules (so a dead scheduler is still noticed)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from core.ops.jobs import instance_name
from core.ops.taskstats import TaskStatsBuffer, flush
from core.runtime import Runtime
from storage.queries import ops as ops_q

log = structlog.get_logger(__name__)

Watch = Callable[[Runtime], Awaitable[Any]]


async def beat_once(runtime: Runtime, component: str, started_at: datetime | None, info: dict[str, object]) -> None:
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        await ops_q.beat(
            uow.session, component=component, instance=instance_name(), now=now, started_at=started_at or now, info=info
        )
        await uow.commit()


async def forget(runtime: Runtime, component: str) -> None:
    """Delete this process's heartbeat row: it stopped on purpose, so the worker_gone rule must not fire."""
    async with runtime.uow() as uow:
        await ops_q.delete_heartbeat(uow.session, component=component, instance=instance_name())
        await uow.commit()


class OneAtATime:
    """Runs an ops check in the background, never two at once: a tick while one runs is skipped, never cancelled.

    Cancelling a running check could cut a chat post off from its record (docs/chaos.md, Found 12): the message
    would stay `sending` and be posted again after its lease. Only a stop past its grace period cancels one.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def kick(self, watch: Watch, runtime: Runtime) -> bool:
        """Start `watch(runtime)` unless the previous one still runs (then False, and a log line)."""
        if self.running:
            log.warning("ops_watch_still_running", runner=self.name)
            return False
        self._task = asyncio.get_running_loop().create_task(self._run(watch, runtime), name=f"ops-watch-{self.name}")
        return True

    async def _run(self, watch: Watch, runtime: Runtime) -> None:
        try:
            await watch(runtime)
        except Exception:  # a failed check must not stop the heartbeat or the scheduler; the next tick tries again
            log.exception("ops_watch_failed", runner=self.name)

    async def wait(self) -> None:
        """Until the running check (if any) has finished."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self, grace_seconds: float) -> None:
        """Let a running check finish (up to `grace_seconds`), then cancel what is left."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_seconds)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class HeartbeatLoop:
    """Beats every `interval` seconds until stopped; a failed beat is logged and retried next time.

    With `stats`, each beat also flushes the task statistics the TaskMonitor middleware counted. With `watch`
    (the worker's ops check), that starts every `cheers_ops_watch_seconds` (first one interval after start) in the
    background, one at a time.
    """

    def __init__(
        self,
        runtime: Runtime,
        component: str,
        info: dict[str, object] | None = None,
        *,
        stats: TaskStatsBuffer | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.runtime = runtime
        self.component = component
        self.info = info or {}
        self.stats = stats
        self.watch = watch
        self._watching = OneAtATime(component)
        self._task: asyncio.Task[None] | None = None
        self._started_at = runtime.clock.now()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"heartbeat-{self.component}")

    async def _run(self) -> None:
        settings = self.runtime.settings
        next_watch = time.monotonic() + settings.cheers_ops_watch_seconds
        while True:
            try:
                await beat_once(self.runtime, self.component, self._started_at, self.info)
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried next interval
                log.warning("heartbeat_failed", component=self.component, error=exc.__class__.__name__)
            if self.stats is not None:
                await flush(self.runtime, self.stats, instance_name())
            if self.watch is not None and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + settings.cheers_ops_watch_seconds
                self._watching.kick(self.watch, self.runtime)  # beside the beats: a slow chat API delays no beat
            await asyncio.sleep(settings.heartbeat_interval_seconds)

    async def stop(self) -> None:
        """Stop beating, flush the last counts and delete this process's heartbeat (a graceful stop)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await self._watching.stop(self.runtime.settings.cheers_ops_watch_seconds)
            if self.stats is not None:
                await flush(self.runtime, self.stats, instance_name())
            try:
                await forget(self.runtime, self.component)
            except Exception as exc:  # noqa: BLE001 - then the row goes stale and worker_gone says so: still true
                log.warning("heartbeat_forget_failed", component=self.component, error=exc.__class__.__name__)
