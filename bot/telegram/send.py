"""Sending an update's replies once its transaction has committed, and where an answer goes (group or private).

Each reply is one Bot API call, in order. A reply that cannot be sent is logged and skipped: the work it reports is
committed and stays done. Only the Bot API's own description (never a network error's text, which may carry the
request URL and so the token) is logged.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ReplyParameters
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.messages import ChatMessage
from bot.telegram.render import PARSE_MODE, to_telegram
from bot.telegram.replies import AnswerCallback, Edit, Keyboard, Replies, Reply, Say
from core.chat.people import ChatTurn

log = structlog.get_logger(__name__)

NOT_MODIFIED = "message is not modified"  # editMessageText with the same text and keyboard: already as wanted
RETRY_AFTER_AT_MOST = 5  # seconds; an answer worth waiting for once, longer waits drop it (logged)
SENT_PRIVATELY = "I've sent you a private message"


async def send_replies(bot: Bot, replies: Replies) -> int:
    """Send every reply in order; how many were sent (the others are logged)."""
    sent = 0
    for reply in replies.items:
        if await send_one(bot, reply):
            sent += 1
    return sent


async def send_one(bot: Bot, reply: Reply) -> bool:
    """One reply, waited for once when Telegram asks for a short pause; False (logged) when not sent."""
    for attempt in (1, 2):
        try:
            await _call(bot, reply)
            return True
        except RetryAfter as exc:
            wait = _seconds(exc.retry_after)
            if attempt == 1 and wait <= RETRY_AFTER_AT_MOST:
                await asyncio.sleep(wait)
                continue
            _not_sent(reply, "rate limited")
            return False
        except BadRequest as exc:
            if isinstance(reply, Edit) and NOT_MODIFIED in exc.message:
                return True
            _not_sent(reply, exc.message)
            return False
        except Forbidden as exc:  # blocked by the person, or removed from the group
            _not_sent(reply, exc.message)
            return False
        except TelegramError as exc:  # network, timeout, 5xx: the text may hold the URL, log the kind only
            _not_sent(reply, exc.__class__.__name__)
            return False
    return False


async def _call(bot: Bot, reply: Reply) -> None:
    if isinstance(reply, Say):
        out = to_telegram(reply.message)
        await bot.send_message(
            chat_id=reply.chat_id,
            text=out.text,
            parse_mode=PARSE_MODE,
            reply_markup=_markup(out.reply_markup, reply.keyboard),
            reply_parameters=_reply_to(reply.reply_to_message_id),
            disable_web_page_preview=True,
        )
    elif isinstance(reply, Edit):
        out = to_telegram(reply.message)
        await bot.edit_message_text(
            chat_id=reply.chat_id,
            message_id=reply.message_id,
            text=out.text,
            parse_mode=PARSE_MODE,
            reply_markup=_markup(out.reply_markup, reply.keyboard),
            disable_web_page_preview=True,
        )
    elif isinstance(reply, AnswerCallback):
        await bot.answer_callback_query(reply.callback_query_id, text=reply.text, show_alert=reply.show_alert)
    else:
        await bot.send_document(
            chat_id=reply.chat_id,
            document=InputFile(reply.content, filename=reply.filename),
            caption=reply.caption[:1024] or None,
            reply_parameters=_reply_to(reply.reply_to_message_id),
        )


def _markup(offers: InlineKeyboardMarkup | None, keyboard: Keyboard) -> InlineKeyboardMarkup | None:
    """The message's own buttons, then the guided flow's keys (each a callback button of ours)."""
    rows = [list(row) for row in offers.inline_keyboard] if offers is not None else []
    rows.extend([InlineKeyboardButton(key.label, callback_data=key.data) for key in row] for row in keyboard if row)
    return InlineKeyboardMarkup(rows) if rows else None


def _reply_to(message_id: int | None) -> ReplyParameters | None:
    # The message may have been deleted meanwhile: the answer is still sent, just not as a reply.
    return None if message_id is None else ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


def _seconds(value: int | timedelta) -> float:
    """PTB gives retry_after as int seconds or a timedelta (by its TimedeltaAsInt setting)."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _not_sent(reply: Reply, reason: str) -> None:
    log.warning("telegram_reply_not_sent", kind=type(reply).__name__, chat_id=_chat_of(reply), reason=reason)


def _chat_of(reply: Reply) -> str | None:
    return None if isinstance(reply, AnswerCallback) else reply.chat_id


def answer_turn(
    replies: Replies,
    turn: ChatTurn,
    message: ChatMessage,
    *,
    reply_to: int | None = None,
    bot_username: str | None = None,
) -> None:
    """Add the answer to what `turn` typed or clicked: in the chat where it happened, except a private answer (a
    consent link, a refusal, a link outcome) asked for in a group, which goes to the person's private chat while the
    group hears only that it was sent."""
    if turn.is_direct_message:
        replies.say(turn.chat_id, message)
        return
    if not message.private:
        replies.say(turn.chat_id, message, reply_to_message_id=reply_to)
        return
    replies.say(turn.own_chat_id, message)
    lines: tuple[str, ...] = ()
    if bot_username:
        lines = (f"Not there? Open https://t.me/{bot_username} and press Start, then ask again.",)
    replies.say(turn.chat_id, ChatMessage(title=SENT_PRIVATELY, lines=lines), reply_to_message_id=reply_to)
