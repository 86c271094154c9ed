"""Sends alerts to Slack (core.chat.sending.ChatSender): chat.postMessage and chat.update through slack_sdk's
AsyncWebClient on one aiohttp session per process, Slack's answers mapped onto core's typed send errors."""

from __future__ import annotations

from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import ChatMessage, Item
from bot.slack.blocks import to_slack
from core.chat.sending import (
    AlertMessage,
    AnswerLost,
    ChatAddress,
    ChatSender,
    Gone,
    MessageGone,
    RateLimited,
    SendError,
    Transient,
)
from core.runtime import Runtime
from core.vocabulary import ChatPlatform

log = structlog.get_logger(__name__)

TIMEOUT_SECONDS = 10
CHAT_GONE = frozenset({"channel_not_found", "is_archived", "not_in_channel", "channel_is_archived", "user_not_found"})
INSTALL_GONE = frozenset(
    {"invalid_auth", "token_revoked", "account_inactive", "not_authed", "token_expired", "team_access_not_granted"}
)
MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message"})
# Refused before anything was posted: sending again later can work.
PASSING = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})


class SlackSender:
    """Posts and edits alert messages; `default_token` is CHEERS_SLACK_BOT_TOKEN (single-workspace mode)."""

    def __init__(self, api_url: str, *, default_token: str = "", timeout: float = TIMEOUT_SECONDS) -> None:
        self.base_url = api_url if api_url.endswith("/") else api_url + "/"  # slack_sdk joins paths onto it
        self.default_token = default_token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self, address: ChatAddress) -> AsyncWebClient:
        token = address.token or self.default_token
        if not token:
            raise Gone(
                f"no Slack bot token for workspace {address.workspace_id}: the app is not installed", install=True
            )
        if self._session is None or self._session.closed:
            # The timeout belongs on the session: slack_sdk's own `timeout` only applies to sessions it creates, so
            # without it a Slack that holds its answer would hold this worker forever.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        # No retry handlers: a connection retried by the client could post an alert twice.
        return AsyncWebClient(
            token=token,
            base_url=self.base_url,
            session=self._session,
            timeout=int(self.timeout) or 1,
            retry_handlers=[],
        )

    async def post(self, address: ChatAddress, message: AlertMessage) -> str:
        body = render(message)
        answer = await self._call(
            "chat.postMessage",
            address,
            dict(channel=address.chat_id, unfurl_links=False, unfurl_media=False, **body),
            applied_if_lost=True,
        )
        return str(answer["ts"])

    async def update(self, address: ChatAddress, ref: str, message: AlertMessage) -> None:
        body = render(message)
        await self._call("chat.update", address, dict(channel=address.chat_id, ts=ref, **body), applied_if_lost=False)

    async def _call(
        self, method: str, address: ChatAddress, payload: dict[str, Any], *, applied_if_lost: bool
    ) -> dict[str, Any]:
        client = self._client(address)
        lost: type[SendError] = AnswerLost if applied_if_lost else Transient
        try:
            response = await client.api_call(method, json=payload)
        except SlackApiError as exc:
            raise _mapped(exc, lost) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise lost(f"Slack did not answer {method} in {self.timeout} s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise Transient(f"could not reach Slack: {exc}") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise lost(f"Slack's answer to {method} was lost: {exc}") from exc
        data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
        return data

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _mapped(exc: SlackApiError, lost: type[SendError]) -> SendError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or "")
    if status == 429 or code == "ratelimited":
        headers = getattr(response, "headers", {}) or {}
        retry_after = headers.get("Retry-After") or headers.get("retry-after") or "1"
        try:
            wait = float(retry_after)
        except ValueError:
            wait = 1.0
        return RateLimited(f"Slack rate limit ({code or status})", retry_after=wait)
    if code in MESSAGE_GONE:
        return MessageGone(f"Slack says {code}: the message was deleted")
    if code in CHAT_GONE:
        return Gone(f"Slack says {code}: the channel is gone or the bot is not in it")
    if code in INSTALL_GONE:
        return Gone(f"Slack says {code}: the app's access to this workspace is gone", install=True)
    if status >= 500:
        return lost(f"Slack answered HTTP {status}")
    if code in PASSING:
        return Transient(f"Slack says {code}")
    return Transient(f"Slack refused it: {code or status}")


def render(message: AlertMessage) -> dict[str, Any]:
    """The alert as Block Kit (bot.slack.blocks), through the chat-neutral message every renderer reads."""
    chat = ChatMessage(
        title=message.title,
        lines=message.lines,
        items=tuple(Item(i.text, i.offers) for i in message.items),
        offers=message.offers,
    )
    return to_slack(chat)


def install_slack_sender(runtime: Runtime) -> ChatSender:
    """The process's Slack sender on the runtime, built once (one HTTP session); one already there (a test's) stays."""
    existing = runtime.chat_senders.get(ChatPlatform.slack)
    if existing is not None:
        return existing
    settings = runtime.settings
    sender = SlackSender(
        settings.slack_api_base,
        default_token=settings.cheers_slack_bot_token,
        timeout=settings.cheers_slack_timeout_seconds,
    )
    runtime.chat_senders[ChatPlatform.slack] = sender
    return sender
