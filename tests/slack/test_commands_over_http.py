"""Every /cheers command a person types in Slack, as Slack sends it (signed, POSTed to /slack/events) through the
real app installed in the twin's workspace: what the person is shown (the ack, or the worker's answer at the
response_url for slow work) and what changed in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.runtime import Runtime
from providers.errors import Permanent
from sandbox.slack.sender import SlackRequest, SlackSender
from storage.enums import ChatPlatform
from storage.models import ChatDestination, ChatIdentity, DeliveryStatus, Role
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - The Red Lion, its Facebook publisher scripted
from tests.bot.support import code_for
from tests.factories import eventually
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.publishing.support import deliveries, delivery
from tests.sandbox_slack.conftest import SlackTwin
from tests.slack.conftest import EVENTS, TEAM, install_through_oauth

OWNER, MANAGER, VIEWER = "U0OWNER001", "U0MANAGER1", "U0VIEWER01"  # the twin's people (sam, mo, vic)
ALERTS = "C0ALERTS01"
WORKING = "Working on it"  # the ack of slow work, answered later at the response_url


@pytest.fixture
async def venue(
    app: httpx.AsyncClient,
    web: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    pub: Pub,  # noqa: F811
) -> Pub:
    """The app added to the twin's workspace through OAuth; the people below are members of The Red Lion."""
    await install_through_oauth(app, web, runtime, slack)
    return pub


class Typing:
    """Slack people typing /cheers in #alerts, through the real app."""

    def __init__(self, app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender) -> None:
        self.app, self.runtime, self.slack, self.sender = app, runtime, slack, sender

    async def type(self, text: str, user: str) -> tuple[SlackRequest, dict[str, Any]]:
        """`/cheers TEXT` typed by `user`: the request and the ack's body (shown only to them)."""
        command = await self.sender.slash_command(text, user_id=user, channel_id=ALERTS)
        acked = await self.sender.send(command, f"{self.app.base_url}{EVENTS}", self.app)
        assert acked.status_code == 200, acked.text
        body: dict[str, Any] = acked.json()
        assert body["response_type"] == "ephemeral", body
        return command, body

    async def shown(self, text: str, user: str) -> str:
        """Everything the ack of `/cheers TEXT` showed `user`."""
        return str((await self.type(text, user))[1])

    async def answered_later(self, text: str, user: str) -> str:
        """Slow work: acked at once, then what a worker answered privately at the command's response_url."""
        command, acked = await self.type(text, user)
        assert WORKING in acked["text"], acked

        async def answered() -> list[dict[str, Any]] | None:
            return await self.slack.control.answers(command.response_url_id or "") or None

        [answer] = await eventually(answered, what=f"the answer to {text!r} at the response_url")
        assert answer["body"]["response_type"] == "ephemeral", answer
        return str(answer["body"])

    async def member(self, venue: Pub, role: Role, user: str) -> factories.Person:
        """A member of the venue with `role` who linked Slack user `user` by typing their code."""
        person = await factories.person(self.runtime, venue_id=venue.id, role=role, name=f"{role.value.title()} Pat")
        said = await self.shown(f"link {await code_for(self.runtime, person)}", user)
        assert "Linked" in said, said
        return person

    async def failed(self, venue: Pub, drain: Drain) -> int:  # noqa: F811
        """mo, an editor, posts now and Facebook refuses it for good: the failed delivery's id."""
        await self.member(venue, Role.editor, MANAGER)
        venue.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
        _, said = await self.type('schedule now "Quiz night"', MANAGER)
        await drain()
        [target] = await deliveries(self.runtime, _post_id(said))
        assert target.status is DeliveryStatus.failed
        return target.id


@pytest.fixture
def chat(app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender) -> Typing:
    return Typing(app, runtime, slack, sender)


def _post_id(answer: dict[str, Any]) -> int:
    title = str(answer["text"])
    assert title.startswith("Post "), answer
    return int(title.split()[1].rstrip(":"))


