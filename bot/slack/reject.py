"""Reject clicked in Slack: a modal asks why, then the post is rejected as the submitter (the reason goes to its
author). A button asking one question in a modal (bot/slack/modal_action.py), like Mark published: the clicker is
authorised first as an admin of the post's own venue, and a viewer, an editor or an unlinked person is answered
privately with no modal; the submitter is authorised again (the modal's metadata proves nothing) and an empty
reason is an error on the field. A post someone else decided meanwhile is answered with who decided and when
(core.posts.approval)."""

from __future__ import annotations

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.dispatch import handle_offer
from bot.messages import ChatMessage
from bot.slack import modal_action
from core.chat.people import ChatTurn
from core.notifications.actions import Action, offer
from core.runtime import Runtime
from core.vocabulary import Role

log = structlog.get_logger(__name__)

CALLBACK_ID = "cheers_reject"
FIELD = "reason"
ELEMENT = "reject_reason"
MAX_REASON = 1000


async def _reject(runtime: Runtime, ack: AsyncAck, turn: ChatTurn, post_id: int, reason: str) -> ChatMessage | None:
    if not reason:
        await ack(response_action="errors", errors={FIELD: "Say why, so its author can put it right."})
        return None
    async with runtime.uow() as uow:
        # handle_offer authorises the submitter again against the post's own venue and rolls back a refusal.
        told = await handle_offer(runtime, uow, turn, offer(Action.reject, post_id=post_id), reason=reason)
        await uow.commit()
    log.info("slack_reject_submitted", post_id=post_id, user=turn.chat_user_id)
    return told


QUESTION = modal_action.ModalQuestion(
    what="reject",
    action=Action.reject.value,
    callback_id=CALLBACK_ID,
    about="post",
    role=Role.admin,
    purpose="chat reject",
    title="Reject the post",
    submit="Reject",
    intro="Rejected, it will not be sent; its author is told why.",
    field=FIELD,
    element=ELEMENT,
    label="Why is it rejected?",
    input={
        "multiline": True,
        "max_length": MAX_REASON,
        "placeholder": modal_action.plain("e.g. the quiz is on Wednesday this week"),
    },
    act=_reject,
)


def register(app: AsyncApp, runtime: Runtime) -> None:
    """Add the button's and the modal's listeners (before the general button listener, which would take the click)."""
    modal_action.register(app, runtime, QUESTION)
