"""`/cheers schedule` with nothing after it opens a modal in Slack (the twin); submitting it schedules the post at the
venue's wall-clock time, or answers `response_action: errors` on the field at fault and saves nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from core.runtime import Runtime
from sandbox.slack.sender import SlackRequest, SlackSender
from storage.models import Connection, ConnectionStatus, Post, PostMedia, PostTarget, Provider, Role
from tests import factories
from tests.bot.support import code_for
from tests.publishing.twin_support import ready_photo
from tests.sandbox_slack.conftest import SlackTwin
from tests.slack.conftest import EVENTS, Installed, install_through_oauth

EDITOR, VIEWER = "U0MANAGER1", "U0VIEWER01"  # the twin's people, both in #general
CHANNEL = "C0GENERAL1"


@pytest.fixture
async def venue(app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin) -> Installed:
    """The Red Lion (Europe/London) with the app installed, a Facebook Page and an Instagram account."""
    installed = await install_through_oauth(app, web, runtime, slack)
    await factories.connection(runtime, installed.venue_id, access_token="page-token")
    await factories.connection(runtime, installed.venue_id, access_token="ig-token", provider=Provider.instagram)
    return installed


async def _link(
    app: httpx.AsyncClient, runtime: Runtime, sender: SlackSender, venue_id: int, role: Role, user: str
) -> None:
    person = await factories.person(runtime, venue_id=venue_id, role=role)
    linked = await _send(
        app, sender, await sender.slash_command(f"link {await code_for(runtime, person)}", user_id=user)
    )
    assert "Linked" in linked.text, linked.text


async def _send(app: httpx.AsyncClient, sender: SlackSender, request: SlackRequest) -> httpx.Response:
    return await sender.send(request, f"{app.base_url}{EVENTS}", app)


async def _open(app: httpx.AsyncClient, slack: SlackTwin, sender: SlackSender, user: str = EDITOR) -> dict[str, Any]:
    """Type `/cheers schedule` in #general; the modal the app opened in the twin."""
    acked = await _send(app, sender, await sender.slash_command("schedule", user_id=user, channel_id=CHANNEL))
    assert acked.status_code == 200 and acked.text == "", acked.text  # the modal is the answer
    [opened] = await slack.control.views(user=user, type="modal")
    return opened


async def _connections(runtime: Runtime, venue_id: int) -> dict[Provider, int]:
    async with runtime.uow() as uow:
        rows = (await uow.session.execute(select(Connection).where(Connection.account_id == venue_id))).scalars()
        return {c.provider: c.id for c in rows}


async def _posts(runtime: Runtime, venue_id: int) -> list[Post]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(Post).where(Post.account_id == venue_id))).scalars())


def _fields(connections: list[int], text: str, day: str, at: str, photo: str = "none") -> dict[str, Any]:
    return {
        "connections": {"form_connections": [str(c) for c in connections]},
        "text": {"form_text": text},
        "photo": {"form_photo": photo},
        "date": {"form_date": day},
        "time": {"form_time": at},
    }


def _block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["view"]["blocks"] if b.get("block_id") == block_id)


async def test_schedule_opens_a_modal_with_the_venues_connections_photos_and_the_next_slot_on_its_clock(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender, venue: Installed
) -> None:
    photo_id = await ready_photo(runtime, app, venue.admin)
    google = await factories.connection(
        runtime,
        venue.venue_id,
        access_token=None,
        provider=Provider.google_business,
        status=ConnectionStatus.needs_reconnect,
    )
    await _link(app, runtime, sender, venue.venue_id, Role.editor, EDITOR)

    opened = await _open(app, slack, sender)

    ids = await _connections(runtime, venue.venue_id)
    element = _block(opened, "connections")["element"]
    labels = {o["value"]: o["text"]["text"] for o in element["options"]}
    assert set(labels) == {str(ids[Provider.facebook]), str(ids[Provider.instagram]), str(google)}
    assert labels[str(ids[Provider.facebook])].startswith("Facebook Page")
    assert labels[str(google)].endswith("(needs reconnecting)")
    assert str(google) not in {o["value"] for o in element["initial_options"]}  # offered, not ticked
    photos = _block(opened, "photo")["element"]["options"]
    assert [o["value"] for o in photos] == ["none", str(photo_id)]
    # 12:00 UTC on 25 Nov is 12:00 in London: the first whole hour at least an hour ahead.
    assert _block(opened, "date")["element"]["initial_date"] == "2026-11-25"
    assert _block(opened, "time")["element"]["initial_time"] == "13:00"
    assert "Europe/London" in _block(opened, "time")["label"]["text"]
    preview = _block(opened, "preview")["text"]["text"]
    assert "of 63,206 characters" in preview and "Instagram posts need a photo or a video" in preview
    assert "need some text" not in preview  # nothing typed yet is not a problem to show
    assert json.loads(opened["view"]["private_metadata"])["venue"] == venue.venue_id


