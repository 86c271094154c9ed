"""The bot token never reaches a log line: not in the URLs python-telegram-bot and httpx log
(https://api.telegram.org/bot<token>/sendMessage, where "bot" runs into the token), not in PTB's InvalidToken
message, not in a send error's reason — with a real PTB Bot, its real requests and the app's logging set-up."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import structlog
from telegram import Bot
from telegram.error import InvalidToken
from telegram.request import HTTPXRequest

from bot.telegram.sender import TelegramSender
from core.chat.sending import AlertMessage, ChatAddress, Transient
from core.logging import REDACTED, configure_logging, redact_text
from storage.enums import ChatPlatform
from tests.test_logging import restore_logging  # noqa: F401 - put the logging set-up back after each test

TOKEN = "7000000001:AAHsandbox-bot-token-for-cheersai-twin01"
SECRET = TOKEN.split(":", 1)[1]
API = "https://api.telegram.org"


def no_token(output: str) -> None:
    assert SECRET not in output, f"the bot token leaked:\n{output}"
    assert "AAHsandbox" not in output, f"part of the bot token leaked:\n{output}"


def answering(status: int, body: dict[str, Any]) -> httpx.MockTransport:
    """Telegram answering every request with `body` (the request still goes through httpx, which logs it)."""
    return httpx.MockTransport(lambda request: httpx.Response(status, json=body))


GET_ME = {"ok": True, "result": {"id": 7000000001, "is_bot": True, "first_name": "Cheers", "username": "cheers_bot"}}


def test_ptbs_own_request_urls_are_redacted() -> None:
    bot = Bot(TOKEN, base_url=f"{API}/bot", base_file_url=f"{API}/file/bot")
    for url in (f"{bot.base_url}/sendMessage", f"{bot.base_file_url}/photos/file_7.jpg"):
        assert TOKEN in url  # what PTB really requests
        cleaned = redact_text(url)
        no_token(cleaned)
        assert f"/bot{REDACTED}/" in cleaned


@pytest.mark.parametrize(
    "text",
    [
        f'HTTP Request: POST {API}/bot{TOKEN}/sendMessage "HTTP/1.1 200 OK"',
        f"GET {API}/bot{TOKEN.replace(':', '%3A')}/getMe",
        f"token={TOKEN}",
        f"(bot{TOKEN})",
        f"The token `{TOKEN}` was rejected by the server.",
        "The token `not-a-token-shape` was rejected by the server.",
    ],
)
def test_token_shapes_are_redacted(text: str) -> None:
    cleaned = redact_text(text)
    no_token(cleaned)
    assert "not-a-token-shape" not in cleaned


async def test_ptb_and_httpx_log_lines_carry_no_token(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", "json")
    logging.getLogger("httpx").setLevel(logging.INFO)  # production keeps it at WARNING; this line is the risk
    request = HTTPXRequest(httpx_kwargs={"transport": answering(200, GET_ME)})
    bot = Bot(TOKEN, base_url=f"{API}/bot", request=request)  # logs "Set Bot API URL: …" at DEBUG
    await bot.initialize()  # getMe, which httpx logs with its URL
    await bot.shutdown()

    output = capsys.readouterr().err
    no_token(output)
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    said = " ".join(str(line.get("event")) for line in lines)
    assert "Set Bot API URL" in said and f"/bot{REDACTED}" in said  # the lines are there, redacted
    assert any("HTTP Request" in str(line.get("event")) and "getMe" in str(line.get("event")) for line in lines)


async def test_a_rejected_token_is_logged_and_raised_without_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("DEBUG", "json")
    unauthorized = {"ok": False, "error_code": 401, "description": "Unauthorized"}
    bot = Bot(
        TOKEN, base_url=f"{API}/bot", request=HTTPXRequest(httpx_kwargs={"transport": answering(401, unauthorized)})
    )
    with pytest.raises(InvalidToken) as caught:
        await bot.initialize()
    assert TOKEN in str(caught.value)  # PTB really puts it there
    try:
        raise caught.value
    except InvalidToken:
        structlog.get_logger("tests").exception("telegram_start_failed")
        logging.getLogger("telegram.ext.Application").exception("Error while initializing")
    await bot.shutdown()

    sender = TelegramSender(API, TOKEN)
    monkeypatch.setattr(
        sender, "_request", lambda: HTTPXRequest(httpx_kwargs={"transport": answering(401, unauthorized)})
    )
    with pytest.raises(Transient) as refused:
        await sender.post(ChatAddress(ChatPlatform.telegram, "7000000001", "555"), AlertMessage(title="Hello"))
    await sender.close()
    no_token(refused.value.reason)
    assert refused.value.__cause__ is None and refused.value.__context__ is not None  # not chained...
    assert refused.value.__suppress_context__  # ...and not shown in a traceback either

    output = capsys.readouterr().err
    no_token(output)
    assert "telegram_token_rejected" in output and "telegram_start_failed" in output
