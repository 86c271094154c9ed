"""Sends alerts to Telegram (core.chat.sending.ChatSender): sendMessage and editMessageText through
python-telegram-bot's `Bot`, Telegram's answers mapped onto core's typed send errors.

The bot token is in every request URL PTB builds, and PTB repeats it in some exception messages (InvalidToken from
`Bot.initialize()`), so no Telegram exception text leaves this module unredacted: the reasons stored as a message's
`last_error` and logged are cleaned of the token, and the original exception is not chained.
"""

from __future__ import annotations

import asyncio
import warnings
from datetime import timedelta

import httpx
import structlog
from telegram import Bot, LinkPreviewOptions
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.messages import ChatMessage, Item
from bot.telegram.render import PARSE_MODE, to_telegram
from core.chat.sending import (
    AlertMessage,
    AnswerLost,
    ChatAddress,
    ChatSender,
    Gone,
    MessageGone,
    RateLimited,
    SendError,
    Transient,
)
from core.logging import REDACTED, redact_text
from core.runtime import Runtime
from core.vocabulary import ChatPlatform

log = structlog.get_logger(__name__)

CONNECTIONS = 8  # sends at once from one process (delivery runs 5 chats side by side)
# Telegram's descriptions (lower case) meaning the chat will take nothing more from this bot, and how the venue's
# feed says it. Forbidden covers blocked, kicked, deactivated; "chat not found" is a 400.
CHAT_GONE: tuple[tuple[str, str], ...] = (
    ("bot was blocked by the user", "the person blocked the bot"),
    ("bot was kicked", "the bot was removed from the group"),
    ("bot is not a member", "the bot is no longer in the chat"),
    ("user is deactivated", "the person's Telegram account was deleted"),
    ("bot can't initiate conversation", "the person has not started a chat with the bot"),
    ("chat not found", "Telegram no longer knows the chat"),
    ("group chat was deactivated", "the group was deleted"),
    ("have no rights to send a message", "the bot may not post in the group"),
    ("not enough rights to send text messages", "the bot may not post in the group"),
)
NOT_MODIFIED = "message is not modified"  # editing to the same text and buttons: already as wanted
MESSAGE_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")
# Timeouts that mean the request never left (the pool was full, the connection never opened).
UNSENT_TIMEOUTS = (httpx.PoolTimeout, httpx.ConnectTimeout)