async def test_submitting_schedules_at_the_venues_wall_clock_time_and_confirms_privately(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender, venue: Installed
) -> None:
    await _link(app, runtime, sender, venue.venue_id, Role.editor, EDITOR)
    opened = await _open(app, slack, sender)
    facebook = (await _connections(runtime, venue.venue_id))[Provider.facebook]

    # 1 June 2027 19:30 in London is British Summer Time: 18:30 UTC.
    fields = _fields([facebook], "Quiz night from 8, free entry!", "2027-06-01", "19:30")
    submitted = await _send(app, sender, await sender.view_submission(opened["id"], fields, user_id=EDITOR))

    assert submitted.status_code == 200 and submitted.text == "", submitted.text  # the modal closes
    [post] = await _posts(runtime, venue.venue_id)
    assert post.scheduled_at.replace(tzinfo=UTC) == datetime(2027, 6, 1, 18, 30, tzinfo=UTC)
    assert post.text == "Quiz night from 8, free entry!"
    [said] = await slack.control.ephemerals(user=EDITOR, channel=CHANNEL)
    assert "Scheduled for Tue 1 Jun 2027 19:30 BST on Facebook Page" in json.dumps(said), said


async def test_a_chosen_photo_goes_with_the_post(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender, venue: Installed
) -> None:
    photo_id = await ready_photo(runtime, app, venue.admin)
    await _link(app, runtime, sender, venue.venue_id, Role.editor, EDITOR)
    opened = await _open(app, slack, sender)
    instagram = (await _connections(runtime, venue.venue_id))[Provider.instagram]

    fields = _fields([instagram], "Quiz night #pubquiz", "2026-11-26", "18:00", photo=str(photo_id))
    submitted = await _send(app, sender, await sender.view_submission(opened["id"], fields, user_id=EDITOR))

    assert submitted.text == "", submitted.text
    [post] = await _posts(runtime, venue.venue_id)
    async with runtime.uow() as uow:
        media = (await uow.session.execute(select(PostMedia.asset_id).where(PostMedia.post_id == post.id))).scalars()
        assert list(media) == [photo_id]


@pytest.mark.parametrize(
    ("day", "at", "text", "which", "field", "words"),
    [
        ("2026-11-25", "11:00", "Quiz", "facebook", "time", "has already passed"),
        ("2026-11-24", "19:00", "Quiz", "facebook", "date", "has already passed"),
        # The clocks go forward at 01:00 on 28 March 2027 in London: 01:30 never happens.
        ("2027-03-28", "01:30", "Quiz", "facebook", "time", "does not exist in Europe/London"),
        ("2026-11-26", "19:00", "   ", "facebook", "text", "Write the post's text"),
        ("2026-11-26", "19:00", "Quiz", None, "connections", "Choose at least one connection"),
        ("2026-11-26", "19:00", "Quiz", "instagram", "photo", "Instagram posts need a photo or a video"),
        ("2026-11-26", "19:00", "x" * 2300, "instagram", "text", "Instagram captions can be at most 2200 characters"),
    ],
)
async def test_a_field_problem_is_shown_on_that_field_and_nothing_is_saved(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    venue: Installed,
    day: str,
    at: str,
    text: str,
    which: str | None,
    field: str,
    words: str,
) -> None:
    await _link(app, runtime, sender, venue.venue_id, Role.editor, EDITOR)
    opened = await _open(app, slack, sender)
    ids = await _connections(runtime, venue.venue_id)
    chosen = [ids[Provider(which)]] if which else []

    answered = await _send(
        app, sender, await sender.view_submission(opened["id"], _fields(chosen, text, day, at), user_id=EDITOR)
    )

    assert answered.status_code == 200, answered.text
    answer = answered.json()
    assert answer["response_action"] == "errors", answer
    assert words in answer["errors"][field], answer
    assert await _posts(runtime, venue.venue_id) == []
    assert await slack.control.ephemerals(user=EDITOR, channel=CHANNEL) == []


