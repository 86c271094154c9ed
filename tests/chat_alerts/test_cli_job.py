"""`cheers jobs run chat-alerts` sends from the operator's shell: single-workspace mode (CHEERS_SLACK_BOT_TOKEN)
against the Slack twin, the alert in the channel, and its run recorded like any periodic job's."""

from __future__ import annotations

from pathlib import Path

from core.notifications.kinds import NotificationKind, offers_for
from core.runtime import Runtime
from core.settings import Settings
from sandbox.slack.state import DEV_BOT_TOKEN
from storage.enums import ConnectionStatus, Severity
from tests import factories
from tests.chat_alerts.conftest import destination
from tests.sandbox_slack.conftest import SlackTwin, slack  # noqa: F401 - the twin fixture
from tests.test_cli import acheers, as_json

ALERTS, TEAM = "C0ALERTS01", "T0SANDBOX1"


async def test_jobs_run_chat_alerts_posts_the_alert_in_the_channel(
    settings: Settings,
    runtime: Runtime,
    slack: SlackTwin,  # noqa: F811
    tmp_path: Path,
) -> None:
    venue_id = await factories.venue(runtime, name="The Anchor")
    await destination(runtime, venue_id, ALERTS, workspace_id=TEAM)
    page = await factories.connection(runtime, venue_id, access_token="tok", status=ConnectionStatus.needs_reconnect)
    await factories.record_notification(
        runtime, venue_id, kind=NotificationKind.connection_needs_reconnect, severity=Severity.error,
        title="The Anchor's Page needs reconnecting", subject={"connection_id": page},
        actions=offers_for(NotificationKind.connection_needs_reconnect, connection_id=page),
    )  # fmt: skip

    result = await acheers(
        settings, "--json", "jobs", "run", "chat-alerts", cwd=tmp_path,
        CHEERS_SLACK_API_URL=f"{slack.url}/api", CHEERS_SLACK_BOT_TOKEN=DEV_BOT_TOKEN,
    )  # fmt: skip

    assert as_json(result)["result"]["posted"] == 1
    (posted,) = slack.state.channel_messages(ALERTS)
    assert posted.text == "The Anchor's Page needs reconnecting"
    assert any(b["type"] == "actions" for b in posted.blocks or [])
