"""The `chat-alerts-deliver` task: woken after a transaction that recorded notifications commits; fans them out to
the venue's chats and sends what is due. Safe to run twice: deliveries are insert-once and messages are claimed
under a lease; the `chat-alerts` periodic job does the same from the tables alone."""

from __future__ import annotations

from typing import Any

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from bot.slack.sender import install_slack_sender
from core.chat.delivery import TASK_NAME, run
from tasks.periodic import runtime_of


@async_shared_broker.task(task_name=TASK_NAME)
async def chat_alerts_deliver(context: Context = TaskiqDepends()) -> dict[str, Any]:
    runtime = runtime_of(context)
    install_slack_sender(runtime)
    return await run(runtime)
