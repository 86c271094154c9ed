"""A worker's own heartbeat: a loop beside the task runner that writes to the database."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog

from core.ops.jobs import instance_name
from core.runtime import Runtime
from storage.queries import ops as ops_q

log = structlog.get_logger(__name__)


async def beat_once(runtime: Runtime, component: str, started_at: datetime | None, info: dict[str, object]) -> None:
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        await ops_q.beat(
            uow.session, component=component, instance=instance_name(), now=now, started_at=started_at or now, info=info
        )
        await uow.commit()


class HeartbeatLoop:
    """Beats every `interval` seconds until stopped; a failed beat is logged and retried next time."""

    def __init__(self, runtime: Runtime, component: str, info: dict[str, object] | None = None) -> None:
        self.runtime = runtime
        self.component = component
        self.info = info or {}
        self._task: asyncio.Task[None] | None = None
        self._started_at = runtime.clock.now()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"heartbeat-{self.component}")

    async def _run(self) -> None:
        while True:
            try:
                await beat_once(self.runtime, self.component, self._started_at, self.info)
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried next interval
                log.warning("heartbeat_failed", component=self.component, error=exc.__class__.__name__)
            await asyncio.sleep(self.runtime.settings.heartbeat_interval_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
