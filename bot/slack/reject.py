"""Reject clicked in Slack: a modal asks why, then the post is rejected as the submitter (the reason goes to its
author). Like Mark published (bot/slack/mark_published.py): the clicker is authorised first as an admin of the
post's own venue, and a viewer, an editor or an unlinked person is answered privately with no modal; the submitter
is authorised again (the modal's metadata proves nothing) and an empty reason is an error on the field. A post
someone else decided meanwhile is answered with who decided and when (core.posts.approval)."""

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
from bot.dispatch import handle_offer
from bot.messages import ChatMessage
from bot.slack.blocks import button_offer, escape
from bot.slack.later import answer, slack_turn
from bot.slack.privately import tell_privately
from core.chat import people
from core.chat.people import ChatTurn
from core.errors import DomainError
from core.notifications.actions import Action, offer
from core.runtime import Runtime
from core.vocabulary import Role

log = structlog.get_logger(__name__)

CALLBACK_ID = "cheers_reject"
FIELD = "reason"
ELEMENT = "reject_reason"
CLICKED = re.compile(rf"^{Action.reject.value}:[a-z0-9]+$")
MAX_CONTEXT = 300
MAX_REASON = 1000
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
        post_id = button_offer(str(action.get("value") or "")).post_id
    except ValueError:
        post_id = None
    if post_id is None:
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
                await people.access_for_post(
                    uow.session, runtime.clock, person, post_id, Role.admin, purpose="chat reject"
                )
            except DomainError as exc:
                await uow.rollback()
                refusal = render.refusal(exc)
        await uow.commit()  # a staff member's use of a venue is audited
    if refusal is None:
        title = str((body.get("message") or {}).get("text") or f"Post {post_id}")
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=modal(post_id, title, channel))
        except (SlackApiError, TimeoutError, aiohttp.ClientError) as exc:
            error = str(exc.response.get("error") or "error") if isinstance(exc, SlackApiError) else "no answer in time"
            log.warning("slack_reject_not_opened", error=error, team_id=turn.workspace_id)
            refusal = ChatMessage(title=NOT_OPENED.format(error=error), private=True)
    await ack()
    if refusal is not None and not body.get("response_url"):
        await tell_privately(client, "", turn.chat_user_id, refusal, what="reject")
    elif refusal is not None:
        await answer(
            str(body.get("response_url") or ""), refusal, within=runtime.settings.cheers_slack_ack_timeout_seconds
        )


def modal(post_id: int, title: str, channel_id: str) -> dict[str, Any]:
    """The modal: which post, and why it is rejected (told to its author)."""
    quoted = title if len(title) <= MAX_CONTEXT else title[: MAX_CONTEXT - 1] + "…"
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _plain("Reject the post"),
        "submit": _plain("Reject"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"post": post_id, "channel": channel_id}),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{escape(quoted)}*\nRejected, it will not be sent; its author is told why.",
                },
            },
            {
                "type": "input",
                "block_id": FIELD,
                "label": _plain("Why is it rejected?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ELEMENT,
                    "multiline": True,
                    "max_length": MAX_REASON,
                    "placeholder": _plain("e.g. the quiz is on Wednesday this week"),
                },
            },
        ],
    }


async def _submit(runtime: Runtime, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    view = body.get("view") or {}
    try:
        data = json.loads(str(view.get("private_metadata") or "{}"))
        post_id, channel = int(data["post"]), str(data.get("channel") or "")
    except (ValueError, KeyError, TypeError):
        log.warning("slack_reject_metadata_unreadable")
        await ack()
        return
    turn = _turn_of(body, channel)
    state = (view.get("state") or {}).get("values") or {}
    reason = str(((state.get(FIELD) or {}).get(ELEMENT) or {}).get("value") or "").strip()
    if not reason:
        await ack(response_action="errors", errors={FIELD: "Say why, so its author can put it right."})
        return
    async with runtime.uow() as uow:
        # handle_offer authorises the submitter again against the post's own venue and rolls back a refusal.
        told = await handle_offer(runtime, uow, turn, offer(Action.reject, post_id=post_id), reason=reason)
        await uow.commit()
    log.info("slack_reject_submitted", post_id=post_id, user=turn.chat_user_id)
    await ack()  # closes the modal
    await tell_privately(client, channel, turn.chat_user_id, told, what="reject")


def _turn_of(body: dict[str, Any], channel: str) -> ChatTurn:
    user = body.get("user") or {}
    team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
    return slack_turn(team, str(user.get("id") or ""), user.get("username") or user.get("name"), channel)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}
