"""materialise-weekly: next week's posts from the weekly plan, once per slot and local date, at the right instants
across both daylight-saving changes (Europe/London), kept in step with slot edits and timezone changes."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.clock import FrozenClock
from core.errors import NotFound
from core.notifications.kinds import NotificationKind
from core.ops import jobs
from core.posts import service
from core.posts.service import PostDraft
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from core.weekly import materialise as mat
from storage.models import (
    Account,
    Channel,
    Connection,
    ConnectionStatus,
    DeliveryStatus,
    Notification,
    Post,
    PostTarget,
    Role,
    WeeklyPost,
    WeeklySlot,
)
from tests import factories

SYSTEM = Actor(user_id=None, channel=Channel.cli)


async def move_to(clock: FrozenClock, at: datetime) -> None:
    """Move the test's clock to `at` (only forward: the fixture starts in November 2026)."""
    clock.advance(seconds=(at - clock.now()).total_seconds())


async def plan(runtime: Runtime, venue_id: int, connection_id: int, **values: Any) -> int:
    """One weekly slot of the venue; its id."""
    fields: dict[str, Any] = {
        "name": "Quiz night",
        "weekday": 1,
        "local_time": "20:00",
        "text_template": "Quiz night tonight, {date:%A %d %B}, from 8pm",
        "media_asset_ids": [],
        "connection_ids": [connection_id],
        "captions": {},
        "version": 1,
        "paused": False,
        **values,
    }
    async with runtime.uow() as uow:
        slot = WeeklySlot(account_id=venue_id, **fields)
        uow.session.add(slot)
        await uow.session.flush()
        await uow.commit()
        return slot.id


async def edit_slot(runtime: Runtime, slot_id: int, **values: Any) -> None:
    async with runtime.uow() as uow:
        slot = await uow.session.get(WeeklySlot, slot_id)
        assert slot is not None
        for key, value in values.items():
            setattr(slot, key, value)
        slot.version += 1
        await uow.commit()


async def rows(runtime: Runtime, venue_id: int) -> list[WeeklyPost]:
    async with runtime.db.session() as session:
        found = await session.execute(
            select(WeeklyPost).where(WeeklyPost.account_id == venue_id).order_by(WeeklyPost.local_date)
        )
        return list(found.scalars().all())


async def posts(runtime: Runtime, venue_id: int) -> list[Post]:
    async with runtime.db.session() as session:
        found = await session.execute(select(Post).where(Post.account_id == venue_id).order_by(Post.scheduled_at))
        return list(found.scalars().all())


async def count(runtime: Runtime, model: Any, venue_id: int) -> int:
    async with runtime.db.session() as session:
        query = select(func.count()).select_from(model).where(model.account_id == venue_id)
        return int((await session.execute(query)).scalar_one())


async def notices(runtime: Runtime, venue_id: int) -> list[Notification]:
    async with runtime.db.session() as session:
        query = select(Notification).where(
            Notification.account_id == venue_id, Notification.kind == NotificationKind.weekly_materialised.value
        )
        return list((await session.execute(query.order_by(Notification.id))).scalars().all())


async def setup(runtime: Runtime) -> tuple[int, int]:
    venue_id = await factories.venue(runtime, timezone="Europe/London")
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token")
    return venue_id, connection_id


