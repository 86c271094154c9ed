"""The `publish-delivery` task: takes a delivery id and its lease token; core does the rest.

Safe to run twice: core.publishing.engine.run_delivery does nothing unless the lease in the message is still the
delivery's current lease, so a redelivered or duplicated message finds nothing to do.
"""

from __future__ import annotations

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from core.publishing.engine import TASK_NAME, run_delivery
from core.publishing.steps import Step
from tasks.periodic import runtime_of


@async_shared_broker.task(task_name=TASK_NAME)
async def publish_delivery(target_id: int, lease_token: str, context: Context = TaskiqDepends()) -> Step:
    return await run_delivery(runtime_of(context), target_id, lease_token)
