"""Sending alerts: never twice from two workers, the chat's Retry-After honoured, passing failures retried with
backoff, a lost answer sent again once at most, and a chat that is gone stops (said in the venue's feed)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.chat import delivery
from core.chat.sending import AnswerLost, Gone, MessageGone, RateLimited, Transient
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from storage.enums import ChatMessageStatus, ChatPlatform, Severity
from tests import factories
from tests.chat_alerts.conftest import FakeSender, Venue, deliver, destination, feed, get_destination, messages


async def failed_alert(runtime: Runtime, venue_id: int, title: str = "Failed on Page 1: Quiz night") -> int:
    recorded = await factories.record_notification(
        runtime, venue_id, kind=NotificationKind.publish_failed, severity=Severity.error, title=title
    )
    assert recorded is not None
    return recorded.id


async def test_two_workers_delivering_the_same_outbox_post_each_alert_once(
    runtime: Runtime, settings: Settings, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    for chat in ("C1", "C2", "C3"):
        await destination(runtime, venue.id, chat)
    for i in range(3):
        await factories.record_notification(
            runtime, venue.id, kind=NotificationKind.connection_needs_reconnect, severity=Severity.error,
            title=f"Page {i} needs reconnecting", subject={"connection_id": 1000 + i},
        )  # fmt: skip
    other = build_runtime(settings, clock=clock)  # a second worker process: its own pool, the same database
    other.chat_senders[ChatPlatform.slack] = sender
    try:
        for _ in range(4):
            await asyncio.gather(delivery.run(runtime), delivery.run(other), deliver(runtime))
            clock.advance(seconds=1)
    finally:
        await other.close()

    posted = sorted((s.address.chat_id, s.message.title) for s in sender.posts)
    assert posted == sorted((c, f"Page {i} needs reconnecting") for c in ("C1", "C2", "C3") for i in range(3))


async def test_retry_after_is_honoured_no_send_before_it(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    await destination(runtime, venue.id, "C1")
    sender.failures = [RateLimited("ratelimited", retry_after=30)]
    await failed_alert(runtime, venue.id)
    start = clock.now()

    assert (await deliver(runtime)).get("rate_limited") == 1
    for _ in range(29):
        clock.advance(seconds=1)
        await deliver(runtime)
    assert sender.posts == []  # 29 s later: still waiting

    clock.advance(seconds=1)
    await deliver(runtime)
    assert len(sender.posts) == 1 and sender.post_times[0] >= start + timedelta(seconds=30)


async def test_passing_failures_are_retried_with_growing_waits(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    await destination(runtime, venue.id, "C1")
    sender.failures = [Transient("Slack answered 503"), Transient("Slack answered 503"), Transient("connection reset")]
    await failed_alert(runtime, venue.id)
    waits = []
    for _ in range(3):
        await deliver(runtime)
        (message,) = await messages(runtime)
        assert message.status is ChatMessageStatus.pending and message.last_error
        waits.append(message.next_attempt_at - clock.now())
        clock.advance(seconds=waits[-1].total_seconds())
    assert waits[0] < waits[2]  # backoff grows (with jitter, between half and all of base x 2^n)
    await deliver(runtime)
    assert len(sender.posts) == 1
    (message,) = await messages(runtime)
    assert message.status is ChatMessageStatus.sent and message.ref == "ts-1" and message.last_error is None


async def test_a_lost_answer_is_sent_again_once_at_most_then_left_for_a_person(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    await destination(runtime, venue.id, "C1")
    sender.failures = [AnswerLost("timed out"), AnswerLost("timed out again")]
    await failed_alert(runtime, venue.id)
    for _ in range(6):
        await deliver(runtime)
        clock.advance(minutes=5)
    assert len(sender.posts) == 2  # the first post and one more: never a third
    (message,) = await messages(runtime)
    assert message.status is ChatMessageStatus.failed
    assert "may be there" in (message.last_error or "")


async def test_a_lost_answer_then_success_is_one_extra_post(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    await destination(runtime, venue.id, "C1")
    sender.failures = [AnswerLost("timed out")]
    await failed_alert(runtime, venue.id)
    for _ in range(3):
        await deliver(runtime)
        clock.advance(minutes=5)
    assert len(sender.posts) == 2
    (message,) = await messages(runtime)
    assert message.status is ChatMessageStatus.sent and message.ref == "ts-2"


async def test_a_channel_that_is_gone_stops_its_alerts_and_the_feed_says_so(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    gone = await destination(runtime, venue.id, "CGONE")
    other = await destination(runtime, venue.id, "COTHER")
    sender.failures_by_chat = {"CGONE": [Gone("Slack says channel_not_found")]}
    await failed_alert(runtime, venue.id)
    await deliver(runtime)

    row = await get_destination(runtime, gone)
    assert row.disabled_at is not None and "channel_not_found" in (row.disabled_reason or "")
    assert (await get_destination(runtime, other)).disabled_at is None
    stopped = [n for n in await feed(runtime, venue.id) if n.kind == NotificationKind.chat_alerts_stopped]
    assert len(stopped) == 1 and "#cgone" in stopped[0].title

    clock.advance(seconds=5)
    await failed_alert(runtime, venue.id, title="Another failure")
    await deliver(runtime)
    clock.advance(seconds=5)
    await deliver(runtime)
    assert {s.address.chat_id for s in sender.posts} == {"COTHER"}
    assert any("stopped" in s.message.title for s in sender.posts)  # the other channel hears it


async def test_a_revoked_install_stops_every_chat_of_that_workspace(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    first = await destination(runtime, venue.id, "C1", workspace_id="TREVOKED")
    second = await destination(runtime, venue.id, "C2", workspace_id="TREVOKED")
    elsewhere = await destination(runtime, venue.id, "C3", workspace_id="TOTHER")
    sender.failures_by_chat = {"C1": [Gone("Slack says token_revoked", install=True)]}
    await failed_alert(runtime, venue.id)
    await deliver(runtime)
    assert (await get_destination(runtime, first)).disabled_at is not None
    assert (await get_destination(runtime, second)).disabled_at is not None
    assert (await get_destination(runtime, elsewhere)).disabled_at is None
    # C2's post may have gone out side by side with C1's refusal; nothing is left waiting for either.
    assert {m.status for m in await messages(runtime) if m.destination_id in (first, second)} <= {
        ChatMessageStatus.gone,
        ChatMessageStatus.sent,
    }

    clock.advance(seconds=5)
    sender.posts.clear()
    await failed_alert(runtime, venue.id, title="Another failure")
    await deliver(runtime)
    assert {s.address.chat_id for s in sender.posts} == {"C3"}


async def test_an_alert_someone_deleted_is_not_edited_again_and_the_chat_keeps_its_alerts(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    chat = await destination(runtime, venue.id, "C1")
    page = await factories.connection(runtime, venue.id, access_token="tok")
    for target in (1, 2):
        await factories.record_notification(
            runtime, venue.id, kind=NotificationKind.publish_failed, severity=Severity.error,
            title=f"Failed: post {target}", subject={"target_id": target, "connection_id": page},
        )  # fmt: skip
        await deliver(runtime)
        clock.advance(seconds=5)
        if target == 1:
            sender.failures = [MessageGone("Slack says message_not_found: the message was deleted")]
    (message,) = await messages(runtime)
    assert message.status is ChatMessageStatus.sent and not message.needs_update
    clock.advance(minutes=5)
    await deliver(runtime)
    assert len(sender.posts) == 1 and sender.updates == []
    assert (await get_destination(runtime, chat)).disabled_at is None


async def test_a_worker_stopped_mid_post_leaves_a_lease_and_the_alert_is_sent_again_once(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    await destination(runtime, venue.id, "C1")
    sender.failures = [asyncio.CancelledError()]
    await failed_alert(runtime, venue.id)
    with pytest.raises(asyncio.CancelledError):
        await deliver(runtime)  # the post landed; the worker never heard back
    (message,) = await messages(runtime)
    assert message.status is ChatMessageStatus.sending and message.ref is None

    clock.advance(seconds=30)
    await deliver(runtime)
    assert len(sender.posts) == 1  # the lease is still live: nobody steals it

    clock.advance(seconds=31)
    await deliver(runtime)
    (message,) = await messages(runtime)
    assert len(sender.posts) == 2 and message.status is ChatMessageStatus.sent and message.ref == "ts-2"


async def test_a_senders_bug_does_not_stop_other_chats_alerts(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    await destination(runtime, venue.id, "C1")
    await destination(runtime, venue.id, "C2")
    sender.failures = [KeyError("blocks")]
    await failed_alert(runtime, venue.id)
    outcomes = await deliver(runtime)
    assert outcomes["answer_lost"] == 1 and outcomes["posted"] == 1
