"""Telegram's answers as core's send errors, from the exceptions python-telegram-bot raises for them: wait on a 429
(int or timedelta), stop on a blocked user or a removed bot, edit nothing when the message is gone, retry or count
an answer as lost — and never a bot token in a reason."""

from __future__ import annotations

import warnings
from datetime import timedelta

import httpx
import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.telegram.sender import TelegramSender, retry_after_seconds
from core.chat.sending import AnswerLost, Gone, MessageGone, RateLimited, SendError, Transient

TOKEN = "7000000001:AAHsandbox-bot-token-for-cheersai-twin01"


def mapped(exc: TelegramError, *, posting: bool = True) -> SendError:
    return TelegramSender("https://api.telegram.org", TOKEN)._mapped(exc, "sendMessage", posting=posting)


def caused(exc: TelegramError, cause: BaseException) -> TelegramError:
    exc.__cause__ = cause
    return exc


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_retry_after_as_int_is_rate_limited() -> None:
    error = mapped(RetryAfter(7))
    assert isinstance(error, RateLimited) and error.retry_after == 7


def test_retry_after_as_timedelta_is_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB then answers retry_after as a timedelta
    exc = RetryAfter(timedelta(seconds=12, milliseconds=500))
    assert isinstance(exc.retry_after, timedelta)
    error = mapped(exc)
    assert isinstance(error, RateLimited) and error.retry_after == 12.5


def test_reading_retry_after_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exc = RetryAfter(3)  # PTB's own constructor reads the deprecated attribute
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert retry_after_seconds(exc) == 3.0


@pytest.mark.parametrize(
    ("description", "what"),
    [
        ("Forbidden: bot was blocked by the user", "the person blocked the bot"),
        ("Forbidden: bot was kicked from the group chat", "the bot was removed from the group"),
        ("Forbidden: bot was kicked from the supergroup chat", "the bot was removed from the group"),
        ("Forbidden: user is deactivated", "the person's Telegram account was deleted"),
        ("Forbidden: bot can't initiate conversation with a user", "the person has not started a chat with the bot"),
        ("Forbidden: something new", "the bot may not post there any more"),
    ],
)
def test_forbidden_is_the_chat_gone_with_words_for_the_feed(description: str, what: str) -> None:
    error = mapped(Forbidden(description))
    assert isinstance(error, Gone) and not error.install
    assert error.what == what and description in error.reason


def test_chat_not_found_is_gone() -> None:
    error = mapped(BadRequest("Bad Request: chat not found"))
    assert isinstance(error, Gone) and error.what == "Telegram no longer knows the chat"


def test_a_group_that_became_a_supergroup_is_gone_with_its_new_id() -> None:
    error = mapped(ChatMigrated(-1001234567890))
    assert isinstance(error, Gone) and "-1001234567890" in error.reason and "supergroup" in (error.what or "")


def test_edit_of_a_deleted_message_is_message_gone() -> None:
    error = mapped(BadRequest("Bad Request: message to edit not found"), posting=False)
    assert isinstance(error, MessageGone)


def test_another_bad_request_is_transient_nothing_was_sent() -> None:
    error = mapped(BadRequest("Bad Request: can't parse entities: unsupported start tag"))
    assert isinstance(error, Transient) and "parse entities" in error.reason.lower()


def test_a_timeout_on_post_is_answer_lost_and_on_edit_transient() -> None:
    assert isinstance(mapped(caused(TimedOut(), httpx.ReadTimeout("read"))), AnswerLost)
    assert isinstance(mapped(caused(TimedOut(), httpx.ReadTimeout("read")), posting=False), Transient)


def test_a_timeout_before_sending_is_transient() -> None:
    assert isinstance(mapped(caused(TimedOut("Pool timeout"), httpx.PoolTimeout("pool"))), Transient)
    assert isinstance(mapped(caused(TimedOut(), httpx.ConnectTimeout("connect"))), Transient)


def test_a_refused_connection_is_transient_and_a_5xx_on_post_answer_lost() -> None:
    assert isinstance(mapped(caused(NetworkError("httpx.ConnectError: refused"), httpx.ConnectError("x"))), Transient)
    assert isinstance(mapped(NetworkError("Bad Gateway (502)")), AnswerLost)
    assert isinstance(mapped(NetworkError("Bad Gateway (502)"), posting=False), Transient)


def test_a_rejected_token_is_transient_and_never_repeats_it() -> None:
    error = mapped(InvalidToken(f"The token `{TOKEN}` was rejected by the server."))
    assert isinstance(error, Transient)
    assert TOKEN not in error.reason and "CHEERS_TELEGRAM_BOT_TOKEN" in error.reason


@pytest.mark.parametrize(
    "exc",
    [
        NetworkError(f"httpx.ConnectError: https://api.telegram.org/bot{TOKEN}/sendMessage"),
        BadRequest(f"Bad Request: {TOKEN}"),
        Conflict(f"Conflict {TOKEN}"),
        Forbidden(f"Forbidden: bot{TOKEN}"),
    ],
)
def test_no_reason_carries_the_token(exc: TelegramError) -> None:
    error = mapped(exc)
    assert TOKEN not in error.reason and TOKEN.split(":")[1] not in error.reason


async def test_no_token_set_is_transient_without_a_request() -> None:
    sender = TelegramSender("https://api.telegram.org", "")
    with pytest.raises(Transient, match="CHEERS_TELEGRAM_BOT_TOKEN"):
        await sender._started()
