"""Bolt in Litestar: `POST /slack/events` (slash commands, interactivity and events on one Request URL).

Bolt ships no Litestar adapter; this is the thin one its Starlette adapter is modelled on: the raw body bytes (the
signature is over them), every header and the query go into an AsyncBoltRequest, and the AsyncBoltResponse comes
back as status, body and headers. The one SlackFront (bolt app + aiohttp session) lives in the app's state.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, post
from litestar.datastructures import State
from slack_bolt.async_app import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.app import SlackFront
from core.runtime import Runtime

STATE_KEY = "slack_front"
NOT_CONFIGURED = "Slack is not set up on this CheersAI: set CHEERS_SLACK_SIGNING_SECRET (docs/slack.md)."


def to_bolt_request(request: Request[Any, Any, Any], body: bytes) -> AsyncBoltRequest:
    """The request as bolt reads it: body text exactly as signed, headers (every value), the raw query."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.multi_items():
        headers.setdefault(name.lower(), []).append(value)
    return AsyncBoltRequest(
        body=body.decode("utf-8"),
        query=request.url.query or None,
        headers=headers,  # type: ignore[arg-type]
    )


def to_response(answer: BoltResponse) -> Response[str]:
    """Bolt's answer as a Litestar response (no cookies: the Request URL sets none)."""
    headers = {k: v for k, v in answer.first_headers_without_set_cookie().items() if k.lower() != "content-length"}
    return Response(content=answer.body, status_code=answer.status, headers=headers)


def front_of(state: State, runtime: Runtime) -> SlackFront:
    """The process's one SlackFront (built at the first Slack request)."""
    front: SlackFront | None = state.get(STATE_KEY)
    if front is None or front.runtime is not runtime:
        front = SlackFront(runtime)
        state[STATE_KEY] = front
    return front


async def close_front(app: Litestar) -> None:
    """On shutdown: close the Slack client's session."""
    front: SlackFront | None = app.state.get(STATE_KEY)
    if front is not None:
        await front.close()


@post(
    "/slack/events",
    tags=["slack"],
    summary="Slack's Request URL: slash commands, buttons and events, signed by Slack",
    status_code=200,
    include_in_schema=False,
)
async def slack_events(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    if not runtime.settings.cheers_slack_signing_secret:
        # Without a secret any signature would "verify" against the empty key: refuse everything instead.
        return Response(content=NOT_CONFIGURED, status_code=503)
    body = await request.body()
    front = front_of(request.app.state, runtime)
    return to_response(await front.app.async_dispatch(to_bolt_request(request, body)))
