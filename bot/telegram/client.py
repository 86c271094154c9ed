"""A Bot API client outside an update (a worker's answer, the CLI): the API origin and timeouts from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from core.settings import Settings

log = structlog.get_logger(__name__)


def api_urls(settings: Settings) -> tuple[str, str]:
    """PTB's base_url and base_file_url (it appends the token) from CHEERS_TELEGRAM_API_URL's origin."""
    origin = settings.telegram_api_origin
    return f"{origin}/bot", f"{origin}/file/bot"


def make_request(settings: Settings, *, long_poll: float = 0.0) -> HTTPXRequest:
    """One HTTP client for Bot API calls: every timeout CHEERS_TELEGRAM_TIMEOUT_SECONDS (plus a long poll's wait)."""
    seconds = settings.cheers_telegram_timeout_seconds
    return HTTPXRequest(
        connection_pool_size=4,
        connect_timeout=seconds,
        read_timeout=seconds + long_poll,
        write_timeout=seconds,
        pool_timeout=seconds,
        media_write_timeout=seconds,
    )


@asynccontextmanager
async def open_bot(settings: Settings, *, long_poll: float = 0.0) -> AsyncIterator[Bot]:
    """A Bot for a few calls (no getMe); its HTTP clients are closed afterwards."""
    base_url, base_file_url = api_urls(settings)
    request, updates_request = make_request(settings), make_request(settings, long_poll=long_poll)
    bot = Bot(
        settings.cheers_telegram_bot_token,
        base_url=base_url,
        base_file_url=base_file_url,
        request=request,
        get_updates_request=updates_request,
    )
    try:
        yield bot
    finally:
        await request.shutdown()
        await updates_request.shutdown()


async def bot_username(settings: Settings) -> str | None:
    """The bot's username for t.me links: CHEERS_TELEGRAM_BOT_USERNAME, else one getMe; None when not set up or
    Telegram did not answer."""
    configured = settings.cheers_telegram_bot_username.lstrip("@")
    if configured or not settings.cheers_telegram_bot_token:
        return configured or None
    try:
        async with open_bot(settings) as bot:
            me = await bot.get_me()
    except TelegramError as exc:
        log.warning("telegram_username_unknown", reason=exc.__class__.__name__)
        return None
    return me.username
