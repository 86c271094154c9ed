"""Slack calling the app: slash commands, button clicks, modal submissions, shortcuts and events built as Slack
sends them, signed so slack_sdk's SignatureVerifier accepts them (and refuses forged or stale copies), sent over
real HTTP; what the app answers through response_url is recorded and applied by the twin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from sandbox.server import TwinServer
from sandbox.slack.sender import SlackRequest, SlackSender
from sandbox.slack.twin import DEFAULT_SIGNING_SECRET
from tests.sandbox_slack.conftest import SlackTwin

ALERTS = "C0ALERTS01"
OWNER, VIEWER = "U0OWNER001", "U0VIEWER01"
verifier = SignatureVerifier(DEFAULT_SIGNING_SECRET)


def _form(request: SlackRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


@dataclass
class Receiver:
    """A stand-in Request URL: checks the signature as a Bolt app would and keeps what arrived."""

    url: str = ""
    received: list[tuple[bytes, dict[str, str], bool]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        valid = verifier.is_valid_request(body, headers)
        self.received.append((body, headers, valid))
        await send({"type": "http.response.start", "status": 200 if valid else 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = Receiver()
    server = TwinServer(app)
    app.url = await server.start() + "/slack/events"
    try:
        yield app
    finally:
        await server.stop()


async def test_a_slash_command_is_signed_form_encoded_with_slacks_fields(
    sender: SlackSender, receiver: Receiver, web: httpx.AsyncClient
) -> None:
    request = await sender.slash_command("week next", user_id=OWNER, channel_id=ALERTS)
    response = await sender.send(request, receiver.url, web)

    assert response.status_code == 200
    (body, headers, valid) = receiver.received[0]
    assert valid and body == request.body
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    form = _form(request)
    assert form["command"] == "/cheers" and form["text"] == "week next"
    assert (form["team_id"], form["team_domain"], form["channel_name"], form["user_name"]) == (
        "T0SANDBOX1",
        "red-lion",
        "alerts",
        "sam",
    )
    assert form["response_url"].endswith(f"/actions/{request.response_url_id}")
    assert form["trigger_id"] == request.trigger_id and form["api_app_id"] == "A0CHEERSAI"


async def test_forged_and_stale_requests_do_not_verify_and_a_retry_does(
    sender: SlackSender, receiver: Receiver, web: httpx.AsyncClient
) -> None:
    request = await sender.event({"type": "app_home_opened", "user": OWNER, "tab": "home"})
    forged, stale, retried = sender.forged(request), sender.stale(request), sender.retried(request, 2)

    statuses = [(await sender.send(r, receiver.url, web)).status_code for r in (forged, stale, retried)]

    assert statuses == [401, 401, 200]
    assert [valid for _, _, valid in receiver.received] == [False, False, True]
    assert int(request.headers["X-Slack-Request-Timestamp"]) - int(stale.headers["X-Slack-Request-Timestamp"]) >= 360
    assert retried.body == request.body
    assert (retried.headers["X-Slack-Retry-Num"], retried.headers["X-Slack-Retry-Reason"]) == ("2", "http_timeout")


async def test_a_button_click_carries_the_button_the_message_and_who_clicked(
    slack: SlackTwin, sender: SlackSender
) -> None:
    retry = {"type": "button", "action_id": "retry", "text": {"type": "plain_text", "text": "Retry"}, "value": "t-9"}
    blocks = [{"type": "actions", "block_id": "fix", "elements": [retry]}]
    alert = await slack.client().chat_postMessage(channel=ALERTS, text="Couldn't publish", blocks=blocks)

    request = await sender.block_action("retry", channel_id=ALERTS, message_ts=alert["ts"], user_id=VIEWER)

    assert verifier.is_valid_request(request.body, request.headers)
    payload = json.loads(_form(request)["payload"])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == VIEWER
    action = payload["actions"][0]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "retry",
        "fix",
        "t-9",
        "button",
    )
    assert payload["container"]["message_ts"] == alert["ts"] and payload["message"]["blocks"] == blocks
    with pytest.raises(LookupError):
        await sender.block_action("publish_again", channel_id=ALERTS, message_ts=alert["ts"])


async def test_answers_through_response_url_are_recorded_and_applied(
    slack: SlackTwin, sender: SlackSender, web: httpx.AsyncClient
) -> None:
    retry = {"type": "button", "action_id": "retry", "text": {"type": "plain_text", "text": "Retry"}}
    alert = await slack.client().chat_postMessage(
        channel=ALERTS, text="Couldn't publish", blocks=[{"type": "actions", "elements": [retry]}]
    )
    click = await sender.block_action("retry", channel_id=ALERTS, message_ts=alert["ts"], user_id=OWNER)
    url = json.loads(_form(click)["payload"])["response_url"]

    told = await web.post(url, json={"text": "Retrying…"})
    replaced = await web.post(url, json={"replace_original": True, "text": "Published again by Sam"})
    announced = await web.post(url, json={"response_type": "in_channel", "text": "Sam retried post 9"})

    assert [r.status_code for r in (told, replaced, announced)] == [200, 200, 200]
    assert [e.text for e in slack.state.ephemerals(OWNER)] == ["Retrying…"]
    messages = slack.state.channel_messages(ALERTS)
    assert [(m.text, m.blocks) for m in messages] == [("Published again by Sam", None), ("Sam retried post 9", None)]
    answers = await slack.control.answers(click.response_url_id or "")
    assert [a["body"].get("text") for a in answers] == ["Retrying…", "Published again by Sam", "Sam retried post 9"]


async def test_a_response_url_refuses_bad_blocks_and_a_sixth_use(
    slack: SlackTwin, sender: SlackSender, web: httpx.AsyncClient
) -> None:
    command = await sender.slash_command("help", user_id=OWNER, channel_id=ALERTS)
    url = _form(command)["response_url"]
    too_long = [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]

    bad = await web.post(url, json={"text": "x", "blocks": too_long})
    uses = [(await web.post(url, json={"text": f"answer {n}"})).status_code for n in range(6)]

    assert bad.status_code == 400 and bad.json()["error"] == "invalid_blocks"
    assert uses == [200, 200, 200, 200, 200, 404]
    slack.clock.advance(minutes=31)
    late = await sender.slash_command("help", user_id=OWNER, channel_id=ALERTS)
    slack.clock.advance(minutes=31)
    assert (await web.post(_form(late)["response_url"], json={"text": "too late"})).status_code == 404


async def test_a_modal_submission_carries_the_values_shaped_by_each_element(
    slack: SlackTwin, sender: SlackSender
) -> None:
    command = await sender.slash_command("schedule", user_id=OWNER, channel_id=ALERTS)
    modal = {
        "type": "modal",
        "callback_id": "schedule",
        "private_metadata": "venue=1",
        "title": {"type": "plain_text", "text": "Schedule a post"},
        "submit": {"type": "plain_text", "text": "Schedule"},
        "blocks": [
            {
                "type": "input",
                "block_id": "text",
                "label": {"type": "plain_text", "text": "Text"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "day",
                "label": {"type": "plain_text", "text": "Day"},
                "element": {"type": "datepicker", "action_id": "value"},
            },
        ],
    }
    opened = await slack.client().views_open(trigger_id=command.trigger_id or "", view=modal)

    request = await sender.view_submission(
        opened["view"]["id"], {"text": {"value": "Quiz night!"}, "day": {"value": "2026-12-24"}}
    )

    payload = json.loads(_form(request)["payload"])
    assert payload["type"] == "view_submission" and payload["user"]["id"] == OWNER
    assert payload["view"]["callback_id"] == "schedule" and payload["view"]["private_metadata"] == "venue=1"
    assert payload["view"]["state"]["values"] == {
        "text": {"value": {"type": "plain_text_input", "value": "Quiz night!"}},
        "day": {"value": {"type": "datepicker", "selected_date": "2026-12-24"}},
    }
    assert verifier.is_valid_request(request.body, request.headers)


async def test_events_are_signed_json_callbacks_with_a_fresh_id_each(sender: SlackSender) -> None:
    home = await sender.app_home_opened(OWNER)
    uninstalled = await sender.app_uninstalled()
    revoked = await sender.tokens_revoked()
    handshake = sender.url_verification("abc123")

    for request in (home, uninstalled, revoked, handshake):
        assert request.headers["Content-Type"] == "application/json"
        assert verifier.is_valid_request(request.body, request.headers)
    assert home.payload["type"] == "event_callback" and home.payload["team_id"] == "T0SANDBOX1"
    assert home.payload["event"]["type"] == "app_home_opened" and home.payload["event"]["user"] == OWNER
    assert home.payload["event_id"] != uninstalled.payload["event_id"]
    assert revoked.payload["event"]["tokens"] == {"bot": ["U0CHEERSBOT"]}
    assert json.loads(handshake.body) == {
        "token": handshake.payload["token"],
        "challenge": "abc123",
        "type": "url_verification",
    }


async def test_shortcuts_carry_a_trigger_and_a_message_shortcut_its_message(
    slack: SlackTwin, sender: SlackSender
) -> None:
    posted = await slack.client().chat_postMessage(channel=ALERTS, text="a post")
    global_shortcut = await sender.shortcut("new_post", user_id=OWNER)
    on_message = await sender.message_shortcut("diagnose", channel_id=ALERTS, message_ts=posted["ts"], user_id=OWNER)

    first = json.loads(_form(global_shortcut)["payload"])
    second = json.loads(_form(on_message)["payload"])
    assert first["type"] == "shortcut" and first["trigger_id"] and "response_url" not in first
    assert second["type"] == "message_action" and second["message"]["text"] == "a post"


async def test_a_slash_command_without_a_channel_is_typed_in_the_first_public_channel(sender: SlackSender) -> None:
    request = await sender.slash_command("help")
    form = _form(request)
    assert (form["channel_id"], form["user_id"]) == ("C0GENERAL1", OWNER)


async def test_the_activity_feed_shows_what_the_app_did_after_a_request_in_order(
    slack: SlackTwin, sender: SlackSender, web: httpx.AsyncClient
) -> None:
    await slack.client().chat_postMessage(channel=ALERTS, text="before the command")
    _, cursor = await slack.control.activity()
    command = await sender.slash_command("week", user_id=OWNER, channel_id=ALERTS)

    await web.post(_form(command)["response_url"], json={"text": "Working on it"})
    posted = await slack.client().chat_postMessage(channel=ALERTS, text="This week: 3 posts")
    await slack.client().chat_update(channel=ALERTS, ts=posted["ts"], text="This week: 4 posts")
    await slack.client().views_publish(user_id=OWNER, view={"type": "home", "blocks": [{"type": "divider"}]})

    done, after = await slack.control.activity(cursor)
    assert [(a["kind"], a.get("text")) for a in done] == [
        ("answer", None),
        ("ephemeral", "Working on it"),
        ("message", "This week: 3 posts"),
        ("edit", "This week: 4 posts"),
        ("view", None),
    ]
    assert done[0]["response_url_id"] == command.response_url_id and done[-1]["action"] == "publish"
    assert await slack.control.activity(after) == ([], after)
