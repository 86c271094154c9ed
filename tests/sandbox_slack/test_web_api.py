"""The Slack twin answers the real slack_sdk client the way slack.com does: messages, threads, edits, ephemerals,
DMs, channels, people, scopes, and Block Kit mistakes refused as invalid_blocks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError

from sandbox.slack.twin import DEV_BOT_TOKEN
from tests.sandbox_slack.conftest import SlackTwin

ALERTS = "C0ALERTS01"
OWNER, MANAGER, VIEWER = "U0OWNER001", "U0MANAGER1", "U0VIEWER01"


def _button(action_id: str, text: str = "Retry", value: str = "target-1") -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, "value": value}


def _alert(*buttons: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Couldn't publish to Facebook"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*The Red Lion*: the Page token expired."}},
        {"type": "actions", "block_id": "fix", "elements": list(buttons or [_button("retry")])},
    ]


async def _error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


async def test_auth_test_names_the_bot_and_its_workspace(slack: SlackTwin) -> None:
    answer = await slack.client().auth_test()
    assert answer["ok"] is True
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0SANDBOX1", "U0CHEERSBOT", "B0CHEERSBOT")
    assert answer["url"] == "https://red-lion.slack.com/"


async def test_a_posted_alert_is_kept_with_its_blocks_and_a_thread_reply_under_it(slack: SlackTwin) -> None:
    client = slack.client()
    posted = await client.chat_postMessage(
        channel=ALERTS, text="Couldn't publish", blocks=_alert(), unfurl_links=False, unfurl_media=False
    )
    reply = await client.chat_postMessage(channel=ALERTS, text="Retrying now", thread_ts=posted["ts"])

    assert posted["channel"] == ALERTS and posted["message"]["blocks"] == _alert()
    kept = slack.state.channel_messages(ALERTS)
    assert [m.ts for m in kept] == [posted["ts"], reply["ts"]]
    assert kept[0].unfurl_links is False and kept[0].unfurl_media is False
    assert [m.text for m in slack.state.thread(ALERTS, posted["ts"])] == ["Retrying now"]
    assert float(reply["ts"]) > float(posted["ts"])  # ts orders messages even on a frozen clock


async def test_a_channel_name_or_a_person_id_works_as_the_channel(slack: SlackTwin) -> None:
    by_name = await slack.client().chat_postMessage(channel="#alerts", text="by name")
    to_person = await slack.client().chat_postMessage(channel=OWNER, text="just for you")

    assert by_name["channel"] == ALERTS
    assert to_person["channel"] == slack.state.dm_channel(OWNER)
    assert to_person["channel"].startswith("D")


async def test_an_update_replaces_text_and_removes_buttons_keeping_what_it_said_before(slack: SlackTwin) -> None:
    client = slack.client()
    posted = await client.chat_postMessage(channel=ALERTS, text="Couldn't publish", blocks=_alert())

    await client.chat_update(channel=ALERTS, ts=posted["ts"], text="Published again by Mo at 18:02", blocks=[])

    (message,) = slack.state.channel_messages(ALERTS)
    assert message.text == "Published again by Mo at 18:02" and message.blocks is None
    assert [(e.text, e.blocks) for e in message.edits] == [("Couldn't publish", _alert())]
    over_http = await slack.control.messages("alerts")
    assert over_http[0]["edits"][0]["text"] == "Couldn't publish"


async def test_updating_or_deleting_a_message_that_is_not_there_is_message_not_found(slack: SlackTwin) -> None:
    client = slack.client()
    assert (await _error(client.chat_update(channel=ALERTS, ts="1.000001", text="x"))).response["error"] == (
        "message_not_found"
    )
    posted = await client.chat_postMessage(channel=ALERTS, text="soon gone")
    await client.chat_delete(channel=ALERTS, ts=posted["ts"])
    assert slack.state.channel_messages(ALERTS) == []
    again = await _error(client.chat_delete(channel=ALERTS, ts=posted["ts"]))
    assert again.response["error"] == "message_not_found"


async def test_an_ephemeral_goes_to_one_member_of_the_channel_only(slack: SlackTwin) -> None:
    client = slack.client()
    answer = await client.chat_postEphemeral(channel=ALERTS, user=VIEWER, text="You can't retry posts.")

    (note,) = slack.state.ephemerals(VIEWER)
    assert note.message_ts == answer["message_ts"] and note.text == "You can't retry posts."
    assert slack.state.channel_messages(ALERTS) == []
    refused = await _error(client.chat_postEphemeral(channel="C0KITCHEN1", user=VIEWER, text="not a member"))
    assert refused.response["error"] == "user_not_in_channel"


async def test_a_dm_is_opened_once_per_person_and_can_be_posted_to(slack: SlackTwin) -> None:
    client = slack.client()
    first = await client.conversations_open(users=MANAGER)
    second = await client.conversations_open(users=[MANAGER])
    await client.chat_postMessage(channel=first["channel"]["id"], text="Your link code worked.")

    assert first["channel"]["id"] == second["channel"]["id"]
    info = await client.conversations_info(channel=first["channel"]["id"])
    assert info["channel"]["is_im"] is True and info["channel"]["user"] == MANAGER
    assert [m.text for m in slack.state.channel_messages(first["channel"]["id"])] == ["Your link code worked."]
    unknown = await _error(client.conversations_open(users="U0NOBODY00"))
    assert unknown.response["error"] == "user_not_found"


async def test_channels_the_bot_cannot_post_to_answer_as_slack_does(slack: SlackTwin) -> None:
    client = slack.client()
    cases = {
        "C0OLDNEWS1": "is_archived",  # archived
        "C0RANDOM01": "not_in_channel",  # public, bot not invited
        "C0NOWHERE1": "channel_not_found",
    }
    for channel, error in cases.items():
        assert (await _error(client.chat_postMessage(channel=channel, text="x"))).response["error"] == error
    info = await client.conversations_info(channel="C0KITCHEN1")
    assert info["channel"]["is_private"] is True and info["channel"]["name"] == "kitchen"
    assert (await _error(client.conversations_info(channel="C0NOWHERE1"))).response["error"] == "channel_not_found"


async def test_people_are_looked_up_by_id(slack: SlackTwin) -> None:
    client = slack.client()
    answer = await client.users_info(user=OWNER)
    assert answer["user"]["real_name"] == "Sam Owner" and answer["user"]["tz"] == "Europe/London"
    assert (await _error(client.users_info(user="U0NOBODY00"))).response["error"] == "user_not_found"


async def test_a_token_without_the_scope_is_told_which_one_it_needs(slack: SlackTwin) -> None:
    token = await slack.control.install(scopes=["commands"])
    refused = await _error(slack.client(token).chat_postMessage(channel=ALERTS, text="x"))
    assert refused.response["error"] == "missing_scope"
    assert refused.response["needed"] == "chat:write" and refused.response["provided"] == "commands"


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "divider"}] * 51, "/blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}], "/blocks/0/text/text"),
        ([{"type": "actions", "elements": [_button("a", text="x" * 76)]}], "/blocks/0/elements/0/text/text"),
        ([{"type": "actions", "elements": [_button("a", value="v" * 2001)]}], "/blocks/0/elements/0/value"),
        ([{"type": "actions", "elements": [_button("a"), _button("a", "Again")]}], "/blocks/0/elements/1/action_id"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "bold"}}], "/blocks/0/text/type"),
        ([{"type": "input", "label": {"type": "plain_text", "text": "x"}}], "/blocks/0"),
    ],
    ids=[
        "51-blocks",
        "section-3001",
        "header-151",
        "button-76",
        "value-2001",
        "same-action-id",
        "mrkdwn-header",
        "input",
    ],
)
async def test_block_kit_mistakes_are_refused_as_invalid_blocks(
    slack: SlackTwin, blocks: list[dict[str, Any]], pointer: str
) -> None:
    refused = await _error(slack.client().chat_postMessage(channel=ALERTS, text="x", blocks=blocks))

    assert refused.response.status_code == 200 and refused.response["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in e for e in refused.response["errors"]), refused.response["errors"]
    assert slack.state.channel_messages(ALERTS) == []


async def test_blocks_at_the_limits_are_accepted(slack: SlackTwin) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3000}},
        {"type": "actions", "elements": [_button("a", text="b" * 75, value="v" * 2000), _button("b")]},
        *([{"type": "divider"}] * 47),
    ]
    posted = await slack.client().chat_postMessage(channel=ALERTS, text="limits", blocks=blocks)
    assert len(posted["message"]["blocks"]) == 50


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_no_text_and_no_blocks_is_no_text(slack: SlackTwin) -> None:
    assert (await _error(slack.client().chat_postMessage(channel=ALERTS, text=""))).response["error"] == "no_text"


async def test_form_encoded_calls_with_the_token_in_the_body_work_and_a_token_in_the_url_is_recorded(
    slack: SlackTwin, web: httpx.AsyncClient
) -> None:
    form = {"token": DEV_BOT_TOKEN, "channel": ALERTS, "text": "from a form", "blocks": '[{"type":"divider"}]'}
    in_body = await web.post(f"{slack.url}/api/chat.postMessage", data=form)
    in_url = await web.get(f"{slack.url}/api/auth.test", params={"token": DEV_BOT_TOKEN})
    no_token = await web.post(f"{slack.url}/api/auth.test")

    assert in_body.status_code == 200 and in_body.json()["ok"] is True
    assert slack.state.channel_messages(ALERTS)[0].blocks == [{"type": "divider"}]
    assert in_url.json()["ok"] is True
    assert no_token.status_code == 200 and no_token.json() == {"ok": False, "error": "not_authed"}
    sources = [(c.method, c.token_source, c.token_in_url) for c in slack.state.calls]
    assert sources == [
        ("chat.postMessage", "body", False),
        ("auth.test", "query", True),
        ("auth.test", None, False),
    ]


async def test_an_unknown_token_is_invalid_auth(slack: SlackTwin) -> None:
    refused = await _error(slack.client("xoxb-not-a-real-token").auth_test())
    assert refused.response["error"] == "invalid_auth"


async def test_a_scenario_of_two_workspaces_keeps_each_tokens_to_its_own(slack: SlackTwin) -> None:
    await slack.control.scenario(
        [
            {
                "id": "T0PUBONE01",
                "name": "Pub One",
                "users": [{"id": "U0ONE00001", "name": "ann", "is_admin": True}],
                "channels": [{"id": "C0ONEALRT1", "name": "alerts"}],
            },
            {
                "id": "T0PUBTWO01",
                "name": "Pub Two",
                "users": [{"id": "U0TWO00001", "name": "bob", "is_admin": True}],
                "channels": [{"id": "C0TWOALRT1", "name": "alerts"}],
            },
        ]
    )
    one = await slack.control.install(team_id="T0PUBONE01")

    assert (await slack.client(one).chat_postMessage(channel="#alerts", text="ours"))["channel"] == "C0ONEALRT1"
    refused = await _error(slack.client(one).chat_postMessage(channel="C0TWOALRT1", text="theirs"))
    assert refused.response["error"] == "channel_not_found"
    assert (await _error(slack.client(one).users_info(user="U0TWO00001"))).response["error"] == "user_not_found"
    assert (await _error(slack.client().auth_test())).response["error"] == "invalid_auth"  # the old world's token
