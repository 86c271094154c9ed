"""Buttons under an alert or a listing: whoever clicks is authorised, not the person the message was for."""

from __future__ import annotations

from core.notifications.actions import Action, offer
from core.runtime import Runtime
from providers.errors import Permanent
from storage.models import DeliveryStatus, Role
from tests import factories
from tests.bot.conftest import Pub
from tests.bot.support import click, link, say, shown, turn
from tests.publishing.conftest import Drain
from tests.publishing.support import deliveries, delivery


async def _failed(runtime: Runtime, pub: Pub, drain: Drain) -> int:
    pub.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
    editor = await factories.person(runtime, venue_id=pub.id, role=Role.editor)
    await link(runtime, editor, turn("U-setup"))
    answer = await say(runtime, turn("U-setup"), 'schedule now "Quiz night"')
    await drain()
    [target] = await deliveries(runtime, int(answer.title.split()[1]))
    assert target.status is DeliveryStatus.failed
    return target.id


async def _linked(runtime: Runtime, venue_id: int, role: Role, user: str) -> None:
    await link(runtime, await factories.person(runtime, venue_id=venue_id, role=role), turn(user))


async def test_retry_clicked_by_a_viewer_is_refused_and_by_an_editor_sends_it(
    runtime: Runtime, pub: Pub, drain: Drain
) -> None:
    target_id = await _failed(runtime, pub, drain)
    await _linked(runtime, pub.id, Role.viewer, "U-viewer")
    await _linked(runtime, pub.id, Role.editor, "U-editor")
    retry = offer(Action.retry, target_id=target_id)

    refused = await click(runtime, turn("U-viewer", chat="C-team"), retry)
    assert refused.title == "You can't do that" and refused.private, shown(refused)
    assert (await delivery(runtime, target_id)).status is DeliveryStatus.failed, "a refused click changed it"

    done = await click(runtime, turn("U-editor", chat="C-team"), retry)

    assert done.title.startswith("Sending to Facebook Page"), shown(done)
    await drain()
    assert (await delivery(runtime, target_id)).status is DeliveryStatus.published


async def test_a_click_on_another_venues_delivery_is_not_found_and_an_unlinked_clicker_is_told_to_link(
    runtime: Runtime, pub: Pub, drain: Drain
) -> None:
    target_id = await _failed(runtime, pub, drain)
    crown = await factories.venue(runtime, name="The Crown")
    await _linked(runtime, crown, Role.owner, "U-out")

    for action in (Action.retry, Action.manual_package, Action.mark_published, Action.publish_again):
        said = await click(runtime, turn("U-out"), offer(action, target_id=target_id))
        assert said.title == "Not found", (action, shown(said))
    unlinked = await click(runtime, turn("U-new"), offer(Action.retry, target_id=target_id))
    assert "link CODE" in shown(unlinked), shown(unlinked)
    assert (await delivery(runtime, target_id)).status is DeliveryStatus.failed


async def test_reconnect_clicked_by_an_admin_gets_a_private_link_and_an_editor_is_told_who_can(
    runtime: Runtime, pub: Pub
) -> None:
    admin = await factories.person(runtime, venue_id=pub.id, role=Role.admin, name="Ada Admin")
    await link(runtime, admin, turn("U-admin"))
    await _linked(runtime, pub.id, Role.editor, "U-editor")
    reconnect = offer(Action.reconnect, connection_id=pub.connection_id)

    refused = await click(runtime, turn("U-editor", chat="C-team"), reconnect)
    said = await click(runtime, turn("U-admin", chat="C-team"), reconnect)

    assert "Only the venue's owners and admins can reconnect: Ada Admin. Ask one of them." in shown(refused)
    assert refused.private and not refused.links, shown(refused)
    assert said.private and said.links[0].url.startswith("http://testserver.local/oauth/facebook/start?state=")


async def test_mark_published_with_the_link_a_person_gave(runtime: Runtime, pub: Pub, drain: Drain) -> None:
    target_id = await _failed(runtime, pub, drain)
    await _linked(runtime, pub.id, Role.editor, "U-editor")

    said = await click(
        runtime,
        turn("U-editor"),
        offer(Action.mark_published, target_id=target_id),
        permalink="https://facebook.com/p/1",
    )

    assert said.title.startswith("Marked as published on Facebook Page"), shown(said)
    row = await delivery(runtime, target_id)
    assert (row.status, row.permalink) == (DeliveryStatus.published, "https://facebook.com/p/1")
