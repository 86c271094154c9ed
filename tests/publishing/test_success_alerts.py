"""The success notification of a published post and the chat-alerts pass it wakes: a venue whose chats take alerts
gets "Published on …" in them; a venue with no such chat needs no pass at all (on PostgreSQL the finish's one
statement records the notification as fanned out to no chat, and wakes nothing)."""

from __future__ import annotations

from sqlalchemy import select

from core.chat import delivery
from core.clock import FrozenClock
from core.notifications.outbox import CHAT_ALERTS_TASK
from core.runtime import Runtime
from storage.enums import ChatPlatform
from storage.models import ChatAlertFanout, ChatDestination, DeliveryStatus
from tests.chat_alerts.conftest import FakeSender, RecordingQueue, destination
from tests.publishing.conftest import Drain, Venue
from tests.publishing.support import deliveries, notifications_of, schedule


def listening(runtime: Runtime, clock: FrozenClock) -> tuple[RecordingQueue, FakeSender]:
    """A job queue that records what is woken, and a Slack sender that records what is posted."""
    queue, sender = RecordingQueue(), FakeSender(clock)
    runtime.queue = queue
    runtime.chat_senders[ChatPlatform.slack] = sender
    return queue, sender


async def fanned(runtime: Runtime, notification_id: int) -> bool:
    async with runtime.db.session() as session:
        query = select(ChatAlertFanout.notification_id).where(ChatAlertFanout.notification_id == notification_id)
        return (await session.execute(query)).first() is not None


async def test_a_venue_whose_chat_takes_alerts_is_woken_and_told_of_the_published_post(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    queue, sender = listening(runtime, clock)
    await destination(runtime, venue.id, "CALL")
    clock.advance(seconds=1)  # the post is published after the chat was set up
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.published, target.note
    [note] = await notifications_of(runtime, venue.id, "publish_succeeded")
    assert queue.sent == [CHAT_ALERTS_TASK], "the success was not followed by a chat-alerts wake"
    assert not await fanned(runtime, note.id), "marked fanned out before any chat had it"

    await delivery.run(runtime)

    assert [s.message.title for s in sender.posts] == [note.title]
    assert await fanned(runtime, note.id)


async def test_a_venue_with_no_chat_taking_alerts_wakes_nothing_and_leaves_no_fan_out(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    queue, sender = listening(runtime, clock)
    # Chats that take no alerts: one switched off, one stopped (the bot was removed).
    off = await destination(runtime, venue.id, "COFF")
    stopped = await destination(runtime, venue.id, "CGONE")
    async with runtime.uow() as uow:
        (await uow.session.get_one(ChatDestination, off)).alerts = False
        (await uow.session.get_one(ChatDestination, stopped)).disabled_at = clock.now()
        await uow.commit()
    clock.advance(seconds=1)
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.published, target.note
    [note] = await notifications_of(runtime, venue.id, "publish_succeeded")
    if runtime.db.dialect == "postgresql":
        # The finish's one statement: nothing for a pass to do, so no pass is woken.
        assert queue.sent == [], "a chat-alerts pass was woken for a venue with no chat taking alerts"
        assert await fanned(runtime, note.id), "the notification was left for a pass to fan out"
    else:
        # SQLite takes the long way (the unit of work's wake after the notification); the pass finds no chat.
        assert queue.sent == [CHAT_ALERTS_TASK]
    await delivery.run(runtime)
    assert await fanned(runtime, note.id)
    assert sender.posts == []

    # A chat set up afterwards gets alerts raised after it, not this one.
    later = await destination(runtime, venue.id, "CNEW")
    clock.advance(seconds=1)
    await delivery.run(runtime)
    assert sender.posts == [], f"chat {later} got an alert raised before it was set up"
