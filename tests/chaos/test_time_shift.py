"""Time moved for everyone at once (`Cluster.shift`): the workers, the test's own runtime and both twins
share one offset, so hours pass inside a scenario with real worker processes."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from storage.models import DeliveryStatus, PostTarget
from tests.chaos.cluster import LEASE_SECONDS, Cluster
from tests.chaos.conftest import Venue
from tests.chaos.outcome import copies_at_twin, measure, wait_settled

pytestmark = pytest.mark.chaos

SETTLE = LEASE_SECONDS * 4 + 10
EARLY_WATCH = 3.0  # seconds of dispatcher ticks (every 0.2 s) watched an hour before the due time
AGREE = timedelta(seconds=5)  # core's clock and a twin's, read a moment apart on a busy machine


def _published(t: PostTarget) -> bool:
    return t.status is DeliveryStatus.published


async def _access_tokens(cluster: Cluster) -> int:
    """Access tokens the Google twin has issued: one at connect, one more per refresh."""
    return sum(1 for t in (await cluster.google.snapshot()).tokens if t.kind == "access")


def _agree(core: datetime, twin: datetime) -> bool:
    return abs(core - twin) <= AGREE


async def test_post_two_hours_ahead_goes_out_after_the_shift_and_never_before(
    cluster: Cluster, venue: Venue, google_location: int
) -> None:
    for name in ("w1", "w2"):
        cluster.start_worker(name)
    await cluster.workers_ready(2)
    when = (cluster.runtime.clock.now() + timedelta(hours=2)).isoformat(timespec="seconds")
    connections = [venue.pages[0], google_location]
    targets = await cluster.post_many(venue.id, connections, 1, label="two hours ahead", when=when)

    # An hour on (the Google access token from the consent has just expired): still an hour early.
    await cluster.shift(3600)
    early: list[str] = []
    deadline = time.monotonic() + EARLY_WATCH
    while time.monotonic() < deadline:
        rows = await cluster.deliveries(targets)
        early += [f"{t.id}:{t.status.value}" for t in rows if t.status is not DeliveryStatus.scheduled]
        await asyncio.sleep(0.2)
    rows = await cluster.deliveries(targets)
    copies = await copies_at_twin(cluster, rows)
    assert not early and all(t.attempts == 0 for t in rows), early
    assert not any(copies.values()), f"published an hour early: {copies}"
    tokens_before = await _access_tokens(cluster)

    # Past the due time: both go out once; the expired Google token is refreshed first.
    since = time.time()
    await cluster.shift(3600 + 60)
    row = await measure(
        cluster,
        "due in 2 h: shift +1 h (nothing), then +1 h 1 min",
        targets,
        within=SETTLE,
        rest=_published,
        since=since,
    )
    # A second Google post, due now on the moved clock: the refreshed token was stamped on that clock too
    # (the adapter's `now`), so it is still fresh and not refreshed again.
    more = await cluster.post_many(venue.id, [google_location], 1, label="after the shift")
    [after], took = await wait_settled(cluster, more, within=SETTLE, rest=_published)
    refreshes = await _access_tokens(cluster) - tokens_before
    core_now = cluster.runtime.clock.now()
    google_now = (await cluster.google.snapshot()).now
    row.notes = (
        f"watched {EARLY_WATCH:.0f} s at +1 h: {'claimed early' if early else 'nothing claimed'}; then +1 h 1 min; "
        f"Google token refreshes for 2 posts: {refreshes}"
    )
    assert row.passed and row.published == len(targets), row.line()
    assert took is not None, f"the post after the shift did not go out: {after.status.value} {after.note}"
    assert refreshes == 1, f"{refreshes} Google token refreshes for 2 posts after the shift, want 1"
    assert cluster.shifted == timedelta(hours=2, minutes=1)
    assert _agree(core_now, google_now) and _agree(core_now, cluster.meta_state.now()), (core_now, google_now)
    published = [t.published_at for t in await cluster.deliveries([*targets, *more])]
    assert all(p is not None and p >= datetime.fromisoformat(when) for p in published), (when, published)