class TelegramSender:
    """Posts and edits alert messages as the bot `token` (CHEERS_TELEGRAM_BOT_TOKEN); the Bot starts on first use."""

    def __init__(self, api_origin: str, token: str, *, timeout: float = 10.0) -> None:
        self.api_origin = api_origin.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._bot: Bot | None = None
        self._ready = False
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"TelegramSender({self.api_origin!r})"

    async def post(self, address: ChatAddress, message: AlertMessage) -> str:
        out = to_telegram(_chat_message(message))
        bot = await self._started()
        try:
            sent = await bot.send_message(
                chat_id=_chat(address.chat_id),
                text=out.text,
                parse_mode=PARSE_MODE,
                reply_markup=out.reply_markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except TelegramError as exc:
            raise self._mapped(exc, "sendMessage", posting=True) from None
        return str(sent.message_id)

    async def update(self, address: ChatAddress, ref: str, message: AlertMessage) -> None:
        out = to_telegram(_chat_message(message))
        bot = await self._started()
        try:
            await bot.edit_message_text(
                chat_id=_chat(address.chat_id),
                message_id=int(ref),
                text=out.text,
                parse_mode=PARSE_MODE,
                # Edited without a keyboard, the message loses its buttons: a resolved alert offers nothing more.
                # (PTB would send an empty InlineKeyboardMarkup as "{}", which is no keyboard Telegram knows.)
                reply_markup=out.reply_markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except BadRequest as exc:
            if NOT_MODIFIED in exc.message.lower():
                return
            raise self._mapped(exc, "editMessageText", posting=False) from None
        except TelegramError as exc:
            raise self._mapped(exc, "editMessageText", posting=False) from None

    async def close(self) -> None:
        bot, self._bot, self._ready = self._bot, None, False
        if bot is not None:
            try:
                await bot.shutdown()
            except (TelegramError, httpx.HTTPError, RuntimeError, OSError) as exc:  # closing must not fail a close
                log.warning("telegram_sender_close_failed", error=type(exc).__name__)

    async def _started(self) -> Bot:
        """The Bot, initialised once (getMe); a failure is Transient (nothing was sent), the token never in it."""
        if not self._token:
            raise Transient("no Telegram bot token is set (CHEERS_TELEGRAM_BOT_TOKEN)")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._bot is None:
                self._bot = Bot(
                    self._token,
                    base_url=f"{self.api_origin}/bot",
                    base_file_url=f"{self.api_origin}/file/bot",
                    request=self._request(),
                    get_updates_request=self._request(),
                )
            if not self._ready:
                try:
                    await self._bot.initialize()
                except InvalidToken:
                    # PTB's message repeats the token: neither it nor its cause goes any further.
                    log.error("telegram_token_rejected", api=self.api_origin)
                    raise Transient(
                        "Telegram rejected the bot token: check CHEERS_TELEGRAM_BOT_TOKEN with BotFather"
                    ) from None
                except TelegramError as exc:
                    raise Transient(f"could not reach Telegram (getMe): {self._clean(exc)}") from None
                self._ready = True
            return self._bot

    def _request(self) -> HTTPXRequest:
        # No retries anywhere: a request retried by the client could post an alert twice.
        return HTTPXRequest(
            connection_pool_size=CONNECTIONS,
            read_timeout=self.timeout,
            write_timeout=self.timeout,
            connect_timeout=self.timeout,
            pool_timeout=self.timeout,
            media_write_timeout=self.timeout,
        )

    def _mapped(self, exc: TelegramError, method: str, *, posting: bool) -> SendError:
        """Telegram's answer as core's send error: what delivery does next (wait, stop, edit nothing, retry)."""
        lost: type[SendError] = AnswerLost if posting else Transient
        said = self._clean(exc)
        lowered = said.lower()
        if isinstance(exc, RetryAfter):
            wait = retry_after_seconds(exc)
            return RateLimited(f"Telegram flood control: retry after {wait:.0f} s", retry_after=wait)
        if isinstance(exc, ChatMigrated):
            return Gone(
                f"Telegram says the group became a supergroup with the id {exc.new_chat_id}",
                what="the group became a supergroup: set it up again there",
            )
        if isinstance(exc, InvalidToken):  # 401/404: the token was revoked since the bot started
            log.error("telegram_token_rejected", api=self.api_origin, method=method)
            self._ready = False
            return Transient("Telegram rejected the bot token: check CHEERS_TELEGRAM_BOT_TOKEN with BotFather")
        if isinstance(exc, BadRequest):
            if not posting and any(text in lowered for text in MESSAGE_GONE):
                return MessageGone(f"Telegram says: {said}")
            gone = _gone(lowered)
            if gone is not None:
                return Gone(f"Telegram says: {said}", what=gone)
            return Transient(f"Telegram refused {method}: {said}")  # nothing was sent
        if isinstance(exc, Forbidden):
            return Gone(f"Telegram says: {said}", what=_gone(lowered) or "the bot may not post there any more")
        if isinstance(exc, TimedOut):
            if isinstance(exc.__cause__, UNSENT_TIMEOUTS):
                return Transient(f"Telegram could not be reached in {self.timeout:g} s ({method})")
            return lost(f"Telegram did not answer {method} in {self.timeout:g} s")
        if isinstance(exc, NetworkError):
            if isinstance(exc.__cause__, httpx.ConnectError):
                return Transient(f"could not reach Telegram: {said}")
            return lost(f"Telegram's answer to {method} was lost: {said}")
        return Transient(f"Telegram refused {method}: {said}")

    def _clean(self, exc: BaseException) -> str:
        """The exception's text without the bot token (nor anything else core.logging redacts)."""
        text = str(exc)
        if self._token:
            text = text.replace(self._token, REDACTED)
        return redact_text(text)


def retry_after_seconds(exc: RetryAfter) -> float:
    """Telegram's retry_after in seconds, whether PTB gives it as an int or a timedelta (PTB_TIMEDELTA)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # PTB 22 warns when it answers an int
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return max(0.0, seconds)


def _gone(lowered: str) -> str | None:
    for text, what in CHAT_GONE:
        if text in lowered:
            return what
    return None


def _chat(chat_id: str) -> int | str:
    """A numeric chat id as a number (groups are negative); an @channel name as it is."""
    return int(chat_id) if chat_id.lstrip("-").isdecimal() else chat_id


def _chat_message(message: AlertMessage) -> ChatMessage:
    return ChatMessage(
        title=message.title,
        lines=message.lines,
        items=tuple(Item(i.text, i.offers) for i in message.items),
        offers=message.offers,
    )


def install_telegram_sender(runtime: Runtime) -> ChatSender | None:
    """The process's Telegram sender on the runtime when a bot token is set; one already there (a test's) stays."""
    existing = runtime.chat_senders.get(ChatPlatform.telegram)
    if existing is not None:
        return existing
    settings = runtime.settings
    if not settings.cheers_telegram_bot_token:
        return None
    sender = TelegramSender(
        settings.telegram_api_origin,
        settings.cheers_telegram_bot_token,
        timeout=settings.cheers_telegram_timeout_seconds,
    )
    runtime.chat_senders[ChatPlatform.telegram] = sender
    return sender