async def _identities(runtime: Runtime) -> list[ChatIdentity]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(ChatIdentity).order_by(ChatIdentity.id))).scalars())


async def _destinations(runtime: Runtime) -> list[ChatDestination]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(ChatDestination).order_by(ChatDestination.id))).scalars())


async def _status(runtime: Runtime, target_id: int) -> DeliveryStatus:
    return (await delivery(runtime, target_id)).status


async def test_link_with_a_code_from_cheersai_links_the_slack_user(chat: Typing, runtime: Runtime, venue: Pub) -> None:
    vic = await factories.person(runtime, venue_id=venue.id, role=Role.viewer, name="Vic Viewer")

    said = await chat.shown(f"link {await code_for(runtime, vic)}", VIEWER)

    assert "Linked: here you are Vic Viewer" in said, said
    [identity] = await _identities(runtime)
    assert (identity.platform, identity.workspace_id, identity.chat_user_id) == (ChatPlatform.slack, TEAM, VIEWER)
    assert identity.user_id == vic.user_id and identity.linked_at is not None


async def test_schedule_typed_in_words_puts_the_post_at_the_right_utc_instant(
    chat: Typing, runtime: Runtime, venue: Pub
) -> None:
    await chat.member(venue, Role.editor, MANAGER)

    _, said = await chat.type('schedule tomorrow 6pm "Quiz night from 8!" to fb', MANAGER)

    assert "Scheduled for Thu 26 Nov 18:00 GMT" in str(said) and "on Facebook Page" in str(said), said
    [target] = await deliveries(runtime, _post_id(said))
    # Wed 25 Nov 12:00 UTC now; London is on GMT in November, so 6pm tomorrow is 18:00 UTC.
    assert target.status is DeliveryStatus.scheduled
    assert target.due_at == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    assert target.connection_id == venue.connection_id


async def test_week_lists_this_weeks_posts_to_a_viewer(chat: Typing, venue: Pub) -> None:
    await chat.member(venue, Role.editor, MANAGER)
    await chat.member(venue, Role.viewer, VIEWER)
    assert "nothing scheduled" in await chat.shown("week", VIEWER)
    await chat.type('schedule fri 18:00 "Live music"', MANAGER)

    said = await chat.shown("week", VIEWER)

    assert "This week at The Red Lion: 1 post" in said, said
    assert "Fri 27 Nov 18:00 GMT · Live music" in said and ": scheduled" in said, said


