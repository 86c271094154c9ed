"""Reject in Telegram's idiom: the button asks the clicker, in their private chat, why the post is rejected.

A question asked privately (bot/telegram/question.py), as Mark published does: the clicker is authorised first as
an admin of the post's own venue (a viewer, an editor or an outsider is answered privately and nothing is asked);
the question is kept as a `chat_conversations` row (kind "reject", the post's id in its data) so any web process
takes the answer; the person's next private text is the reason (a command is still a command) and the post is
rejected through bot.dispatch.handle_offer as that person, authorised again. `/cancel` ends the question; so does
its lifetime. One question per chat and person: a click while /schedule or another question is going does not
replace it.
"""

from __future__ import annotations

from telegram import Update

from bot.messages import ChatMessage
from bot.telegram import question
from bot.telegram.inbound import Inbound
from core.chat import people
from core.chat.people import ChatPerson
from core.notifications.actions import Action, Offer, offer
from core.posts import views
from core.vocabulary import Role

KIND = "reject"
STEP = "reason"
PURPOSE = "chat reject"
ASKED_PRIVATELY = "I've asked you why in our private chat"
FINISH_FIRST = "You're in the middle of something"
OUT_OF_DATE = "This button is out of date"


async def ask(inbound: Inbound, update: Update, clicked: Offer, *, bot_username: str | None) -> str | None:
    """Reject clicked: authorise the clicker, then ask privately for the reason; the click's toast."""
    post_id = clicked.post_id
    assert post_id is not None  # a Reject offer always names its post
    session, clock = inbound.uow.session, inbound.runtime.clock

    async def authorise(person: ChatPerson) -> question.Asking:
        access = await people.access_for_post(session, clock, person, post_id, Role.admin, purpose=PURPOSE)
        view = await views.get_post(session, access, post_id, clock=clock)
        asked = ChatMessage(
            title=f"Why is post {post_id} rejected? Send the reason",
            lines=(
                f"{view.scheduled_local} · {view.excerpt or '(no text)'}",
                "Rejected, it will not be sent; its author is told your reason. /cancel to leave it waiting.",
            ),
        )
        return question.Asking(access.account_id, {"post": post_id}, lambda _conversation: asked)

    return await question.ask(
        inbound, update, kind=KIND, step=STEP, about={"post_id": post_id}, authorise=authorise,
        busy=question.Busy(_finish_first(), FINISH_FIRST), asked_privately=ASKED_PRIVATELY, bot_username=bot_username,
    )  # fmt: skip


async def on_message(inbound: Inbound, update: Update) -> bool:
    """A private message while a reason is asked for: reject the post with it; False when no question waits."""
    answered = await question.answered(inbound, update, KIND)
    if answered is None:
        return False
    conversation, message = answered
    turn = inbound.turn
    reason = (message.text or "").strip()
    if not reason:
        inbound.replies.say(turn.chat_id, ChatMessage(title="Send the reason as text, or /cancel", private=True))
        return True
    out_of_date = ChatMessage(title=OUT_OF_DATE, lines=("Press Reject again.",), private=True)
    rejecting = offer(Action.reject, post_id=int(conversation.data["post"]))
    done = await question.act(inbound, conversation, rejecting, out_of_date, reason=reason)
    if done is not None:
        inbound.replies.say(turn.chat_id, done[0])
    return True


async def cancel(inbound: Inbound) -> bool:
    """`/cancel` while a reason is asked for: nothing is rejected; False when none waits."""
    said = ChatMessage(title="Not rejected", lines=("The post still waits for approval.",))
    return await question.cancel(inbound, KIND, said)


def _finish_first() -> ChatMessage:
    return ChatMessage(
        title=FINISH_FIRST,
        lines=("Finish it (or type /cancel), then press Reject again.",),
        private=True,
    )
