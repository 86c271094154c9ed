"""Telling one person something in Slack: an ephemeral in the chat they acted in, else a direct message."""

from __future__ import annotations

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import ChatMessage
from bot.slack.blocks import to_slack

log = structlog.get_logger(__name__)


async def tell_privately(client: AsyncWebClient, channel: str, user: str, message: ChatMessage, *, what: str) -> None:
    """Show `message` to `user` only; a refusal or a lost answer is logged (`what` names it), never raised.

    The change it confirms is saved either way, and the chat shows it elsewhere (an alert's edit, `week`).
    """
    body = to_slack(message)
    if channel:
        try:
            await client.chat_postEphemeral(channel=channel, user=user, **body)
            return
        except SlackApiError as exc:  # not in that channel, or a DM the app can't post in: try a DM
            log.info("slack_ephemeral_refused", what=what, error=exc.response.get("error"))
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("slack_confirmation_lost", what=what, error=exc.__class__.__name__)
            return
    try:
        await client.chat_postMessage(channel=user, unfurl_links=False, unfurl_media=False, **body)
    except (SlackApiError, TimeoutError, aiohttp.ClientError) as exc:
        log.warning("slack_confirmation_lost", what=what, error=exc.__class__.__name__)
