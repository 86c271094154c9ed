"""A Slack that holds its answer never holds us: the alert sender gives up after its timeout with core's typed error
(the post may have landed: AnswerLost; an edit: Transient). The web process's calls inside an ack are checked in
test_alert_buttons.py (a modal Slack is slow to open)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.slack.sender import SlackSender
from core.chat.sending import AlertMessage, AnswerLost, ChatAddress, Transient
from sandbox.slack.state import DEV_BOT_TOKEN
from storage.enums import ChatPlatform
from tests.sandbox_slack.conftest import SlackTwin

ALERTS = "C0ALERTS01"
TEAM = "T0SANDBOX1"
ALERT = AlertMessage(title="Failed on The Anchor (Facebook): Quiz night", lines=("The Page's access token expired.",))
HELD_SECONDS = 5.0  # longer than the sender waits; were the timeout not applied, the call would succeed after it


@pytest.fixture
async def impatient(slack: SlackTwin) -> AsyncIterator[SlackSender]:
    sender = SlackSender(f"{slack.url}/api", timeout=0.5)
    yield sender
    await sender.close()


def _address() -> ChatAddress:
    return ChatAddress(ChatPlatform.slack, TEAM, ALERTS, DEV_BOT_TOKEN)


async def test_a_post_whose_answer_slack_holds_is_answer_lost_not_a_hang(
    slack: SlackTwin, impatient: SlackSender
) -> None:
    await slack.control.delay(HELD_SECONDS, method="chat.postMessage")
    with pytest.raises(AnswerLost) as caught:
        await impatient.post(_address(), ALERT)
    assert "did not answer" in caught.value.reason


async def test_an_edit_whose_answer_slack_holds_is_transient(slack: SlackTwin, impatient: SlackSender) -> None:
    ts = await impatient.post(_address(), ALERT)
    await slack.control.delay(HELD_SECONDS, method="chat.update")
    with pytest.raises(Transient):
        await impatient.update(_address(), ts, AlertMessage(title="Resolved: Quiz night"))
