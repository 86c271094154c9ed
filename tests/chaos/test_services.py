"""The services under the workers fail: Redis restarted (its streams forgotten), PostgreSQL restarted,
every database connection cut, the workers' connection pools exhausted."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.models import PublishAttempt
from tests.chaos.cluster import LEASE_SECONDS, Cluster
from tests.chaos.conftest import Venue
from tests.chaos.outcome import measure
from tests.chaos.throughput import Throughput
from tests.factories import eventually

pytestmark = pytest.mark.chaos

POSTS = 6
SETTLE = LEASE_SECONDS * 6 + 20


async def _started(cluster: Cluster, target_ids: list[int], at_least: int = 1) -> None:
    """Wait until some publishes are in flight (attempt rows written)."""

    async def check() -> bool | None:
        async with cluster.runtime.db.session() as session:
            query = select(func.count()).where(PublishAttempt.target_id.in_(target_ids))
            return True if (await session.execute(query)).scalar_one() >= at_least else None

    await eventually(check, what="a publish to be in flight", within=20, interval=0.05)


async def _two_slow_workers(cluster: Cluster, venue: Venue, rates: Throughput, label: str) -> list[int]:
    for name in ("w1", "w2"):
        cluster.start_worker(name)
    await cluster.workers_ready(2)
    await rates.before(2)
    # Each provider call is held 1 s, so the fault lands with publishes in flight and more queued.
    cluster.arm("before_provider_call=hang:1")
    targets = await cluster.post_many(venue.id, venue.pages, POSTS // 2, label=label)
    await _started(cluster, targets)
    return targets


@pytest.mark.chaos_quick
async def test_redis_restarted_with_work_in_flight(cluster: Cluster, venue: Venue, rates: Throughput) -> None:
    targets = await _two_slow_workers(cluster, venue, rates, "redis restart")
    since = time.time()
    await asyncio.to_thread(cluster.redis.restart, 1.0)  # no persistence: the stream and its group are gone
    cluster.disarm()
    row = await measure(
        cluster, "Redis restarted (no persistence) with work in flight", targets, within=SETTLE, since=since
    )
    await rates.after(row, 2)
    assert row.passed, row.line()


@pytest.mark.chaos_quick
async def test_postgres_restarted_mid_run(cluster: Cluster, venue: Venue, rates: Throughput) -> None:
    targets = await _two_slow_workers(cluster, venue, rates, "pg restart")
    since = time.time()
    await asyncio.to_thread(cluster.pg.restart, "fast", 2.0)
    cluster.disarm()
    row = await measure(cluster, "PostgreSQL restarted mid-run (down 2 s)", targets, within=SETTLE, since=since)
    await rates.after(row, 2)
    assert row.passed, row.line()


async def test_backends_terminated_mid_run(cluster: Cluster, venue: Venue, rates: Throughput) -> None:
    targets = await _two_slow_workers(cluster, venue, rates, "terminate backends")
    since = time.time()
    engine = create_async_engine(cluster.pg.url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for _ in range(3):  # cut every session of the scenario's database, three times in a row
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": cluster.database},
                )
                await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    cluster.disarm()
    row = await measure(cluster, "pg_terminate_backend x3 mid-run", targets, within=SETTLE, since=since)
    await rates.after(row, 2)
    assert row.passed, row.line()


STALL = 12.0  # seconds post_targets stays locked: past the pool's 10 s checkout timeout (storage/db.py)


async def test_connection_pool_exhausted(cluster: Cluster, venue: Venue, rates: Throughput) -> None:
    # CHEERS_DB_POOL_SIZE=1: each worker process has 2 connections (pool 1 + overflow 1) for its dispatcher loop,
    # heartbeat and every task. A burst, then the database stalls: every transaction on post_targets waits on a
    # lock while holding its connection, so the rest wait for the pool, past its timeout.
    for name in ("w1", "w2"):
        cluster.start_worker(name, CHEERS_DB_POOL_SIZE="1")
    await cluster.workers_ready(2)
    await rates.before(2)
    await cluster.meta.delay(2.0, count=4, path_contains="feed")  # their answers come back during the stall
    targets = await cluster.post_many(venue.id, venue.pages, 10, label="pool exhausted")
    await _started(cluster, targets, at_least=4)
    since = time.time()
    await _stall(cluster, STALL)
    row = await measure(
        cluster,
        f"pool exhausted (pool 1+1, post_targets locked {STALL:.0f} s)",
        targets,
        within=SETTLE,
        since=since,
        stalled=STALL,
    )
    await rates.after(row, 2)
    logs = "".join(w.log.read_text(errors="replace") for w in cluster.workers)
    row.notes = (
        f"{logs.count('QueuePool limit')} pool checkout timeouts (10 s) in the worker logs; "
        f"{logs.count('heartbeat_failed')} missed heartbeats"
    )
    assert row.passed, row.line()


async def _stall(cluster: Cluster, seconds: float) -> None:
    """Hold an EXCLUSIVE lock on post_targets: plain reads go on, every claim, sweep and settle waits."""
    engine = create_async_engine(cluster.settings.database)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("LOCK TABLE post_targets IN EXCLUSIVE MODE"))
            await asyncio.sleep(seconds)
    finally:
        await engine.dispose()
