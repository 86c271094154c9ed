"""The `chat-alerts-deliver` task: woken after a transaction that recorded notifications commits; fans them out to
the venue's chats and sends what is due. Safe to run twice: deliveries are insert-once and messages are claimed
under a lease; the `chat-alerts` periodic job does the same from the tables alone.

One pass at a time per worker process: a wake-up arriving during a pass asks it to go round once more instead of
starting another (a burst of a thousand alerts is a thousand wake-ups). The pass stays a little while for messages
due within seconds (a chat's one-per-second pacing, a short Retry-After) rather than leaving them to the sweep.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from bot.slack.sender import install_slack_sender
from bot.telegram.sender import install_telegram_sender
from core.chat.delivery import TASK_NAME, next_due_in, run
from core.runtime import Runtime
from tasks.periodic import runtime_of

LINGER_SECONDS = 20.0
MAX_PASS_SECONDS = 300.0


@dataclass
class _Pass:
    running: bool = False
    again: bool = False


_PASSES: dict[int, _Pass] = {}


@async_shared_broker.task(task_name=TASK_NAME)
async def chat_alerts_deliver(context: Context = TaskiqDepends()) -> dict[str, Any]:
    runtime = runtime_of(context)
    install_slack_sender(runtime)
    install_telegram_sender(runtime)
    return await deliver_passes(runtime)


async def deliver_passes(runtime: Runtime, *, linger: float = LINGER_SECONDS) -> dict[str, Any]:
    """Run delivery passes until nothing is due within `linger` seconds; joins a pass already running here."""
    state = _PASSES.setdefault(id(runtime), _Pass())
    if state.running:
        state.again = True
        return {"joined": True}
    state.running = True
    totals: dict[str, Any] = {}
    started = time.monotonic()
    try:
        while True:
            state.again = False
            for name, count in (await run(runtime)).items():
                totals[name] = totals.get(name, 0) + count
            wait = await next_due_in(runtime)
            if state.again and time.monotonic() - started < MAX_PASS_SECONDS:
                continue
            # Stay while something is due within `linger` of now (not of the start: a backlog keeps the pass
            # going), up to MAX_PASS_SECONDS, after which the worker slot goes back and the sweep carries on.
            if wait is None or wait.total_seconds() > linger or time.monotonic() - started > MAX_PASS_SECONDS:
                return totals
            before = runtime.clock.now()
            await asyncio.sleep(max(0.05, wait.total_seconds()))
            if runtime.clock.now() <= before:
                return totals  # a stopped clock (tests): waiting makes nothing due
    finally:
        state.running = False
