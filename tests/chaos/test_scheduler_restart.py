"""The scheduler restarted inside a cron minute (docs/reliability.md#taskiq-and-redis: a restart
inside a cron minute can fire jobs twice, so they must be idempotent): the Procfile's `--skip-first-run` keeps
a restart from firing again, and a
scheduler started without it does fire twice, which the jobs must absorb."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.ops.jobs import JOBS
from core.publishing.dispatcher import tick
from core.publishing.engine import run_delivery
from core.publishing.watchdog import KIND as QUEUE_STALLED
from storage.models import DeliveryStatus, Heartbeat
from tests.chaos.cluster import Cluster, procfile_command
from tests.chaos.conftest import Venue
from tests.chaos.outcome import measure
from tests.factories import eventually, job_runs
from tests.publishing.support import notifications_of

pytestmark = pytest.mark.chaos

EVERY_MINUTE = sorted(name for name, spec in JOBS.items() if spec.cron == "* * * * *")
SKIP_FLAG = "--skip-first-run"


async def _senders(cluster: Cluster) -> dict[str, str]:
    """Each scheduler process's heartbeat: instance → the last thing it did ("startup" or the task it sent)."""
    async with cluster.runtime.db.session() as session:
        rows = await session.execute(select(Heartbeat).where(Heartbeat.component == "scheduler"))
        return {b.instance: str(b.info.get("last_task")) for b in rows.scalars()}


async def _new_scheduler(cluster: Cluster, name: str, known: set[str], *, sent: bool) -> str:
    """Wait for a scheduler instance not in `known` that has started (or, with `sent`, sent a job)."""

    async def check() -> str | None:
        for instance, last in (await _senders(cluster)).items():
            if instance not in known and (last.startswith("job:") or not sent):
                return instance
        return None

    try:
        return await eventually(check, what=f"{name} to {'send' if sent else 'start'}", within=75, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.log_tails()}") from None


async def _until_second(second: float) -> None:
    """Sleep until `second` past the current minute (now, if already past it)."""
    now = datetime.now(UTC)
    await asyncio.sleep(max(0.0, second - (now.second + now.microsecond / 1e6)))


@pytest.mark.slow
async def test_scheduler_restarted_inside_a_cron_minute(cluster: Cluster, venue: Venue) -> None:
    # Before any worker: one delivery in doubt with Facebook holding it (published here, in this process, by a
    # dispatcher tick, so no worker ever beats), and one post per Page that nothing picks up.
    await cluster.meta.commit_then_error(1, code=2)
    ghost = await cluster.post_many(venue.id, venue.pages[:1], 1, label="restart ghost")

    async def here(target_id: int, token: str) -> None:
        await run_delivery(cluster.runtime, target_id, token, worker="chaos test")

    await tick(cluster.runtime, here)
    [in_doubt] = await cluster.deliveries(ghost)
    assert in_doubt.status is DeliveryStatus.in_doubt, (in_doubt.status, in_doubt.note)
    waiting = await cluster.post_many(venue.id, venue.pages, 1, label="restart waiting")
    if datetime.now(UTC).second > 45:  # A must be up before the minute turns, or it skips that minute
        await _until_second(61)
    command = procfile_command("scheduler")
    assert SKIP_FLAG in command, command
    a = cluster.start("scheduler-a", command)
    a_id = await _new_scheduler(cluster, "scheduler A", set(), sent=True)
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    await asyncio.sleep(2.0)  # let A finish handing its jobs to Redis
    a.kill()
    b = cluster.start("scheduler-b", command)  # restarted inside the minute, with the Procfile's flag
    b_id = await _new_scheduler(cluster, "scheduler B", {a_id}, sent=False)
    await _until_second(20)
    b_last = (await _senders(cluster))[b_id]
    b.kill()
    cluster.start("scheduler-c", [arg for arg in command if arg != SKIP_FLAG])  # restarted without it
    await _new_scheduler(cluster, "scheduler C", {a_id, b_id}, sent=True)
    assert datetime.now(UTC) < minute + timedelta(minutes=1), "C sent after the minute turned: rerun"
    stalled = len(await notifications_of(cluster.runtime, venue.id, QUEUE_STALLED))
    since = time.time()  # recovery: from the workers' start to every delivery out
    for name in ("w1", "w2"):  # the workers take both schedulers' jobs at once: two reconciliations race
        cluster.start_worker(name)
    row = await measure(
        cluster,
        "scheduler restarted twice inside a cron minute",
        [*ghost, *waiting],
        within=60,
        since=since,
        rest=lambda t: t.status is DeliveryStatus.published,
    )
    runs = Counter(r.name for r in await job_runs(cluster.runtime) if r.started_at < minute + timedelta(minutes=1))
    reconciled = [r.result for r in await job_runs(cluster.runtime, "reconcile-in-doubt") if r.result.get("found")]
    stalled_after = len(await notifications_of(cluster.runtime, venue.id, QUEUE_STALLED))
    row.notes = (
        f"B (Procfile, {SKIP_FLAG}) sent nothing that minute (last: {b_last}); C (without it) sent at once: "
        f"{', '.join(f'{n} x{runs[n]}' for n in EVERY_MINUTE)}; queue_stalled notifications: {stalled_after}; "
        f"ghost found by {len(reconciled)} reconciliation(s)"
    )
    assert b_last == "startup", f"the restarted scheduler sent {b_last} inside the minute A had fired in"
    assert all(runs[n] == 2 for n in EVERY_MINUTE), runs  # A's and C's, none from B
    assert stalled == stalled_after == 1, (stalled, stalled_after)
    assert row.passed and len(reconciled) == 1, row.line()
