"""The demo venue's weekly plan (`make dev`): quiz Tuesday 20:00, live music Friday 21:00, Sunday roast 12:00 —
waiting for a connection until one is there, then next week's posts."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from core.clock import FrozenClock
from core.ops.devsetup import demo_week_line, ensure_demo, ensure_demo_plan
from core.runtime import Runtime
from core.weekly.materialise import materialise
from storage.models import Post, WeeklySlot
from tests import factories


async def test_the_demo_plan_makes_next_weeks_posts_once_connected(runtime: Runtime, clock: FrozenClock) -> None:
    clock.advance(seconds=(datetime(2027, 1, 4, 9, 0, tzinfo=UTC) - clock.now()).total_seconds())  # a Monday
    async with runtime.uow() as uow:
        demo = await ensure_demo(uow.session, runtime.clock)
        assert await ensure_demo_plan(uow.session, runtime.clock, demo) == 3
        await uow.commit()
    first = await materialise(runtime, account_id=demo.account_id)
    assert len(first.of("not_made")) == 3 and "wait for a connection" in demo_week_line(first)

    await factories.connection(runtime, demo.account_id, access_token="page-token")
    async with runtime.uow() as uow:
        assert await ensure_demo_plan(uow.session, runtime.clock, demo) == 0  # kept; the new Page becomes its target
        await uow.commit()
    second = await materialise(runtime, account_id=demo.account_id)

    assert len(second.of("made")) == 3
    assert "Quiz night Tue 20:00, Live music Fri 21:00, Sunday roast Sun 12:00" in demo_week_line(second)
    assert "wait for your approval" in demo_week_line(second)
    async with runtime.db.session() as session:
        posts = (await session.execute(select(Post).where(Post.account_id == demo.account_id))).scalars().all()
        slots = (await session.execute(select(WeeklySlot))).scalars().all()
    assert {p.approval for p in posts} == {"pending"}, "the demo's weekly posts wait for the owner's approval"
    assert sorted(p.scheduled_at for p in posts) == [
        datetime(2027, 1, 5, 20, 0, tzinfo=UTC),
        datetime(2027, 1, 8, 21, 0, tzinfo=UTC),
        datetime(2027, 1, 10, 12, 0, tzinfo=UTC),
    ]
    assert len(slots) == 3
    assert (await materialise(runtime, account_id=demo.account_id)).entries == []
