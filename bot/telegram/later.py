"""Telegram work too slow for the webhook's answer (retry, diagnose, package, a job; the Retry, Diagnose and Manual
package buttons): done by the `telegram-turn` taskiq task after the update's commit.

The webhook answers at once ("Working on it…", or the button's spinner stopped); the worker runs the same chat turn
(bot.dispatch) as the person who typed or clicked, in its own transaction, commits, then sends the answer with a Bot
of its own: in the chat, or privately when the answer is private and the chat is a group.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import structlog

from bot import render
from bot.commands import CommandUnclear, Diagnose, Package, Retry, RunJob, parse_command
from bot.dispatch import handle_offer, handle_package_in_thread, handle_turn
from bot.messages import ChatMessage
from bot.telegram.callbacks import parse_data
from bot.telegram.client import open_bot
from bot.telegram.replies import Document, Replies
from bot.telegram.send import answer_turn, send_one, send_replies
from core.chat.packages import PackageFile
from core.chat.people import ChatTurn
from core.notifications.actions import Action, Offer
from core.runtime import Runtime
from core.settings import Settings
from core.vocabulary import ChatPlatform

log = structlog.get_logger(__name__)

TURN_TASK = "telegram-turn"
# Commands that call a provider, build a package or run a job: answered from a worker, never inside the webhook.
SLOW = (Retry, Diagnose, Package, RunJob)
SLOW_CLICKS = (Action.retry, Action.diagnose, Action.manual_package)
WORKING = "Working on it… the answer will follow in a moment."
QUEUE_DOWN = "CheersAI couldn't start that just now (its workers are unreachable). Try again in a minute."
PACKAGE_NOT_SHARED = "Telegram did not take the file"


def is_slow(text: str) -> bool:
    """Whether `text` (a command without its slash) is answered later from a worker (unclear input is not)."""
    try:
        return isinstance(parse_command(text), SLOW)
    except CommandUnclear:
        return False


def is_slow_click(offer: Offer) -> bool:
    return offer.action in SLOW_CLICKS


def telegram_turn(
    settings: Settings, *, user_id: int | str, user_name: str | None, chat_id: int | str, private: bool
) -> ChatTurn:
    """The chat turn of a Telegram user in a chat (the bot's id is the "workspace"; a group's id is negative)."""
    return ChatTurn(
        platform=ChatPlatform.telegram,
        workspace_id=settings.telegram_bot_id,
        chat_user_id=str(user_id),
        display_name=user_name,
        chat_id=str(chat_id),
        is_direct_message=private,
    )


@dataclass(frozen=True)
class LaterTurn:
    """A Telegram turn to run in a worker: who typed (or clicked) what, where, and which message it answers."""

    user_id: str
    user_name: str | None
    chat_id: str
    private: bool
    text: str  # the command without its slash ("" for a click)
    data: str | None = None  # a clicked button's callback_data
    message_id: int | None = None  # the command's message, or the clicked alert's: the answer replies to it
    bot_username: str | None = None

    def turn(self, settings: Settings) -> ChatTurn:
        return telegram_turn(
            settings, user_id=self.user_id, user_name=self.user_name, chat_id=self.chat_id, private=self.private
        )

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)


async def run_later(runtime: Runtime, later: LaterTurn) -> ChatMessage | PackageFile:
    """The worker's half: the turn (or the click, as the clicker) in one transaction, committed, then answered."""
    turn = later.turn(runtime.settings)
    clicked = parse_data(later.data) if later.data else None
    found: ChatMessage | PackageFile
    async with runtime.uow() as uow:
        if isinstance(clicked, Offer) and clicked.action is Action.manual_package and clicked.target_id is not None:
            ref = str(later.message_id) if later.message_id is not None else ""
            found = await handle_package_in_thread(runtime, uow, turn, clicked.target_id, message_ref=ref)
        elif isinstance(clicked, Offer):
            found = await handle_offer(runtime, uow, turn, clicked)
        elif later.data is not None:
            found = ChatMessage(title="This button is out of date", lines=("Ask again with a command.",), private=True)
        else:
            found = await handle_turn(runtime, uow, turn, later.text)
        await uow.commit()
    async with open_bot(runtime.settings) as bot:
        if isinstance(found, PackageFile):
            document = Document(
                turn.chat_id, found.filename, found.content, found.comment, reply_to_message_id=later.message_id
            )
            if await send_one(bot, document):
                return found
            # The zip could not go into the chat: the person still gets the private link.
            message = render.package(found.link, found.target_id, not_shared=PACKAGE_NOT_SHARED)
        else:
            message = found
        replies = Replies()
        answer_turn(replies, turn, message, reply_to=later.message_id, bot_username=later.bot_username)
        await send_replies(bot, replies)
    log.info("telegram_turn_answered", chat_id=turn.chat_id, title=message.title)
    return found
