"""What the bot does with each update: commands, button clicks, being added to a group, private messages.

Every handler reads the update in progress (bot.telegram.inbound.current(): its unit of work, chat turn and
replies), acts through bot.dispatch as the person who typed or clicked, and adds replies; nothing calls the Bot API
here (the webhook sends the replies after its commit). Slow work is enqueued for after the commit
(bot.telegram.later). The guided /schedule flow is bot.telegram.flow's (start, on_message, on_step, cancel); Mark
published asks for the post's link first (bot.telegram.mark_published: ask, on_message, on_step, cancel).

Commands are the chat grammar (bot.commands) with a slash: `/week next`, `/retry@CheersBot 17`. `/start CODE` (a
deep link from CheersAI) and `/link CODE` link the person; `/cancel` ends a guided flow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from telegram import Chat, ChatMember, Message, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.commands import USAGE
from bot.dispatch import handle_offer, handle_turn
from bot.messages import ChatMessage
from bot.telegram import flow, mark_published, reject
from bot.telegram.callbacks import Step, parse_data
from bot.telegram.inbound import Inbound, current
from bot.telegram.later import QUEUE_DOWN, TURN_TASK, WORKING, LaterTurn, is_slow, is_slow_click
from bot.telegram.replies import AnswerCallback
from bot.telegram.send import answer_turn
from core.chat import installs
from core.notifications.actions import Action
from core.vocabulary import ChatPlatform

log = structlog.get_logger(__name__)

Context = ContextTypes.DEFAULT_TYPE
OUT_OF_DATE = "This button is out of date"
NOTHING_TO_CANCEL = "Nothing to cancel"
# Commands typed in a group go to the chat's venue; the guided flow asks questions, so it lives in private chats.
IN_PRIVATE = "Let's do this in a private chat"
GREETED = "greeted:"  # the insert-once mark of a group told how to set the bot up

_FAILED: ContextVar[list[BaseException] | None] = ContextVar("telegram_handler_failed", default=None)


@contextmanager
def catching_failures() -> Iterator[list[BaseException]]:
    """Collect what the handlers raised while an update is processed (PTB would only log it): the webhook rolls the
    update back and answers 503 for a database failure so Telegram resends it."""
    failed: list[BaseException] = []
    token = _FAILED.set(failed)
    try:
        yield failed
    finally:
        _FAILED.reset(token)


Handler = Callable[[Inbound, Update, Context], Awaitable[None]]


def _guarded(handler: Handler) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    async def callback(update: Update, context: Context) -> None:
        try:
            await handler(current(), update, context)
        except Exception as exc:
            failed = _FAILED.get()
            if failed is None:
                raise
            failed.append(exc)
            raise ApplicationHandlerStop from None  # nothing more runs for this update

    callback.__name__ = handler.__name__
    return callback


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Route each kind of update to its handler (first match wins)."""
    application.add_handler(CallbackQueryHandler(_guarded(on_click)))
    application.add_handler(ChatMemberHandler(_guarded(on_my_chat_member), ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(filters.COMMAND, _guarded(on_command)))
    application.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & (filters.TEXT | filters.PHOTO), _guarded(on_private_message))
    )


# --- commands ------------------------------------------------------------------------------------------------


def command_text(message: Message, bot_username: str | None) -> str | None:
    """The command as the chat grammar reads it ('/week@CheersBot next' → 'week next'); None when it is addressed
    to another bot (`/week@OtherBot` in a group)."""
    text = message.text or ""
    head, _, rest = text.partition(" ")
    name, _, addressed = head.lstrip("/").partition("@")
    if addressed and bot_username and addressed.lower() != bot_username.lower():
        return None
    return f"{name.lower()} {rest.strip()}".strip()


