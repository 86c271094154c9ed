"""Modals, App Home and file uploads on the twin: trigger_ids that expire after 3 seconds of the twin's clock,
view hashes, and slack_sdk's files_upload_v2 (getUploadURLExternal, the upload URL, completeUploadExternal)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError

from sandbox.slack.sender import SlackSender
from tests.sandbox_slack.conftest import SlackTwin

ALERTS = "C0ALERTS01"
OWNER = "U0OWNER001"


def _modal(title: str = "Schedule a post") -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "schedule",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Schedule"},
        "private_metadata": "venue=1",
        "blocks": [
            {
                "type": "input",
                "block_id": "text",
                "label": {"type": "plain_text", "text": "Text"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            }
        ],
    }


def _home(text: str) -> dict[str, Any]:
    return {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


async def _error(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


async def test_a_modal_opens_with_a_fresh_trigger_and_updates_with_its_hash(
    slack: SlackTwin, sender: SlackSender
) -> None:
    command = await sender.slash_command("schedule", user_id=OWNER, channel_id=ALERTS)
    client = slack.client()

    opened = await client.views_open(trigger_id=command.trigger_id or "", view=_modal())
    view = opened["view"]
    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view=_modal("Check and schedule"))

    assert view["id"].startswith("V") and view["private_metadata"] == "venue=1"
    assert updated["view"]["title"]["text"] == "Check and schedule"
    (kept,) = slack.state.opened_views(OWNER, "modal")
    assert kept.view["title"]["text"] == "Check and schedule" and len(kept.history) == 1
    stale_hash = await _error(client.views_update(view_id=view["id"], hash=view["hash"], view=_modal()))
    assert stale_hash == "hash_conflict"
    assert await _error(client.views_update(view_id="V0NOTHERE0", view=_modal())) == "not_found"


async def test_a_trigger_works_once_and_for_three_seconds_of_the_twins_clock(
    slack: SlackTwin, sender: SlackSender
) -> None:
    client = slack.client()
    used = await sender.slash_command("schedule", user_id=OWNER, channel_id=ALERTS)
    late = await sender.slash_command("schedule", user_id=OWNER, channel_id=ALERTS)
    await client.views_open(trigger_id=used.trigger_id or "", view=_modal())

    assert await _error(client.views_open(trigger_id=used.trigger_id or "", view=_modal())) == "exchanged_trigger_id"
    slack.clock.advance(seconds=3.5)
    assert await _error(client.views_open(trigger_id=late.trigger_id or "", view=_modal())) == "expired_trigger_id"
    assert await _error(client.views_open(trigger_id="1.2.madeup", view=_modal())) == "invalid_trigger_id"


async def test_a_view_slack_would_refuse_is_invalid_arguments(slack: SlackTwin, sender: SlackSender) -> None:
    command = await sender.slash_command("schedule", user_id=OWNER, channel_id=ALERTS)
    with pytest.raises(SlackApiError) as caught:
        await slack.client().views_open(trigger_id=command.trigger_id or "", view=_modal("A title far over 24 chars"))
    assert caught.value.response["error"] == "invalid_arguments"
    assert "[json-pointer:/view/title/text]" in caught.value.response["response_metadata"]["messages"][0]


async def test_app_home_is_published_per_person_and_republished_in_place(slack: SlackTwin) -> None:
    client = slack.client()
    first = await client.views_publish(user_id=OWNER, view=_home("This week: 3 posts"))
    second = await client.views_publish(user_id=OWNER, view=_home("This week: 4 posts"))

    assert first["view"]["id"] == second["view"]["id"] and second["view"]["type"] == "home"
    (home,) = await slack.control.views(user=OWNER, type="home")
    assert home["view"]["blocks"][0]["text"]["text"] == "This week: 4 posts"
    assert await _error(client.views_publish(user_id="U0NOBODY00", view=_home("x"))) == "user_not_found"


async def test_files_upload_v2_puts_the_package_into_the_alerts_thread(slack: SlackTwin) -> None:
    client = slack.client()
    alert = await client.chat_postMessage(channel=ALERTS, text="Couldn't publish to Instagram")
    package = b"PK\x03\x04" + b"caption and photos" * 100

    uploaded = await client.files_upload_v2(
        channel=ALERTS,
        thread_ts=alert["ts"],
        content=package,
        filename="post-42-package.zip",
        title="Manual package",
        initial_comment="Here is everything to post it by hand.",
    )

    file_id = uploaded["file"]["id"]
    assert slack.state.file_content(file_id) == package
    (reply,) = slack.state.thread(ALERTS, alert["ts"])
    assert reply.files == [file_id] and reply.text == "Here is everything to post it by hand."
    (listed,) = await slack.control.files()
    assert listed["title"] == "Manual package" and listed["uploaded_bytes"] == len(package)
    assert listed["shares"] == [{"channel": ALERTS, "thread_ts": alert["ts"], "ts": reply.ts}]


async def test_completing_an_upload_nothing_was_sent_to_is_file_not_found(
    slack: SlackTwin, web: httpx.AsyncClient
) -> None:
    client = slack.client()
    ticket = await client.files_getUploadURLExternal(filename="empty.zip", length=10)
    assert ticket["upload_url"].startswith(f"{slack.url}/upload/v1/")

    missing = await _error(client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}], channel_id=ALERTS))
    assert missing == "file_not_found"
    posted = await web.post(ticket["upload_url"], files={"file": ("empty.zip", b"0123456789", "application/zip")})
    assert posted.status_code == 200 and posted.text == "OK - 10"
    done = await client.files_completeUploadExternal(files=[{"id": ticket["file_id"], "title": "Zip"}])
    assert done["files"][0]["title"] == "Zip" and slack.state.file_content(ticket["file_id"]) == b"0123456789"
