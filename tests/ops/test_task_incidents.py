"""The taskiq middleware counts real task runs (a task that raises, one that succeeds) on an InMemoryBroker; once
its counts are flushed, a failure rate above the setting opens task_failing, which resolves as runs succeed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs
from taskiq import AsyncTaskiqDecoratedTask, InMemoryBroker

from core.clock import FrozenClock
from core.ops.jobs import instance_name
from core.ops.taskstats import flush
from core.runtime import Runtime
from storage.models import TaskStat
from tasks.monitoring import TaskMonitor
from tests.ops.support import all_incidents, explain, watch


class Boom(RuntimeError):
    """What the failing test task raises."""


@dataclass
class Tasks:
    broker: InMemoryBroker
    monitor: TaskMonitor
    explodes: AsyncTaskiqDecoratedTask[[], Any]
    works: AsyncTaskiqDecoratedTask[[], Any]


@pytest.fixture
async def tasks(runtime: Runtime) -> AsyncIterator[Tasks]:
    broker = InMemoryBroker()
    monitor = TaskMonitor()
    broker.add_middlewares(monitor)
    broker.state.runtime = runtime  # what the worker's startup leaves there (tasks/broker.py)

    @broker.task(task_name="ops-test-explodes")
    async def explodes() -> None:
        raise Boom("the venue's feed is unreadable")

    @broker.task(task_name="ops-test-works")
    async def works() -> str:
        return "ok"

    await broker.startup()
    try:
        yield Tasks(broker, monitor, explodes, works)
    finally:
        await broker.shutdown()


async def run(task: AsyncTaskiqDecoratedTask[[], Any], times: int) -> None:
    for _ in range(times):
        sent = await task.kiq()
        await sent.wait_result(timeout=30)


async def stats(runtime: Runtime) -> list[tuple[str, int, int]]:
    async with runtime.db.session() as session:
        rows = (await session.execute(select(TaskStat).order_by(TaskStat.task_name))).scalars().all()
    return [(r.task_name, r.runs, r.failures) for r in rows]


async def test_failure_rate_from_the_middlewares_flushed_counts_opens_and_resolves_task_failing(
    runtime: Runtime, clock: FrozenClock, tasks: Tasks
) -> None:
    with capture_logs() as logs:
        await run(tasks.explodes, 6)
    failed = [e for e in logs if e["event"] == "task_failed"]
    assert len(failed) == 6, logs
    assert failed[0]["log_level"] == "warning" and failed[0]["task"] == "ops-test-explodes", failed[0]
    assert failed[0]["error_type"] == "Boom" and failed[0]["error"] == "the venue's feed is unreadable", failed[0]
    assert failed[0]["task_id"] and failed[0]["duration_ms"] >= 0, failed[0]

    await run(tasks.works, 2)
    # Failures are written at once; successes wait in memory for the heartbeat's flush.
    assert await stats(runtime) == [("ops-test-explodes", 6, 6)], await stats(runtime)
    assert await flush(runtime, tasks.monitor.buffer, instance_name()) == 1
    assert await stats(runtime) == [("ops-test-explodes", 6, 6), ("ops-test-works", 2, 0)], await stats(runtime)

    await watch(runtime)
    [incident] = await all_incidents(runtime, "task_failing")
    assert (incident.key, incident.status) == ("task_failing:ops-test-explodes", "open"), explain([incident])
    assert incident.detail == (
        "More than 50% of its runs in the last 10 min failed; last error: Boom: the venue's feed is unreadable"
    ), incident.detail
    assert incident.facts["runs"] == 6 and incident.facts["failures"] == 6, incident.facts
    assert await all_incidents(runtime, "job_failing") == []

    clock.advance(minutes=11)  # the failures leave the window; new runs succeed
    await run(tasks.works, 1)
    await flush(runtime, tasks.monitor.buffer, instance_name())
    await watch(runtime)
    [incident] = await all_incidents(runtime, "task_failing")
    assert incident.status == "resolved", explain([incident])


async def test_a_task_below_the_minimum_runs_raises_nothing(runtime: Runtime, tasks: Tasks) -> None:
    await run(tasks.explodes, runtime.settings.cheers_ops_task_min_runs - 1)
    await watch(runtime)
    assert await all_incidents(runtime) == [], "fewer runs than CHEERS_OPS_TASK_MIN_RUNS opened an incident"
