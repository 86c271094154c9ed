"""Mark published in Telegram's idiom: the button asks for the post's link in the clicker's private chat.

Slack opens a modal (bot/slack/mark_published.py); Telegram has none, so the question is a message and its answer
the person's next private message. Clicking: the clicker is authorised first as an editor of the delivery's own
venue (core.access); a viewer or an outsider is answered privately and nothing is asked. Otherwise the bot asks,
in the clicker's private chat, "Paste the post's link on <platform> (https://…), or press Without a link", and keeps
the question as a `chat_conversations` row (kind "mark_published", the delivery's id in its data, a version and the
flow's lifetime), so any web process takes the answer and a restart keeps it.

The answer: the next private text (a command is still a command) or the Without a link button (which carries the
question's id and version, bot.telegram.callbacks.step_data). A link core refuses is asked for again in core's
words (core.publishing.actions.checked_permalink); otherwise the question ends and the delivery is marked through
bot.dispatch.handle_offer as that person, authorised again. `/cancel` ends the question; so does its lifetime.
The alert delivery's resolution pass then edits the alert to "Resolved … by NAME" (core.chat.resolution).

One question per chat and person shares the row of the guided /schedule flow (one per chat and person): a click
while a /schedule is going does not replace it (the person finishes or cancels it first, nothing typed is lost);
starting /schedule while a question waits drops the question (docs/telegram.md, docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import replace

import structlog
from telegram import Update

from bot import render
from bot.dispatch import handle_offer
from bot.messages import ChatMessage, Item
from bot.telegram.callbacks import Step, step_data
from bot.telegram.inbound import Inbound
from bot.telegram.replies import Key, Keyboard
from bot.telegram.send import answer_turn
from core.chat import conversations, people
from core.chat.conversations import Conversation
from core.errors import DomainError, Invalid
from core.notifications.actions import LABELS, Action, Offer
from core.posts import views
from core.publishing.actions import checked_permalink
from core.vocabulary import Role

log = structlog.get_logger(__name__)

KIND = "mark_published"
STEP = "link"
NO_LINK = "nolink"  # the Without a link button's choice
WITHOUT_A_LINK = "Without a link"
PURPOSE = "chat mark published"
OUT_OF_DATE = "This button is out of date"
ASKED_PRIVATELY = "I've asked you for the post's link in our private chat"
FINISH_SCHEDULE_FIRST = "You're in the middle of /schedule"


async def ask(inbound: Inbound, update: Update, offer: Offer, *, bot_username: str | None) -> str | None:
    """The button clicked: authorise the clicker, then ask for the link privately; the click's toast."""
    query = update.callback_query
    alert = query.message.message_id if query is not None and query.message is not None else None
    turn = inbound.turn
    session, clock = inbound.uow.session, inbound.runtime.clock
    assert offer.target_id is not None  # a Mark published offer always names its delivery
    person = await people.find_person(session, turn)
    if not person.linked:
        return _refuse(inbound, replace(render.how_to_link(), private=True), alert, bot_username)
    try:
        access = await people.access_for_target(session, clock, person, offer.target_id, Role.editor, purpose=PURPOSE)
        delivery = await views.get_delivery(session, access, offer.target_id)
    except DomainError as exc:
        await inbound.uow.rollback()
        log.info("telegram_mark_published_refused", code=exc.code, target_id=offer.target_id)
        return _refuse(inbound, render.refusal(exc), alert, bot_username)
    private = replace(turn, chat_id=turn.own_chat_id, is_direct_message=True)
    waiting = await conversations.current(session, clock, private)
    if waiting is not None and waiting.kind != KIND:
        # One question at a time per private chat: never drop a half-written post for this one.
        inbound.replies.say(private.chat_id, _finish_schedule_first())
        return FINISH_SCHEDULE_FIRST
    conversation = await conversations.start(
        session,
        clock,
        private,
        kind=KIND,
        step=STEP,
        data={"target": offer.target_id, "platform": delivery.connection_label},
        account_id=access.account_id,
        user_id=person.user_id,
        ttl=conversations.lifetime(inbound.runtime.settings),
    )
    log.info("telegram_mark_published_asked", target_id=offer.target_id, conversation_id=conversation.id)
    question = ChatMessage(
        title=_question(conversation),
        lines=(
            "You checked and the post is there (or you posted it by hand): CheersAI will not send it again, "
            "and the alert will say it is resolved, by you.",
            "/cancel to leave it as it is.",
        ),
        items=(Item(render.delivery_line(delivery)),),
    )
    inbound.replies.say(private.chat_id, question, keyboard=_keyboard(conversation))
    return None if turn.is_direct_message else ASKED_PRIVATELY


def _refuse(inbound: Inbound, refusal: ChatMessage, alert: int | None, bot_username: str | None) -> str:
    """Told privately (in a group, the group hears only that a private message was sent); nothing is asked."""
    answer_turn(inbound.replies, inbound.turn, refusal, reply_to=alert, bot_username=bot_username)
    return refusal.title


