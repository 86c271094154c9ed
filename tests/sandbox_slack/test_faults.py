"""Faults on demand, seen through slack_sdk: 429 with Retry-After (honoured by its retry handler), 5xx, slow
answers, answers lost after the post was made, revoked tokens, gone channels, a deactivated workspace, and
per-channel pacing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler

from tests.factories import eventually
from tests.sandbox_slack.conftest import SlackTwin
from tests.timing import HELD, IMPATIENT

ALERTS, GENERAL = "C0ALERTS01", "C0GENERAL1"


async def _refused(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


def _statuses(slack: SlackTwin, method: str) -> list[int]:
    return [c.status for c in slack.state.calls if c.method == method]


async def test_a_429_says_when_to_retry_and_nothing_is_posted(slack: SlackTwin) -> None:
    await slack.control.rate_limit(method="chat.postMessage", retry_after=7)
    refused = await _refused(slack.client(retry_handlers=[]).chat_postMessage(channel=ALERTS, text="x"))

    assert refused.response.status_code == 429 and refused.response["error"] == "ratelimited"
    assert refused.response.headers["Retry-After"] == "7"
    assert slack.state.channel_messages(ALERTS) == []


async def test_slack_sdks_rate_limit_handler_waits_and_the_alert_goes_once(slack: SlackTwin) -> None:
    await slack.control.rate_limit(method="chat.postMessage", retry_after=1)
    client = slack.client(retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])

    posted = await client.chat_postMessage(channel=ALERTS, text="Couldn't publish")

    assert [m.ts for m in slack.state.channel_messages(ALERTS)] == [posted["ts"]]
    assert _statuses(slack, "chat.postMessage") == [429, 200]


async def test_a_fault_for_one_method_leaves_the_others_alone(slack: SlackTwin) -> None:
    await slack.control.rate_limit(count=5, method="views.publish")
    assert (await slack.client().chat_postMessage(channel=ALERTS, text="fine"))["ok"] is True


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_does_nothing_and_slack_sdk_can_retry_it(slack: SlackTwin, status: int) -> None:
    await slack.control.server_error(count=1, method="chat.postMessage", status=status)
    refused = await _refused(slack.client(retry_handlers=[]).chat_postMessage(channel=ALERTS, text="x"))
    assert refused.response.status_code == status and slack.state.channel_messages(ALERTS) == []

    await slack.control.server_error(count=1, method="chat.postMessage", status=status)
    client = slack.client(retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)])
    await client.chat_postMessage(channel=ALERTS, text="once")
    assert [m.text for m in slack.state.channel_messages(ALERTS)] == ["once"]


async def test_a_slow_answer_outlasts_the_clients_timeout_and_is_still_carried_out(slack: SlackTwin) -> None:
    await slack.control.delay(HELD, method="chat.postMessage")
    client = slack.client(timeout=int(IMPATIENT), retry_handlers=[])

    with pytest.raises(asyncio.TimeoutError):
        await client.chat_postMessage(channel=ALERTS, text="slow")

    async def posted() -> list[str] | None:
        return [m.text for m in slack.state.channel_messages(ALERTS)] or None

    assert await eventually(posted, what="the held post to be carried out") == ["slow"]


async def test_an_answer_lost_as_a_500_after_posting_leaves_the_message_there(slack: SlackTwin) -> None:
    await slack.control.lose_answer(method="chat.postMessage", how="error")
    refused = await _refused(slack.client(retry_handlers=[]).chat_postMessage(channel=ALERTS, text="ghost"))

    assert refused.response.status_code == 500
    assert [m.text for m in slack.state.channel_messages(ALERTS)] == ["ghost"]


async def test_an_answer_cut_off_mid_way_after_posting_leaves_the_message_there(slack: SlackTwin) -> None:
    await slack.control.lose_answer(method="chat.postMessage", how="drop")

    with pytest.raises(aiohttp.ClientError):
        await slack.client(retry_handlers=[]).chat_postMessage(channel=ALERTS, text="ghost")

    assert [m.text for m in slack.state.channel_messages(ALERTS)] == ["ghost"]


async def test_an_answer_held_past_the_timeout_after_posting_leaves_the_message_there(slack: SlackTwin) -> None:
    await slack.control.lose_answer(method="chat.postMessage", how="hang", seconds=HELD)

    with pytest.raises(asyncio.TimeoutError):
        await slack.client(timeout=int(IMPATIENT), retry_handlers=[]).chat_postMessage(channel=ALERTS, text="ghost")

    assert [m.text for m in slack.state.channel_messages(ALERTS)] == ["ghost"]


async def test_any_slack_error_can_be_answered_on_demand(slack: SlackTwin) -> None:
    await slack.control.error("fatal_error", method="chat.update")
    posted = await slack.client().chat_postMessage(channel=ALERTS, text="x")
    refused = await _refused(slack.client().chat_update(channel=ALERTS, ts=posted["ts"], text="y"))
    assert refused.response.status_code == 200 and refused.response["error"] == "fatal_error"
    assert slack.state.channel_messages(ALERTS)[0].text == "x"


async def test_a_revoked_install_answers_token_revoked_and_an_inactive_workspace_account_inactive(
    slack: SlackTwin,
) -> None:
    token = await slack.control.install()
    assert await slack.control.revoke(token=token) == 1
    assert (await _refused(slack.client(token).chat_postMessage(channel=ALERTS, text="x"))).response["error"] == (
        "token_revoked"
    )

    await slack.control.deactivate()
    assert (await _refused(slack.client().auth_test())).response["error"] == "account_inactive"


async def test_a_channel_archived_or_deleted_under_the_app(slack: SlackTwin) -> None:
    client = slack.client()
    await slack.control.archive(ALERTS)
    await slack.control.delete_channel(GENERAL)

    assert (await _refused(client.chat_postMessage(channel=ALERTS, text="x"))).response["error"] == "is_archived"
    assert (await _refused(client.chat_postMessage(channel=GENERAL, text="x"))).response["error"] == "channel_not_found"


async def test_cleared_faults_no_longer_strike(slack: SlackTwin) -> None:
    await slack.control.server_error(count=3)
    await slack.control.clear_faults()
    assert (await slack.client().auth_test())["ok"] is True


async def test_pacing_refuses_a_burst_past_its_size_per_channel_until_time_passes(slack: SlackTwin) -> None:
    await slack.control.pacing(per_second=1.0, burst=3)
    client = slack.client(retry_handlers=[])
    for n in range(3):
        await client.chat_postMessage(channel=ALERTS, text=f"alert {n}")

    refused = await _refused(client.chat_postMessage(channel=ALERTS, text="alert 3"))
    other_channel = await client.chat_postMessage(channel=GENERAL, text="elsewhere")

    assert refused.response.status_code == 429 and refused.response.headers["Retry-After"] == "1"
    assert other_channel["ok"] is True
    slack.clock.advance(seconds=1)
    assert (await client.chat_postMessage(channel=ALERTS, text="alert 3"))["ok"] is True
    refused_again = await _refused(client.chat_postMessage(channel=ALERTS, text="alert 4"))
    assert refused_again.response.status_code == 429
    assert [m.text for m in slack.state.channel_messages(ALERTS)] == ["alert 0", "alert 1", "alert 2", "alert 3"]


async def test_pacing_waits_are_as_long_as_the_rate_makes_them(slack: SlackTwin) -> None:
    await slack.control.pacing(per_second=0.25, burst=1)
    client = slack.client(retry_handlers=[])
    await client.chat_postMessage(channel=ALERTS, text="first")
    refused = await _refused(client.chat_postMessage(channel=ALERTS, text="second"))
    assert refused.response.headers["Retry-After"] == "4"

    await slack.control.pacing(enabled=False)
    assert (await client.chat_postMessage(channel=ALERTS, text="second"))["ok"] is True
