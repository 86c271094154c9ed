"""The scheduler (run exactly one): a cron schedule per registered job, and its own heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from taskiq import ScheduledTask, TaskiqScheduler
from taskiq.abc.schedule_source import ScheduleSource

from bot.slack.sender import install_slack_sender
from bot.telegram.sender import install_telegram_sender
from core.ops import watch as ops_watch
from core.ops.jobs import JOBS
from core.publishing import watchdog
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from tasks.broker import create_broker
from tasks.heartbeat import OneAtATime, beat_once
from tasks.periodic import TASK_PREFIX

log = structlog.get_logger(__name__)

# The watchdog runs before the heartbeat job is sent: a hung database must not hold that send for long.
WATCHDOG_TIMEOUT_SECONDS = 20.0
# The ops check runs in the background (chat posts must not be cut off by a timeout); a stop waits this long for it.
OPS_WATCH_GRACE_SECONDS = 20.0


class JobScheduleSource(ScheduleSource):
    """Schedules straight from `core.ops.jobs.JOBS`, with stable ids; each send records a heartbeat."""

    def __init__(self, runtime_getter: Callable[[], Runtime]) -> None:
        self._runtime_getter = runtime_getter
        self._started_at: datetime | None = None
        self.ops_watch = OneAtATime("scheduler")

    async def startup(self) -> None:
        await self._beat("startup")

    async def shutdown(self) -> None:
        await self.ops_watch.stop(OPS_WATCH_GRACE_SECONDS)

    async def get_schedules(self) -> list[ScheduledTask]:
        return [
            ScheduledTask(
                task_name=TASK_PREFIX + name,
                labels={},
                args=[],
                kwargs={},
                cron=spec.cron,
                schedule_id=TASK_PREFIX + name,
            )
            for name, spec in JOBS.items()
        ]

    async def pre_send(self, task: ScheduledTask) -> None:
        await self._beat(task.task_name)
        if task.task_name == TASK_PREFIX + "heartbeat":  # once a minute
            await self._watch()

    async def _watch(self) -> None:
        # Here as well as in the `publish-watchdog` and `ops-watch` jobs: with every worker dead those never run.
        # The ops check goes to the background (one at a time, never cut off mid-post); the send does not wait.
        self.ops_watch.kick(ops_watch.cycle, self._runtime_getter())
        try:
            await asyncio.wait_for(watchdog.check(self._runtime_getter()), WATCHDOG_TIMEOUT_SECONDS)
        except Exception:  # a failed check must not stop the scheduler sending work
            log.exception("scheduler_watchdog_failed")

    async def _beat(self, last: str) -> None:
        runtime = self._runtime_getter()
        if self._started_at is None:
            self._started_at = runtime.clock.now()
        try:
            await beat_once(runtime, "scheduler", self._started_at, {"last_task": last})
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the scheduler
            log.warning("scheduler_heartbeat_failed", error=exc.__class__.__name__)


def create_scheduler(settings: Settings | None = None, runtime: Runtime | None = None) -> TaskiqScheduler:
    """Factory for `taskiq scheduler tasks.schedule:create_scheduler`."""
    settings = settings or (runtime.settings if runtime else Settings())
    broker = create_broker(settings, runtime)
    holder: dict[str, Runtime] = {}

    def get_runtime() -> Runtime:
        if runtime is not None:
            return runtime
        if "rt" not in holder:
            rt = build_runtime(settings)
            # The ops watch posts incidents to ops chats from here when no worker is left to do it.
            install_slack_sender(rt)
            install_telegram_sender(rt)  # only when CHEERS_TELEGRAM_BOT_TOKEN is set
            holder["rt"] = rt
        return holder["rt"]

    return TaskiqScheduler(broker=broker, sources=[JobScheduleSource(get_runtime)])
