""" "It is there: mark as published" clicked in Slack: a modal asks for the post's link, then marks it as the submitter.

A button asking one question in a modal (bot/slack/modal_action.py). Clicking: the clicker is authorised as an
editor of the delivery's own venue (core.access, in one short read); a viewer or an unlinked person is answered
privately at the click's response_url and no modal opens. Submitting: `private_metadata` names the delivery but
proves nothing, so the submitter is authorised again against that delivery's venue;
core.publishing.actions.mark_published checks the link (https://, optional) and a bad one comes back as
`response_action: errors` on the field. Once marked, the alert delivery's resolution pass edits the alert to
"Resolved … by NAME" (core.chat.resolution) and the submitter gets a private confirmation.
"""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import render
from bot.messages import ChatMessage
from bot.slack import modal_action
from bot.slack.blocks import to_slack
from core.chat import people
from core.chat.people import ChatTurn
from core.errors import DomainError, Invalid, NotFound
from core.notifications.actions import Action
from core.posts import views
from core.publishing import actions as delivery_actions
from core.runtime import Runtime
from core.vocabulary import Role

log = structlog.get_logger(__name__)

CALLBACK_ID = "cheers_mark_published"
FIELD = "permalink"  # the input block; a bad link is reported on it
ELEMENT = "mark_permalink"
PURPOSE = "chat mark published"


async def _mark(runtime: Runtime, ack: AsyncAck, turn: ChatTurn, target_id: int, link: str) -> ChatMessage | None:
    permalink = link or None
    async with runtime.uow() as uow:
        try:
            person = await people.find_person(uow.session, turn)
            if not person.linked:
                raise _gone()
            # Authorised again, against the delivery's own venue: the metadata proves nothing.
            access = await people.access_for_target(
                uow.session, runtime.clock, person, target_id, Role.editor, purpose=PURPOSE
            )
            result = await delivery_actions.mark_published(runtime, uow.session, access, target_id, permalink)
            confirmed = render.marked(result.message, await views.delivery_view(uow.session, access, result.target))
        except Invalid as exc:
            await uow.rollback()
            if exc.extra.get("field") == FIELD:
                await ack(response_action="errors", errors={FIELD: _field_error(exc)})
                return None
            await ack(response_action="update", view=_closed(render.refusal(exc)))
            return None
        except DomainError as exc:
            await uow.rollback()
            log.info("slack_mark_published_refused", code=exc.code, target_id=target_id, user=turn.chat_user_id)
            await ack(response_action="update", view=_closed(render.refusal(exc)))
            return None
        await uow.commit()
    log.info("slack_marked_published", target_id=target_id, user=turn.chat_user_id)
    return confirmed


def _field_error(exc: Invalid) -> str:
    text = exc.message[:1].upper() + exc.message[1:]
    return text if text.endswith(".") else f"{text}."


def _gone() -> NotFound:
    return NotFound("delivery not found", remedy="close this form and press the alert's button again")


def _closed(message: ChatMessage) -> dict[str, Any]:
    """The modal replaced by a refusal (no submit button): what happened and what to do."""
    return {
        "type": "modal",
        "title": modal_action.plain("Can't mark it"),
        "close": modal_action.plain("Close"),
        "blocks": to_slack(message)["blocks"],
    }


QUESTION = modal_action.ModalQuestion(
    what="mark_published",
    action=Action.mark_published.value,
    callback_id=CALLBACK_ID,
    about="delivery",
    role=Role.editor,
    purpose=PURPOSE,
    title="Mark as published",
    submit="Mark published",
    intro="You checked and the post is there (or you posted it by hand): "
    "CheersAI will not send it again, and the alert will say it is resolved, by you.",
    field=FIELD,
    element=ELEMENT,
    label="Link to the post (optional)",
    input={"placeholder": modal_action.plain("https://www.facebook.com/…")},
    optional=True,
    hint="Open the post on the platform and copy its address, starting https://",
    act=_mark,
    unreadable=lambda: {"response_action": "update", "view": _closed(render.refusal(_gone()))},
)


def register(app: AsyncApp, runtime: Runtime) -> None:
    """Add the button's and the modal's listeners (before the general button listener, which would take the click)."""
    modal_action.register(app, runtime, QUESTION)
