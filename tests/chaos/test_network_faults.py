"""The network between the workers and Facebook breaks, through a proxy in the test process (tests/chaos/proxy.py):
connections refused before anything is sent, and reset after the request went out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from core.publishing.reconcile import reconcile_in_doubt
from storage.models import AttemptOutcome, DeliveryStatus, PostTarget, PublishAttempt
from tests.chaos.cluster import LEASE_SECONDS, Cluster
from tests.chaos.conftest import Venue
from tests.chaos.outcome import measure, wait_settled
from tests.chaos.proxy import BreakableProxy
from tests.factories import eventually

pytestmark = pytest.mark.chaos

SETTLE = LEASE_SECONDS * 4 + 10


@pytest.fixture
async def proxy(cluster: Cluster) -> AsyncIterator[BreakableProxy]:
    graph = urlsplit(cluster.settings.cheers_graph_url)
    assert graph.hostname and graph.port, graph
    made = BreakableProxy(graph.hostname, graph.port)
    await made.start()
    try:
        yield made
    finally:
        await made.close()


async def _workers_behind(cluster: Cluster, venue: Venue, proxy: BreakableProxy) -> None:
    """Two workers reaching Graph through the proxy (a retry after 0.5 to 1 s, then 1 to 2 s…); one post each way
    first, so the workers hold pooled keep-alive connections when the network breaks."""
    path = urlsplit(cluster.settings.cheers_graph_url).path
    for name in ("w1", "w2"):
        cluster.start_worker(name, CHEERS_GRAPH_URL=proxy.url + path, CHEERS_PUBLISH_RETRY_BASE_SECONDS="1")
    await cluster.workers_ready(2)
    warm = await cluster.post_many(venue.id, venue.pages, 1, label="through the proxy")
    rows, took = await wait_settled(cluster, warm, within=SETTLE)
    assert took is not None and all(t.status is DeliveryStatus.published for t in rows), rows


async def _attempts(cluster: Cluster, targets: list[int]) -> list[PublishAttempt]:
    async with cluster.runtime.db.session() as session:
        query = select(PublishAttempt).where(PublishAttempt.target_id.in_(targets))
        return list((await session.execute(query)).scalars())


async def test_connection_refused_before_send(cluster: Cluster, venue: Venue, proxy: BreakableProxy) -> None:
    await _workers_behind(cluster, venue, proxy)
    await proxy.set("refuse")
    since = time.time()
    targets = await cluster.post_many(venue.id, venue.pages, 3, label="refused")

    async def all_refused() -> bool | None:  # each tried and put back to retry, nothing sent
        tried = {a.target_id for a in await _attempts(cluster, targets) if a.outcome is AttemptOutcome.transient}
        return True if tried >= set(targets) else None

    await eventually(all_refused, what="every delivery to be refused once", within=SETTLE, interval=0.1)
    down = time.time() - since + 1.0
    await asyncio.sleep(1.0)  # a second more down: some are refused twice
    await proxy.set("pass")
    row = await measure(cluster, "connection refused before send", targets, within=SETTLE, since=since, rest=_published)
    refused = [a for a in await _attempts(cluster, targets) if a.outcome is AttemptOutcome.transient]
    row.notes = (
        f"Graph unreachable {down:.1f} s: {len(refused)} refused attempts (Transient, nothing sent), retried; "
        "all out once"
    )
    assert row.passed and row.published == len(targets), row.line()
    assert all("Could not reach Facebook" in (a.error or "") for a in refused), [a.error for a in refused]


async def test_connection_reset_after_send(cluster: Cluster, venue: Venue, proxy: BreakableProxy) -> None:
    await _workers_behind(cluster, venue, proxy)
    await proxy.set("reset")
    since = time.time()
    targets = await cluster.post_many(venue.id, venue.pages[:1], 2, label="reset after send")
    rows, took = await wait_settled(cluster, targets, within=SETTLE, rest=lambda t: t.status is DeliveryStatus.in_doubt)
    assert took is not None, [(t.status.value, t.note) for t in rows]
    await proxy.set("pass")
    # The reconcile-in-doubt job, here and at once (its cron waits a minute for Facebook to list new posts).
    checked = await reconcile_in_doubt(cluster.runtime, visibility_delay=timedelta(0))
    row = await measure(
        cluster,
        "connection reset after send",
        targets,
        within=SETTLE,
        since=since,
        rest=_published,
        notes=f"in doubt ({proxy.resets} resets); reconcile-in-doubt: {_counts(checked)}; then sent once",
    )
    assert row.passed and checked.get("absent") == len(targets), (row.line(), checked)


def _published(target: PostTarget) -> bool:
    return target.status is DeliveryStatus.published


def _counts(result: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in result.items() if k != "checked")
