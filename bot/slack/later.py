"""Slack work that may take longer than the 3 seconds Slack waits: done by a taskiq task, answered at response_url.

The Request URL only authorises, writes what it must in one short transaction and enqueues `slack-turn` once that
has committed; the worker runs the same chat turn (bot.dispatch.handle_turn) in its own transaction and posts the
answer to the response_url Slack gave (valid 30 minutes, 5 answers). Nothing is left running in the web process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import structlog
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.commands import CommandUnclear, Diagnose, Package, Retry, RunJob, parse_command
from bot.dispatch import handle_offer, handle_turn
from bot.messages import ChatMessage
from bot.slack.blocks import button_offer, to_slack
from core.chat.people import ChatTurn
from core.runtime import Runtime
from storage.enums import ChatPlatform

log = structlog.get_logger(__name__)

TURN_TASK = "slack-turn"
# Commands that call a provider, build a package or run a job: answered from a worker, never inside the ack.
SLOW = (Retry, Diagnose, Package, RunJob)
RESPONSE_TIMEOUT_SECONDS = 10


def is_slow(text: str) -> bool:
    """Whether `/cheers text` is answered later from a worker (unclear input is answered at once)."""
    try:
        return isinstance(parse_command(text), SLOW)
    except CommandUnclear:
        return False


@dataclass(frozen=True)
class LaterTurn:
    """A chat turn to run in a worker: who typed (or clicked) what, where, and where to answer."""

    team_id: str
    user_id: str
    user_name: str | None
    channel_id: str
    text: str  # what was typed after /cheers ("" for a click)
    response_url: str
    button: str | None = None  # a clicked button's value ("retry t=17"), read back by bot.slack.blocks.button_offer

    def turn(self) -> ChatTurn:
        return slack_turn(self.team_id, self.user_id, self.user_name, self.channel_id)

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)


def slack_turn(team_id: str, user_id: str, user_name: str | None, channel_id: str) -> ChatTurn:
    """The chat turn of a Slack user in a channel (a channel id starting with D is a direct message)."""
    return ChatTurn(
        platform=ChatPlatform.slack,
        workspace_id=team_id,
        chat_user_id=user_id,
        display_name=user_name,
        chat_id=channel_id,
        is_direct_message=channel_id.startswith("D"),
    )


def ephemeral(message: ChatMessage) -> dict[str, Any]:
    """A chat message as an answer only the person who typed or clicked sees."""
    return {**to_slack(message), "response_type": "ephemeral", "replace_original": False}


async def run_later(runtime: Runtime, later: LaterTurn) -> ChatMessage:
    """The worker's half: run the turn (or the click, as the clicker) in one transaction, commit, then post the
    answer to the response_url."""
    async with runtime.uow() as uow:
        if later.button is not None:
            message = await handle_offer(runtime, uow, later.turn(), button_offer(later.button))
        else:
            message = await handle_turn(runtime, uow, later.turn(), later.text)
        await uow.commit()
    # One short-lived session per answer: a worker answers a few of these, and closes it before returning.
    async with aiohttp.ClientSession() as session:
        hook = AsyncWebhookClient(later.response_url, session=session, timeout=RESPONSE_TIMEOUT_SECONDS)
        answer = await hook.send_dict(ephemeral(message))
    if answer.status_code != 200:
        # The turn's work is committed; only the answer is lost (the response_url expired or was used 5 times).
        log.warning("slack_response_url_refused", status=answer.status_code, team_id=later.team_id)
    return message
