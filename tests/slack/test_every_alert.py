"""Every kind of notification that reaches a chat, as its Slack alert: it names what happened (the header), says why
and what to do, and offers exactly that kind's buttons (core.notifications.kinds.KINDS), inside Slack's Block Kit
limits (the twin refuses what Slack would). A new kind fails here until its alert is described in SAMPLES."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.slack.blocks import MAX_BLOCKS, button_offer
from bot.slack.sender import SlackSender
from core.chat import delivery
from core.chat.sending import ChatSender
from core.notifications.kinds import KINDS, NotificationKind, offers_for
from core.runtime import Runtime
from sandbox.slack.model import Message
from sandbox.slack.state import DEV_BOT_TOKEN
from storage.enums import ChatPlatform, ConnectionStatus
from storage.models import Role
from tests import factories
from tests.chat_alerts.conftest import destination
from tests.sandbox_slack.conftest import SlackTwin
from tests.slack.conftest import TEAM

ALERTS_CHANNEL = "C0ALERTS01"
STAFF_USER = "U0OWNER001"  # on-call alerts go to a staff member's DM, never to a channel
TARGET = 41


@dataclass(frozen=True)
class Sample:
    """How the code that raises the kind words it (title), and the reason and remedy it gives."""

    title: str
    reason: str
    remedy: str
    connection: ConnectionStatus = ConnectionStatus.active  # what the raising code leaves the connection in


SAMPLES: dict[NotificationKind, Sample] = {
    NotificationKind.publish_succeeded: Sample(
        "Published on Facebook Page The Red Lion: Quiz night", "It is live.", "Nothing to do."
    ),
    NotificationKind.publish_failed: Sample(
        "Failed on Facebook Page The Red Lion: Quiz night",
        "Facebook refused the request: (#100) bad link.",
        "Fix the link, then retry; or post it by hand with the manual package.",
    ),
    NotificationKind.publish_missed: Sample(
        "Missed on Instagram account redlion: Quiz night",
        "It could not go out before its freshness cutoff.",
        "Retry to send it now, or post it by hand.",
    ),
    NotificationKind.publish_in_doubt: Sample(
        "Not sure it went out on Facebook Page The Red Lion: Quiz night",
        "The request was sent but Facebook's answer was lost.",
        "CheersAI checks Facebook before anything is sent again.",
    ),
    NotificationKind.publish_needs_attention: Sample(
        "Did this go out on Facebook Page The Red Lion? Quiz night",
        "CheersAI can't tell whether it went out.",
        "Look at the Page, then mark it published or publish it again.",
    ),
    NotificationKind.connection_needs_reconnect: Sample(
        "Reconnect Facebook Page The Red Lion",
        "The access token expired.",
        "An owner or admin reconnects it; waiting posts then go out.",
        ConnectionStatus.needs_reconnect,
    ),
    NotificationKind.connection_expiring: Sample(
        "Facebook Page The Red Lion stops working in 3 days",
        "Facebook's access lapses on Sat 28 Nov.",
        "Reconnect it before then.",
        ConnectionStatus.expiring,
    ),
    NotificationKind.connection_revoked: Sample(
        "The Red Lion was disconnected on Facebook's side",
        "The person who connected it removed CheersAI.",
        "Reconnect it with an account that manages the Page.",
        ConnectionStatus.revoked,
    ),
    NotificationKind.connection_metadata_updated: Sample(
        "Facebook Page The Red Lion reconnected", "Its permissions changed.", "Nothing to do."
    ),
    NotificationKind.derivative_failed: Sample(
        "Could not prepare quiz.heic", "The file is not a photo CheersAI can read.", "Upload it as JPEG or PNG."
    ),
    NotificationKind.derivative_skipped: Sample(
        "Using the original of quiz.mov", "The video tools (ffmpeg) are missing.", "Install ffmpeg on the workers."
    ),
    NotificationKind.queue_stalled: Sample(
        "3 posts are due and nothing is publishing them",
        "No worker has claimed a due post for 5 minutes.",
        "Start a worker (cheers worker) and check its logs.",
    ),
    NotificationKind.chat_alerts_stopped: Sample(
        "Alerts to slack #old-news stopped: the channel is archived",
        "Slack says is_archived.",
        "Invite the bot back, then type /cheers alerts here.",
    ),
    NotificationKind.weekly_materialised: Sample(
        "Next week's posts from the weekly plan: 2 posts made",
        "Quiz night and Live music are made for next week.",
        "Approve them, or edit or skip one.",
    ),
    NotificationKind.approval_requested: Sample(
        "Waiting for approval: Quiz night",
        "An editor's post waits for an admin or owner.",
        "Approve or reject it before its time; unapproved, it is not sent.",
    ),
    NotificationKind.approval_decided: Sample(
        "Approved: Quiz night",
        "Ada Admin approved your post at Fri 4 Dec 18:02 GMT.",
        "Nothing to do: it goes out at its time.",
    ),
}


@pytest.fixture
async def alert_sender(slack: SlackTwin) -> AsyncIterator[ChatSender]:
    sender = SlackSender(f"{slack.url}/api", default_token=DEV_BOT_TOKEN)  # single-workspace mode: no install
    yield sender
    await sender.close()


async def _deliver(
    runtime: Runtime, slack: SlackTwin, sender: ChatSender, kind: NotificationKind, count: int, long: bool = False
) -> Message:
    """`count` alerts of `kind` about one connection, delivered to the chat that takes them; the message posted."""
    sample = SAMPLES.get(kind)
    assert sample is not None, f"{kind} reaches chat but this test does not know how its alert reads: add it to SAMPLES"
    venue_id = await factories.venue(runtime, name="The Red Lion")
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token", status=sample.connection)
    author_id: int | None = None
    if KINDS[kind].audience.value in ("on_call", "author"):  # a person's own DM, never a channel
        staff = await factories.person(runtime, venue_id=venue_id, role=Role.admin, staff=True)
        await destination(runtime, venue_id, STAFF_USER, user_id=staff.user_id, workspace_id=TEAM)
        chat, author_id = STAFF_USER, staff.user_id
    else:
        await destination(runtime, venue_id, ALERTS_CHANNEL, workspace_id=TEAM)
        chat = ALERTS_CHANNEL
    reason = sample.reason + (" Facebook said: " + "x" * 4000 if long else "")
    for i in range(count):
        await factories.record_notification(
            runtime, venue_id, kind=kind, severity=KINDS[kind].severity, title=sample.title,
            subject={"target_id": TARGET + i, "connection_id": connection_id, "post_id": 7 + i,
                     "author_user_id": author_id},
            payload={"reason": reason, "remedy": sample.remedy},
            actions=offers_for(kind, target_id=TARGET + i, connection_id=connection_id, post_id=7 + i),
        )  # fmt: skip
    outcome = await delivery.run(runtime, {ChatPlatform.slack: sender})
    assert outcome.get("posted") == 1, f"{kind}: the alert was not posted as one message: {outcome}"
    where = slack.state.dm_channel(chat) if chat == STAFF_USER else chat
    assert where is not None
    [posted] = slack.state.channel_messages(where)
    return posted


def _buttons(blocks: list[dict[str, Any]]) -> list[list[str]]:
    """The button values of each actions block, in order."""
    return [[e["value"] for e in b["elements"]] for b in blocks if b["type"] == "actions"]


@pytest.mark.parametrize("kind", list(NotificationKind), ids=lambda k: k.value)
async def test_each_kinds_alert_names_what_happened_and_offers_exactly_its_buttons(
    kind: NotificationKind, runtime: Runtime, slack: SlackTwin, alert_sender: ChatSender
) -> None:
    posted = await _deliver(runtime, slack, alert_sender, kind, count=1)

    blocks = posted.blocks or []
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"] == SAMPLES[kind].title
    said = " ".join(str(b.get("text", {}).get("text", "")) for b in blocks)
    assert SAMPLES[kind].reason in said and SAMPLES[kind].remedy in said, said
    offered = [button_offer(v) for row in _buttons(blocks) for v in row]
    assert [o.action for o in offered] == list(KINDS[kind].offers), f"{kind}: buttons {offered}"
    assert all(o.target_id == TARGET or o.connection_id is not None or o.post_id or o.notification_id for o in offered)


@pytest.mark.parametrize("kind", [k for k in NotificationKind if len(KINDS[k].offers) > 0], ids=lambda k: k.value)
async def test_a_long_burst_of_each_kind_stays_inside_slacks_limits_with_every_shown_alert_keeping_its_buttons(
    kind: NotificationKind, runtime: Runtime, slack: SlackTwin, alert_sender: ChatSender
) -> None:
    count = 40 if kind in delivery.GROUP_TITLES else 1  # per-post kinds group by connection into one message
    posted = await _deliver(runtime, slack, alert_sender, kind, count=count, long=True)

    blocks = posted.blocks or []
    assert len(blocks) <= MAX_BLOCKS  # and the twin took it: Slack's per-block limits held
    assert all(len(str(b.get("text", {}).get("text", ""))) <= 3000 for b in blocks)
    for row in _buttons(blocks):
        assert [button_offer(v).action for v in row] == list(KINDS[kind].offers), row
    if count > 1:
        assert "more" in str(blocks[-1]), "a cut list should say how many more there are"
