"""Connecting makes the week: the demo's plan waits for a connection, and the Facebook Page a newcomer connects
through the sandbox consent flow wakes materialise-weekly for the venue, so next week's posts exist within
seconds (each slot and date once), not at the next daily run or restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from core.ops.devsetup import Demo, ensure_demo, ensure_demo_plan
from core.runtime import Runtime
from core.weekly.connected import after_connecting
from core.weekly.materialise import materialise
from core.weekly.wake import TASK_NAME
from storage.models import Post, PostTarget, Role, WeeklyPost, WeeklySlot
from tasks.inprocess import InProcessWorkers
from tests import factories
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins, browser, network, settings, twins  # noqa: F401 - the twins' fixtures
from tests.connections.helpers import META_PAGE_1, connect, connection_rows

# The test clock says Wednesday 25 Nov 2026 12:00 UTC (GMT): the coming week's Friday, Sunday and Tuesday.
WEEK = [
    datetime(2026, 11, 27, 21, 0, tzinfo=UTC),
    datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
    datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
]


@pytest.fixture
async def workers(runtime: Runtime) -> AsyncIterator[InProcessWorkers]:
    """The worker half of `make dev` (no scheduler: the daily run never fires here, only wake-ups do)."""
    w = InProcessWorkers(runtime, with_scheduler=False)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()


async def _demo(runtime: Runtime) -> Demo:
    async with runtime.uow() as uow:
        demo = await ensure_demo(uow.session, runtime.clock)
        assert await ensure_demo_plan(uow.session, runtime.clock, demo) == 3
        await uow.commit()
    return demo


async def _posts(runtime: Runtime, account_id: int) -> list[tuple[datetime, list[int]]]:
    async with runtime.db.session() as session:
        posts = (await session.execute(select(Post).where(Post.account_id == account_id))).scalars().all()
        found = []
        for post in posts:
            targets = (await session.execute(select(PostTarget).where(PostTarget.post_id == post.id))).scalars()
            found.append((post.scheduled_at, sorted(t.connection_id for t in targets)))
    return sorted(found)


async def test_connecting_facebook_makes_the_demo_weeks_posts_at_once_and_only_once(
    runtime: Runtime,
    client: httpx.AsyncClient,
    twins: Twins,  # noqa: F811
    browser: ConsentBrowser,  # noqa: F811
    workers: InProcessWorkers,
) -> None:
    demo = await _demo(runtime)
    waiting = await materialise(runtime, account_id=demo.account_id)  # what `make dev` prints at start
    assert len(waiting.of("not_made")) == 3 and await _posts(runtime, demo.account_id) == []
    admin = await factories.person(runtime, venue_id=demo.account_id, role=Role.admin)

    await connect(client, browser, admin, "facebook", pick=[META_PAGE_1], pick_in_browser=True)

    [page] = [c.id for c in await connection_rows(runtime)]

    async def made() -> list[tuple[datetime, list[int]]] | None:
        posts = await _posts(runtime, demo.account_id)
        return posts if len(posts) >= 3 else None

    assert await factories.eventually(made, what="the week's posts after connecting") == [(at, [page]) for at in WEEK]
    async with runtime.db.session() as session:
        slots = (await session.execute(select(WeeklySlot))).scalars().all()
    assert [s.connection_ids for s in slots] == [[page]] * 3, "the demo's slots target the Page connected"

    # A second wake-up (a redelivery) and the daily run make nothing more.
    await after_connecting(runtime, demo.account_id)
    assert (await materialise(runtime, account_id=demo.account_id)).entries == []
    assert await _posts(runtime, demo.account_id) == [(at, [page]) for at in WEEK]
    async with runtime.db.session() as session:
        rows = (await session.execute(select(WeeklyPost))).scalars().all()
    assert sorted((r.local_date.isoformat(), r.outcome) for r in rows) == [
        ("2026-11-27", "made"),
        ("2026-11-29", "made"),
        ("2026-12-01", "made"),
    ]


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []

    async def enqueue(self, task_name: str, **kwargs: object) -> None:
        self.sent.append((task_name, dict(kwargs)))

    async def depth(self) -> int | None:
        return len(self.sent)

    async def ping(self) -> None:
        return None


async def test_the_wake_up_is_sent_once_per_venue_after_the_commit_and_nothing_is_made_in_the_request(
    runtime: Runtime,
    client: httpx.AsyncClient,
    twins: Twins,  # noqa: F811
    browser: ConsentBrowser,  # noqa: F811
) -> None:
    queue = RecordingQueue()
    runtime.queue = queue
    demo = await _demo(runtime)
    admin = await factories.person(runtime, venue_id=demo.account_id, role=Role.admin)

    # Both Pages in one pick: one wake-up for the venue, and the request itself makes no post.
    await connect(client, browser, admin, "facebook", pick_in_browser=True)

    assert [s for s in queue.sent if s[0] == TASK_NAME] == [(TASK_NAME, {"account_id": demo.account_id})]
    assert await _posts(runtime, demo.account_id) == []
    summary = await after_connecting(runtime, demo.account_id)
    assert (summary["adopted"], summary["made"]) == (3, 3), summary
    pages = sorted(c.id for c in await connection_rows(runtime))
    assert await _posts(runtime, demo.account_id) == [(at, pages) for at in WEEK]