async def test_a_viewer_is_told_they_cant_and_no_modal_opens(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender, venue: Installed
) -> None:
    await _link(app, runtime, sender, venue.venue_id, Role.viewer, VIEWER)

    acked = await _send(app, sender, await sender.slash_command("schedule", user_id=VIEWER, channel_id=CHANNEL))

    assert acked.status_code == 200
    assert acked.json()["response_type"] == "ephemeral"
    assert "You can't do that" in acked.text and "editor role" in acked.text, acked.text
    assert await slack.control.views(user=VIEWER, type="modal") == []


async def test_another_venues_id_in_the_modals_metadata_is_refused_and_saves_nothing(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender, venue: Installed
) -> None:
    await _link(app, runtime, sender, venue.venue_id, Role.editor, EDITOR)
    opened = await _open(app, slack, sender)
    other = await factories.venue(runtime, name="The Crown")
    theirs = await factories.connection(runtime, other, access_token="crown-token")

    request = await sender.view_submission(
        opened["id"], _fields([theirs], "Free drinks!", "2026-11-26", "19:00"), user_id=EDITOR
    )
    view = request.payload["view"]
    request.payload["view"] = {**view, "private_metadata": json.dumps({"venue": other, "channel": CHANNEL})}
    body = urlencode({"payload": json.dumps(request.payload)}).encode()
    tampered = SlackRequest(body, sender.signed(body, "application/x-www-form-urlencoded"), request.payload)
    answered = await _send(app, sender, tampered)

    answer = answered.json()
    assert answer["response_action"] == "update", answer
    assert "Venue not found" in json.dumps(answer["view"]), answer
    assert await _posts(runtime, other) == [] and await _posts(runtime, venue.venue_id) == []
    async with runtime.uow() as uow:
        assert list((await uow.session.execute(select(PostTarget))).scalars()) == []


async def test_choosing_a_photo_updates_the_preview_with_the_version_each_platform_gets(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender, venue: Installed
) -> None:
    photo_id = await ready_photo(runtime, app, venue.admin)
    await _link(app, runtime, sender, venue.venue_id, Role.editor, EDITOR)
    opened = await _open(app, slack, sender)

    minted = await slack.control.interaction(user_id=EDITOR, view_id=opened["id"])
    view = {**minted["view"], "state": {"values": {}}}
    picked = {"text": {"type": "plain_text", "text": "quiz.jpg"}, "value": str(photo_id)}
    view["state"]["values"]["photo"] = {"form_photo": {"type": "static_select", "selected_option": picked}}
    payload = {
        "type": "block_actions",
        "user": {"id": EDITOR, "username": "mo", "name": "mo", "team_id": minted["team"]["id"]},
        "api_app_id": minted["api_app_id"],
        "team": minted["team"],
        "container": {"type": "view", "view_id": opened["id"]},
        "trigger_id": minted["trigger_id"],
        "view": view,
        "actions": [
            {"type": "static_select", "action_id": "form_photo", "block_id": "photo", "selected_option": picked}
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    changed = SlackRequest(body, sender.signed(body, "application/x-www-form-urlencoded"), payload)
    acked = await _send(app, sender, changed)

    assert acked.status_code == 200, acked.text
    [updated] = await slack.control.views(user=EDITOR, type="modal")
    preview = _block(updated, "preview")["text"]["text"]
    assert "quiz.jpg as Instagram square" in preview and "quiz.jpg as Facebook feed" in preview, preview
    assert "need a photo" not in preview


async def test_an_expired_trigger_is_answered_with_the_one_line_form_instead(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender, venue: Installed
) -> None:
    await _link(app, runtime, sender, venue.venue_id, Role.editor, EDITOR)
    command = await sender.slash_command("schedule", user_id=EDITOR, channel_id=CHANNEL)
    await slack.control.advance_clock(4)  # Slack's trigger_id works for 3 seconds

    acked = await _send(app, sender, command)

    assert acked.json()["response_type"] == "ephemeral"
    assert "expired_trigger_id" in acked.text and "schedule fri 6pm" in acked.text, acked.text
    assert await slack.control.views(user=EDITOR, type="modal") == []
