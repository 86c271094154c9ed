"""Shared by the reconciliation tests: our clock on the twins' time, settings pointing at the twins, the job."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.devtwins import twin_settings
from core.clock import FrozenClock
from core.ops.jobs import run_job
from core.publishing.reconcile import JOB_NAME
from core.runtime import Runtime
from core.settings import Settings
from storage.models import Connection, PostTarget, Provider
from tests.conftest import make_settings
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.publishing.support import deliveries
from tests.publishing.twin_support import connected, ready_photo


@pytest.fixture
def clock() -> FrozenClock:
    """Our clock starts at the twins' time: reconciliation matches posts by when the provider made them."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def settings(database_url: str, tmp_path: Path, twins: Twins) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        cheers_connection_min_interval_seconds=0,
        **twin_settings(twins.meta_url, twins.google_url),
    )


async def reconcile(runtime: Runtime) -> dict[str, Any]:
    """One run of the registered `reconcile-in-doubt` job, as the scheduler would start it."""
    return await run_job(runtime, JOB_NAME, trigger="cron")


async def place(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, provider: Provider, *, photo: bool = True
) -> tuple[int, Connection, int | None]:
    """A venue with `provider` connected through the twin's consent screens: (venue, connection, photo id)."""
    venue_id, admin, ids = await connected(runtime, client, browser, provider)
    photo_id = await ready_photo(runtime, client, admin, 1200, 1500) if photo else None
    async with runtime.uow() as uow:
        connection = await uow.session.get(Connection, ids[0])
        assert connection is not None
    return venue_id, connection, photo_id


async def only_delivery(runtime: Runtime, post_id: int) -> PostTarget:
    [target] = await deliveries(runtime, post_id)
    return target


def explain(target: PostTarget) -> str:
    """What an assertion message shows about a delivery."""
    return f"{target.status.value}: {target.note} | {target.last_error}"
