"""A Slack button that asks one question in a modal, then acts as the person who submits it.

Clicking: the clicker is authorised against the venue of the post or delivery the button names (in one short read,
audited); an unlinked person or one without the role is answered privately (at the click's response_url, or in
their DM from the Home tab) and no modal opens. Otherwise views.open is called with the click's trigger_id inside
the request (it works once, for 3 seconds). Submitting: `private_metadata` names the post or delivery but proves
nothing, so the question's `act` authorises the submitter again; whatever it returns is told to them privately.
Used by Reject (bot/slack/reject.py) and Mark published (bot/slack/mark_published.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from dataclasses import field as default_of
from typing import Any, Literal

import aiohttp
import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.messages import ChatMessage
from bot.slack.blocks import button_offer, escape
from bot.slack.later import answer, slack_turn
from bot.slack.privately import tell_privately
from core.chat import people
from core.chat.people import ChatTurn
from core.errors import DomainError
from core.runtime import Runtime
from core.vocabulary import Role

log = structlog.get_logger(__name__)

MAX_CONTEXT = 300  # the clicked message's title quoted in the modal
NOT_OPENED = "Slack didn't open the form ({error}). Press the button again."

# What the question is about: the button's id, the metadata's key, and the title when the message has none.
About = Literal["post", "delivery"]
_KEY: dict[About, str] = {"post": "post", "delivery": "target"}
_FALLBACK: dict[About, str] = {"post": "Post {id}", "delivery": "Delivery {id}"}

# (runtime, ack, the submitter's turn, the post or delivery id, the field's text stripped) -> what to tell them
# privately, or None when it has already answered the submission (an error on the field, a closed modal).
Act = Callable[[Runtime, AsyncAck, ChatTurn, int, str], Awaitable[ChatMessage | None]]


@dataclass(frozen=True)
class ModalQuestion:
    """One button's question: who may click it, the modal's words, and what submitting does."""

    what: str  # in log event names and private messages' logs: "reject", "mark_published"
    action: str  # the button's Action value (its action_id prefix)
    callback_id: str
    about: About
    role: Role  # the clicker's minimum role in the venue
    purpose: str  # the audit's purpose of the clicker's access
    title: str
    submit: str
    intro: str  # under the quoted title
    field: str  # the input block's id; an error is reported on it
    element: str  # the input's action_id
    label: str
    input: dict[str, Any]  # the input element's other keys (placeholder, multiline…)
    act: Act
    optional: bool = False
    hint: str | None = None
    unreadable: Callable[[], dict[str, Any]] = default_of(default=dict)  # the ack's keywords for unreadable metadata


def register(app: AsyncApp, runtime: Runtime, question: ModalQuestion) -> None:
    """Add the button's and the modal's listeners (before the general button listener, which would take the click)."""

    @app.action(re.compile(rf"^{question.action}:[a-z0-9]+$"))
    async def clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await _open(runtime, question, ack, body, action, client)

    @app.view(question.callback_id)
    async def submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await _submit(runtime, question, ack, body, client)


def modal(question: ModalQuestion, about_id: int, title: str, channel_id: str) -> dict[str, Any]:
    """The modal: which post or delivery (the clicked message's title), and the one question."""
    quoted = title if len(title) <= MAX_CONTEXT else title[: MAX_CONTEXT - 1] + "…"
    asked: dict[str, Any] = {"type": "input", "block_id": question.field}
    if question.optional:
        asked["optional"] = True
    asked["label"] = plain(question.label)
    asked["element"] = {"type": "plain_text_input", "action_id": question.element, **question.input}
    if question.hint is not None:
        asked["hint"] = plain(question.hint)
    return {
        "type": "modal",
        "callback_id": question.callback_id,
        "title": plain(question.title),
        "submit": plain(question.submit),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({_KEY[question.about]: about_id, "channel": channel_id}),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(quoted)}*\n{question.intro}"}},
            asked,
        ],
    }


def plain(text: str) -> dict[str, Any]:
    """Slack's plain_text object."""
    return {"type": "plain_text", "text": text}


async def _open(
    runtime: Runtime,
    question: ModalQuestion,
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
) -> None:
    try:
        clicked = button_offer(str(action.get("value") or ""))
        about_id = clicked.post_id if question.about == "post" else clicked.target_id
    except ValueError:
        about_id = None
    if about_id is None:
        log.warning("slack_button_unknown", action_id=action.get("action_id"))
        await ack()
        return
    channel = str((body.get("channel") or {}).get("id") or "")
    turn = _turn_of(body, channel)
    refusal: ChatMessage | None = None
    access_for = people.access_for_post if question.about == "post" else people.access_for_target
    async with runtime.uow() as uow:
        person = await people.find_person(uow.session, turn)
        if not person.linked:
            refusal = render.how_to_link()
        else:
            try:
                await access_for(uow.session, runtime.clock, person, about_id, question.role, purpose=question.purpose)
            except DomainError as exc:
                await uow.rollback()
                refusal = render.refusal(exc)
        await uow.commit()  # a staff member's use of a venue is audited
    if refusal is None:
        title = str((body.get("message") or {}).get("text") or _FALLBACK[question.about].format(id=about_id))
        try:
            view = modal(question, about_id, title, channel)
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        except (SlackApiError, TimeoutError, aiohttp.ClientError) as exc:
            error = str(exc.response.get("error") or "error") if isinstance(exc, SlackApiError) else "no answer in time"
            log.warning(f"slack_{question.what}_not_opened", error=error, team_id=turn.workspace_id)
            refusal = ChatMessage(title=NOT_OPENED.format(error=error), private=True)
    await ack()
    if refusal is not None and not body.get("response_url"):  # clicked on the Home tab: the clicker's DM instead
        await tell_privately(client, "", turn.chat_user_id, refusal, what=question.what)
    elif refusal is not None:
        # Within the request (Slack waits for it): the short timeout, so the ack is never late.
        within = runtime.settings.cheers_slack_ack_timeout_seconds
        await answer(str(body.get("response_url") or ""), refusal, within=within)


async def _submit(
    runtime: Runtime, question: ModalQuestion, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
) -> None:
    view = body.get("view") or {}
    try:
        about_id, channel = _metadata(view, _KEY[question.about])
    except ValueError:
        log.warning(f"slack_{question.what}_metadata_unreadable")
        await ack(**question.unreadable())
        return
    turn = _turn_of(body, channel)
    state = (view.get("state") or {}).get("values") or {}
    text = str(((state.get(question.field) or {}).get(question.element) or {}).get("value") or "").strip()
    told = await question.act(runtime, ack, turn, about_id, text)
    if told is None:
        return
    await ack()  # closes the modal
    await tell_privately(client, channel, turn.chat_user_id, told, what=question.what)


def _metadata(view: dict[str, Any], key: str) -> tuple[int, str]:
    data = json.loads(str(view.get("private_metadata") or "{}"))
    if not isinstance(data, dict) or not isinstance(data.get(key), int):
        raise ValueError("no post or delivery in the form's metadata")
    return data[key], str(data.get("channel") or "")


def _turn_of(body: dict[str, Any], channel: str) -> ChatTurn:
    user = body.get("user") or {}
    team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
    return slack_turn(team, str(user.get("id") or ""), user.get("username") or user.get("name"), channel)