async def on_command(inbound: Inbound, update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None  # filters.COMMAND matched a message
    text = command_text(message, _username(context))
    if text is None:
        return
    name, _, rest = text.partition(" ")
    if name == "start":
        # A deep link (t.me/<bot>?start=CODE) sends "/start CODE"; a bare /start is someone saying hello.
        text = f"link {rest}" if rest else "help"
    elif name == "cancel":
        await _cancel(inbound, update, context)
        return
    elif name == "schedule" and not rest:
        await _schedule_guided(inbound, update, context)
        return
    if is_slow(text):
        _later(inbound, update, context, LaterTurn(**_who(inbound), text=text, message_id=message.message_id))
        _answer(inbound, context, ChatMessage(title=WORKING), reply_to=message.message_id)
        return
    answer = await handle_turn(inbound.runtime, inbound.uow, inbound.turn, text)
    _answer(inbound, context, answer, reply_to=message.message_id)


async def _cancel(inbound: Inbound, update: Update, context: Context) -> None:
    if await mark_published.cancel(inbound) or await reject.cancel(inbound) or await flow.cancel(inbound):
        return  # the flow said it was cancelled
    _answer(inbound, context, ChatMessage(title=NOTHING_TO_CANCEL, lines=("You weren't in the middle of anything.",)))


async def _schedule_guided(inbound: Inbound, update: Update, context: Context) -> None:
    """Bare /schedule: the guided flow in a private chat; in a group, where to find it."""
    message = update.effective_message
    reply_to = message.message_id if message is not None else None
    if not inbound.turn.is_direct_message:
        username = _username(context)
        lines: tuple[str, ...] = (
            "I'll ask a few questions (where, what, a photo, when), which would fill this group.",
        )
        if username:
            lines += (f"Open https://t.me/{username} and send /schedule there.",)
        lines += (f"Or type it in one line here: /{USAGE['schedule'].example}",)
        inbound.replies.say(
            inbound.turn.chat_id, ChatMessage(title=IN_PRIVATE, lines=lines), reply_to_message_id=reply_to
        )
        return
    await flow.start(inbound, update)


# --- private messages that are not commands: the guided flow's answers, or the grammar without a slash ------------


async def on_private_message(inbound: Inbound, update: Update, context: Context) -> None:
    if (
        await mark_published.on_message(inbound, update)
        or await reject.on_message(inbound, update)
        or await flow.on_message(inbound, update)
    ):
        return
    message = update.effective_message
    assert message is not None
    if not message.text:  # a photo with no flow waiting for it
        _answer(inbound, context, ChatMessage(title="To post a photo, start with /schedule", private=True))
        return
    answer = await handle_turn(inbound.runtime, inbound.uow, inbound.turn, message.text)
    _answer(inbound, context, answer)


# --- buttons -------------------------------------------------------------------------------------------------


async def on_click(inbound: Inbound, update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    clicked = parse_data(query.data)
    alert = query.message.message_id if query.message is not None else None
    if isinstance(clicked, Step):
        if not await mark_published.on_step(inbound, update, clicked):
            await flow.on_step(inbound, update, clicked)
        _answered(inbound, query.id, None)
        return
    if clicked is None:
        log.info("telegram_button_out_of_date", chat_id=inbound.turn.chat_id)
        _answered(inbound, query.id, OUT_OF_DATE)
        return
    if clicked.action is Action.mark_published:  # asks for the post's link first (bot.telegram.mark_published)
        _answered(
            inbound, query.id, await mark_published.ask(inbound, update, clicked, bot_username=_username(context))
        )
        return
    if clicked.action is Action.reject:  # asks for the reason first (bot.telegram.reject)
        _answered(inbound, query.id, await reject.ask(inbound, update, clicked, bot_username=_username(context)))
        return
    if is_slow_click(clicked):
        _later(inbound, update, context, LaterTurn(**_who(inbound), text="", data=query.data, message_id=alert))
        # Without a task queue _later has already said it couldn't start: the spinner says the same, not "working".
        _answered(inbound, query.id, "Working on it…" if inbound.runtime.queue is not None else QUEUE_DOWN[:200])
        return
    answer = await handle_offer(inbound.runtime, inbound.uow, inbound.turn, clicked)
    _answered(inbound, query.id, _toast(answer))
    _answer(inbound, context, answer, reply_to=alert)


def _toast(answer: ChatMessage) -> str:
    # answerCallbackQuery's text is at most 200 characters; the full answer follows as a message.
    return answer.title[:200]


def _answered(inbound: Inbound, query_id: str, text: str | None) -> None:
    """Answer the click once (Telegram shows a spinner until then), unless the flow already did."""
    if any(isinstance(r, AnswerCallback) and r.callback_query_id == query_id for r in inbound.replies.items):
        return
    # First among the replies: the spinner stops before any message is sent.
    inbound.replies.items.insert(0, AnswerCallback(query_id, text))


# --- being added to a group --------------------------------------------------------------------------------------


async def on_my_chat_member(inbound: Inbound, update: Update, context: Context) -> None:
    changed = update.my_chat_member
    assert changed is not None
    chat = changed.chat
    joined = changed.new_chat_member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR)
    was_out = changed.old_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED)
    if chat.type not in (Chat.GROUP, Chat.SUPERGROUP) or not (joined and was_out):
        return
    first = await installs.first_time(
        inbound.uow.session, inbound.runtime.clock, ChatPlatform.telegram, f"{GREETED}{chat.id}"
    )
    if not first:
        log.info("telegram_group_known", chat_id=chat.id)
        return
    inbound.replies.say(str(chat.id), set_up_group(chat.title))


def set_up_group(title: str | None) -> ChatMessage:
    """What the bot says once when added to a group it doesn't know: how a venue admin sets it up."""
    return ChatMessage(
        title=f"Hello{', ' + title if title else ''}! I'm CheersAI's assistant.",
        lines=(
            "To get a venue's alerts here, a venue admin:",
            "1. links their Telegram account: in CheersAI ask for a link code, then send me /link CODE "
            "(or open the link CheersAI shows);",
            "2. sends /alerts here in this group.",
            "Anyone linked can then use /week, /status and the alerts' buttons here. /help lists everything.",
        ),
    )


# --- helpers -----------------------------------------------------------------------------------------------------


def _answer(inbound: Inbound, context: Context, message: ChatMessage, *, reply_to: int | None = None) -> None:
    answer_turn(inbound.replies, inbound.turn, message, reply_to=reply_to, bot_username=_username(context))


def _who(inbound: Inbound) -> dict[str, Any]:
    turn = inbound.turn
    return {
        "user_id": turn.chat_user_id,
        "user_name": turn.display_name,
        "chat_id": turn.chat_id,
        "private": turn.is_direct_message,
    }


def _later(inbound: Inbound, update: Update, context: Context, later: LaterTurn) -> None:
    if inbound.runtime.queue is None:  # answered at once rather than never
        inbound.replies.say(inbound.turn.chat_id, ChatMessage(title=QUEUE_DOWN))
        return
    kwargs = later.kwargs()
    kwargs["bot_username"] = _username(context)
    inbound.enqueue_after_commit(TURN_TASK, **kwargs)


def _username(context: Context) -> str | None:
    """The bot's @username (without @): getMe's, known once the Application is initialised."""
    try:
        return context.bot.username
    except RuntimeError:  # not initialised (a test driving a handler directly)
        return None
