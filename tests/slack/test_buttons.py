"""A button in an alert clicked in Slack: the request is acked at once and the click is performed from a worker as
the person who CLICKED (a viewer's Retry changes nothing; an editor's sends the post again)."""

from __future__ import annotations

import httpx

from bot.messages import ChatMessage
from bot.slack.blocks import to_slack
from core.notifications.actions import Action, offer
from core.runtime import Runtime
from providers.errors import Permanent
from sandbox.slack.sender import SlackSender
from storage.models import DeliveryStatus, Role
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - a venue whose Facebook publisher is scripted
from tests.bot.support import code_for, link, say, turn
from tests.factories import eventually
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.publishing.support import deliveries, delivery
from tests.sandbox_slack.conftest import SlackTwin
from tests.slack.conftest import EVENTS, install_through_oauth

CHANNEL = "C0GENERAL1"


async def test_retry_clicked_by_a_viewer_is_refused_and_by_an_editor_sends_it_again(
    app: httpx.AsyncClient,
    web: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    installed = await install_through_oauth(app, web, runtime, slack)
    target_id = await _failed(runtime, pub, drain)
    alert = to_slack(ChatMessage(title="A post failed", offers=(offer(Action.retry, target_id=target_id),)))
    posted = await slack.client(installed.token).chat_postMessage(channel=CHANNEL, **alert)
    viewer_user, editor_user = "U0VIEWER01", "U0MANAGER1"  # the twin's people in #general
    await _link_in_slack(app, runtime, sender, pub.id, Role.viewer, viewer_user)
    await _link_in_slack(app, runtime, sender, pub.id, Role.editor, editor_user)

    refused = await _click(app, slack, sender, str(posted["ts"]), viewer_user)
    assert "can't" in refused.lower(), refused
    assert (await delivery(runtime, target_id)).status is DeliveryStatus.failed, "a refused click changed it"

    done = await _click(app, slack, sender, str(posted["ts"]), editor_user)

    assert "Sending to Facebook Page" in done, done
    assert (await delivery(runtime, target_id)).status is not DeliveryStatus.failed


async def _failed(runtime: Runtime, pub: Pub, drain: Drain) -> int:  # noqa: F811
    pub.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
    editor = await factories.person(runtime, venue_id=pub.id, role=Role.editor)
    await link(runtime, editor, turn("U-setup"))
    answer = await say(runtime, turn("U-setup"), 'schedule now "Quiz night"')
    await drain()
    [target] = await deliveries(runtime, int(answer.title.split()[1]))
    assert target.status is DeliveryStatus.failed
    return target.id


async def _link_in_slack(
    app: httpx.AsyncClient, runtime: Runtime, sender: SlackSender, venue_id: int, role: Role, user: str
) -> None:
    person = await factories.person(runtime, venue_id=venue_id, role=role)
    command = await sender.slash_command(f"link {await code_for(runtime, person)}", user_id=user)
    linked = await sender.send(command, f"{app.base_url}{EVENTS}", app)
    assert "Linked" in linked.text, linked.text


async def _click(app: httpx.AsyncClient, slack: SlackTwin, sender: SlackSender, ts: str, user: str) -> str:
    click = await sender.block_action("retry:m", channel_id=CHANNEL, message_ts=ts, user_id=user)
    acked = await sender.send(click, f"{app.base_url}{EVENTS}", app)
    assert acked.status_code == 200 and acked.text == ""

    async def answered() -> list[dict[str, object]] | None:
        return await slack.control.answers(click.response_url_id or "") or None

    answers = await eventually(answered, what="the click's answer at its response_url")
    return str(answers[0]["body"])
