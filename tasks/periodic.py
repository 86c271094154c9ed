"""One taskiq task per registered periodic job (the scheduler sends them by name)."""

from __future__ import annotations

from typing import Any

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from core.ops.jobs import JOBS, run_job
from core.runtime import Runtime

TASK_PREFIX = "job:"


def runtime_of(context: Context) -> Runtime:
    runtime: Runtime = context.state.runtime
    return runtime


def _make(name: str) -> Any:
    async def periodic(context: Context = TaskiqDepends()) -> dict[str, Any]:
        return await run_job(runtime_of(context), name, trigger="cron")

    periodic.__name__ = f"job_{name.replace('-', '_')}"
    return periodic


def register_all() -> None:
    """Register a task for every job in `core.ops.jobs.JOBS` not registered yet (idempotent)."""
    registered = async_shared_broker.get_all_tasks()
    for name in JOBS:
        task_name = TASK_PREFIX + name
        if task_name in registered:
            continue
        async_shared_broker.task(task_name=task_name)(_make(name))
