"""Task run monitoring: a taskiq middleware that times every task run, logs failures and counts runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import structlog
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from core.ops.jobs import instance_name
from core.ops.taskstats import TaskStatsBuffer, error_text, flush
from core.runtime import Runtime

log = structlog.get_logger(__name__)


class TaskMonitor(TaskiqMiddleware):
    """Records each run (start, success or error with its type and message, duration) into a TaskStatsBuffer.

    Successes are only counted in memory; the worker's heartbeat loop flushes them to `task_stats` (one write per
    task and minute, not per run: docs/decisions.md). A failure flushes at once, so the failure-rate rule sees it
    within a watch interval and a crash right after it does not lose it.
    """

    def __init__(self, buffer: TaskStatsBuffer | None = None) -> None:
        super().__init__()
        self.buffer = buffer or TaskStatsBuffer()
        self._started: dict[str, float] = {}

    def _runtime(self) -> Runtime | None:
        runtime: Runtime | None = getattr(self.broker.state, "runtime", None) if self.broker is not None else None
        return runtime

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        self._started[message.task_id] = time.monotonic()
        log.debug("task_started", task=message.task_name, task_id=message.task_id)
        return message

    async def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        started = self._started.pop(message.task_id, None)
        # taskiq's own execution_time is rounded to 10 ms; ours is the monotonic span around the whole run.
        duration_ms = (time.monotonic() - started) * 1000 if started is not None else result.execution_time * 1000
        runtime = self._runtime()
        now = runtime.clock.now() if runtime is not None else datetime.now(UTC)
        if not result.is_err:
            self.buffer.record(message.task_name, now, duration_ms)
            return
        error = result.error
        error_type = type(error).__name__ if error is not None else "UnknownError"
        text = error_text(error) if error is not None else error_type
        self.buffer.record(message.task_name, now, duration_ms, error=text)
        log.warning(
            "task_failed",
            task=message.task_name,
            task_id=message.task_id,
            error_type=error_type,
            error=str(error)[:500] if error is not None else "",
            duration_ms=round(duration_ms, 1),
        )
        if runtime is not None:
            await flush(runtime, self.buffer, instance_name())
