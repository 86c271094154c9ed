"""A burst about one connection is one message (edited as more arrive), quiet hours hold a warning but never an
error, and a solved problem's message is edited in place: resolved, by whom and when, buttons gone."""

from __future__ import annotations

from typing import Any

from core.chat.delivery import FANOUT_BATCH
from core.notifications import outbox as notifications
from core.notifications.actions import Action
from core.notifications.kinds import NotificationKind, offers_for
from core.runtime import Runtime
from storage.enums import ChatMessageStatus, ConnectionStatus, Severity
from storage.models import Connection
from tests import factories
from tests.chat_alerts.conftest import FakeSender, Venue, deliver, destination, messages


async def post_failed(runtime: Runtime, venue_id: int, connection_id: int, target_id: int) -> None:
    await factories.record_notification(
        runtime, venue_id, kind=NotificationKind.publish_failed, severity=Severity.error,
        title=f"Failed on Page: post {target_id}",
        subject={"post_id": target_id, "target_id": target_id, "connection_id": connection_id},
        payload={"reason": "The Page's access token expired.", "remedy": "Reconnect the Page, then retry."},
        actions=offers_for(NotificationKind.publish_failed, target_id=target_id),
    )  # fmt: skip


async def test_twenty_failures_for_one_connection_are_one_message_listing_them(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    await destination(runtime, venue.id, "C1")
    page = await factories.connection(runtime, venue.id, access_token="tok")
    other_page = await factories.connection(runtime, venue.id, access_token="tok2")
    for target in range(1, 21):
        await post_failed(runtime, venue.id, page, target)
    await post_failed(runtime, venue.id, other_page, 99)
    await deliver(runtime)
    clock.advance(seconds=1)
    await deliver(runtime)

    assert len(sender.posts) == 2  # one for the Page's twenty, one for the other Page
    burst = next(s.message for s in sender.posts if len(s.message.items) == 20)
    assert burst.title.startswith("20 posts failed on")
    assert burst.lines == ("The Page's access token expired.", "Reconnect the Page, then retry.")
    assert [i.offers[0].target_id for i in burst.items] == list(range(1, 21))  # each with its own Retry
    assert {o.action for o in burst.items[0].offers} == {Action.retry, Action.manual_package}

    # A later failure in the window edits the message already in the channel instead of posting another.
    clock.advance(minutes=2)
    await post_failed(runtime, venue.id, page, 21)
    await deliver(runtime)
    assert len(sender.posts) == 2
    ref, edited = sender.updates[-1]
    assert ref == next(s.ref for s in sender.posts if len(s.message.items) == 20)
    assert len(edited.items) == 21 and edited.title.startswith("21 posts failed")


async def test_quiet_hours_hold_a_warning_but_not_an_error(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    # The clock says 12:00 UTC = 12:00 in London; quiet from 11:00 to 14:00 venue time.
    await destination(runtime, venue.id, "C1", quiet=("11:00", "14:00"))
    await factories.record_notification(
        runtime, venue.id, kind=NotificationKind.publish_missed, severity=Severity.warning, title="Missed: brunch"
    )
    await factories.record_notification(
        runtime, venue.id, kind=NotificationKind.publish_failed, severity=Severity.error, title="Failed: quiz"
    )
    await deliver(runtime)
    assert [s.message.title for s in sender.posts] == ["Failed: quiz"]
    held = next(m for m in await messages(runtime) if m.status is ChatMessageStatus.pending)
    assert "quiet hours until 14:00" in (held.note or "")

    clock.advance(hours=1, minutes=59)
    await deliver(runtime)
    assert len(sender.posts) == 1
    clock.advance(minutes=1)
    await deliver(runtime)
    assert [s.message.title for s in sender.posts] == ["Failed: quiz", "Missed: brunch"]


async def test_a_reconnect_edits_the_alert_in_place_and_its_buttons_go(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    await destination(runtime, venue.id, "C1")
    page = await factories.connection(runtime, venue.id, access_token="tok", status=ConnectionStatus.needs_reconnect)
    await factories.record_notification(
        runtime, venue.id, kind=NotificationKind.connection_needs_reconnect, severity=Severity.error,
        title="Page needs reconnecting", subject={"connection_id": page},
        payload={"reason": "The access token expired.", "remedy": "Reconnect it."},
        actions=offers_for(NotificationKind.connection_needs_reconnect, connection_id=page),
    )  # fmt: skip
    await deliver(runtime)
    (sent,) = sender.posts
    assert [o.action for o in sent.message.offers] == [Action.reconnect, Action.diagnose]

    clock.advance(seconds=30)
    await deliver(runtime)
    assert sender.updates == []  # still broken: nothing to say

    async with runtime.uow() as uow:
        row = await uow.session.get(Connection, page)
        assert row is not None
        row.status, row.connected_by_user_id = ConnectionStatus.active, venue.admin.user_id
        await uow.commit()
    await deliver(runtime)

    (ref, edited) = sender.updates[-1]
    assert ref == sent.ref and len(sender.posts) == 1
    assert edited.title == "Resolved: Page needs reconnecting"
    assert edited.offers == () and all(not i.offers for i in edited.items)
    assert edited.lines[0].startswith("Resolved by Ada Admin at ") and "12:00" in edited.lines[0]
    (message,) = await messages(runtime)
    assert message.resolved_at is not None and not message.needs_update

    clock.advance(minutes=1)
    await deliver(runtime)
    assert len(sender.updates) == 1  # edited once


async def test_a_burst_larger_than_a_fan_out_batch_is_caught_up_in_one_pass(
    runtime: Runtime, venue: Venue, sender: FakeSender
) -> None:
    await destination(runtime, venue.id, "C1")
    page = await factories.connection(runtime, venue.id, access_token="tok")
    count = FANOUT_BATCH + 30
    async with runtime.uow() as uow:
        for target in range(count):
            await notifications.notify(
                uow.session, runtime.clock, account_id=venue.id, kind=NotificationKind.publish_failed,
                severity=Severity.error, title=f"Failed: post {target}",
                subject={"target_id": target, "connection_id": page},
            )  # fmt: skip
        await uow.commit()
    result = await deliver(runtime)
    assert result["fanned_out"] == count
    (sent,) = sender.posts
    assert sent.message.title.startswith(f"{count} posts failed")
