"""The `emails-deliver` task: woken after a transaction that queued e-mails commits; sends everything due.

Safe to run twice or alongside the `emails` job: rows are claimed under a lease, and every attempt at an e-mail
carries the same Idempotency-Key, so Resend never sends one twice.
"""

from __future__ import annotations

from typing import Any

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from core.email.outbox import TASK_NAME, run
from tasks.periodic import runtime_of


@async_shared_broker.task(task_name=TASK_NAME)
async def emails_deliver(context: Context = TaskiqDepends()) -> dict[str, Any]:
    return await run(runtime_of(context))
