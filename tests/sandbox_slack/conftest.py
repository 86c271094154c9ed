"""The Slack twin on loopback, on the test's clock, and slack_sdk clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from core.clock import FrozenClock
from sandbox.clock import TwinClock
from sandbox.slack.sender import SlackSender
from sandbox.slack.twin import DEV_BOT_TOKEN, SlackTwinControl, SlackTwinState, running_slack_twin


@dataclass
class SlackTwin:
    url: str
    control: SlackTwinControl
    state: SlackTwinState
    clock: FrozenClock

    def client(self, token: str = DEV_BOT_TOKEN, **options: Any) -> AsyncWebClient:
        """The real Web API client, as the app builds it (the base URL must end with a slash)."""
        return AsyncWebClient(token=token, base_url=f"{self.url}/api/", **options)


@pytest.fixture
async def slack(clock: FrozenClock) -> AsyncIterator[SlackTwin]:
    """The twin on the test's clock: moving `clock` moves trigger expiry, OAuth codes and pacing."""
    async with running_slack_twin(clock=TwinClock(clock)) as (url, control, state):
        yield SlackTwin(url, control, state, clock)


@pytest.fixture
async def web() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client: what a browser or Slack's own servers would send."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
def sender(slack: SlackTwin) -> SlackSender:
    """Slack calling the app (signed with the twin's default signing secret, on real time)."""
    return SlackSender(slack.control)
