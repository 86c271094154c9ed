"""A task for the broker tests: records each delivery in a file, and holds on to the first one.

Named on a real worker's command line (`taskiq worker tasks.broker:create_broker ... tests.tasks.slow_task`),
so a test can kill the worker while the task is in flight, before it is acknowledged.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from taskiq.brokers.shared_broker import async_shared_broker

TASK_NAME = "test:slow"


def _record(marker: Path, event: str) -> bool:
    """Append `<event> <pid>` to the marker file; True when this is the first line written."""
    first = not marker.exists()
    with marker.open("a") as f:
        f.write(f"{event} {os.getpid()}\n")
    return first


@async_shared_broker.task(task_name=TASK_NAME)
async def slow(marker: str, hold_seconds: float) -> str:
    """The first delivery writes `started <pid>` and holds for `hold_seconds`; a redelivery finishes at once."""
    if _record(Path(marker), "started"):
        await asyncio.sleep(hold_seconds)
    _record(Path(marker), "finished")
    return "done"
