"""Mark published in Telegram's idiom: the button asks for the post's link in the clicker's private chat.

Slack opens a modal (bot/slack/mark_published.py); Telegram has none, so the question is a message and its answer
the person's next private message (a question asked privately, bot/telegram/question.py). Clicking: the clicker
is authorised first as an editor of the delivery's own venue (core.access); a viewer or an outsider is answered
privately and nothing is asked. Otherwise the bot asks, in the clicker's private chat, "Paste the post's link on
<platform> (https://…), or press Without a link", and keeps the question as a `chat_conversations` row (kind
"mark_published", the delivery's id in its data, a version and the flow's lifetime), so any web process takes the
answer and a restart keeps it.

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

import structlog
from telegram import Update

from bot import render
from bot.messages import ChatMessage, Item
from bot.telegram import question
from bot.telegram.callbacks import Step, step_data
from bot.telegram.inbound import Inbound
from bot.telegram.replies import Key, Keyboard
from core.chat import conversations, people
from core.chat.conversations import Conversation
from core.chat.people import ChatPerson
from core.errors import Invalid
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
    target_id = offer.target_id
    assert target_id is not None  # a Mark published offer always names its delivery
    session, clock = inbound.uow.session, inbound.runtime.clock

    async def authorise(person: ChatPerson) -> question.Asking:
        access = await people.access_for_target(session, clock, person, target_id, Role.editor, purpose=PURPOSE)
        delivery = await views.get_delivery(session, access, target_id)

        def asked(conversation: Conversation) -> ChatMessage:
            return ChatMessage(
                title=_question(conversation),
                lines=(
                    "You checked and the post is there (or you posted it by hand): CheersAI will not send it again, "
                    "and the alert will say it is resolved, by you.",
                    "/cancel to leave it as it is.",
                ),
                items=(Item(render.delivery_line(delivery)),),
            )

        data = {"target": target_id, "platform": delivery.connection_label}
        return question.Asking(access.account_id, data, asked, _keyboard)

    return await question.ask(
        inbound, update, kind=KIND, step=STEP, about={"target_id": target_id}, authorise=authorise,
        busy=question.Busy(_finish_schedule_first(), FINISH_SCHEDULE_FIRST), asked_privately=ASKED_PRIVATELY,
        bot_username=bot_username,
    )  # fmt: skip


async def on_message(inbound: Inbound, update: Update) -> bool:
    """A private message while a link is asked for: the link (or asked again); False when no question waits."""
    answered = await question.answered(inbound, update, KIND)
    if answered is None:
        return False
    conversation, message = answered
    try:
        permalink = checked_permalink(message.text)
        if permalink is None:
            raise Invalid("send the link as text, starting https://", field="permalink")
    except Invalid as exc:
        # Asked again, in core's words; the Without a link button shown before still works (same version).
        said = render.refusal(exc)
        inbound.replies.say(
            inbound.turn.chat_id,
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
    said = ChatMessage(
        title="Not marked",
        lines=("The alert stays as it is. Press its button again to mark it as published.",),
    )
    return await question.cancel(inbound, KIND, said, logged=True)


async def _mark(inbound: Inbound, conversation: Conversation, permalink: str | None, *, shown: int | None) -> None:
    """End the question (once: a second process or a double click finds it gone) and mark the delivery as the
    person who answered, authorised again; a refusal ends the question too and says why."""
    turn = inbound.turn
    target_id = int(conversation.data["target"])
    offer = Offer(Action.mark_published, LABELS[Action.mark_published], target_id=target_id)
    done = await question.act(inbound, conversation, offer, _start_again(), permalink=permalink)
    if done is None:
        return
    answer, marked = done
    if marked:
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