async def test_next_weeks_posts_are_made_once_and_the_team_is_told(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))  # Monday
    venue_id, connection_id = await setup(runtime)
    quiz = await plan(runtime, venue_id, connection_id)
    await plan(runtime, venue_id, connection_id, name="Roast", weekday=6, local_time="12:00", text_template="Roast")

    result = await mat.materialise(runtime)

    assert [e.outcome for e in result.entries] == ["made", "made"]
    made = await posts(runtime, venue_id)
    assert [p.scheduled_at for p in made] == [
        datetime(2027, 1, 5, 20, 0, tzinfo=UTC),
        datetime(2027, 1, 10, 12, 0, tzinfo=UTC),
    ]
    assert made[0].text == "Quiz night tonight, Tuesday 05 January, from 8pm"
    found = await rows(runtime, venue_id)
    assert (found[0].slot_id, found[0].local_date, found[0].outcome) == (quiz, date(2027, 1, 5), "made")
    assert all(r.post_version == 1 and r.slot_version == 1 for r in found)
    told = await notices(runtime, venue_id)
    assert len(told) == 1
    payload = told[0].payload
    assert [p["slot_name"] for p in payload["posts"]] == ["Quiz night", "Roast"]
    assert payload["posts"][0]["targets"] == [connection_id]
    assert payload["posts"][0]["local_time"].startswith("Tue 5 Jan 2027 20:00 GMT")
    assert payload["not_made"] == []
    assert payload["planner_url"].endswith("/api/posts?week=next")

    again = await mat.materialise(runtime)
    assert again.entries == []
    assert await count(runtime, Post, venue_id) == 2
    assert len(await notices(runtime, venue_id)) == 1  # nothing new, nothing said


