# ruff: noqa: F811 - the Telegram twin's fixtures are imported here and named as parameters
"""The week approved from chat, end to end through the Telegram twin: slots → materialise-weekly → the week's
message in the venue's group (each post's Approve / Edit / Skip keys, Approve all under them) → Approve all pressed
→ the posts go out at the (fake) publisher at their times, exactly one per slot and date; Reject asks why in the
clicker's private chat; a viewer's press is refused privately; two approvers at once decide once (the second told
who decided)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.telegram.sender import install_telegram_sender
from core.chat import delivery
from core.clock import FrozenClock
from core.posts.times import zone
from core.runtime import Runtime
from core.weekly import materialise as mat
from storage.models import Account, DeliveryStatus, Post, PostTarget, Role, WeeklyPost
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - a venue whose Facebook publisher is scripted
from tests.factories import eventually
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.telegram.conftest import Chats, Served, TelegramTwin, buttons, chats, served, settings, telegram  # noqa: F401

GROUP = -900
ADMIN, OWNER, VIEWER = 101, 102, 103
Body = dict[str, Any]


@pytest.fixture
async def group(runtime: Runtime, chats: Chats, pub: Pub) -> Chats:
    """The venue's people linked in Telegram, its staff group taking the week's message and approval requests, the
    Telegram alert sender on, and the venue asking for the weekly plan's posts to be approved."""
    install_telegram_sender(runtime)
    for user, role, name in ((ADMIN, Role.admin, "Ada Admin"), (OWNER, Role.owner, "Olly Owner"),
                             (VIEWER, Role.viewer, "Vic Viewer")):  # fmt: skip
        person = await factories.person(runtime, venue_id=pub.id, role=role, name=name)
        await chats.link(person, user, name=name)
    [here] = await chats.says("/alerts here weekly_materialised,approval_requested", ADMIN, group=GROUP)
    assert "alerts go to this" in here["text"], here
    async with runtime.uow() as uow:
        account = await uow.session.get(Account, pub.id)
        assert account is not None
        account.approve_weekly_posts = True
        await uow.commit()
    return chats


async def _plan_two_slots(runtime: Runtime, pub: Pub) -> list[int]:
    async with runtime.db.session() as session:
        account = await session.get(Account, pub.id)
        assert account is not None
        today = runtime.clock.now().astimezone(zone(account.timezone)).date()
    return [
        await factories.weekly_slot(
            runtime, pub.id, [pub.connection_id], name=name, weekday=(today + timedelta(days=k)).weekday(),
            text_template=text,
        )
        for k, name, text in ((1, "Quiz night", "Quiz night, {date:%A}"), (2, "Live music", "Live music {date}"))
    ]  # fmt: skip


async def _message_with(runtime: Runtime, chats: Chats, clock: FrozenClock, label: str) -> Body:
    """The newest message in the group offering `label` (the alert delivery run here, the clock past the pacing)."""

    async def posted() -> Body | None:
        await delivery.run(runtime)
        clock.advance(seconds=3)
        found = [m for m in await chats.twin.control.messages(GROUP) if label in [b["text"] for b in buttons(m)]]
        return found[-1] if found else None

    return await eventually(posted, what=f"a message offering {label!r} in the group")


async def _press(chats: Chats, message: Body, label: str, user: int) -> str:
    """`user` presses `label` under `message`; the toast it was answered with."""
    clicked = await chats.twin.control.user_clicks(label, user_id=user, chat_id=GROUP, message_id=message["message_id"])
    assert clicked["status"] == 200, clicked
    query_id = str(clicked["update"]["callback_query"]["id"])

    async def answered() -> Body | None:
        found = await chats.twin.control.callback_answers()
        return next((a for a in found if a["callback_query_id"] == query_id), None)

    return str((await eventually(answered, what=f"{label!r} answered"))["text"] or "")


async def _posts(runtime: Runtime, venue_id: int) -> list[Post]:
    async with runtime.db.session() as session:
        found = await session.execute(select(Post).where(Post.account_id == venue_id).order_by(Post.scheduled_at))
        return list(found.scalars().all())


async def _statuses(runtime: Runtime, post_id: int) -> list[DeliveryStatus]:
    async with runtime.db.session() as session:
        found = await session.execute(select(PostTarget.status).where(PostTarget.post_id == post_id))
        return list(found.scalars().all())


