"""Chaos scenarios: off in the ordinary run; on with `make chaos` (`-m chaos`) or CHEERS_CHAOS=1.

Fixtures: private PostgreSQL and Redis for the session (a migrated template database, one copy per
scenario), the Meta and Google twins in this process, a venue connected to Meta through the real consent
flow (`google_location` adds a Business Profile location), and `rates` for throughput before and after.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from api.devtwins import twin_settings
from core.media.jobs import process
from core.runtime import build_runtime
from sandbox.google.twin import PostSettings, running_google_twin
from sandbox.meta.twin import running_meta_twin
from storage import migrate
from storage.models import Connection, Provider
from tests import factories
from tests.chaos.cluster import DISPATCH_INTERVAL, LEASE_SECONDS, Cluster
from tests.chaos.outcome import HEADER, ROWS
from tests.chaos.services import PrivatePostgres, PrivateRedis, ServiceUnavailable
from tests.chaos.throughput import Throughput
from tests.conftest import make_settings
from tests.connections.browser import ConsentBrowser
from tests.connections.helpers import connect
from tests.media.images import encode, photo_like
from tests.publishing.twin_support import connected

TEMPLATE = "cheers_chaos_template"


def _chaos_wanted(config: pytest.Config) -> bool:
    markexpr = str(config.getoption("markexpr", "") or "")
    return os.environ.get("CHEERS_CHAOS") == "1" or re.search(r"(?<!not )\bchaos(_quick)?\b", markexpr) is not None


def quick_only(config: pytest.Config) -> bool:
    """Scenarios skip their throughput batches when only the quick subset is selected (`-m chaos_quick`) or
    `CHEERS_CHAOS_THROUGHPUT=0` (CI: scenarios run two at a time there, which would skew before/after rates)."""
    if os.environ.get("CHEERS_CHAOS_THROUGHPUT") == "0":
        return True
    markexpr = str(config.getoption("markexpr", "") or "")
    return re.search(r"(?<!not )\bchaos_quick\b", markexpr) is not None and not re.search(
        r"(?<!not )\bchaos\b", markexpr
    )


def pytest_configure(config: pytest.Config) -> None:
    # pyproject's --strict-markers: the marker is registered here, beside the only tests that use it.
    config.addinivalue_line("markers", "chaos: fault-injection scenarios with real processes (make chaos)")
    config.addinivalue_line("markers", "chaos_quick: a smaller subset of the scenarios (about 1.5 minutes)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _chaos_wanted(config):
        return
    skip = pytest.mark.skip(reason="chaos scenario: run with `make chaos` (pytest -m chaos, or CHEERS_CHAOS=1)")
    for item in items:
        if item.get_closest_marker("chaos") or item.get_closest_marker("chaos_quick"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.write_sep("=", "chaos scenarios")
        terminalreporter.write_line(HEADER)
        for row in ROWS:
            terminalreporter.write_line(row.line())


@dataclass
class Services:
    pg: PrivatePostgres
    redis: PrivateRedis


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """A private PostgreSQL (with a migrated template database) and a private Redis for the whole run."""
    try:
        pg, redis = PrivatePostgres(), PrivateRedis()
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    try:
        pg.init()
        pg.start()
        redis.start()
        _admin(pg, f'CREATE DATABASE "{TEMPLATE}"')
        migrate.upgrade(pg.url(TEMPLATE))
        yield Services(pg, redis)
    finally:
        redis.destroy()
        pg.destroy()


def _admin(pg: PrivatePostgres, sql: str) -> None:
    async def go() -> None:
        engine = create_async_engine(pg.url("postgres"), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(go())


@dataclass
class Venue:
    id: int
    admin: factories.Person
    pages: list[int]  # Facebook connection ids (the twin's two Pages)
    instagram: int | None


@pytest.fixture
async def cluster(services: Services, tmp_path: Path) -> AsyncIterator[Cluster]:
    """A fresh database copied from the template, the Meta and Google twins, and settings for short leases."""
    database = f"chaos_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(_admin, services.pg, f'CREATE DATABASE "{database}" TEMPLATE "{TEMPLATE}"')
    async with (
        running_meta_twin() as (meta_url, meta, meta_state),
        running_google_twin() as (google_url, google, _google_state),
    ):
        settings = make_settings(
            services.pg.url(database),
            tmp_path,
            redis_url=services.redis.url,
            cheers_task_queue=f"cheers-chaos:{uuid.uuid4().hex[:8]}",
            cheers_publish_lease_seconds=LEASE_SECONDS,
            cheers_dispatch_interval_seconds=DISPATCH_INTERVAL,
            cheers_connection_min_interval_seconds=0,
            heartbeat_interval_seconds=0.5,
            cheers_log_level="INFO",
            **twin_settings(meta_url, google_url),
        )
        runtime = build_runtime(settings)
        folder = tmp_path / "cluster"
        (folder / "faults.state").mkdir(parents=True)
        await meta.publishing(duplicate_code=0)  # Meta's duplicate refusal is unreliable: let copies show
        made = Cluster(services.pg, services.redis, database, settings, runtime, meta, meta_state, google, folder)
        try:
            yield made
        finally:
            made.close()
            await made.close_queue()
            await runtime.close()


@pytest.fixture
async def venue(cluster: Cluster) -> Venue:
    """A venue whose admin connected both twin Pages and the Instagram account through the consent screens."""
    runtime = cluster.runtime
    async with factories.app_client(runtime) as client, httpx.AsyncClient(timeout=10.0) as network:
        venue_id, admin, pages = await connected(runtime, client, ConsentBrowser(client, network), Provider.facebook)
        await connect(client, ConsentBrowser(client, network), admin, Provider.instagram.value)
    async with runtime.db.session() as session:
        rows = (await session.execute(select(Connection).where(Connection.account_id == venue_id))).scalars().all()
    instagram = None
    for row in rows:
        if row.provider is Provider.facebook and row.page_id:
            cluster.page_ids[row.id] = row.page_id
        elif row.provider is Provider.instagram and row.ig_business_id:
            cluster.ig_ids[row.id] = row.ig_business_id
            instagram = row.id
    return Venue(venue_id, admin, sorted(pages), instagram)


@pytest.fixture
async def google_location(cluster: Cluster, venue: Venue) -> int:
    """The venue's admin also connects Google (its consent screens); the twin's first location's connection id.

    The twin makes a post LIVE at once (no review delay) and accepts any text, so a normal publish is one call.
    """
    await cluster.google.configure_posts(PostSettings(live_after_seconds=0.0, reject_phone_numbers=False))
    runtime = cluster.runtime
    async with factories.app_client(runtime) as client, httpx.AsyncClient(timeout=10.0) as network:
        await connect(client, ConsentBrowser(client, network), venue.admin, Provider.google_business.value)
    async with runtime.db.session() as session:
        query = select(Connection).where(
            Connection.account_id == venue.id, Connection.provider == Provider.google_business
        )
        rows = (await session.execute(query)).scalars().all()
    for row in rows:
        assert row.location_name, f"Google connection {row.id} has no location name"
        cluster.locations[row.id] = row.location_name.rsplit("/", 1)[-1]
    return min(cluster.locations)


@pytest.fixture
def rates(request: pytest.FixtureRequest, cluster: Cluster, venue: Venue) -> Throughput:
    """Throughput batches before the fault and after recovery; none in CI's quick subset (about 25 s each)."""
    return Throughput(cluster, venue.id, venue.pages, enabled=not quick_only(request.config))


async def upload_photo(cluster: Cluster, venue: Venue) -> int:
    """Upload a generated photo through the API; its derivatives are prepared by whoever takes the task."""
    async with factories.app_client(cluster.runtime) as client:
        r = await client.post(
            "/api/media",
            params={"filename": "quiz.jpg"},
            content=encode(photo_like(1200, 1500), quality=85),
            headers={**venue.admin.headers, "Content-Type": "image/jpeg"},
        )
    assert r.status_code in (200, 201), r.text
    return int(r.json()["asset"]["id"])


async def ready_photo(cluster: Cluster, venue: Venue) -> int:
    """A photo with its derivatives prepared here, before any worker starts."""
    cluster.runtime.use_image_pool(ThreadPoolExecutor(max_workers=1))
    asset_id = await upload_photo(cluster, venue)
    assert await process(cluster.runtime, asset_id) == "ready"
    return asset_id
