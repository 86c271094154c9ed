"""The `ops-alerts-deliver` task: woken after a transaction that opened, changed or silenced an incident commits;
tells the ops chats and addresses and sends what is due. Safe to run twice: messages and e-mails are insert-once and
sent under a lease; B's ops-watch job and the scheduler's hook run the same pass every minute from the tables."""

from __future__ import annotations

from typing import Any

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from bot.slack.sender import install_slack_sender
from bot.telegram.sender import install_telegram_sender
from core.ops.alerts import TASK_NAME, run
from tasks.periodic import runtime_of


@async_shared_broker.task(task_name=TASK_NAME)
async def ops_alerts_deliver(context: Context = TaskiqDepends()) -> dict[str, Any]:
    runtime = runtime_of(context)
    install_slack_sender(runtime)
    install_telegram_sender(runtime)
    return dict(await run(runtime))
