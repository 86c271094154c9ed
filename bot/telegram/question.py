"""A Telegram button that asks the clicker one question in their private chat and takes the next private message
as the answer, then acts as the person who answered.

Clicking: the clicker is authorised first (a viewer or an outsider is answered privately and nothing is asked); the
question is kept as a `chat_conversations` row (core.chat.conversations: its kind, its step, what it is about in its
data, the flow's lifetime) so any web process takes the answer and a restart keeps it. One question per chat and
person: a click while /schedule or another kind of question is going does not replace it. Answering: the person is
authorised again and the question ends once (a second process or a double click finds it gone). Used by Reject
(bot/telegram/reject.py) and Mark published (bot/telegram/mark_published.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog
from telegram import Message, Update

from bot import render
from bot.dispatch import handle_offer
from bot.messages import ChatMessage
from bot.telegram.inbound import Inbound
from bot.telegram.replies import Keyboard
from bot.telegram.send import answer_turn
from core.chat import conversations, people
from core.chat.conversations import Conversation
from core.chat.people import ChatPerson
from core.errors import DomainError
from core.notifications.actions import Offer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Asking:
    """What the clicker is asked, once authorised: the venue's account, the question's data and its message."""

    account_id: int | None
    data: dict[str, Any]
    message: Callable[[Conversation], ChatMessage]  # the question, shown with the conversation's keyboard
    keyboard: Callable[[Conversation], Keyboard] = lambda _conversation: ()


@dataclass(frozen=True)
class Busy:
    """Another kind of flow is going in the private chat: what the clicker is told and the click's toast."""

    message: ChatMessage
    toast: str


async def ask(
    inbound: Inbound,
    update: Update,
    *,
    kind: str,
    step: str,
    about: dict[str, int],
    authorise: Callable[[ChatPerson], Awaitable[Asking]],
    busy: Busy,
    asked_privately: str,
    bot_username: str | None,
) -> str | None:
    """Authorise the clicker (`authorise` raises DomainError), then ask privately; the click's toast."""
    query = update.callback_query
    alert = query.message.message_id if query is not None and query.message is not None else None
    turn = inbound.turn
    session, clock = inbound.uow.session, inbound.runtime.clock
    person = await people.find_person(session, turn)
    if not person.linked:
        return _refuse(inbound, replace(render.how_to_link(), private=True), alert, bot_username)
    try:
        asking = await authorise(person)
    except DomainError as exc:
        await inbound.uow.rollback()
        log.info(f"telegram_{kind}_refused", code=exc.code, **about)
        return _refuse(inbound, render.refusal(exc), alert, bot_username)
    private = replace(turn, chat_id=turn.own_chat_id, is_direct_message=True)
    waiting = await conversations.current(session, clock, private)
    if waiting is not None and waiting.kind != kind:
        # One question at a time per private chat: never drop a half-written post for this one.
        inbound.replies.say(private.chat_id, busy.message)
        return busy.toast
    conversation = await conversations.start(
        session,
        clock,
        private,
        kind=kind,
        step=step,
        data=asking.data,
        account_id=asking.account_id,
        user_id=person.user_id,
        ttl=conversations.lifetime(inbound.runtime.settings),
    )
    log.info(f"telegram_{kind}_asked", **about, conversation_id=conversation.id)
    inbound.replies.say(private.chat_id, asking.message(conversation), keyboard=asking.keyboard(conversation))
    return None if turn.is_direct_message else asked_privately


def _refuse(inbound: Inbound, refusal: ChatMessage, alert: int | None, bot_username: str | None) -> str:
    """Told privately (in a group, the group hears only that a private message was sent); nothing is asked."""
    answer_turn(inbound.replies, inbound.turn, refusal, reply_to=alert, bot_username=bot_username)
    return refusal.title


async def waiting(inbound: Inbound, kind: str) -> Conversation | None:
    """The turn's person's question of this kind in this chat, or None."""
    conversation = await conversations.current(inbound.uow.session, inbound.runtime.clock, inbound.turn)
    return conversation if conversation is not None and conversation.kind == kind else None


async def answered(inbound: Inbound, update: Update, kind: str) -> tuple[Conversation, Message] | None:
    """A private message while a question of this kind waits: the question and the message; None otherwise."""
    message = update.effective_message
    if not inbound.turn.is_direct_message or message is None:
        return None
    conversation = await waiting(inbound, kind)
    return None if conversation is None else (conversation, message)


async def act(
    inbound: Inbound,
    conversation: Conversation,
    offer: Offer,
    out_of_date: ChatMessage,
    *,
    permalink: str | None = None,
    reason: str | None = None,
) -> tuple[ChatMessage, bool] | None:
    """End the question and take up the offer as the person who answered, authorised again: its answer and whether
    it was done (False: refused, the question ends too); None when the question was out of date (they are told)."""
    turn = inbound.turn
    session, clock = inbound.uow.session, inbound.runtime.clock
    person = await people.find_person(session, turn)
    if person.user_id != conversation.user_id:  # unlinked, or linked to someone else since it was asked
        await conversations.finish(session, clock, conversation)
        inbound.replies.say(turn.chat_id, out_of_date)
        return None
    if not await conversations.finish(session, clock, conversation):
        inbound.replies.say(turn.chat_id, out_of_date)
        return None
    answer = await handle_offer(inbound.runtime, inbound.uow, turn, offer, permalink=permalink, reason=reason)
    left = await conversations.current(session, clock, turn)
    if left is not None and left.id == conversation.id:
        # Refused (not allowed any more, decided meanwhile): its rollback brought the question back; it is over.
        await conversations.finish(session, clock, left)
        return answer, False
    return answer, True


async def cancel(inbound: Inbound, kind: str, said: ChatMessage, *, logged: bool = False) -> bool:
    """`/cancel` while a question of this kind waits: it ends and nothing is done; False when none waits."""
    conversation = await waiting(inbound, kind)
    if conversation is None:
        return False
    if await conversations.finish(inbound.uow.session, inbound.runtime.clock, conversation):
        if logged:
            log.info(f"telegram_{kind}_cancelled", conversation_id=conversation.id)
        inbound.replies.say(inbound.turn.chat_id, said)
    return True
