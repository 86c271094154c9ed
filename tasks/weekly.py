"""The `weekly-materialise-venue` task: woken after a connection is made or renewed; makes that venue's coming week.

Safe to run twice (or alongside the daily materialise-weekly): each slot and date is made once.
"""

from __future__ import annotations

from typing import Any

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from core.weekly.connected import after_connecting
from core.weekly.wake import TASK_NAME
from tasks.periodic import runtime_of


@async_shared_broker.task(task_name=TASK_NAME)
async def weekly_materialise_venue(account_id: int, context: Context = TaskiqDepends()) -> dict[str, Any]:
    return await after_connecting(runtime_of(context), account_id)
