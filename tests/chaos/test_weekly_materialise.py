"""materialise-weekly killed halfway, then run again (docs/chaos.md): the process running the job is SIGKILLed
inside a slot's transaction, after the post is made and before it commits; the next run makes what is missing and
nothing twice (the weekly_posts unique key, one short transaction per slot and date)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.posts.times import zone
from core.weekly import materialise
from storage.models import Account, JobRun, Post, WeeklyPost, WeeklySlot
from tests.chaos.cluster import Cluster
from tests.chaos.conftest import Venue
from tests.factories import REPO_ROOT

pytestmark = [pytest.mark.chaos, pytest.mark.chaos_quick]

CHEERS = str(REPO_ROOT / ".venv" / "bin" / "cheers")
POINT = "during_weekly_materialise"


async def _slots(cluster: Cluster, venue: Venue, days_ahead: list[int]) -> list[int]:
    """One slot a day, `days_ahead` days from the venue's today at 12:00 (always ahead, whatever the hour)."""
    runtime = cluster.runtime
    async with runtime.uow() as uow:
        account = await uow.session.get(Account, venue.id)
        assert account is not None
        today = runtime.clock.now().astimezone(zone(account.timezone)).date()
        ids = []
        for ahead in days_ahead:
            day = today + timedelta(days=ahead)
            slot = WeeklySlot(
                account_id=venue.id, name=f"Slot {day:%A}", weekday=day.weekday(), local_time="12:00",
                text_template="Chaos {date:%A}", media_asset_ids=[], connection_ids=[venue.pages[0]], captions={},
                version=1, paused=False,
            )  # fmt: skip
            uow.session.add(slot)
            await uow.session.flush()
            ids.append(slot.id)
        await uow.commit()
    return ids


async def _run_cli(cluster: Cluster, name: str) -> int:
    """`cheers jobs run materialise-weekly` as the operator (or a scheduler's worker) runs it; its exit code."""
    proc = cluster.start(name, [CHEERS, "--json", "jobs", "run", materialise.JOB_NAME])
    return await asyncio.to_thread(proc.proc.wait, 120)


async def _counts(cluster: Cluster, venue: Venue) -> tuple[int, int, list[tuple[int, object]]]:
    async with cluster.runtime.db.session() as session:
        posts = (await session.execute(select(func.count()).where(Post.account_id == venue.id))).scalar_one()
        rows = (await session.execute(select(WeeklyPost).where(WeeklyPost.account_id == venue.id))).scalars().all()
        return int(posts), len(rows), [(r.slot_id, r.local_date) for r in rows if r.post_id is None]


async def test_materialise_weekly_killed_halfway_then_run_again(cluster: Cluster, venue: Venue) -> None:
    [first] = await _slots(cluster, venue, [1])
    await materialise.materialise(cluster.runtime, account_id=venue.id)  # an earlier run made the first slot
    later = await _slots(cluster, venue, [2, 3])
    cluster.arm(f"{POINT}=kill*1")

    killed = await _run_cli(cluster, "materialise-killed")

    assert killed == -9, f"the run was not killed at {POINT} (exit {killed})\n{cluster.log_tails()}"
    assert len(cluster.fired(POINT)) == 1
    posts, rows, unmade = await _counts(cluster, venue)
    assert (posts, rows, unmade) == (1, 1, []), "the killed slot's row or post outlived its transaction"
    cluster.disarm()

    again = await _run_cli(cluster, "materialise-again")
    assert again == 0, cluster.log_tails()
    assert await _run_cli(cluster, "materialise-third") == 0, cluster.log_tails()

    posts, rows, unmade = await _counts(cluster, venue)
    assert (posts, rows, unmade) == (3, 3, []), (posts, rows, unmade)
    async with cluster.runtime.db.session() as session:
        grouped = select(WeeklyPost.slot_id, func.count()).where(WeeklyPost.account_id == venue.id)
        per_slot = {slot: n for slot, n in (await session.execute(grouped.group_by(WeeklyPost.slot_id))).all()}
        runs = (
            (await session.execute(select(JobRun).where(JobRun.name == materialise.JOB_NAME).order_by(JobRun.id)))
            .scalars()
            .all()
        )
    assert per_slot == {first: 1, later[0]: 1, later[1]: 1}
    # The killed run stays "running" on the record (nothing finished it): what an operator sees after a crash.
    assert [r.status for r in runs] == ["running", "succeeded", "succeeded"], [r.status for r in runs]
    assert runs[1].result["made"] == 2 and runs[2].result["made"] == 0, (runs[1].result, runs[2].result)
