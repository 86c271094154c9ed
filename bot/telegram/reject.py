"""Reject in Telegram's idiom: the button asks the clicker, in their private chat, why the post is rejected.

As Mark published does (bot/telegram/mark_published.py): the clicker is authorised first as an admin of the post's
own venue (a viewer, an editor or an outsider is answered privately and nothing is asked); the question is kept as
a `chat_conversations` row (kind "reject", the post's id in its data) so any web process takes the answer; the
person's next private text is the reason (a command is still a command) and the post is rejected through
bot.dispatch.handle_offer as that person, authorised again. `/cancel` ends the question; so does its lifetime. One
question per chat and person: a click while /schedule or another question is going does not replace it.
"""

from __future__ import annotations

from dataclasses import replace

import structlog
from telegram import Update

from bot import render
from bot.dispatch import handle_offer
from bot.messages import ChatMessage
from bot.telegram.inbound import Inbound
from bot.telegram.send import answer_turn
from core.chat import conversations, people
from core.chat.conversations import Conversation
from core.errors import DomainError
from core.notifications.actions import Action, Offer, offer
from core.posts import views
from core.vocabulary import Role

log = structlog.get_logger(__name__)

KIND = "reject"
STEP = "reason"
PURPOSE = "chat reject"
ASKED_PRIVATELY = "I've asked you why in our private chat"
FINISH_FIRST = "You're in the middle of something"
OUT_OF_DATE = "This button is out of date"


async def ask(inbound: Inbound, update: Update, clicked: Offer, *, bot_username: str | None) -> str | None:
    """Reject clicked: authorise the clicker, then ask privately for the reason; the click's toast."""
    query = update.callback_query
    alert = query.message.message_id if query is not None and query.message is not None else None
    turn = inbound.turn
    session, clock = inbound.uow.session, inbound.runtime.clock
    assert clicked.post_id is not None  # a Reject offer always names its post
    person = await people.find_person(session, turn)
    if not person.linked:
        return _refuse(inbound, replace(render.how_to_link(), private=True), alert, bot_username)
    try:
        access = await people.access_for_post(session, clock, person, clicked.post_id, Role.admin, purpose=PURPOSE)
        view = await views.get_post(session, access, clicked.post_id, clock=clock)
    except DomainError as exc:
        await inbound.uow.rollback()
        log.info("telegram_reject_refused", code=exc.code, post_id=clicked.post_id)
        return _refuse(inbound, render.refusal(exc), alert, bot_username)
    private = replace(turn, chat_id=turn.own_chat_id, is_direct_message=True)
    waiting = await conversations.current(session, clock, private)
    if waiting is not None and waiting.kind != KIND:
        inbound.replies.say(private.chat_id, _finish_first())
        return FINISH_FIRST
    conversation = await conversations.start(
        session, clock, private, kind=KIND, step=STEP, data={"post": clicked.post_id},
        account_id=access.account_id, user_id=person.user_id, ttl=conversations.lifetime(inbound.runtime.settings),
    )  # fmt: skip
    log.info("telegram_reject_asked", post_id=clicked.post_id, conversation_id=conversation.id)
    question = ChatMessage(
        title=f"Why is post {clicked.post_id} rejected? Send the reason",
        lines=(
            f"{view.scheduled_local} · {view.excerpt or '(no text)'}",
            "Rejected, it will not be sent; its author is told your reason. /cancel to leave it waiting.",
        ),
    )
    inbound.replies.say(private.chat_id, question)
    return None if turn.is_direct_message else ASKED_PRIVATELY


def _refuse(inbound: Inbound, refusal: ChatMessage, alert: int | None, bot_username: str | None) -> str:
    answer_turn(inbound.replies, inbound.turn, refusal, reply_to=alert, bot_username=bot_username)
    return refusal.title


async def on_message(inbound: Inbound, update: Update) -> bool:
    """A private message while a reason is asked for: reject the post with it; False when no question waits."""
    turn = inbound.turn
    message = update.effective_message
    if not turn.is_direct_message or message is None:
        return False
    conversation = await _waiting(inbound)
    if conversation is None:
        return False
    reason = (message.text or "").strip()
    if not reason:
        inbound.replies.say(turn.chat_id, ChatMessage(title="Send the reason as text, or /cancel", private=True))
        return True
    session, clock = inbound.uow.session, inbound.runtime.clock
    person = await people.find_person(session, turn)
    if person.user_id != conversation.user_id or not await conversations.finish(session, clock, conversation):
        await conversations.finish(session, clock, conversation)
        inbound.replies.say(turn.chat_id, ChatMessage(title=OUT_OF_DATE, lines=("Press Reject again.",), private=True))
        return True
    post_id = int(conversation.data["post"])
    answer = await handle_offer(
        inbound.runtime, inbound.uow, turn, offer(Action.reject, post_id=post_id), reason=reason
    )
    left = await conversations.current(session, clock, turn)
    if left is not None and left.id == conversation.id:
        # Refused (decided meanwhile, not an admin any more): its rollback brought the question back; it is over.
        await conversations.finish(session, clock, left)
    inbound.replies.say(turn.chat_id, answer)
    return True


async def cancel(inbound: Inbound) -> bool:
    """`/cancel` while a reason is asked for: nothing is rejected; False when none waits."""
    conversation = await _waiting(inbound)
    if conversation is None:
        return False
    if await conversations.finish(inbound.uow.session, inbound.runtime.clock, conversation):
        inbound.replies.say(
            inbound.turn.chat_id,
            ChatMessage(title="Not rejected", lines=("The post still waits for approval.",)),
        )
    return True


async def _waiting(inbound: Inbound) -> Conversation | None:
    conversation = await conversations.current(inbound.uow.session, inbound.runtime.clock, inbound.turn)
    return conversation if conversation is not None and conversation.kind == KIND else None


def _finish_first() -> ChatMessage:
    return ChatMessage(
        title=FINISH_FIRST,
        lines=("Finish it (or type /cancel), then press Reject again.",),
        private=True,
    )
