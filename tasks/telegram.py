"""The `telegram-turn` task: a Telegram command or button whose work is too slow for the webhook's answer (retry,
diagnose, package, a job), run as the person who typed or clicked and answered in the chat with a Bot."""

from __future__ import annotations

from taskiq import Context, TaskiqDepends
from taskiq.brokers.shared_broker import async_shared_broker

from bot.telegram.later import TURN_TASK, LaterTurn, run_later
from core.chat.packages import PackageFile
from tasks.periodic import runtime_of


@async_shared_broker.task(task_name=TURN_TASK)
async def telegram_turn(
    user_id: str,
    user_name: str | None,
    chat_id: str,
    private: bool,
    text: str,
    data: str | None = None,
    message_id: int | None = None,
    bot_username: str | None = None,
    context: Context = TaskiqDepends(),
) -> str:
    later = LaterTurn(user_id, user_name, chat_id, private, text, data, message_id, bot_username)
    answered = await run_later(runtime_of(context), later)
    return answered.filename if isinstance(answered, PackageFile) else answered.title
