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
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.commands import CommandUnclear, Diagnose, Package, Retry, RunJob, parse_command
from bot.dispatch import handle_offer, handle_turn
from bot.messages import ChatMessage
from bot.slack.blocks import button_offer, to_slack
from bot.slack.files import bot_token, share_package
from core.chat.people import ChatTurn
from core.notifications.actions import Action
from core.runtime import Runtime
from core.vocabulary import ChatPlatform

log = structlog.get_logger(__name__)

TURN_TASK = "slack-turn"
# Commands that call a provider, build a package or run a job: answered from a worker, never inside the ack.
SLOW = (Retry, Diagnose, Package, RunJob)


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
    # The clicked message's ts when it is a real message in the channel (not an ephemeral): Manual package puts the
    # zip in its thread.
    message_ts: str | None = None

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
    offer = button_offer(later.button) if later.button is not None else None
    if offer is not None and offer.action is Action.manual_package and later.message_ts and offer.target_id:
        message = await share_package(runtime, later.turn(), offer.target_id, later.message_ts)
        await answer(later.response_url, message, within=runtime.settings.cheers_slack_timeout_seconds)
        return message
    async with runtime.uow() as uow:
        if offer is not None:
            message = await handle_offer(runtime, uow, later.turn(), offer)
        else:
            message = await handle_turn(runtime, uow, later.turn(), later.text)
        await uow.commit()
    if not later.response_url:  # a click on the Home tab: Slack gives no response_url there
        await answer_in_dm(runtime, later.team_id, later.user_id, message)
        return message
    await answer(later.response_url, message, within=runtime.settings.cheers_slack_timeout_seconds)
    return message


async def answer_in_dm(runtime: Runtime, team_id: str, user_id: str, message: ChatMessage) -> bool:
    """Post `message` in the person's own DM with the app (chat.postMessage to their user id); False when not sent."""
    settings = runtime.settings
    async with runtime.uow() as uow:
        token = await bot_token(runtime, uow, team_id)
    if token is None:
        log.warning("slack_dm_answer_not_sent", reason="not installed", team_id=team_id)
        return False
    within = settings.cheers_slack_timeout_seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session:
        client = AsyncWebClient(
            token=token, base_url=settings.slack_api_base, session=session, timeout=int(within) or 1
        )
        try:
            await client.chat_postMessage(channel=user_id, unfurl_links=False, **to_slack(message))
        except SlackApiError as exc:
            log.warning("slack_dm_answer_not_sent", reason=exc.response.get("error"), team_id=team_id)
            return False
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("slack_dm_answer_not_sent", reason=exc.__class__.__name__, team_id=team_id)
            return False
    return True


async def answer(response_url: str, message: ChatMessage, *, within: float) -> bool:
    """Post `message` privately to a response_url; False (logged) when Slack refused it or did not answer in time."""
    # One short-lived session per answer, its timeout on the session (slack_sdk's applies only to sessions it makes).
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session:
        hook = AsyncWebhookClient(response_url, session=session, timeout=int(within) or 1)
        try:
            sent = await hook.send_dict(ephemeral(message))
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Whatever the turn did is committed; only the answer is lost.
            log.warning("slack_response_url_unanswered", error=exc.__class__.__name__)
            return False
    if sent.status_code != 200:
        # The turn's work is committed; only the answer is lost (the response_url expired or was used 5 times).
        log.warning("slack_response_url_refused", status=sent.status_code)
        return False
    return True