async def on_message(inbound: Inbound, update: Update) -> bool:
    """A private message while a link is asked for: the link (or asked again); False when no question waits."""
    turn = inbound.turn
    message = update.effective_message
    if not turn.is_direct_message or message is None:
        return False
    conversation = await _waiting(inbound)
    if conversation is None:
        return False
    try:
        permalink = checked_permalink(message.text)
        if permalink is None:
            raise Invalid("send the link as text, starting https://", field="permalink")
    except Invalid as exc:
        # Asked again, in core's words; the Without a link button shown before still works (same version).
        said = render.refusal(exc)
        inbound.replies.say(
            turn.chat_id,
            ChatMessage(title=_question(conversation), lines=said.lines, private=True),
            keyboard=_keyboard(conversation),
        )
        return True
    await _mark(inbound, conversation, permalink, shown=None)
    return True


async def on_step(inbound: Inbound, update: Update, step: Step) -> bool:
    """Without a link pressed; False when the button is not a waiting question's (the guided flow's, or stale)."""
    query = update.callback_query
    if query is None:
        return False
    session, clock = inbound.uow.session, inbound.runtime.clock
    conversation = await conversations.at_version(session, clock, inbound.turn, step.conversation_id, step.version)
    if conversation is None or conversation.kind != KIND:
        return False
    if step.choice != NO_LINK:
        inbound.replies.answer_callback(query.id, OUT_OF_DATE)
        return True
    inbound.replies.answer_callback(query.id)
    shown = query.message.message_id if query.message is not None else None
    await _mark(inbound, conversation, None, shown=shown)
    return True


async def cancel(inbound: Inbound) -> bool:
    """`/cancel` while a link is asked for: the question ends, nothing is marked; False when none waits."""
    conversation = await _waiting(inbound)
    if conversation is None:
        return False
    if await conversations.finish(inbound.uow.session, inbound.runtime.clock, conversation):
        log.info("telegram_mark_published_cancelled", conversation_id=conversation.id)
        inbound.replies.say(
            inbound.turn.chat_id,
            ChatMessage(
                title="Not marked",
                lines=("The alert stays as it is. Press its button again to mark it as published.",),
            ),
        )
    return True


async def _waiting(inbound: Inbound) -> Conversation | None:
    conversation = await conversations.current(inbound.uow.session, inbound.runtime.clock, inbound.turn)
    return conversation if conversation is not None and conversation.kind == KIND else None


async def _mark(inbound: Inbound, conversation: Conversation, permalink: str | None, *, shown: int | None) -> None:
    """End the question (once: a second process or a double click finds it gone) and mark the delivery as the
    person who answered, authorised again; a refusal ends the question too and says why."""
    turn = inbound.turn
    session, clock = inbound.uow.session, inbound.runtime.clock
    person = await people.find_person(session, turn)
    if person.user_id != conversation.user_id:  # unlinked, or linked to someone else since it was asked
        await conversations.finish(session, clock, conversation)
        inbound.replies.say(turn.chat_id, _start_again())
        return
    if not await conversations.finish(session, clock, conversation):
        inbound.replies.say(turn.chat_id, _start_again())
        return
    target_id = int(conversation.data["target"])
    offer = Offer(Action.mark_published, LABELS[Action.mark_published], target_id=target_id)
    answer = await handle_offer(inbound.runtime, inbound.uow, turn, offer, permalink=permalink)
    left = await conversations.current(session, clock, turn)
    if left is not None and left.id == conversation.id:
        # Refused (not an editor any more, already live): its rollback brought the question back; it is over.
        await conversations.finish(session, clock, left)
    else:
        log.info("telegram_marked_published", target_id=target_id, with_link=permalink is not None)
    if shown is not None:
        inbound.replies.edit(
            turn.chat_id, shown, ChatMessage(title=_question(conversation), lines=("Answered: without a link.",))
        )
    inbound.replies.say(turn.chat_id, answer)


def _question(conversation: Conversation) -> str:
    platform = str(conversation.data.get("platform") or "the platform")
    return f"Paste the post's link on {platform} (https://…), or press {WITHOUT_A_LINK}"


def _keyboard(conversation: Conversation) -> Keyboard:
    return ((Key(WITHOUT_A_LINK, step_data(conversation.id, conversation.version, NO_LINK)),),)


def _finish_schedule_first() -> ChatMessage:
    return ChatMessage(
        title=FINISH_SCHEDULE_FIRST,
        lines=(
            "I'd ask for the post's link here, which would cut your schedule short.",
            "Finish it (or type /cancel), then press the alert's button again.",
        ),
        private=True,
    )


def _start_again() -> ChatMessage:
    return ChatMessage(
        title=OUT_OF_DATE, lines=("Press the alert's button again to mark it as published.",), private=True
    )
