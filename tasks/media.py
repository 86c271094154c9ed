"""The `media-derivatives` task: takes an asset id, opens the runtime, lets core do the work.

Safe to run twice: core.media.jobs.process claims the asset (pending → processing) in one UPDATE, so a
duplicate or late delivery finds nothing to claim and returns.
"""

from __future__ import annotations

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from core.media.jobs import TASK_NAME, process
from tasks.periodic import runtime_of


@async_shared_broker.task(task_name=TASK_NAME)
async def media_derivatives(asset_id: int, context: Context = TaskiqDepends()) -> str:
    return await process(runtime_of(context), asset_id)
