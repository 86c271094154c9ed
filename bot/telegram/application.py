"""The Telegram bot's python-telegram-bot Application, built by `build_application`, and the web process's front door.

The Application has no Updater (updates come from our webhook, or from `cheers telegram poll`) and is used only for
its handler routing: the webhook runs `process_update` inline, never the in-memory update queue a stop would drop.
`TelegramFront` builds it once per process and initialises it (one getMe) lazily, retried, at the first update, so
the web process starts and /readyz stays green while Telegram is unreachable.

PTB puts the bot token in every request URL and in InvalidToken's message: nothing here logs an exception's text
or chains it; only exception class names are logged (core.logging redacts token-shaped strings as well).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from telegram import Bot, BotCommand
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.telegram import handlers
from bot.telegram.client import api_urls
from core.runtime import Runtime

log = structlog.get_logger(__name__)

# What Telegram sends us (setWebhook / getUpdates): messages, button clicks, and the bot's own membership changes.
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
# The command menu Telegram shows (setMyCommands): every command of the chat grammar, as in docs/telegram.md.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("week", "This week's posts (/week next for next week)"),
    ("weekly", "The weekly plan; pause or resume a slot: /weekly pause quiz"),
    ("schedule", 'Schedule a post: guided, or /schedule fri 6pm "Quiz!" to fb,ig'),
    ("status", "Connections and this week's problems (/status 12 for one post)"),
    ("retry", "Publish a failed delivery again: /retry 17"),
    ("reconnect", "Renew a connection: /reconnect facebook"),
    ("diagnose", "Check a connection: /diagnose 3"),
    ("package", "A manual posting package: /package 17"),
    ("alerts", "Alerts here, to me, mute or off: /alerts here"),
    ("venue", "Choose the venue you act for: /venue Red Lion"),
    ("link", "Link your CheersAI account: /link CODE"),
    ("cancel", "Stop the guided /schedule"),
    ("help", "What I can do"),
)
READY_ATTEMPTS = 3  # within one update: Telegram resends it later if we answer 503, so no long waits here
AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class TelegramUnavailable(Exception):
    """The bot could not be made ready (Telegram unreachable, or the token refused); the message holds no token."""


def build_application(runtime: Runtime) -> AnyApplication:
    """The Application for this runtime's bot: no Updater, our timeouts and API origin, the handlers registered."""
    settings = runtime.settings
    base_url, base_file_url = api_urls(settings)
    seconds = settings.cheers_telegram_timeout_seconds
    application = (
        ApplicationBuilder()
        .token(settings.cheers_telegram_bot_token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        .updater(None)
        .connect_timeout(seconds)
        .read_timeout(seconds)
        .write_timeout(seconds)
        .pool_timeout(seconds)
        .media_write_timeout(seconds)
        .build()
    )
    handlers.register(application)
    return application


class TelegramFront:
    """The process's one Application, initialised at the first update that needs it (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._application: AnyApplication | None = None
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.runtime.settings.cheers_telegram_bot_token)

    @property
    def application(self) -> AnyApplication:
        if self._application is None:
            self._application = build_application(self.runtime)
        return self._application

    async def ensure_ready(self, *, attempts: int = READY_ATTEMPTS) -> AnyApplication:
        """The initialised Application (getMe done); TelegramUnavailable after `attempts` quick tries."""
        application = self.application
        if application.running or _initialized(application):
            return application
        async with self._lock:
            if _initialized(application):
                return application
            failure: str | None = None
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(attempts),
                    wait=wait_exponential(multiplier=0.2, max=2),
                    retry=retry_if_exception_type(NetworkError),  # TimedOut is a NetworkError
                    reraise=True,
                ):
                    with attempt:
                        await application.initialize()
            except InvalidToken:
                # Its message is "The token `…` was rejected": it (and its cause) must reach no log and no answer.
                failure = "token refused"
            except TelegramError as exc:
                failure = exc.__class__.__name__
            # Logged and raised outside the except blocks: a log handler that fails prints the exception being
            # handled (with the token in it) to stderr.
            if failure == "token refused":
                log.error("telegram_not_ready", reason="Telegram refused the bot token")
                raise TelegramUnavailable("Telegram refused the bot token (CHEERS_TELEGRAM_BOT_TOKEN)")
            if failure is not None:
                log.warning("telegram_not_ready", reason=failure)
                raise TelegramUnavailable(f"Telegram did not answer ({failure})")
            log.info("telegram_ready", bot_id=application.bot.id)
        return application

    async def username(self) -> str | None:
        """The bot's @username without the @: from settings, else from getMe; None when Telegram is unreachable."""
        configured = self.runtime.settings.cheers_telegram_bot_username.lstrip("@")
        if configured or not self.configured:
            return configured or None
        try:
            # One try: a person waits on this (a link code), and the link is only a convenience next to the code.
            found: str | None = (await self.ensure_ready(attempts=1)).bot.username
            return found
        except TelegramUnavailable:
            return None

    async def close(self) -> None:
        """Shut the Application's HTTP clients down (after the last update of this process)."""
        application, self._application = self._application, None
        if application is not None and _initialized(application):
            try:
                await application.shutdown()
            except TelegramError as exc:
                log.warning("telegram_shutdown_failed", reason=exc.__class__.__name__)


def _initialized(application: AnyApplication) -> bool:
    # Application keeps this private; `initialize()` is idempotent, but we skip the lock once it is done.
    return bool(getattr(application, "_initialized", False))


def deep_link(username: str | None, code: str) -> str | None:
    """`https://t.me/<bot>?start=CODE`: opening it in Telegram sends `/start CODE` to the bot."""
    if not username:
        return None
    return f"https://t.me/{username.lstrip('@')}?start={code}"


async def register_webhook(bot: Bot, url: str, secret: str, *, drop_pending: bool = False) -> None:
    """The bot's set-up with Telegram (`cheers telegram webhook set`, and `make dev` with the twin): the webhook at
    `url` with `secret` and the updates we handle (ALLOWED_UPDATES), then the command menu (COMMANDS)."""
    await bot.set_webhook(
        url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=drop_pending
    )
    await bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
