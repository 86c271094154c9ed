"""A package upload Slack holds gives up after CHEERS_SLACK_UPLOAD_TIMEOUT_SECONDS: the clicker gets the private link
and why, instead of a worker waiting on Slack for ever."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from core.runtime import Runtime
from core.settings import Settings
from sandbox.slack.sender import SlackSender
from sandbox.slack.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SIGNING_SECRET
from storage.models import Role
from tests.bot.conftest import Pub, pub  # noqa: F401 - a venue whose Facebook publisher is scripted
from tests.chat_alerts.conftest import destination
from tests.conftest import make_settings
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.sandbox_slack.conftest import SlackTwin
from tests.slack.conftest import TEAM
from tests.slack.test_alert_buttons import (  # noqa: F401 - the installed app and its alert sender
    CHANNEL,
    VIEWER,
    _click,
    _failed,
    _link_in_slack,
    _posted_alert,
    alerts_to_slack,
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, slack: SlackTwin) -> Settings:
    """tests/slack/conftest.py's settings, with an upload that gives up after half a second."""
    return make_settings(
        database_url,
        tmp_path,
        cheers_slack_signing_secret=DEFAULT_SIGNING_SECRET,
        cheers_slack_client_id=DEFAULT_CLIENT_ID,
        cheers_slack_client_secret=DEFAULT_CLIENT_SECRET,
        cheers_slack_api_url=f"{slack.url}/api",
        cheers_slack_oauth_url=slack.url,
        cheers_slack_upload_timeout_seconds=0.5,
    )


@pytest.mark.usefixtures("alerts_to_slack")
async def test_an_upload_slack_holds_gives_up_and_the_clicker_gets_the_private_link(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    await destination(runtime, pub.id, CHANNEL, workspace_id=TEAM)
    await _failed(runtime, pub, drain)
    alert = await _posted_alert(runtime, slack)
    await _link_in_slack(app, runtime, sender, pub.id, Role.viewer, VIEWER, "Vic Viewer")
    await slack.control.delay(5.0, method="files.getUploadURLExternal")

    said = await _click(app, slack, sender, "manual_package:m", alert.ts, VIEWER)

    assert "didn't answer within 0.5 seconds" in said and "/packages/" in said, said
    assert [m for m in slack.state.thread(CHANNEL, alert.ts) if m.files] == []
