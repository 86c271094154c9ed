"""The app's Telegram front door against the Telegram twin: the twin on loopback on the test's clock, the app served
on a real port (its lifespan run), the twin's webhook pointed at it with the secret, so every update travels as
Telegram sends it (POST with X-Telegram-Bot-Api-Secret-Token) and every answer as the bot sends it (Bot API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.clock import FrozenClock
from core.runtime import Runtime
from core.settings import Settings
from sandbox.clock import TwinClock
from sandbox.server import TwinServer
from sandbox.telegram.state import DEV_BOT_TOKEN, DEV_BOT_USERNAME, DEV_WEBHOOK_SECRET, TelegramTwinState
from sandbox.telegram.twin import TelegramTwinControl, running_telegram_twin
from tests import factories
from tests.bot.support import code_for
from tests.conftest import make_settings
from tests.factories import eventually

WEBHOOK = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class TelegramTwin:
    url: str
    control: TelegramTwinControl
    state: TelegramTwinState


@pytest.fixture
async def telegram(clock: FrozenClock) -> AsyncIterator[TelegramTwin]:
    async with running_telegram_twin(clock=TwinClock(clock)) as (url, control, state):
        await control.configure_webhook(resend_attempts=1)  # a test resends on purpose (control.resend)
        yield TelegramTwin(url, control, state)


def telegram_settings(database_url: str, tmp_path: Path, twin_url: str, **overrides: Any) -> Settings:
    """The app as the twin's bot: its token, the webhook secret, the twin as the API origin."""
    values: dict[str, Any] = {
        "cheers_telegram_api_url": twin_url,
        "cheers_telegram_bot_token": DEV_BOT_TOKEN,
        "cheers_telegram_webhook_secret": DEV_WEBHOOK_SECRET,
        "cheers_telegram_timeout_seconds": 10.0,
    }
    values.update(overrides)
    return make_settings(database_url, tmp_path, **values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, telegram: TelegramTwin) -> Settings:
    # The username is left to getMe: the deep links must come out right without CHEERS_TELEGRAM_BOT_USERNAME.
    return telegram_settings(database_url, tmp_path, telegram.url)


@dataclass
class Served:
    url: str
    client: httpx.AsyncClient  # to the served app (API calls, hand-made webhook posts)


@pytest.fixture
async def served(runtime: Runtime, telegram: TelegramTwin) -> AsyncIterator[Served]:
    """The app on a real loopback port, its lifespan run (the task queue in-process), the twin's webhook at it."""
    async with factories.app_for(runtime) as app:
        server = TwinServer(app)
        url = await server.start()
        try:
            await telegram.control.set_webhook(
                f"{url}{WEBHOOK}", DEV_WEBHOOK_SECRET, allowed_updates=["message", "callback_query", "my_chat_member"]
            )
            async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
                yield Served(url, client)
        finally:
            await server.stop()


class Chats:
    """People in Telegram typing and clicking through the twin, and what the bot sent back."""

    def __init__(self, twin: TelegramTwin, runtime: Runtime) -> None:
        self.twin, self.runtime = twin, runtime

    async def texts(self, chat_id: int) -> list[str]:
        return [m["text"] for m in await self.twin.control.messages(chat_id)]

    async def says(
        self, text: str, user: int, *, group: int | None = None, name: str = "Sam", answers: int = 1
    ) -> list[dict[str, Any]]:
        """`user` writes `text` (in their private chat, or in `group`): the webhook's 200 and the bot's new messages
        there (waiting for `answers` of them: a worker's answer follows "Working on it")."""
        chat = group if group is not None else user
        before = len(await self.twin.control.messages(chat))
        sent = await self.twin.control.user_says(
            text,
            user_id=user,
            user_name=name,
            chat_id=chat,
            chat_type="group" if group is not None else "private",
            chat_title="Red Lion staff" if group is not None else None,
        )
        assert sent["status"] == 200, sent
        return await self.new_messages(chat, before, answers)

    async def new_messages(self, chat: int, before: int, answers: int) -> list[dict[str, Any]]:
        async def arrived() -> list[dict[str, Any]] | None:
            now = await self.twin.control.messages(chat)
            return now[before:] if len(now) >= before + answers else None

        return await eventually(arrived, what=f"{answers} answer(s) in chat {chat}")

    async def link(self, who: factories.Person, user: int, *, name: str = "Sam") -> None:
        """`user` links their Telegram account to `who` with /link CODE in their private chat."""
        [answer] = await self.says(f"/link {await code_for(self.runtime, who)}", user, name=name)
        assert answer["text"].startswith("Linked"), answer


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


@pytest.fixture
def chats(telegram: TelegramTwin, runtime: Runtime, served: Served) -> Chats:
    return Chats(telegram, runtime)


__all__ = ["DEV_BOT_USERNAME", "SECRET_HEADER", "WEBHOOK", "Chats", "Served", "TelegramTwin", "buttons"]
