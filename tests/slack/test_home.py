"""The App Home tab: the person who opens it sees this week's posts in each of their venues and the open problems,
with the same buttons as alerts (clicked there, performed as the clicker); an unlinked person sees how to link."""

from __future__ import annotations

from typing import Any

import httpx

from core.runtime import Runtime
from providers.errors import Permanent
from sandbox.slack.sender import SlackSender
from storage.models import ConnectionStatus, DeliveryStatus, Role
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - a venue whose Facebook publisher is scripted
from tests.bot.support import code_for, link, say, turn
from tests.factories import eventually
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.publishing.support import deliveries, delivery
from tests.sandbox_slack.conftest import SlackTwin
from tests.slack.conftest import EVENTS, install_through_oauth
from tests.slack.test_buttons import _link_in_slack

EDITOR = "U0MANAGER1"  # the twin's people
VIEWER = "U0VIEWER01"


async def _open_home(app: httpx.AsyncClient, slack: SlackTwin, sender: SlackSender, user: str) -> dict[str, Any]:
    answer = await sender.send(await sender.app_home_opened(user), f"{app.base_url}{EVENTS}", app)
    assert answer.status_code == 200, answer.text
    *_, home = await slack.control.views(user=user, type="home")
    return home


def _buttons(home: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = home.get("blocks") or home["view"]["blocks"]
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def _failed(runtime: Runtime, pub: Pub, drain: Drain) -> tuple[int, int]:  # noqa: F811
    """A post this week whose Facebook delivery failed: (post id, delivery id)."""
    pub.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
    editor = await factories.person(runtime, venue_id=pub.id, role=Role.editor)
    await link(runtime, editor, turn("U-setup"))
    answer = await say(runtime, turn("U-setup"), 'schedule now "Quiz night"')
    await drain()
    post_id = int(answer.title.split()[1])
    [target] = await deliveries(runtime, post_id)
    assert target.status is DeliveryStatus.failed
    return post_id, target.id


async def test_an_editor_sees_the_weeks_posts_and_the_failed_delivery_and_retries_it_from_home(
    app: httpx.AsyncClient,
    web: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    await install_through_oauth(app, web, runtime, slack)
    post_id, target_id = await _failed(runtime, pub, drain)
    await _link_in_slack(app, runtime, sender, pub.id, Role.editor, EDITOR)

    home = await _open_home(app, slack, sender, EDITOR)

    text = str(home)
    assert f"Post {post_id}" in text and "Quiz night" in text, text
    assert "1 problem to fix" in text and "bad link" in text, text
    [retry] = [b for b in _buttons(home) if b["value"] == f"retry t={target_id}"][:1]
    assert retry["text"]["text"] == "Retry"

    click = await sender.view_block_action(home["id"], retry["action_id"], user_id=EDITOR)
    acked = await sender.send(click, f"{app.base_url}{EVENTS}", app)
    assert acked.status_code == 200 and acked.text == ""

    async def answered() -> list[dict[str, Any]] | None:
        dm = slack.state.dm_channel(EDITOR)
        return (await slack.control.messages(dm) or None) if dm else None

    [said] = await eventually(answered, what="the click's answer in the clicker's DM with the app")
    assert "Sending to Facebook Page" in str(said), said
    assert (await delivery(runtime, target_id)).status is not DeliveryStatus.failed


async def test_an_unlinked_person_is_told_how_to_link_on_home(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    await install_through_oauth(app, web, runtime, slack)

    home = await _open_home(app, slack, sender, VIEWER)

    assert "Link your chat account to CheersAI first" in str(home) and "link CODE" in str(home)
    assert not _buttons(home)


async def test_a_person_in_two_venues_sees_both_on_home(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    installed = await install_through_oauth(app, web, runtime, slack)
    crown = await factories.venue(runtime, name="The Crown")
    person = await factories.person(runtime, venue_id=installed.venue_id, role=Role.editor)
    await factories.join(runtime, person, crown, Role.viewer)
    command = await sender.slash_command(f"link {await code_for(runtime, person)}", user_id=EDITOR)
    assert "Linked" in (await sender.send(command, f"{app.base_url}{EVENTS}", app)).text

    home = await _open_home(app, slack, sender, EDITOR)

    text = str(home)
    assert "This week at The Red Lion" in text and "This week at The Crown" in text, text
    assert "Nothing needs you right now" in text


async def test_a_viewer_typing_reconnect_is_told_who_can_by_name(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    installed = await install_through_oauth(app, web, runtime, slack)  # its admin is Alex Admin
    await factories.person(runtime, venue_id=installed.venue_id, role=Role.owner, name="Sam Owner")
    await factories.person(runtime, venue_id=installed.venue_id, role=Role.editor, name="Eddie Editor")
    await factories.connection(runtime, installed.venue_id, access_token="page-token-1")
    await _link_in_slack(app, runtime, sender, installed.venue_id, Role.viewer, VIEWER)

    command = await sender.slash_command("reconnect facebook", user_id=VIEWER)
    typed = (await sender.send(command, f"{app.base_url}{EVENTS}", app)).text

    assert "Only the venue's owners and admins can reconnect: Alex Admin, Sam Owner. Ask one of them." in typed, typed
    assert "/oauth/" not in typed


async def test_a_viewer_clicking_reconnect_on_home_is_told_who_can_by_name_in_their_dm(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    installed = await install_through_oauth(app, web, runtime, slack)  # its admin is Alex Admin
    await factories.person(runtime, venue_id=installed.venue_id, role=Role.owner, name="Sam Owner")
    broken = await factories.connection(
        runtime, installed.venue_id, access_token="page-token-1", status=ConnectionStatus.needs_reconnect
    )
    await _link_in_slack(app, runtime, sender, installed.venue_id, Role.viewer, VIEWER)

    home = await _open_home(app, slack, sender, VIEWER)
    [reconnect] = [b for b in _buttons(home) if b["value"] == f"reconnect c={broken}"]
    click = await sender.view_block_action(home["id"], reconnect["action_id"], user_id=VIEWER)
    assert (await sender.send(click, f"{app.base_url}{EVENTS}", app)).status_code == 200

    async def answered() -> list[dict[str, Any]] | None:
        dm = slack.state.dm_channel(VIEWER)
        return (await slack.control.messages(dm) or None) if dm else None

    [said] = await eventually(answered, what="the click's answer in the clicker's DM with the app")
    assert "Only the venue's owners and admins can reconnect: Alex Admin, Sam Owner." in str(said), said
    assert "/oauth/" not in str(said)
