"""Buttons on a real alert in a Slack channel (posted by the alert delivery to the twin): Manual package puts the zip in
the alert's thread (or, when Slack refuses the upload, the private link with why); Mark published asks for the
post's link in a modal, marks it as the person who submitted and the alert is edited to say it is resolved."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx
import pytest

from bot.slack.sender import SlackSender as AlertSender
from core.chat import delivery
from core.clock import FrozenClock
from core.notifications.kinds import NotificationKind, offers_for
from core.runtime import Runtime
from providers.errors import Permanent
from sandbox.slack.model import Message
from sandbox.slack.sender import SlackRequest, SlackSender
from storage.enums import ChatPlatform, Severity
from storage.models import DeliveryStatus, Role
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - a venue whose Facebook publisher is scripted
from tests.bot.support import code_for, link, say, turn
from tests.chat_alerts.conftest import destination
from tests.factories import eventually
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.publishing.support import deliveries
from tests.publishing.support import delivery as delivery_row
from tests.sandbox_slack.conftest import SlackTwin
from tests.slack.conftest import EVENTS, TEAM, install_through_oauth

CHANNEL = "C0GENERAL1"
EDITOR, VIEWER = "U0MANAGER1", "U0VIEWER01"  # the twin's people, both in #general


@pytest.fixture
async def alerts_to_slack(
    app: httpx.AsyncClient,
    web: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    pub: Pub,  # noqa: F811
) -> None:
    """The app installed in the twin's workspace, #general subscribed to The Red Lion's alerts, the Slack sender on."""
    await install_through_oauth(app, web, runtime, slack)
    runtime.chat_senders[ChatPlatform.slack] = AlertSender(runtime.settings.slack_api_base)


async def _failed(runtime: Runtime, pub: Pub, drain: Drain) -> int:  # noqa: F811
    pub.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
    editor = await factories.person(runtime, venue_id=pub.id, role=Role.editor)
    await link(runtime, editor, turn("U-setup"))
    answer = await say(runtime, turn("U-setup"), 'schedule now "Quiz night"')
    await drain()
    [target] = await deliveries(runtime, int(answer.title.split()[1]))
    assert target.status is DeliveryStatus.failed
    return target.id


async def _posted_alert(runtime: Runtime, slack: SlackTwin) -> Message:
    """The alert the delivery posted in #general (a pass is run here; the woken task may have been first)."""
    await delivery.run(runtime)

    async def posted() -> Message | None:
        return next((m for m in slack.state.channel_messages(CHANNEL) if m.thread_ts is None and m.blocks), None)

    return await eventually(posted, what="the alert in #general")


async def _link_in_slack(
    app: httpx.AsyncClient, runtime: Runtime, sender: SlackSender, venue_id: int, role: Role, user: str, name: str
) -> None:
    person = await factories.person(runtime, venue_id=venue_id, role=role, name=name)
    command = await sender.slash_command(f"link {await code_for(runtime, person)}", user_id=user)
    linked = await sender.send(command, f"{app.base_url}{EVENTS}", app)
    assert "Linked" in linked.text, linked.text


async def _send(app: httpx.AsyncClient, sender: SlackSender, request: SlackRequest) -> httpx.Response:
    return await sender.send(request, f"{app.base_url}{EVENTS}", app)


async def _click(
    app: httpx.AsyncClient, slack: SlackTwin, sender: SlackSender, action_id: str, ts: str, user: str
) -> str:
    """Click a button of the alert; what the clicker was told privately (at the click's response_url)."""
    click = await sender.block_action(action_id, channel_id=CHANNEL, message_ts=ts, user_id=user)
    acked = await _send(app, sender, click)
    assert acked.status_code == 200 and acked.text == "", acked.text

    async def answered() -> list[dict[str, Any]] | None:
        return await slack.control.answers(click.response_url_id or "") or None

    answers = await eventually(answered, what="the click's answer at its response_url")
    return str(answers[0]["body"])


