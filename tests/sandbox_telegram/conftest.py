"""The Telegram twin on loopback, on the test's clock, and python-telegram-bot's `Bot` pointed at it.

Fixtures other suites may use (import them: `from tests.sandbox_telegram.conftest import TelegramTwin, telegram
# noqa: F401 - the twin fixture`):

- `telegram` → `TelegramTwin`: `.url`, `.control` (TelegramTwinControl: user_says, user_clicks, messages, faults …),
  `.state` (TelegramTwinState), `.clock`, `.token` (DEV_BOT_TOKEN), `.bot()` (a PTB `Bot` for the twin, used as
  `async with telegram.bot() as bot:`), `.settings()` (the cheers_telegram_* settings pointing at the twin).
  Webhook resends are quick (3 POSTs, 0.05 s apart).
- `receiver` → `Receiver`: a real HTTP endpoint standing in for the app's webhook; it records each POST (headers
  and JSON) and answers the statuses queued in `.answers` (200 once they run out), after the waits queued in
  `.stalls`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from telegram import Bot

from core.clock import FrozenClock
from sandbox.clock import TwinClock
from sandbox.server import TwinServer
from sandbox.telegram.state import DEV_BOT_TOKEN, DEV_BOT_USERNAME, DEV_WEBHOOK_SECRET, TelegramTwinState
from sandbox.telegram.twin import TelegramTwinControl, running_telegram_twin


@dataclass
class TelegramTwin:
    url: str
    control: TelegramTwinControl
    state: TelegramTwinState
    clock: FrozenClock
    token: str = DEV_BOT_TOKEN

    def bot(self, token: str | None = None) -> Bot:
        """The real python-telegram-bot client, as the app builds it."""
        return Bot(token or self.token, base_url=f"{self.url}/bot", base_file_url=f"{self.url}/file/bot")

    def settings(self) -> dict[str, str]:
        """The app's Telegram settings pointed at this twin (the webhook secret is the dev one)."""
        return {
            "cheers_telegram_api_url": self.url,
            "cheers_telegram_bot_token": self.token,
            "cheers_telegram_webhook_secret": DEV_WEBHOOK_SECRET,
            "cheers_telegram_bot_username": DEV_BOT_USERNAME,
        }


@pytest.fixture
async def telegram(clock: FrozenClock) -> AsyncIterator[TelegramTwin]:
    """The twin on the test's clock: moving `clock` moves message dates and callback query ages."""
    async with running_telegram_twin(clock=TwinClock(clock)) as (url, control, state):
        yield TelegramTwin(url, control, state, clock)


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # statuses to answer, in order; then 200
    stalls: list[float] = field(default_factory=list)  # seconds to wait before answering, in order; then none
    received: list[dict[str, Any]] = field(default_factory=list)  # {"headers": {...}, "json": {...}}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook endpoint on loopback that records what the twin POSTs to it."""
    box: list[Receiver] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = box[0]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        target.received.append({"path": scope["path"], "headers": headers, "json": json.loads(body or b"null")})
        if target.stalls:
            await asyncio.sleep(target.stalls.pop(0))
        status = target.answers.pop(0) if target.answers else 200
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    server = TwinServer(app)
    url = await server.start()
    box.append(Receiver(f"{url}/telegram/webhook"))
    try:
        yield box[0]
    finally:
        await server.stop()
