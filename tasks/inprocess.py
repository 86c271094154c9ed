"""Worker and scheduler inside the web process (`make dev`): same code, one process."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

import structlog
from taskiq import InMemoryBroker
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.receiver import Receiver

from core.runtime import Runtime
from tasks.queue import TaskiqQueue
from tasks.schedule import create_scheduler

log = structlog.get_logger(__name__)


class InProcessWorkers:
    """Starts the broker as a worker (plus a Redis listener when one is configured) and the scheduler."""

    def __init__(self, runtime: Runtime, *, with_scheduler: bool = True) -> None:
        self.runtime = runtime
        self.scheduler = create_scheduler(runtime=runtime)
        self.broker = self.scheduler.broker
        self.with_scheduler = with_scheduler
        self._tasks: list[asyncio.Task[None]] = []
        self._finish = asyncio.Event()
        # Sync task bodies and CPU-heavy work run here, never on the event loop serving requests.
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cheers-worker")

    async def start(self) -> None:
        self.broker.is_worker_process = True
        await self.broker.startup()
        self.runtime.queue = TaskiqQueue(self.broker)
        if not isinstance(self.broker, InMemoryBroker):
            receiver = Receiver(self.broker, executor=self._executor)
            self._tasks.append(asyncio.create_task(receiver.listen(self._finish), name="inprocess-receiver"))
        if self.with_scheduler:
            for source in self.scheduler.sources:
                await source.startup()
            await self.scheduler.startup()
            loop = SchedulerLoop(self.scheduler)
            self._tasks.append(asyncio.create_task(loop.run(), name="inprocess-scheduler"))
        log.info("inprocess_workers_started", broker=type(self.broker).__name__, scheduler=self.with_scheduler)

    async def stop(self) -> None:
        self._finish.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.with_scheduler:
            for source in self.scheduler.sources:
                with contextlib.suppress(Exception):
                    await source.shutdown()  # lets the scheduler's background ops check finish
        if isinstance(self.broker, InMemoryBroker):
            with contextlib.suppress(Exception):
                await self.broker.wait_all()
        await self.broker.shutdown()
        self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("inprocess_workers_stopped")