async def test_approve_all_in_telegram_publishes_one_post_per_slot_and_date(
    runtime: Runtime, group: Chats, pub: Pub, drain: Drain, clock: FrozenClock
) -> None:
    slots = await _plan_two_slots(runtime, pub)
    await mat.materialise(runtime)
    week = await _message_with(runtime, group, clock, "Approve all")
    labels = [b["text"] for b in buttons(week)]
    assert {"1 · Approve", "1 · Edit", "1 · Skip", "2 · Approve"} <= set(labels), labels
    assert "Quiz night" in week["text"] and "waiting for approval" in week["text"], week["text"]
    made = await _posts(runtime, pub.id)

    before = len(await group.twin.control.messages(GROUP))
    toast = await _press(group, week, "Approve all", ADMIN)

    assert toast.startswith("Approved 2 of 2 posts"), toast
    [said] = await group.new_messages(GROUP, before, 1)
    assert said["text"].startswith("Approved 2 of 2 posts"), said
    assert [p.approval for p in await _posts(runtime, pub.id)] == ["approved", "approved"]
    assert (await mat.materialise(runtime)).entries == []  # a rerun makes nothing more
    for post in made:
        clock.advance(seconds=(post.scheduled_at - clock.now()).total_seconds() + 30)
        await drain()
        assert await _statuses(runtime, post.id) == [DeliveryStatus.published]
    assert sorted(r.text for r, _ in pub.publisher.calls) == sorted(p.text for p in made)
    async with runtime.db.session() as session:
        per_slot_date = select(func.count()).select_from(WeeklyPost).group_by(WeeklyPost.slot_id, WeeklyPost.local_date)
        assert list((await session.execute(per_slot_date)).scalars().all()) == [1, 1]
        slot_ids = select(WeeklyPost.slot_id).where(WeeklyPost.account_id == pub.id)
        assert sorted((await session.execute(slot_ids)).scalars().all()) == sorted(slots)


async def test_a_viewers_press_is_refused_privately_and_changes_nothing(
    runtime: Runtime, group: Chats, pub: Pub, clock: FrozenClock
) -> None:
    await _plan_two_slots(runtime, pub)
    await mat.materialise(runtime)
    week = await _message_with(runtime, group, clock, "Approve all")
    before = len(await group.twin.control.messages(VIEWER))

    await _press(group, week, "Approve all", VIEWER)

    [refusal] = await group.new_messages(VIEWER, before, 1)
    assert "can't" in refusal["text"].lower() and "admin" in refusal["text"], refusal
    assert [p.approval for p in await _posts(runtime, pub.id)] == ["pending", "pending"]


async def test_reject_asks_why_in_the_private_chat(
    runtime: Runtime, group: Chats, pub: Pub, clock: FrozenClock
) -> None:
    await _plan_two_slots(runtime, pub)
    await mat.materialise(runtime)
    request = await _message_with(runtime, group, clock, "Reject")
    post = next(p for p in await _posts(runtime, pub.id) if p.text in request["text"])
    before = len(await group.twin.control.messages(ADMIN))

    toast = await _press(group, request, "Reject", ADMIN)

    assert toast == "I've asked you why in our private chat", toast
    [question] = await group.new_messages(ADMIN, before, 1)
    assert question["text"].startswith(f"Why is post {post.id} rejected?"), question
    [answer] = await group.says("Quiz is off this week", ADMIN)
    assert f"Post {post.id} rejected" in answer["text"] and "Quiz is off this week" in answer["text"], answer
    post = next(p for p in await _posts(runtime, pub.id) if p.id == post.id)
    assert (post.approval, post.approval_note) == ("rejected", "Quiz is off this week")
    assert await _statuses(runtime, post.id) == [DeliveryStatus.cancelled]


async def test_two_approvers_at_once_decide_once_and_the_second_is_told_who(
    runtime: Runtime, group: Chats, pub: Pub, clock: FrozenClock
) -> None:
    await _plan_two_slots(runtime, pub)
    await mat.materialise(runtime)
    week = await _message_with(runtime, group, clock, "Approve all")

    toasts = await asyncio.gather(_press(group, week, "1 · Approve", ADMIN), _press(group, week, "1 · Approve", OWNER))

    decided = [t for t in toasts if t.startswith("Post") and "approved" in t]
    refused = [t for t in toasts if not t.startswith("Post")]
    assert len(decided) == 1 and len(refused) == 1, toasts
    told = await group.twin.control.messages(ADMIN) + await group.twin.control.messages(OWNER)
    assert any("already approved by" in m["text"].lower() for m in told), [m["text"] for m in told]
    assert (await _posts(runtime, pub.id))[0].approval == "approved"


async def test_skip_cancels_that_dates_post_and_the_plan_does_not_make_it_again(
    runtime: Runtime, group: Chats, pub: Pub, clock: FrozenClock
) -> None:
    await _plan_two_slots(runtime, pub)
    await mat.materialise(runtime)
    week = await _message_with(runtime, group, clock, "Approve all")
    second = (await _posts(runtime, pub.id))[1]

    toast = await _press(group, week, "2 · Skip", ADMIN)

    assert toast == f"Post {second.id} skipped", toast
    assert await _statuses(runtime, second.id) == [DeliveryStatus.cancelled]
    assert (await mat.materialise(runtime)).entries == []
    assert len(await _posts(runtime, pub.id)) == 2
    async with runtime.db.session() as session:
        outcome = select(WeeklyPost.outcome).where(WeeklyPost.post_id == second.id)
        assert (await session.execute(outcome)).scalar_one() == "skipped"


async def test_cancel_while_a_reason_is_asked_leaves_the_post_waiting(
    runtime: Runtime, group: Chats, pub: Pub, clock: FrozenClock
) -> None:
    await _plan_two_slots(runtime, pub)
    await mat.materialise(runtime)
    request = await _message_with(runtime, group, clock, "Reject")
    await _press(group, request, "Reject", ADMIN)

    [said] = await group.says("/cancel", ADMIN)

    assert said["text"].startswith("Not rejected"), said
    assert [p.approval for p in await _posts(runtime, pub.id)] == ["pending", "pending"]