async def test_status_shows_a_failed_delivery_with_its_retry_button(
    chat: Typing,
    runtime: Runtime,
    venue: Pub,
    drain: Drain,  # noqa: F811
) -> None:
    target_id = await chat.failed(venue, drain)
    await chat.member(venue, Role.viewer, VIEWER)
    post_id = (await delivery(runtime, target_id)).post_id

    _, said = await chat.type(f"status {post_id}", VIEWER)

    assert said["text"] == f"Post {post_id}: failed" and "(#100) bad link" in str(said), said
    buttons = [e for b in said["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert f"retry t={target_id}" in [b["value"] for b in buttons], buttons
    assert "The Red Lion: 1 problem this week" in await chat.shown("status", VIEWER)


async def test_retry_by_an_editor_sends_the_failed_delivery_again(
    chat: Typing,
    runtime: Runtime,
    venue: Pub,
    drain: Drain,  # noqa: F811
) -> None:
    target_id = await chat.failed(venue, drain)  # mo, who types it, is an editor

    said = await chat.answered_later(f"retry {target_id}", MANAGER)

    assert "Sending to Facebook Page" in said, said
    requeued = await delivery(runtime, target_id)
    # Back in the queue, due now (the dispatcher sends it when the connection's pacing allows).
    assert requeued.status is DeliveryStatus.scheduled and requeued.due_at == runtime.clock.now()
    assert requeued.last_error is None, requeued.last_error


async def test_retry_by_a_viewer_is_refused_and_changes_nothing(
    chat: Typing,
    runtime: Runtime,
    venue: Pub,
    drain: Drain,  # noqa: F811
) -> None:
    target_id = await chat.failed(venue, drain)
    await chat.member(venue, Role.viewer, VIEWER)

    said = await chat.answered_later(f"retry {target_id}", VIEWER)

    assert "You can't do that" in said and "needs the editor role" in said, said
    assert await _status(runtime, target_id) is DeliveryStatus.failed
    assert len(venue.publisher.calls) == 1


async def test_reconnect_gives_an_admin_a_private_consent_link(chat: Typing, runtime: Runtime, venue: Pub) -> None:
    admin = await chat.member(venue, Role.admin, OWNER)

    said = await chat.shown("reconnect facebook", OWNER)  # the ack is ephemeral: only the admin sees the link

    assert "Reconnect Facebook Page" in said, said
    assert "http://testserver.local/oauth/facebook/start?state=" in said, said
    [entry] = await factories.audit_entries(runtime, "reconnect_started")
    assert (entry.actor_user_id, entry.channel.value) == (admin.user_id, "slack")


async def test_reconnect_by_a_viewer_says_who_can(chat: Typing, runtime: Runtime, venue: Pub) -> None:
    await factories.person(runtime, venue_id=venue.id, role=Role.admin, name="Alex Admin")
    await chat.member(venue, Role.viewer, VIEWER)

    said = await chat.shown("reconnect facebook", VIEWER)

    assert "You can't do that" in said and "/oauth/" not in said, said
    assert "Only the venue's owners and admins can reconnect: Alex Admin. Ask one of them." in said, said
    assert await factories.audit_entries(runtime, "reconnect_started") == []


async def test_package_gives_a_private_download_link(
    chat: Typing,
    venue: Pub,
    drain: Drain,  # noqa: F811
) -> None:
    target_id = await chat.failed(venue, drain)
    await chat.member(venue, Role.viewer, VIEWER)

    said = await chat.answered_later(f"package {target_id}", VIEWER)

    assert "http://testserver.local/packages/" in said and "cheers-post-" in said, said


async def test_diagnose_asks_the_platform_for_an_editor(chat: Typing, venue: Pub) -> None:
    await chat.member(venue, Role.editor, MANAGER)

    said = await chat.answered_later("diagnose", MANAGER)

    assert ": healthy" in said and "The access token is valid." in said, said
    assert venue.publisher.diagnosed == 1


async def test_alerts_here_me_mute_and_off_by_an_admin(chat: Typing, runtime: Runtime, venue: Pub) -> None:
    admin = await chat.member(venue, Role.admin, OWNER)

    here = await chat.shown("alerts here", OWNER)
    muted = await chat.shown("alerts mute published for 2h", OWNER)
    [channel] = await _destinations(runtime)
    assert (channel.alerts, channel.muted) == (True, {"publish_succeeded": "2026-11-25T14:00:00+00:00"})
    off = await chat.shown("alerts off", OWNER)
    mine = await chat.shown("alerts me", OWNER)

    assert "The Red Lion's alerts go to this channel" in here, here
    assert "Muted: publish_succeeded until Wed 25 Nov 14:00 UTC" in muted, muted
    assert "Alerts for The Red Lion are off in this channel" in off, off
    assert "The Red Lion's alerts go to your direct messages" in mine, mine
    channel, personal = await _destinations(runtime)
    assert (channel.workspace_id, channel.chat_id, channel.account_id, channel.user_id) == (
        TEAM,
        ALERTS,
        venue.id,
        None,
    )
    assert channel.alerts is False
    assert (personal.chat_id, personal.account_id, personal.user_id, personal.alerts) == (
        OWNER,
        venue.id,
        admin.user_id,
        True,
    )


async def test_alerts_here_by_an_editor_is_refused(chat: Typing, runtime: Runtime, venue: Pub) -> None:
    await chat.member(venue, Role.editor, MANAGER)

    said = await chat.shown("alerts here", MANAGER)

    assert "You can't do that" in said and "owner or admin" in said, said
    assert await _destinations(runtime) == []
