"""The `slack-turn` task: a Slack command whose work is too slow for Slack's 3-second ack (retry, diagnose,
package, a job) or a button click, run as the person who typed or clicked and answered at the response_url."""

from __future__ import annotations

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from bot.slack.later import TURN_TASK, LaterTurn, run_later
from tasks.periodic import runtime_of


@async_shared_broker.task(task_name=TURN_TASK)
async def slack_turn(
    team_id: str,
    user_id: str,
    user_name: str | None,
    channel_id: str,
    text: str,
    response_url: str,
    button: str | None = None,
    message_ts: str | None = None,
    context: Context = TaskiqDepends(),
) -> str:
    later = LaterTurn(team_id, user_id, user_name, channel_id, text, response_url, button, message_ts)
    message = await run_later(runtime_of(context), later)
    return message.title
