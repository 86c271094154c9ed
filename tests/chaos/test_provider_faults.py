"""The Meta twin misbehaves under real workers: ghost successes, hangs past the lease and past the client
timeout, throttling with Retry-After, Instagram containers stuck then ERROR or EXPIRED, quota exhausted, token
revoked."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from providers.http import READ_TIMEOUT
from storage.models import ConnectionPacing, DeliveryStatus, PostTarget
from tests.chaos.cluster import LEASE_SECONDS, Cluster
from tests.chaos.conftest import Venue, ready_photo
from tests.chaos.outcome import measure, settled, wait_settled
from tests.factories import eventually

pytestmark = pytest.mark.chaos

SETTLE = LEASE_SECONDS * 4 + 10


async def _workers(cluster: Cluster, count: int = 2) -> None:
    for n in range(count):
        cluster.start_worker(f"w{n + 1}")
    await cluster.workers_ready(count)


async def test_commit_then_500(cluster: Cluster, venue: Venue) -> None:
    await cluster.meta.commit_then_error(1, code=2)  # Graph made the post, then answered HTTP 500
    await _workers(cluster)
    since = time.time()
    targets = await cluster.post_many(venue.id, venue.pages[:1], 3, label="ghost success")
    row = await measure(cluster, "commit-then-500 (ghost success)", targets, within=SETTLE, since=since)
    assert row.passed and row.flagged.get("in_doubt") == 1, row.line()


async def test_server_error_before_commit(cluster: Cluster, venue: Venue) -> None:
    await cluster.meta.server_error(1, code=2)  # HTTP 500, nothing made: we cannot tell, so in doubt
    await _workers(cluster)
    since = time.time()
    targets = await cluster.post_many(venue.id, venue.pages[:1], 3, label="plain 500")
    row = await measure(cluster, "500 with nothing made", targets, within=SETTLE, since=since)
    assert row.passed, row.line()


async def test_commit_then_hang_past_the_lease(cluster: Cluster, venue: Venue) -> None:
    # The answer takes longer than the lease: the sweep flags it in doubt; the late answer then wins.
    await cluster.meta.commit_then_hang(LEASE_SECONDS + 3, 1, path_contains="feed")
    await _workers(cluster)
    since = time.time()
    targets = await cluster.post_many(venue.id, venue.pages[:1], 3, label="hang past lease")
    rows, flagged_after = await wait_settled(cluster, targets, within=SETTLE, rest=_in_doubt_or_published)
    assert flagged_after is not None and any(t.status is DeliveryStatus.in_doubt for t in rows), rows
    row = await measure(
        cluster,
        "commit-then-hang 8 s (past the lease)",
        targets,
        within=SETTLE,
        rest=lambda t: t.status is DeliveryStatus.published,
        since=since,
        notes=f"in doubt after {flagged_after:.1f} s, then the late answer published it",
    )
    assert row.passed, row.line()


def _in_doubt_or_published(t: PostTarget) -> bool:
    return t.status in (DeliveryStatus.in_doubt, DeliveryStatus.published)


@pytest.mark.slow
async def test_commit_then_hang_past_the_client_timeout(cluster: Cluster, venue: Venue) -> None:
    # Past providers.http.READ_TIMEOUT (60 s, not a setting): the worker itself gives up after sending. The
    # lease is production's shape here (longer than the read timeout), so the timeout, not the sweep, decides.
    hang = READ_TIMEOUT + 2
    await cluster.meta.commit_then_hang(hang, 1, path_contains="feed")
    for name in ("w1", "w2"):
        cluster.start_worker(name, CHEERS_PUBLISH_LEASE_SECONDS=str(READ_TIMEOUT + 10))
    await cluster.workers_ready(2)
    since = time.time()
    targets = await cluster.post_many(venue.id, venue.pages[:1], 2, label="timeout after send")
    row = await measure(
        cluster,
        "timeout after send (answer after 62 s, read timeout 60 s)",
        targets,
        within=READ_TIMEOUT + 20,
        since=since,
        notes="lease 70 s: the worker's own timeout flags it",
    )
    await asyncio.sleep(max(0.0, since + hang + 1 - time.time()))  # let the twin's held answer finish
    assert row.passed and row.flagged.get("in_doubt") == 1, row.line()


async def test_throttled_with_retry_after(cluster: Cluster, venue: Venue) -> None:
    await cluster.meta.rate_limit(1, code=4, retry_after=3)  # refused once, asking for 3 s
    await _workers(cluster)
    since = time.time()
    targets = await cluster.post_many(venue.id, venue.pages[:1], 3, label="throttled")

    async def paced() -> ConnectionPacing | None:
        async with cluster.runtime.db.session() as session:
            return await session.get(ConnectionPacing, venue.pages[0])

    pacing = await eventually(paced, what="the throttled connection to be paced", within=SETTLE)
    paced_until = pacing.next_allowed_at

    def out_or_waiting(t: PostTarget) -> bool:
        # The twin's throttle carries usage headers at 100 %: the connection rests 5 min, whatever Retry-After says.
        waiting = t.status in (DeliveryStatus.retrying, DeliveryStatus.scheduled) and paced_until > datetime.now(UTC)
        return t.status is DeliveryStatus.published or waiting

    wait = (paced_until - datetime.now(UTC)).total_seconds()
    row = await measure(
        cluster,
        "code 4 throttle with Retry-After 3 s",
        targets,
        within=SETTLE,
        rest=out_or_waiting,
        since=since,
        notes=f"connection paced {wait:.0f} s more ({pacing.reason}); nothing sent meanwhile",
    )
    assert row.passed, row.line()


async def test_instagram_container_stuck_then_error(cluster: Cluster, venue: Venue) -> None:
    assert venue.instagram is not None
    photo = await ready_photo(cluster, venue)
    await cluster.meta.container_fault("error", after_seconds=8)
    await _workers(cluster)
    since = time.time()
    targets = await cluster.post_many(venue.id, [venue.instagram], 2, label="container error", media_ids=[photo])
    row = await measure(cluster, "IG container IN_PROGRESS 8 s then ERROR", targets, within=40, since=since)
    assert row.passed, row.line()


async def test_instagram_container_stuck_then_expired(cluster: Cluster, venue: Venue) -> None:
    assert venue.instagram is not None
    photo = await ready_photo(cluster, venue)
    await cluster.meta.container_fault("expired")  # the next container never finishes
    await _workers(cluster)
    since = time.time()
    targets = await cluster.post_many(venue.id, [venue.instagram], 1, label="container expired", media_ids=[photo])
    # Stuck: at least one status check saw it IN_PROGRESS (the delivery waits, processing, saying so).
    [stuck], _ = await wait_settled(
        cluster,
        targets,
        within=SETTLE,
        rest=lambda t: t.status is DeliveryStatus.processing and bool(t.stage.get("checks")),
    )
    assert "still processing" in (stuck.note or ""), stuck.note
    await cluster.meta.advance_clock(24 * 3600)  # Meta's day passes: an unpublished container is EXPIRED
    row = await measure(
        cluster,
        "IG container stuck, then EXPIRED (twin clock +24 h)",
        targets,
        within=40,
        since=since,
        rest=lambda t: t.status is DeliveryStatus.published,
    )
    ig_id = cluster.ig_ids[venue.instagram]
    containers = [c for c in cluster.meta_state.content.containers.values() if c.ig_user_id == ig_id]
    row.notes = f"{len(containers)} containers made (the expired one recreated), 1 media_publish"
    assert row.passed and row.published == 1 and len(containers) == 2, row.line()


async def test_instagram_quota_exhausted(cluster: Cluster, venue: Venue) -> None:
    assert venue.instagram is not None
    photo = await ready_photo(cluster, venue)
    await cluster.meta.exhaust_quota(cluster.ig_ids[venue.instagram])
    await _workers(cluster)
    since = time.time()
    targets = await cluster.post_many(
        venue.id, [venue.instagram], 2, label="quota", media_ids=[photo], freshness_minutes=48 * 60
    )

    async def paced() -> ConnectionPacing | None:
        async with cluster.runtime.db.session() as session:
            return await session.get(ConnectionPacing, venue.instagram)

    paced_until = (await eventually(paced, what="the quota to pace the account", within=SETTLE)).next_allowed_at

    def told(t: PostTarget) -> bool:  # put back until the quota frees, saying so
        return t.status is DeliveryStatus.retrying and t.attempts > 0 and bool(t.note)

    def held(t: PostTarget) -> bool:  # due, but never claimed while its connection is paced: goes out after
        return t.status in (DeliveryStatus.processing, DeliveryStatus.scheduled) and paced_until > datetime.now(UTC)

    row = await measure(
        cluster,
        "IG quota exhausted",
        targets,
        within=SETTLE,
        rest=lambda t: settled(t) or told(t) or held(t),
        since=since,
    )
    rows = await cluster.deliveries(targets)
    waiting = [t for t in rows if held(t)]
    stale = [t.note for t in waiting if not (t.note or "").startswith("Waiting")]
    row.notes = f"{sum(map(told, rows))} retrying, saying why; {len(waiting)} held behind the account's pacing"
    assert not stale, f"a post held behind the paced account does not say why it waits: {stale[0]!r} (Found 9)"
    assert row.passed and await cluster.meta.instagram_media() == [], row.line()


async def test_page_token_revoked_mid_run(cluster: Cluster, venue: Venue) -> None:
    await _workers(cluster)
    first = await cluster.post_many(venue.id, venue.pages[:1], 1, label="before revoke")
    [done], _ = await wait_settled(cluster, first, within=SETTLE)
    assert done.status is DeliveryStatus.published, done.note
    await cluster.meta.expire_token(user_id=None)
    since = time.time()
    later = await cluster.post_many(venue.id, venue.pages[:1], 3, label="after revoke")
    row = await measure(cluster, "Page token revoked mid-run", later, within=SETTLE, since=since)
    assert row.passed and row.flagged.get("needs_reconnect") == 3, row.line()
