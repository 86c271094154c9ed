"""Business Profile under real workers: Google creates the local post but the answer is lost (HTTP 500 after
the commit, or an answer held past the lease); the delivery waits in doubt until the `reconcile-in-doubt` job
finds the post at Google, and the location ends with exactly one copy."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.ops.jobs import run_job
from core.publishing.reconcile import JOB_NAME
from storage.models import DeliveryStatus, PostTarget
from tests.chaos.cluster import LEASE_SECONDS, Cluster
from tests.chaos.conftest import Venue
from tests.chaos.outcome import measure, wait_settled
from tests.publishing.support import notifications_of

pytestmark = pytest.mark.chaos

SETTLE = LEASE_SECONDS * 4 + 10


async def _workers(cluster: Cluster) -> None:
    for name in ("w1", "w2"):
        cluster.start_worker(name)
    await cluster.workers_ready(2)


async def _in_doubt(cluster: Cluster, targets: list[int], count: int) -> list[PostTarget]:
    def settled_or_doubt(t: PostTarget) -> bool:
        return t.status in (DeliveryStatus.published, DeliveryStatus.in_doubt)

    rows, took = await wait_settled(cluster, targets, within=SETTLE, rest=settled_or_doubt)
    doubt = [t for t in rows if t.status is DeliveryStatus.in_doubt]
    assert took is not None and len(doubt) == count, [(t.status.value, t.note) for t in rows]
    return doubt


def _published(t: PostTarget) -> bool:
    return t.status is DeliveryStatus.published


async def test_google_commit_then_500(cluster: Cluster, venue: Venue, google_location: int) -> None:
    await cluster.google.commit_then_error(1, status=500)  # the post is made, the answer says it was not
    await _workers(cluster)
    since = time.time()
    targets = await cluster.post_many(venue.id, [google_location], 3, label="gbp ghost")
    [doubt] = await _in_doubt(cluster, targets, 1)
    found = await run_job(cluster.runtime, JOB_NAME, trigger="manual")
    row = await measure(
        cluster,
        "GBP commit-then-500, then reconcile-in-doubt",
        targets,
        within=SETTLE,
        since=since,
        rest=_published,
        notes=f"in doubt after the 500 (code {doubt.error_code}); reconcile-in-doubt: {_counts(found)}",
    )
    location = cluster.locations[google_location]
    assert row.passed and found.get("found") == 1, row.line()
    assert await cluster.google.visible_post_count(location) == len(targets)


async def test_google_commit_then_hang_past_the_lease(cluster: Cluster, venue: Venue, google_location: int) -> None:
    hang = LEASE_SECONDS + 5
    await cluster.google.commit_then_hang(1, seconds=hang)  # the post is made; the answer comes 10 s later
    await _workers(cluster)
    since = time.time()
    targets = await cluster.post_many(venue.id, [google_location], 3, label="gbp hang")
    [doubt] = await _in_doubt(cluster, targets, 1)  # the lease ran out while the worker waited
    flagged_after = time.time() - since
    found = await run_job(cluster.runtime, JOB_NAME, trigger="manual")  # while the answer is still held
    row = await measure(
        cluster,
        f"GBP commit-then-hang {hang:.0f} s, reconciled before the answer",
        targets,
        within=SETTLE,
        since=since,
        rest=_published,
        notes=f"in doubt after {flagged_after:.1f} s; reconcile-in-doubt: {_counts(found)}; then the late answer",
    )
    await _until(since + hang + 1)
    [again] = await cluster.deliveries([doubt.id])
    succeeded = await notifications_of(cluster.runtime, venue.id, "publish_succeeded")
    mine = [n for n in succeeded if n.subject.get("target_id") == doubt.id]
    location = cluster.locations[google_location]
    assert row.passed and found.get("found") == 1, row.line()
    assert again.status is DeliveryStatus.published and len(mine) == 1, (again.status, again.note, len(mine))
    assert await cluster.google.visible_post_count(location) == len(targets)


def _counts(result: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in result.items() if k != "checked")


async def _until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))
