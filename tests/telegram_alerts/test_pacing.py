"""Telegram's limits, shared by every process through chat_pacing: about one message a second in a private chat,
20 a minute in a group (a message every 3 s), and at most 30 a second for the whole bot; Slack's pace unchanged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.chat import delivery
from core.notifications import fanout
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from storage.enums import ChatPlatform, Severity
from storage.queries import chat_alerts as q
from tests import factories
from tests.chat_alerts.conftest import FakeSender, Venue, destination
from tests.telegram_alerts.conftest import BOT_ID, telegram_chat


async def problems(runtime: Runtime, venue_id: int, count: int) -> None:
    """`count` problems on `count` connections: each its own message in every chat."""
    for i in range(count):
        await factories.record_notification(
            runtime, venue_id, kind=NotificationKind.connection_needs_reconnect, severity=Severity.error,
            title=f"Page {i} needs reconnecting", subject={"connection_id": 3000 + i},
        )  # fmt: skip


async def fan_out(runtime: Runtime) -> None:
    """Fan the outbox out to the chats without sending anything."""
    async with runtime.uow() as uow:
        await fanout.fan_out(uow.session, runtime.clock, limit=1000)
        await uow.commit()


async def send(runtime: Runtime, sender: FakeSender, *, limit: int = 20) -> int:
    """One claim-and-send round; how many went out."""
    before = len(sender.posts)
    await delivery.deliver_due(runtime, {ChatPlatform.telegram: sender, ChatPlatform.slack: sender}, limit=limit)
    return len(sender.posts) - before


async def test_a_group_gets_a_message_every_3_seconds_and_a_private_chat_every_second(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    await telegram_chat(runtime, venue.id, "-1001234567890", name="The Anchor staff")
    await telegram_chat(runtime, venue.id, "555000111", name="Ada")
    await problems(runtime, venue.id, 3)
    await fan_out(runtime)

    assert await send(runtime, sender) == 2  # one in each chat
    clock.advance(seconds=1)
    sent = await send(runtime, sender)
    assert sent == 1 and sender.posts[-1].address.chat_id == "555000111"  # the group waits
    clock.advance(seconds=1)
    assert [p.address.chat_id for p in sender.posts[2:]] == ["555000111"]
    await send(runtime, sender)
    assert sender.posts[-1].address.chat_id == "555000111"
    assert await send(runtime, sender) == 0
    clock.advance(seconds=1)  # 3 s after the group's first message
    assert await send(runtime, sender) == 1 and sender.posts[-1].address.chat_id == "-1001234567890"


def in_any_second(times: list[Any]) -> int:
    """The most sends inside any one second."""
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + timedelta(seconds=1)) for start in times)


async def test_the_bot_sends_at_most_30_a_second_across_its_chats(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    for n in range(80):
        await telegram_chat(runtime, venue.id, str(600000000 + n))
    await problems(runtime, venue.id, 1)
    await fan_out(runtime)

    for _ in range(100):  # a round every 20 ms for 2 s, each free to claim every chat
        await send(runtime, sender, limit=100)
        clock.advance(seconds=0.02)
    assert 50 <= len(sender.posts) <= 60, len(sender.posts)  # 25 a second steadily, 5 at the start
    assert in_any_second(sender.post_times) <= 30


async def test_two_workers_share_one_bot_budget(
    runtime: Runtime, settings: Settings, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    for n in range(40):
        await telegram_chat(runtime, venue.id, str(700000000 + n))
    await problems(runtime, venue.id, 1)
    await fan_out(runtime)
    other = build_runtime(settings, clock=clock)  # a second worker process on the same database
    try:
        for _ in range(50):
            await send(runtime, sender, limit=100)
            await send(other, sender, limit=100)
            clock.advance(seconds=0.02)
    finally:
        await other.close()
    assert in_any_second(sender.post_times) <= 30
    assert len(sender.posts) >= 25


async def test_the_budget_grants_a_burst_then_one_slot_per_interval(runtime: Runtime, clock: Any) -> None:
    budget = delivery.BUDGETS[ChatPlatform.telegram]
    now = clock.now()

    async def take(wanted: int, at: Any) -> int:
        async with runtime.uow() as uow:
            got = await q.take_sends(
                uow.session, platform=ChatPlatform.telegram, workspace_id=BOT_ID, budget=budget, now=at, wanted=wanted
            )
            await uow.commit()
            return got

    assert await take(100, now) == budget.burst
    assert await take(1, now) == 0
    assert await take(100, now + budget.interval) == 1
    assert await take(100, now + timedelta(seconds=10)) == budget.burst  # an idle bot gets its burst back
    assert budget.burst + timedelta(seconds=1) / budget.interval <= 30


async def test_slack_channels_keep_their_pace_and_no_bot_budget(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    for n in range(30):
        await destination(runtime, venue.id, f"C{n:03d}")
    await problems(runtime, venue.id, 1)
    await fan_out(runtime)

    assert await send(runtime, sender, limit=100) == 30  # all at once: Slack has no bot-wide budget here
    assert all(p.address.platform == ChatPlatform.slack for p in sender.posts)
    assert delivery.spacing_of(ChatPlatform.slack, "C001") == timedelta(seconds=1)
    assert delivery.spacing_of(ChatPlatform.slack, "-weird") == timedelta(seconds=1)


async def test_a_429_in_a_group_holds_that_group_for_its_retry_after(
    runtime: Runtime, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    from core.chat.sending import RateLimited

    await telegram_chat(runtime, venue.id, "-100200300", name="Staff")
    await problems(runtime, venue.id, 1)
    await fan_out(runtime)
    sender.failures.append(RateLimited("Telegram flood control: retry after 17 s", retry_after=17))

    assert await send(runtime, sender) == 0
    clock.advance(seconds=16)
    assert await send(runtime, sender) == 0
    clock.advance(seconds=1)
    assert await send(runtime, sender) == 1


async def test_a_chat_whose_message_is_still_being_sent_by_another_worker_waits_for_it(
    runtime: Runtime, settings: Settings, venue: Venue, clock: Any
) -> None:
    """bench/chat.py found two workers sending one chat's messages milliseconds apart: the chat's pace was written
    only when a send was recorded. Now a claim takes the chat's turn, and a send in flight holds the chat."""
    await telegram_chat(runtime, venue.id, "555000222", name="Ada")
    await problems(runtime, venue.id, 3)
    await fan_out(runtime)
    other = build_runtime(settings, clock=clock)  # a second worker process on the same database

    async def claim(rt: Runtime) -> list[tuple[int, str]]:
        now = rt.clock.now()
        async with rt.uow() as uow:
            claimed = await q.claim_due(
                uow.session, now=now, lease_until=now + delivery.LEASE, limit=20,
                budgets=delivery.BUDGETS, spacing=delivery.spacing_of,
            )  # fmt: skip
            await uow.commit()
        return claimed

    try:
        first = await claim(runtime)
        assert len(first) == 1, "one message of the chat is claimed"
        assert await claim(other) == [], "a second worker must not claim the chat's next message at once"
        clock.advance(seconds=5)  # past the chat's spacing, while the first send is still in flight (lease 60 s)
        assert await claim(other) == [], "the chat waits for the send in flight to be recorded"
        clock.advance(seconds=delivery.LEASE.total_seconds())  # that worker died: its lease ran out
        assert len(await claim(other)) == 1
    finally:
        await other.close()