async def test_the_job_is_registered_and_runs_through_the_registry(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    await plan(runtime, venue_id, connection_id)
    assert jobs.get_job("materialise-weekly").cron.split()[2:] == ["*", "*", "*"]  # daily
    result = await jobs.run_job(runtime, "materialise-weekly", trigger="manual")
    assert result["made"] == 1 and result["notifications"] == 1
    result = await jobs.run_job(runtime, "materialise-weekly", trigger="manual")
    assert result["made"] == 0 and result["notifications"] == 0
    assert await count(runtime, Post, venue_id) == 1


async def test_spring_forward_week_instants_and_the_gap_said(runtime: Runtime, clock: FrozenClock) -> None:
    # The clocks go forward at 01:00 GMT on Sunday 28 March 2027: 01:30 that night does not exist.
    await move_to(clock, datetime(2027, 3, 23, 12, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    await plan(runtime, venue_id, connection_id, name="Sat", weekday=5, local_time="12:00", text_template="Sat")
    night = await plan(runtime, venue_id, connection_id, name="Late", weekday=6, local_time="01:30", text_template="x")
    await plan(runtime, venue_id, connection_id, name="Roast", weekday=6, local_time="12:00", text_template="Roast")

    await mat.materialise(runtime)

    by_text = {p.text: p.scheduled_at for p in await posts(runtime, venue_id)}
    assert by_text["Sat"] == datetime(2027, 3, 27, 12, 0, tzinfo=UTC)  # GMT
    assert by_text["Roast"] == datetime(2027, 3, 28, 11, 0, tzinfo=UTC)  # BST
    assert by_text["x"] == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 02:00 BST, the first minute after the jump
    gap = next(r for r in await rows(runtime, venue_id) if r.slot_id == night)
    assert gap.note is not None
    assert "does not exist in Europe/London" in gap.note and "02:00 BST" in gap.note
    payload = (await notices(runtime, venue_id))[0].payload
    assert any(p["note"] == gap.note for p in payload["posts"])


async def test_fall_back_week_instants_and_the_overlap_said(runtime: Runtime, clock: FrozenClock) -> None:
    # The clocks go back at 01:00 UTC on Sunday 31 October 2027: 01:30 that night happens twice.
    await move_to(clock, datetime(2027, 10, 26, 12, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    await plan(runtime, venue_id, connection_id, name="Sat", weekday=5, local_time="12:00", text_template="Sat")
    night = await plan(runtime, venue_id, connection_id, name="Late", weekday=6, local_time="01:30", text_template="x")
    await plan(runtime, venue_id, connection_id, name="Roast", weekday=6, local_time="12:00", text_template="Roast")

    await mat.materialise(runtime)

    by_text = {p.text: p.scheduled_at for p in await posts(runtime, venue_id)}
    assert by_text["Sat"] == datetime(2027, 10, 30, 11, 0, tzinfo=UTC)  # BST
    assert by_text["Roast"] == datetime(2027, 10, 31, 12, 0, tzinfo=UTC)  # GMT
    assert by_text["x"] == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # the first 01:30 (BST)
    fold = next(r for r in await rows(runtime, venue_id) if r.slot_id == night)
    assert fold.note is not None and "happens twice" in fold.note and "first 01:30" in fold.note


async def test_paused_deleted_and_out_of_dates_make_nothing(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    await plan(runtime, venue_id, connection_id, paused=True)
    await plan(runtime, venue_id, connection_id, deleted_at=clock.now())
    await plan(runtime, venue_id, connection_id, active_from=date(2027, 2, 1))
    await plan(runtime, venue_id, connection_id, active_until=date(2027, 1, 4))
    result = await mat.materialise(runtime)
    assert result.entries == []
    assert await count(runtime, Post, venue_id) == 0
    assert await count(runtime, WeeklyPost, venue_id) == 0
    assert await notices(runtime, venue_id) == []


async def test_a_slot_whose_media_or_connection_is_gone_is_not_made_with_reason_and_remedy(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    gone = await factories.connection(runtime, venue_id, access_token="t", status=ConnectionStatus.disconnected)
    media = await plan(runtime, venue_id, connection_id, name="Quiz", media_asset_ids=[987654])
    link = await plan(runtime, venue_id, gone, name="Music", weekday=4, local_time="21:00")

    result = await mat.materialise(runtime)

    assert sorted(e.slot_id for e in result.of("not_made")) == sorted([media, link])
    assert await count(runtime, Post, venue_id) == 0
    by_slot = {r.slot_id: r for r in await rows(runtime, venue_id)}
    assert by_slot[media].outcome == "not_made" and "media 987654 not found" in (by_slot[media].reason or "")
    assert "disconnected" in (by_slot[link].reason or "") and "connect it again" in (by_slot[link].reason or "")
    payload = (await notices(runtime, venue_id))[0].payload
    assert {p["slot_name"] for p in payload["not_made"]} == {"Quiz", "Music"}
    assert all(p["remedy"] for p in payload["not_made"])

    again = await mat.materialise(runtime)  # still broken: not said again
    assert again.entries == [] and len(await notices(runtime, venue_id)) == 1

    async with runtime.uow() as uow:
        row = await uow.session.get(Connection, gone)
        assert row is not None
        row.status = ConnectionStatus.active
        await uow.commit()
    fixed = await mat.materialise(runtime)  # fixed: the next run makes it
    assert [e.slot_id for e in fixed.of("made")] == [link]


async def test_an_edited_slot_updates_posts_not_sent_but_never_a_hand_edit(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    quiz = await plan(runtime, venue_id, connection_id)
    roast = await plan(runtime, venue_id, connection_id, name="Roast", weekday=6, local_time="12:00", text_template="R")
    await mat.materialise(runtime)
    by_slot = {r.slot_id: r for r in await rows(runtime, venue_id)}
    # A person edits the roast's post by hand.
    async with runtime.uow() as uow:
        access = VenueAccess(SYSTEM, venue_id, Role.owner)
        await service.update_post(runtime, uow.session, access, by_slot[roast].post_id or 0, PostDraft(text="Mine"))
        await uow.commit()

    await edit_slot(runtime, quiz, local_time="19:30", text_template="Quiz at 7:30")
    await edit_slot(runtime, roast, text_template="Roast from noon")
    result = await mat.materialise(runtime)

    assert [(e.slot_id, e.outcome) for e in result.entries] == [(quiz, "updated"), (roast, "kept_hand_edit")]
    texts = {p.id: (p.text, p.scheduled_at) for p in await posts(runtime, venue_id)}
    assert texts[by_slot[quiz].post_id or 0] == ("Quiz at 7:30", datetime(2027, 1, 5, 19, 30, tzinfo=UTC))
    assert texts[by_slot[roast].post_id or 0][0] == "Mine"
    async with runtime.db.session() as session:
        target = (
            await session.execute(select(PostTarget).where(PostTarget.post_id == by_slot[quiz].post_id))
        ).scalar_one()
    assert target.due_at == datetime(2027, 1, 5, 19, 30, tzinfo=UTC) and target.status is DeliveryStatus.scheduled
    payload = (await notices(runtime, venue_id))[-1].payload
    kept = next(p for p in payload["posts"] if p["slot_id"] == roast)
    assert kept["outcome"] == "kept_hand_edit" and "edited by hand" in kept["note"]
    assert await count(runtime, Post, venue_id) == 2
    assert (await mat.materialise(runtime)).entries == []  # said once


async def test_a_venue_timezone_change_keeps_each_slots_wall_time(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    await plan(runtime, venue_id, connection_id)
    await mat.materialise(runtime)
    async with runtime.uow() as uow:
        account = await uow.session.get(Account, venue_id)
        assert account is not None
        account.timezone = "Europe/Berlin"
        await uow.commit()

    result = await mat.materialise(runtime)

    assert [e.outcome for e in result.entries] == ["updated"]
    (post,) = await posts(runtime, venue_id)
    assert post.scheduled_at == datetime(2027, 1, 5, 19, 0, tzinfo=UTC)  # still 20:00, now in Berlin
    assert await count(runtime, Post, venue_id) == 1


async def test_skip_cancels_the_post_and_no_run_makes_it_again(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    await plan(runtime, venue_id, connection_id)
    await mat.materialise(runtime)
    (row,) = await rows(runtime, venue_id)
    async with runtime.uow() as uow:
        await mat.skip(runtime, uow.session, VenueAccess(SYSTEM, venue_id, Role.editor), row.post_id or 0)
        await uow.commit()
    (row,) = await rows(runtime, venue_id)
    assert row.outcome == "skipped"
    (post,) = await posts(runtime, venue_id)
    assert post.cancelled_at is not None
    assert (await mat.materialise(runtime)).entries == []
    assert await count(runtime, Post, venue_id) == 1

    other = await factories.venue(runtime)
    async with runtime.uow() as uow:
        try:
            await mat.skip(runtime, uow.session, VenueAccess(SYSTEM, other, Role.editor), post.id)
        except NotFound:
            pass
        else:
            raise AssertionError("another venue's post was skipped")


async def test_two_concurrent_runs_make_each_post_once(
    runtime: Runtime, clock: FrozenClock, settings: Settings
) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    for weekday in range(7):
        await plan(runtime, venue_id, connection_id, name=f"Day {weekday}", weekday=weekday, text_template="T")
    second = build_runtime(settings, clock=clock)
    try:
        first_result, second_result = await asyncio.gather(mat.materialise(runtime), mat.materialise(second))
    finally:
        await second.close()
    made = len(first_result.of("made")) + len(second_result.of("made"))
    assert made == 7
    assert await count(runtime, Post, venue_id) == 7
    assert await count(runtime, WeeklyPost, venue_id) == 7
    assert all(r.post_id is not None for r in await rows(runtime, venue_id))
    assert (await mat.materialise(runtime)).entries == []
    assert await count(runtime, Post, venue_id) == 7


async def test_a_slot_time_already_passed_today_is_not_made(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 5, 21, 0, tzinfo=UTC))  # Tuesday, after the quiz
    venue_id, connection_id = await setup(runtime)
    await plan(runtime, venue_id, connection_id)
    assert (await mat.materialise(runtime)).entries == []
    clock.advance(days=6)  # the next Monday: next Tuesday's quiz is made
    result = await mat.materialise(runtime)
    assert [e.local_date for e in result.of("made")] == [date(2027, 1, 12)]
    assert timedelta(0) < (result.entries[0].scheduled_at or clock.now()) - clock.now() < timedelta(days=2)


async def test_a_venue_that_approves_the_plans_posts_gets_them_pending(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    async with runtime.uow() as uow:
        account = await uow.session.get(Account, venue_id)
        assert account is not None
        account.approve_weekly_posts = True
        await uow.commit()
    await plan(runtime, venue_id, connection_id)
    result = await mat.materialise(runtime)
    (post,) = await posts(runtime, venue_id)
    assert post.approval == "pending" and result.entries[0].approval == "pending"
    async with runtime.db.session() as session:
        target = (await session.execute(select(PostTarget).where(PostTarget.post_id == post.id))).scalar_one()
    assert target.status is DeliveryStatus.pending_approval
    assert (await notices(runtime, venue_id))[0].payload["posts"][0]["approval"] == "pending"


async def test_a_slot_moved_to_another_day_withdraws_its_old_post(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    quiz = await plan(runtime, venue_id, connection_id)
    await mat.materialise(runtime)
    await edit_slot(runtime, quiz, weekday=2)  # Tuesday → Wednesday

    result = await mat.materialise(runtime)

    assert sorted((e.local_date, e.outcome) for e in result.entries) == [
        (date(2027, 1, 5), "withdrawn"),
        (date(2027, 1, 6), "made"),
    ]
    by_date = {r.local_date: r for r in await rows(runtime, venue_id)}
    assert by_date[date(2027, 1, 5)].outcome == "skipped"
    live = [p for p in await posts(runtime, venue_id) if p.cancelled_at is None]
    assert [p.scheduled_at for p in live] == [datetime(2027, 1, 6, 20, 0, tzinfo=UTC)]
    assert "1 withdrawn" in (await notices(runtime, venue_id))[-1].title
    assert (await mat.materialise(runtime)).entries == []


async def test_a_slot_paused_and_resumed_changes_and_says_nothing(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    quiz = await plan(runtime, venue_id, connection_id)
    await mat.materialise(runtime)
    await edit_slot(runtime, quiz, paused=True)
    assert (await mat.materialise(runtime)).entries == []  # paused: nothing made, the made post left
    await edit_slot(runtime, quiz, paused=False)

    assert (await mat.materialise(runtime)).entries == []
    (post,) = await posts(runtime, venue_id)
    assert post.version == 1 and post.cancelled_at is None
    assert len(await notices(runtime, venue_id)) == 1


async def test_a_slot_edit_the_post_refuses_leaves_the_post_whole_and_says_why(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    quiz = await plan(runtime, venue_id, connection_id)
    await mat.materialise(runtime)
    # New text and media that was deleted: the edit is refused after the text was already set on the post.
    await edit_slot(runtime, quiz, text_template="New words", media_asset_ids=[987654])

    result = await mat.materialise(runtime)

    [entry] = result.entries
    assert entry.outcome == "not_made" and "media 987654 not found" in (entry.reason or "") and entry.remedy
    (post,) = await posts(runtime, venue_id)
    assert post.text == "Quiz night tonight, Tuesday 05 January, from 8pm" and post.version == 1
    assert post.scheduled_at == datetime(2027, 1, 5, 20, 0, tzinfo=UTC)
    (row,) = await rows(runtime, venue_id)
    assert row.outcome == "made" and row.slot_version == 2
    assert (await mat.materialise(runtime)).entries == []  # told once


async def test_an_edit_refused_halfway_is_rolled_back_whole(runtime: Runtime, clock: FrozenClock) -> None:
    await move_to(clock, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    venue_id, connection_id = await setup(runtime)
    gone = await factories.connection(runtime, venue_id, access_token="t", status=ConnectionStatus.disconnected)
    quiz = await plan(runtime, venue_id, connection_id)
    await mat.materialise(runtime)
    # The edit sets the new text, then refuses the disconnected connection: nothing of it may stay.
    await edit_slot(runtime, quiz, text_template="New words", connection_ids=[gone])

    [entry] = (await mat.materialise(runtime)).entries

    assert entry.outcome == "not_made" and "disconnected" in (entry.reason or ""), entry
    (post,) = await posts(runtime, venue_id)
    assert post.text == "Quiz night tonight, Tuesday 05 January, from 8pm" and post.version == 1
    assert (await mat.materialise(runtime)).entries == []
