""" "It is there: mark as published" clicked in Slack: a modal asks for the post's link, then marks it as the submitter.

Clicking: the clicker is authorised as an editor of the delivery's own venue (core.access, in one short read); a
viewer or an unlinked person is answered privately at the click's response_url and no modal opens. Otherwise
views.open is called with the click's trigger_id inside the request (it works once, for 3 seconds). Submitting:
`private_metadata` names the delivery but proves nothing, so the submitter is authorised again against that
delivery's venue; core.publishing.actions.mark_published checks the link (https://, optional) and a bad one comes
back as `response_action: errors` on the field. Once marked, the alert delivery's resolution pass edits the alert
to "Resolved … by NAME" (core.chat.resolution) and the submitter gets a private confirmation.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.messages import ChatMessage
from bot.slack.blocks import button_offer, escape, to_slack
from bot.slack.later import answer, slack_turn
from bot.slack.privately import tell_privately
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
CLICKED = re.compile(rf"^{Action.mark_published.value}:[a-z0-9]+$")
MAX_CONTEXT = 300  # the alert's title quoted in the modal
NOT_OPENED = "Slack didn't open the form ({error}). Press the button again."


def register(app: AsyncApp, runtime: Runtime) -> None:
    """Add the button's and the modal's listeners (before the general button listener, which would take the click)."""

    @app.action(CLICKED)
    async def clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await _open(runtime, ack, body, action, client)

    @app.view(CALLBACK_ID)
    async def submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await _submit(runtime, ack, body, client)


async def _open(
    runtime: Runtime, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
) -> None:
    try:
        target_id = button_offer(str(action.get("value") or "")).target_id
    except ValueError:
        target_id = None
    if target_id is None:
        log.warning("slack_button_unknown", action_id=action.get("action_id"))
        await ack()
        return
    channel = str((body.get("channel") or {}).get("id") or "")
    turn = _turn_of(body, channel)
    refusal: ChatMessage | None = None
    async with runtime.uow() as uow:
        person = await people.find_person(uow.session, turn)
        if not person.linked:
            refusal = render.how_to_link()
        else:
            try:
                await people.access_for_target(
                    uow.session, runtime.clock, person, target_id, Role.editor, purpose="chat mark published"
                )
            except DomainError as exc:
                await uow.rollback()
                refusal = render.refusal(exc)
        await uow.commit()  # a staff member's use of a venue is audited
    if refusal is None:
        title = str((body.get("message") or {}).get("text") or f"Delivery {target_id}")
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=modal(target_id, title, channel))
        except (SlackApiError, TimeoutError, aiohttp.ClientError) as exc:
            error = str(exc.response.get("error") or "error") if isinstance(exc, SlackApiError) else "no answer in time"
            log.warning("slack_mark_published_not_opened", error=error, team_id=turn.workspace_id)
            refusal = ChatMessage(title=NOT_OPENED.format(error=error), private=True)
    await ack()
    if refusal is not None and not body.get("response_url"):  # clicked on the Home tab: the clicker's DM instead
        await tell_privately(client, "", turn.chat_user_id, refusal, what="mark_published")
    elif refusal is not None:
        # Within the request (Slack waits for it): the short timeout, so the ack is never late.
        within = runtime.settings.cheers_slack_ack_timeout_seconds
        await answer(str(body.get("response_url") or ""), refusal, within=within)


def modal(target_id: int, alert_title: str, channel_id: str) -> dict[str, Any]:
    """The modal: which alert, and the post's link on the platform (optional)."""
    quoted = alert_title if len(alert_title) <= MAX_CONTEXT else alert_title[: MAX_CONTEXT - 1] + "…"
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _plain("Mark as published"),
        "submit": _plain("Mark published"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"target": target_id, "channel": channel_id}),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{escape(quoted)}*\nYou checked and the post is there (or you posted it by hand): "
                    "CheersAI will not send it again, and the alert will say it is resolved, by you.",
                },
            },
            {
                "type": "input",
                "block_id": FIELD,
                "optional": True,
                "label": _plain("Link to the post (optional)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ELEMENT,
                    "placeholder": _plain("https://www.facebook.com/…"),
                },
                "hint": _plain("Open the post on the platform and copy its address, starting https://"),
            },
        ],
    }


async def _submit(runtime: Runtime, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    view = body.get("view") or {}
    try:
        target_id, channel = _metadata(view)
    except ValueError:
        log.warning("slack_mark_published_metadata_unreadable")
        await ack(response_action="update", view=_closed(render.refusal(_gone())))
        return
    turn = _turn_of(body, channel)
    state = (view.get("state") or {}).get("values") or {}
    permalink = str(((state.get(FIELD) or {}).get(ELEMENT) or {}).get("value") or "").strip() or None
    async with runtime.uow() as uow:
        try:
            person = await people.find_person(uow.session, turn)
            if not person.linked:
                raise _gone()
            # Authorised again, against the delivery's own venue: the metadata proves nothing.
            access = await people.access_for_target(
                uow.session, runtime.clock, person, target_id, Role.editor, purpose="chat mark published"
            )
            result = await delivery_actions.mark_published(runtime, uow.session, access, target_id, permalink)
            confirmed = render.marked(result.message, await views.delivery_view(uow.session, access, result.target))
        except Invalid as exc:
            await uow.rollback()
            if exc.extra.get("field") == FIELD:
                await ack(response_action="errors", errors={FIELD: _field_error(exc)})
                return
            await ack(response_action="update", view=_closed(render.refusal(exc)))
            return
        except DomainError as exc:
            await uow.rollback()
            log.info("slack_mark_published_refused", code=exc.code, target_id=target_id, user=turn.chat_user_id)
            await ack(response_action="update", view=_closed(render.refusal(exc)))
            return
        await uow.commit()
    log.info("slack_marked_published", target_id=target_id, user=turn.chat_user_id)
    await ack()  # closes the modal
    await tell_privately(client, channel, turn.chat_user_id, confirmed, what="mark_published")


def _field_error(exc: Invalid) -> str:
    text = exc.message[:1].upper() + exc.message[1:]
    return text if text.endswith(".") else f"{text}."


def _gone() -> NotFound:
    return NotFound("delivery not found", remedy="close this form and press the alert's button again")


def _metadata(view: dict[str, Any]) -> tuple[int, str]:
    data = json.loads(str(view.get("private_metadata") or "{}"))
    if not isinstance(data, dict) or not isinstance(data.get("target"), int):
        raise ValueError("no delivery in the form's metadata")
    return data["target"], str(data.get("channel") or "")


def _turn_of(body: dict[str, Any], channel: str) -> ChatTurn:
    user = body.get("user") or {}
    team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
    return slack_turn(team, str(user.get("id") or ""), user.get("username") or user.get("name"), channel)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _closed(message: ChatMessage) -> dict[str, Any]:
    """The modal replaced by a refusal (no submit button): what happened and what to do."""
    return {
        "type": "modal",
        "title": _plain("Can't mark it"),
        "close": _plain("Close"),
        "blocks": to_slack(message)["blocks"],
    }
