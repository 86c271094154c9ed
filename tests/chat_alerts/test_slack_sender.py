"""The Slack sender against the Slack twin (real slack_sdk, real HTTP): post and edit with Block Kit and unfurling
off, Slack's answers turned into core's send errors, and an alert going from the outbox to a channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.slack.sender import SlackSender
from core.chat import delivery
from core.chat.sending import AlertItem, AlertMessage, AnswerLost, ChatAddress, Gone, MessageGone, RateLimited
from core.notifications.actions import Action, offer
from core.notifications.kinds import NotificationKind, offers_for
from core.runtime import Runtime
from sandbox.slack.state import DEV_BOT_TOKEN
from storage.enums import ChatPlatform, ConnectionStatus, Severity
from storage.models import ChatInstall
from tests import factories
from tests.chat_alerts.conftest import destination, messages
from tests.sandbox_slack.conftest import SlackTwin, slack  # noqa: F401 - the twin fixture

ALERTS = "C0ALERTS01"
TEAM = "T0SANDBOX1"
ALERT = AlertMessage(
    title="Failed on The Anchor (Facebook): Quiz night",
    lines=("The Page's access token expired.", "Reconnect the Page, then retry."),
    items=(AlertItem("Quiz night, Thu 19:30", (offer(Action.retry, target_id=7),)),),
    offers=(offer(Action.retry, target_id=7), offer(Action.manual_package, target_id=7)),
)


@pytest.fixture
async def slack_sender(slack: SlackTwin) -> AsyncIterator[SlackSender]:  # noqa: F811
    sender = SlackSender(f"{slack.url}/api")  # no trailing slash: the sender adds it
    yield sender
    await sender.close()


def address(token: str = DEV_BOT_TOKEN, chat: str = ALERTS) -> ChatAddress:
    return ChatAddress(ChatPlatform.slack, TEAM, chat, token)


async def test_post_then_update_in_place_with_buttons_gone(slack: SlackTwin, slack_sender: SlackSender) -> None:  # noqa: F811
    ts = await slack_sender.post(address(), ALERT)
    (posted,) = slack.state.channel_messages(ALERTS)
    assert posted.ts == ts and posted.unfurl_links is False and posted.unfurl_media is False
    assert any(b["type"] == "actions" for b in posted.blocks or [])

    await slack_sender.update(address(), ts, AlertMessage(title="Resolved: Quiz night", lines=("Resolved by Ada.",)))
    (edited,) = slack.state.channel_messages(ALERTS)
    assert edited.text == "Resolved: Quiz night" and len(edited.edits) == 1
    assert not any(b["type"] == "actions" for b in edited.blocks or [])


async def test_editing_a_message_someone_deleted_is_message_gone(
    slack: SlackTwin,  # noqa: F811
    slack_sender: SlackSender,
) -> None:
    ts = await slack_sender.post(address(), ALERT)
    await slack.client().chat_delete(channel=ALERTS, ts=ts)
    with pytest.raises(MessageGone):
        await slack_sender.update(address(), ts, ALERT)


async def test_a_429_is_rate_limited_with_its_retry_after(slack: SlackTwin, slack_sender: SlackSender) -> None:  # noqa: F811
    await slack.control.rate_limit(method="chat.postMessage", retry_after=7)
    with pytest.raises(RateLimited) as caught:
        await slack_sender.post(address(), ALERT)
    assert caught.value.retry_after == 7 and slack.state.channel_messages(ALERTS) == []


async def test_a_revoked_token_is_the_install_gone(slack: SlackTwin, slack_sender: SlackSender) -> None:  # noqa: F811
    await slack.control.revoke(token=DEV_BOT_TOKEN)
    with pytest.raises(Gone) as caught:
        await slack_sender.post(address(), ALERT)
    assert caught.value.install is True and "token_revoked" in caught.value.reason


async def test_a_missing_channel_is_the_chat_gone(slack_sender: SlackSender) -> None:
    with pytest.raises(Gone) as caught:
        await slack_sender.post(address(chat="C0NOSUCH99"), ALERT)
    assert caught.value.install is False and "channel_not_found" in caught.value.reason


async def test_an_answer_lost_after_posting_is_answer_lost(slack: SlackTwin, slack_sender: SlackSender) -> None:  # noqa: F811
    await slack.control.lose_answer(method="chat.postMessage", how="error")
    with pytest.raises(AnswerLost):
        await slack_sender.post(address(), ALERT)
    assert len(slack.state.channel_messages(ALERTS)) == 1  # it is there: why it is sent again once at most


async def test_an_alert_goes_from_the_outbox_to_the_channel_with_the_installs_token(
    runtime: Runtime,
    slack: SlackTwin,  # noqa: F811
    slack_sender: SlackSender,
    clock: Any,
) -> None:
    runtime.chat_senders[ChatPlatform.slack] = slack_sender
    venue_id = await factories.venue(runtime, name="The Anchor")
    async with runtime.uow() as uow:
        uow.session.add(
            ChatInstall(
                platform=ChatPlatform.slack,
                workspace_id=TEAM,
                bot_token_ciphertext=runtime.cipher().encrypt(DEV_BOT_TOKEN),
                scopes=["chat:write"],
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        await uow.commit()
    await destination(runtime, venue_id, ALERTS, workspace_id=TEAM)
    page = await factories.connection(runtime, venue_id, access_token="tok", status=ConnectionStatus.needs_reconnect)
    await slack.control.rate_limit(method="chat.postMessage", retry_after=3)
    await factories.record_notification(
        runtime, venue_id, kind=NotificationKind.connection_needs_reconnect, severity=Severity.error,
        title="The Anchor's Page needs reconnecting", subject={"connection_id": page},
        payload={"reason": "The access token expired.", "remedy": "Reconnect it."},
        actions=offers_for(NotificationKind.connection_needs_reconnect, connection_id=page),
    )  # fmt: skip

    first = await delivery.run(runtime)
    assert first.get("rate_limited") == 1, first
    clock.advance(seconds=2)
    await delivery.run(runtime)
    assert slack.state.channel_messages(ALERTS) == []  # Retry-After not over yet
    clock.advance(seconds=1)
    await delivery.run(runtime)

    (posted,) = slack.state.channel_messages(ALERTS)
    assert posted.text == "The Anchor's Page needs reconnecting"
    (message,) = await messages(runtime)
    assert message.ref == posted.ts
