"""Worker processes SIGKILLed at each fault point of a publish, and for a while in a row."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.media.jobs import STUCK_AFTER
from core.media.jobs import sweep as media_sweep
from storage.models import DeliveryStatus
from tests.chaos.cluster import LEASE_SECONDS, Cluster, Worker
from tests.chaos.conftest import Venue, upload_photo
from tests.chaos.outcome import measure, wait_settled
from tests.chaos.throughput import Throughput
from tests.factories import eventually

pytestmark = pytest.mark.chaos

SETTLE = LEASE_SECONDS * 4 + 10  # a kill costs one lease, then one more claim


class ShiftedClock:
    """Real time moved forward: a periodic job as it will run later."""

    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.mark.chaos_quick
@pytest.mark.parametrize(
    ("point", "expect"),
    [
        ("after_claim", "requeued: no attempt was written, so it goes again"),
        ("before_provider_call", "in doubt: an attempt was in flight (nothing sent)"),
        ("after_provider_answer", "in doubt: Facebook has it, the answer died with the worker"),
    ],
    ids=["after_claim", "before_provider_call", "after_provider_answer"],
)
async def test_worker_killed_at_a_fault_point(
    cluster: Cluster, venue: Venue, rates: Throughput, point: str, expect: str
) -> None:
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    await cluster.workers_ready(2)
    await rates.before(2)
    cluster.arm(f"{point}=kill*1")
    targets = await cluster.post_many(venue.id, venue.pages[:1], 4, label=f"kill {point}")
    [(_, at)] = await _fired(cluster, point)
    row = await measure(cluster, f"SIGKILL {point}", targets, within=SETTLE, since=at, notes=expect)
    await rates.after(row, 2)  # taskiq's manager started a new process in place of the dead one
    assert row.passed, row.line()


async def _fired(cluster: Cluster, point: str) -> list[tuple[int, float]]:
    async def check() -> list[tuple[int, float]] | None:
        return cluster.fired(point) or None

    try:
        return await eventually(check, what=f"the fault at {point} to fire", within=20, interval=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.log_tails()}") from None


@pytest.mark.chaos_quick
async def test_worker_killed_during_image_work(cluster: Cluster, venue: Venue) -> None:
    assert venue.instagram is not None
    cluster.arm("during_image_work=kill*1")
    for name in ("w1", "w2"):
        cluster.start_worker(name)
    await cluster.workers_ready(2)
    await cluster.queue()  # the upload wakes the workers' media-derivatives task through it
    photo = await upload_photo(cluster, venue)
    [(_, at)] = await _fired(cluster, "during_image_work")
    targets = await cluster.post_many(venue.id, [venue.instagram], 1, label="image kill", media_ids=[photo])
    # The dead worker's claim holds the file in `processing` until media_jobs.STUCK_AFTER (10 min, a constant);
    # the delivery waits for it, saying so. Seen that, run the media sweep as its cron would after 10 min.
    [waiting], _ = await wait_settled(cluster, targets, within=10, rest=lambda t: bool(t.note))
    assert waiting.status is DeliveryStatus.scheduled and "Waiting" in (waiting.note or ""), waiting.note
    later = replace(cluster.runtime, clock=ShiftedClock(STUCK_AFTER + timedelta(minutes=1)))
    assert (await media_sweep(later))["stuck_reset"] == 1
    row = await measure(
        cluster,
        "SIGKILL during_image_work",
        targets,
        within=40,
        since=at,
        notes="file stuck until STUCK_AFTER (10 min, skipped here by a sweep with a shifted clock)",
    )
    assert row.passed and row.published == 1, row.line()


async def test_workers_killed_again_and_again(cluster: Cluster, venue: Venue, rates: Throughput) -> None:
    # Three workers, one killed at a time: a live dispatcher is always there to sweep (a restart takes ~2 s).
    workers = [cluster.start_worker(f"w{n}") for n in (1, 2, 3)]
    await cluster.workers_ready(3)
    await rates.before(3)
    # Every publish is held 0.5 s before the call, so most kills land mid-publish.
    cluster.arm("before_provider_call=hang:0.5")
    since = time.time()
    targets = await cluster.post_many(venue.id, venue.pages, 6, label="kill storm")
    for round_ in range(8):  # about 20 s of a worker dying every 2.5 s and being replaced
        await asyncio.sleep(2.5)
        victim = workers.pop(0)
        victim.kill()
        workers.append(cluster.start_worker(f"w{round_ + 4}"))
    cluster.disarm()
    row = await measure(
        cluster,
        "SIGKILL x8 over 20 s (kill storm)",
        targets,
        within=SETTLE * 2,
        since=since,
        notes="3 workers, one SIGKILLed every 2.5 s",
    )
    await rates.after(row, 3)
    assert row.passed, row.line()


@pytest.mark.slow
async def test_workers_killed_for_a_minute_while_posts_keep_coming(
    cluster: Cluster, venue: Venue, rates: Throughput
) -> None:
    workers = [cluster.start_worker(f"w{n}") for n in (1, 2, 3)]
    await cluster.workers_ready(3)
    await rates.before(3)
    cluster.arm("before_provider_call=hang:0.5")  # most kills land on a publish in flight
    seed = random.randrange(10_000)
    rng = random.Random(seed)  # which worker dies when: reproducible from the seed in the notes
    since = time.time()
    targets: list[int] = []
    feeding = asyncio.create_task(_keep_posting(cluster, venue, targets, seconds=MINUTE))
    kills = 0
    while time.time() - since < MINUTE:
        await asyncio.sleep(rng.uniform(2.0, 4.0))
        victim = rng.choice(workers)
        workers.remove(victim)
        victim.kill()
        kills += 1
        workers.append(cluster.start_worker(f"w{kills + 3}"))
    await feeding
    cluster.disarm()
    row = await measure(
        cluster,
        f"SIGKILL x{kills} over 60 s, posts arriving",
        targets,
        within=SETTLE * 2,
        since=since,
        notes=f"3 workers, a random one SIGKILLed every 2-4 s (seed {seed}); a post every second to both Pages",
    )
    await rates.after(row, 3)
    assert row.passed and _alive(workers) == 3, row.line()


MINUTE = 60.0


async def _keep_posting(cluster: Cluster, venue: Venue, into: list[int], *, seconds: float) -> None:
    """A post to both Pages every second for `seconds`, due at once (the storm never stops new work)."""
    ends = time.monotonic() + seconds
    n = 0
    while time.monotonic() < ends:
        into += await cluster.post_many(venue.id, venue.pages, 1, label=f"minute storm {n}")
        n += 1
        await asyncio.sleep(1.0)


def _alive(workers: list[Worker]) -> int:
    return sum(1 for w in workers if w.alive())
