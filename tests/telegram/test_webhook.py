"""The webhook's own rules: the secret (constant-time, 401 and nothing done), each update handled once however often
Telegram resends it, 503 while the database is down (Telegram resends it later) or Telegram is not set up, and the
bot token in no log line, even when Telegram refuses it."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from core.clock import FrozenClock
from core.logging import configure_logging
from core.runtime import Runtime, build_runtime
from sandbox.telegram.state import DEV_BOT_TOKEN, DEV_WEBHOOK_SECRET
from storage.enums import ChatPlatform
from storage.models import ChatInboundEvent
from tests import factories
from tests.telegram.conftest import SECRET_HEADER, WEBHOOK, Chats, Served, TelegramTwin, telegram_settings
from tests.test_logging import restore_logging  # noqa: F401 - configure_logging is put back afterwards

USER = 801


def update(update_id: int, text: str = "/help", user: int = USER) -> dict[str, Any]:
    """A private message update as Telegram sends it."""
    person = {"id": user, "is_bot": False, "first_name": "Sam"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "from": person,
            "chat": {"id": user, "type": "private", "first_name": "Sam"},
            "date": 1795608000,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


async def _claims(runtime: Runtime) -> list[str]:
    async with runtime.uow() as uow:
        rows = await uow.session.execute(
            select(ChatInboundEvent.event_id).where(ChatInboundEvent.platform == ChatPlatform.telegram)
        )
        return list(rows.scalars())


async def test_a_resent_update_is_handled_once(chats: Chats, runtime: Runtime) -> None:
    sent = await chats.twin.control.user_says("/help", user_id=USER)
    assert sent["status"] == 200
    assert len(await chats.texts(USER)) == 1
    again = await chats.twin.control.resend(sent["update_id"])
    assert again["status"] == 200, again  # answered 200 so Telegram stops resending, and nothing done twice
    assert len(await chats.texts(USER)) == 1
    assert await _claims(runtime) == [f"update:{sent['update_id']}"]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", DEV_WEBHOOK_SECRET + "x"])
async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_done(
    served: Served, telegram: TelegramTwin, runtime: Runtime, secret: str | None
) -> None:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    refused = await served.client.post(WEBHOOK, json=update(1), headers=headers)
    assert refused.status_code == 401, refused.text
    assert await telegram.control.calls("sendMessage") == []
    assert await _claims(runtime) == []
    accepted = await served.client.post(WEBHOOK, json=update(1), headers={SECRET_HEADER: DEV_WEBHOOK_SECRET})
    assert accepted.status_code == 200, accepted.text
    assert len(await telegram.control.calls("sendMessage")) == 1


async def test_not_set_up_is_503(database_url: str, tmp_path: Path, telegram: TelegramTwin, clock: FrozenClock) -> None:
    settings = telegram_settings(database_url, tmp_path, telegram.url, cheers_telegram_webhook_secret="")
    runtime = build_runtime(settings, clock=clock)
    try:
        async with factories.app_client(runtime) as app:
            answer = await app.post(WEBHOOK, json=update(1), headers={SECRET_HEADER: ""})
    finally:
        await runtime.close()
    assert answer.status_code == 503 and "CHEERS_TELEGRAM_WEBHOOK_SECRET" in answer.text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_database_down_is_503_so_telegram_resends(
    database_url: str, tmp_path: Path, telegram: TelegramTwin, clock: FrozenClock
) -> None:
    """A private database that is not there (never the suite's shared one): nothing is answered, 503."""
    if database_url.startswith("sqlite"):
        down = f"sqlite+aiosqlite:///{tmp_path}/no-such-folder/cheers.db"
    else:
        down = f"postgresql+asyncpg://cheers:cheers@127.0.0.1:{_closed_port()}/cheers"
    runtime = build_runtime(telegram_settings(down, tmp_path, telegram.url), clock=clock)
    try:
        async with factories.app_client(runtime) as app:
            answer = await app.post(WEBHOOK, json=update(7), headers={SECRET_HEADER: DEV_WEBHOOK_SECRET})
    finally:
        await runtime.close()
    assert answer.status_code == 503 and "database" in answer.text, answer.text
    assert await telegram.control.calls("sendMessage") == []


async def test_the_bot_token_is_in_no_log_line(
    restore_logging: None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    tmp_path: Path,
    telegram: TelegramTwin,
    chats: Chats,
    clock: FrozenClock,
) -> None:
    configure_logging("INFO", "json")  # the production pipeline at its default level: what it writes is checked
    # The right token: an update handled, answered through the Bot API (URLs with /bot<token>/ were requested).
    await chats.says("/help", USER)
    # A token Telegram refuses: PTB's InvalidToken message holds it; the webhook answers 503 and logs the reason.
    wrong = "7000000002:AAHwrong-token-the-twin-refuses-000001"
    settings = telegram_settings(database_url, tmp_path, telegram.url, cheers_telegram_bot_token=wrong)
    runtime = build_runtime(settings, clock=clock)
    try:
        async with factories.app_client(runtime) as app:
            answer = await app.post(WEBHOOK, json=update(9), headers={SECRET_HEADER: DEV_WEBHOOK_SECRET})
    finally:
        await runtime.close()
    assert answer.status_code == 503 and "refused the bot token" in answer.text, answer.text
    assert wrong not in answer.text
    output = capsys.readouterr()
    logged = output.out + output.err
    assert "telegram_not_ready" in logged
    for token in (DEV_BOT_TOKEN, wrong, DEV_BOT_TOKEN.split(":")[1], wrong.split(":")[1]):
        leaked = [line for line in logged.splitlines() if token in line]
        assert not leaked, "a bot token reached the logs:\n" + "\n".join(leaked)


async def test_a_request_that_is_not_an_update_is_400(served: Served) -> None:
    for body in (b"not json", b"[]", b'{"message": {}}'):
        answer = await served.client.post(
            WEBHOOK, content=body, headers={SECRET_HEADER: DEV_WEBHOOK_SECRET, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (body, answer.text)


async def test_a_handler_that_fails_says_sorry_and_keeps_nothing(
    chats: Chats, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("bot.telegram.handlers.handle_turn", broken)
    sent = await chats.twin.control.user_says("/week", user_id=USER)
    assert sent["status"] == 200, sent  # not resent forever
    [sorry] = await chats.texts(USER)
    assert sorry.startswith("Sorry, something went wrong on our side"), sorry
    assert await _claims(runtime) == []


async def test_a_database_failure_inside_a_handler_is_503(
    chats: Chats, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_gone(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr("bot.telegram.handlers.handle_turn", database_gone)
    sent = await chats.twin.control.user_says("/week", user_id=USER)
    assert sent["status"] == 503, sent  # Telegram resends it
    assert await chats.texts(USER) == []
    assert await _claims(runtime) == []
    monkeypatch.undo()
    again = await chats.twin.control.resend(sent["update_id"])
    assert again["status"] == 200, again
    [answer] = await chats.texts(USER)
    assert answer.startswith("Link your chat account"), answer