# --- Manual package -------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("alerts_to_slack")
async def test_manual_package_clicked_by_a_viewer_puts_the_zip_in_the_alerts_thread(
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

    said = await _click(app, slack, sender, "manual_package:m", alert.ts, VIEWER)

    assert "in the alert's thread" in said, said
    [shared] = [m for m in slack.state.thread(CHANNEL, alert.ts) if m.files]
    assert "Manual package for post" in shared.text and "on Facebook Page" in shared.text, shared.text
    assert '"Quiz night"' in shared.text and "Asked for by Vic Viewer" in shared.text, shared.text  # her CheersAI name
    [file_id] = shared.files
    archive = zipfile.ZipFile(io.BytesIO(slack.state.file_content(file_id)))
    assert "STEPS.txt" in archive.namelist() and "caption.txt" in archive.namelist()
    assert "Quiz night" in archive.read("caption.txt").decode()


@pytest.mark.usefixtures("alerts_to_slack")
async def test_a_refused_upload_gives_the_clicker_the_private_link_and_says_why(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    await destination(runtime, pub.id, CHANNEL, workspace_id=TEAM)
    target_id = await _failed(runtime, pub, drain)
    alert = await _posted_alert(runtime, slack)
    await _link_in_slack(app, runtime, sender, pub.id, Role.viewer, VIEWER, "Vic Viewer")
    await slack.control.server_error(method="files.completeUploadExternal", status=500)

    said = await _click(app, slack, sender, "manual_package:m", alert.ts, VIEWER)

    assert "couldn't put it in the alert's thread" in said and "HTTP 500" not in said, said
    assert "/packages/" in said and f"delivery {target_id}" in said, said
    assert [m for m in slack.state.thread(CHANNEL, alert.ts) if m.files] == []


# --- Mark published -------------------------------------------------------------------------------------------


async def _needs_a_decision(runtime: Runtime, slack: SlackTwin, pub: Pub, drain: Drain) -> tuple[int, Message]:  # noqa: F811
    """A delivery a person must decide about, and its alert in #general with Mark published / Publish again."""
    await destination(runtime, pub.id, CHANNEL, workspace_id=TEAM, kinds=["publish_needs_attention"])
    target_id = await _failed(runtime, pub, drain)
    kind = NotificationKind.publish_needs_attention
    await factories.record_notification(
        runtime, pub.id, kind=kind, severity=Severity.error,
        title="Did Quiz night go out on Facebook Page The Red Lion?",
        subject={"target_id": target_id, "connection_id": pub.connection_id},
        payload={"reason": "CheersAI can't tell whether it went out.", "remedy": "Look, then say which it is."},
        actions=offers_for(kind, target_id=target_id),
    )  # fmt: skip
    return target_id, await _posted_alert(runtime, slack)


@pytest.mark.usefixtures("alerts_to_slack")
async def test_mark_published_asks_for_the_link_in_a_modal_and_the_alert_is_resolved(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
    clock: FrozenClock,
) -> None:
    target_id, alert = await _needs_a_decision(runtime, slack, pub, drain)
    await _link_in_slack(app, runtime, sender, pub.id, Role.editor, EDITOR, "Mo Manager")

    click = await sender.block_action("mark_published:m", channel_id=CHANNEL, message_ts=alert.ts, user_id=EDITOR)
    acked = await _send(app, sender, click)
    assert acked.status_code == 200 and acked.text == "", acked.text
    [opened] = await slack.control.views(user=EDITOR, type="modal")
    assert "Did Quiz night go out" in str(opened["view"]["blocks"])

    wrong = await _send(
        app, sender, await sender.view_submission(opened["id"], {"permalink": {"mark_permalink": "facebook post"}})
    )
    assert wrong.json()["response_action"] == "errors" and "https://" in wrong.json()["errors"]["permalink"]
    assert (await delivery_row(runtime, target_id)).status is DeliveryStatus.failed, "a refused link marked it"

    link_given = "https://www.facebook.com/redlion/posts/1"
    done = await _send(
        app, sender, await sender.view_submission(opened["id"], {"permalink": {"mark_permalink": link_given}})
    )
    assert done.status_code == 200 and done.text == "", done.text  # the modal closes

    row = await delivery_row(runtime, target_id)
    assert row.status is DeliveryStatus.published and row.permalink == link_given
    [confirmation] = slack.state.ephemerals(EDITOR, CHANNEL)
    assert "Marked as published" in confirmation.text, confirmation.text

    clock.advance(seconds=2)  # past #general's pacing (one message a second), on the frozen clock

    async def resolved() -> Message | None:
        now = next(m for m in slack.state.channel_messages(CHANNEL) if m.ts == alert.ts)
        return now if now.text.startswith("Resolved") else None

    edited = await eventually(resolved, what="the alert edited to resolved (the resolution pass, woken)")
    assert "Resolved by Mo Manager" in str(edited.blocks), edited.blocks
    assert not any(b["type"] == "actions" for b in edited.blocks or []), "its buttons should be gone"


@pytest.mark.usefixtures("alerts_to_slack")
async def test_mark_published_clicked_by_a_viewer_is_refused_privately_without_a_modal(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    target_id, alert = await _needs_a_decision(runtime, slack, pub, drain)
    await _link_in_slack(app, runtime, sender, pub.id, Role.viewer, VIEWER, "Vic Viewer")

    said = await _click(app, slack, sender, "mark_published:m", alert.ts, VIEWER)

    assert "can't" in said.lower(), said
    assert await slack.control.views(user=VIEWER, type="modal") == []
    assert (await delivery_row(runtime, target_id)).status is DeliveryStatus.failed


@pytest.mark.usefixtures("alerts_to_slack")
async def test_a_modal_slack_is_slow_to_open_is_answered_before_slacks_three_seconds_run_out(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    target_id, alert = await _needs_a_decision(runtime, slack, pub, drain)
    await _link_in_slack(app, runtime, sender, pub.id, Role.editor, EDITOR, "Mo Manager")
    await slack.control.delay(5.0, method="views.open")  # past CHEERS_SLACK_ACK_TIMEOUT_SECONDS (2 s)

    said = await _click(app, slack, sender, "mark_published:m", alert.ts, EDITOR)

    assert "didn't open the form" in said and "no answer in time" in said, said
    assert (await delivery_row(runtime, target_id)).status is DeliveryStatus.failed


@pytest.mark.usefixtures("alerts_to_slack")
async def test_manual_package_on_an_alert_in_a_persons_own_dm_goes_into_that_thread(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    viewer = await factories.person(runtime, venue_id=pub.id, role=Role.viewer, name="Vic Viewer")
    linked = await _send(
        app, sender, await sender.slash_command(f"link {await code_for(runtime, viewer)}", user_id=VIEWER)
    )
    assert "Linked" in linked.text, linked.text
    await destination(runtime, pub.id, VIEWER, user_id=viewer.user_id, workspace_id=TEAM)  # as `alerts me` leaves it
    await _failed(runtime, pub, drain)
    await delivery.run(runtime)

    async def in_dm() -> tuple[str, Message] | None:
        dm = slack.state.dm_channel(VIEWER)
        posted = slack.state.channel_messages(dm) if dm else []
        return (dm, posted[0]) if dm and posted else None

    dm, alert = await eventually(in_dm, what="the alert in vic's DM")

    click = await sender.block_action("manual_package:m", channel_id=dm, message_ts=alert.ts, user_id=VIEWER)
    assert (await _send(app, sender, click)).status_code == 200

    async def shared() -> list[Message] | None:
        return [m for m in slack.state.thread(dm, alert.ts) if m.files] or None

    [reply] = await eventually(shared, what="the zip in the DM alert's thread")
    assert "Manual package for post" in reply.text
