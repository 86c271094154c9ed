"""The app's Slack front door against the Slack twin: settings pointing at the twin, the app over ASGI, Slack's
signed requests (sandbox.slack.sender), and a venue admin who installs the app through OAuth v2."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from core.runtime import Runtime
from core.settings import Settings
from sandbox.slack.sender import SlackSender
from sandbox.slack.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SIGNING_SECRET
from storage.models import ChatInstall, Role
from tests import factories
from tests.conftest import make_settings
from tests.sandbox_slack.conftest import SlackTwin, slack, web  # noqa: F401 - the twin's fixtures

TEAM = "T0SANDBOX1"  # the twin's default workspace
EVENTS = "/slack/events"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, slack: SlackTwin) -> Settings:  # noqa: F811 - the twin fixture
    """The app as a Slack app registered at the twin (its client id, secrets and URLs)."""
    return make_settings(
        database_url,
        tmp_path,
        cheers_slack_signing_secret=DEFAULT_SIGNING_SECRET,
        cheers_slack_client_id=DEFAULT_CLIENT_ID,
        cheers_slack_client_secret=DEFAULT_CLIENT_SECRET,
        cheers_slack_api_url=f"{slack.url}/api",  # no trailing slash: the app must add it
        cheers_slack_oauth_url=slack.url,
    )


@pytest.fixture
def sender(slack: SlackTwin) -> SlackSender:  # noqa: F811
    """Slack calling the app, signed with the app's signing secret on real time (as bolt checks it)."""
    return SlackSender(slack.control)


@pytest.fixture
async def app(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with factories.app_client(runtime) as client:
        yield client


@dataclass
class Installed:
    venue_id: int
    admin: factories.Person
    browser: factories.Browser
    token: str  # the bot token Slack issued (read back from our store only to check it)


async def install_through_oauth(
    app: httpx.AsyncClient,
    outside: httpx.AsyncClient,
    runtime: Runtime,
    twin: SlackTwin,
) -> Installed:
    """A venue admin clicks Add to Slack, allows it at the twin, and lands back on the app."""
    venue_id = await factories.venue(runtime, name="The Red Lion")
    admin = await factories.person(runtime, venue_id=venue_id, role=Role.admin, name="Alex Admin")
    browser = await factories.login(app, runtime, admin)
    started = await app.get(f"/slack/install?account={venue_id}", headers=browser.cookie)
    assert started.status_code == 302, started.text
    install_cookie = factories.set_cookies(started)["cheers_slack_install"]["cheers_slack_install"].value
    await twin.control.consent(auto_approve=True)
    allowed = await outside.get(started.headers["location"])
    assert allowed.status_code == 302, allowed.text
    back = urlsplit(allowed.headers["location"])
    landed = await app.get(
        f"{back.path}?{back.query}",
        headers={"Cookie": f"{browser.cookie['Cookie']}; cheers_slack_install={install_cookie}"},
    )
    assert landed.status_code == 200, landed.text
    assert parse_qs(back.query)["code"]
    return Installed(venue_id, admin, browser, await stored_token(runtime))


async def install_row(runtime: Runtime, team_id: str = TEAM) -> ChatInstall | None:
    async with runtime.uow() as uow:
        return (
            await uow.session.execute(select(ChatInstall).where(ChatInstall.workspace_id == team_id))
        ).scalar_one_or_none()


async def stored_token(runtime: Runtime, team_id: str = TEAM) -> str:
    row = await install_row(runtime, team_id)
    assert row is not None and row.bot_token_ciphertext is not None
    return runtime.cipher().decrypt(row.bot_token_ciphertext)
