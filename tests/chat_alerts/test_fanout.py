"""Which chats get which alert: the chat's kinds and mutes, the kind's audience, and only alerts raised after the chat
was set up; a notification committed wakes the delivery task (never one rolled back)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from storage.enums import Severity
from storage.models import ChatDestination
from tests import factories
from tests.chat_alerts.conftest import FakeSender, RecordingQueue, Venue, deliver, delivered_to, destination


async def alert(runtime: Runtime, venue_id: int, kind: NotificationKind, **kw: Any) -> int:
    recorded = await factories.record_notification(runtime, venue_id, kind=kind, severity=Severity.error, **kw)
    assert recorded is not None
    return recorded.id


async def test_a_chat_gets_only_the_kinds_it_asked_for(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    everything = await destination(runtime, venue.id, "CALL")
    failures_only = await destination(runtime, venue.id, "CFAIL", kinds=["publish_failed"])
    failed = await alert(runtime, venue.id, NotificationKind.publish_failed, title="Failed on Page 1: Quiz night")
    published = await alert(runtime, venue.id, NotificationKind.publish_succeeded, title="Published: Quiz night")

    await deliver(runtime)
    clock.advance(seconds=1)  # one message per second per channel
    await deliver(runtime)

    assert await delivered_to(runtime, everything) == [failed, published]
    assert await delivered_to(runtime, failures_only) == [failed]
    assert sorted(s.address.chat_id for s in sender.posts) == ["CALL", "CALL", "CFAIL"]


async def test_a_muted_kind_is_held_back_until_the_mute_ends(runtime: Runtime, venue: Venue, clock: Any) -> None:
    until = clock.now() + timedelta(hours=1)
    muted = await destination(
        runtime, venue.id, "CMUTE", muted={"publish_failed": until.isoformat(), "publish_missed": None}
    )
    during = await alert(runtime, venue.id, NotificationKind.publish_failed)
    forever = await alert(runtime, venue.id, NotificationKind.publish_missed)
    await deliver(runtime)
    assert await delivered_to(runtime, muted) == []

    clock.advance(hours=2)
    after = await alert(runtime, venue.id, NotificationKind.publish_failed)
    await deliver(runtime)
    assert await delivered_to(runtime, muted) == [after]
    assert during not in await delivered_to(runtime, muted) and forever not in await delivered_to(runtime, muted)


async def test_audience_decides_which_direct_messages_get_a_kind(runtime: Runtime, venue: Venue) -> None:
    staff = await factories.person(runtime, staff=True, name="Sam Staff")
    channel = await destination(runtime, venue.id, "CCHAN")
    admin_dm = await destination(runtime, venue.id, "UADMIN", user_id=venue.admin.user_id)
    editor_dm = await destination(runtime, venue.id, "UEDITOR", user_id=venue.editor.user_id)
    staff_dm = await destination(runtime, venue.id, "USTAFF", user_id=staff.user_id)

    reconnect = await alert(runtime, venue.id, NotificationKind.connection_needs_reconnect)  # admins
    failed = await alert(runtime, venue.id, NotificationKind.publish_failed)  # team
    stalled = await alert(runtime, venue.id, NotificationKind.queue_stalled)  # on_call
    await deliver(runtime)

    assert await delivered_to(runtime, channel) == [reconnect, failed]
    assert await delivered_to(runtime, admin_dm) == [reconnect, failed]
    assert await delivered_to(runtime, editor_dm) == [failed]
    assert await delivered_to(runtime, staff_dm) == [reconnect, failed, stalled]


async def test_an_approval_decision_goes_only_to_its_authors_private_chat(runtime: Runtime, venue: Venue) -> None:
    channel = await destination(runtime, venue.id, "CCHAN")
    admin_dm = await destination(runtime, venue.id, "UADMIN", user_id=venue.admin.user_id)
    editor_dm = await destination(runtime, venue.id, "UEDITOR", user_id=venue.editor.user_id)
    decided = await alert(
        runtime,
        venue.id,
        NotificationKind.approval_decided,
        subject={"post_id": 1, "author_user_id": venue.editor.user_id},
    )
    await deliver(runtime)
    assert await delivered_to(runtime, editor_dm) == [decided], "the author hears the outcome"
    assert await delivered_to(runtime, channel) == [] and await delivered_to(runtime, admin_dm) == []


async def test_a_chat_set_up_later_gets_no_backlog_and_alerts_off_gets_nothing(
    runtime: Runtime, venue: Venue, clock: Any
) -> None:
    before = await alert(runtime, venue.id, NotificationKind.publish_failed)
    clock.advance(seconds=1)
    late = await destination(runtime, venue.id, "CLATE")
    off = await destination(runtime, venue.id, "COFF")
    async with runtime.uow() as uow:
        row = await uow.session.get(ChatDestination, off)
        assert row is not None
        row.alerts = False
        await uow.commit()
    after = await alert(runtime, venue.id, NotificationKind.publish_failed)
    await deliver(runtime)
    assert await delivered_to(runtime, late) == [after]
    assert before not in await delivered_to(runtime, late)
    assert await delivered_to(runtime, off) == []


async def test_a_committed_notification_wakes_delivery_and_a_rolled_back_one_does_not(
    runtime: Runtime, venue: Venue
) -> None:
    queue = RecordingQueue()
    runtime.queue = queue
    async with runtime.uow() as uow:
        await notifications.notify(
            uow.session, runtime.clock, account_id=venue.id, kind=NotificationKind.publish_failed,
            severity=Severity.error, title="Failed",
        )  # fmt: skip
        assert queue.sent == []  # nothing before the commit
        await uow.rollback()
    assert queue.sent == []

    await factories.record_notification(runtime, venue.id, kind=NotificationKind.publish_failed)
    assert queue.sent == [notifications.CHAT_ALERTS_TASK]
