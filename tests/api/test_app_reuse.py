"""`api.app.serve_runtime`: one built app handed another runtime serves that runtime's database, with its own
metrics and nothing left of the previous one (the test suite builds one app per process this way)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app, serve_runtime
from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from tests import factories
from tests.conftest import make_settings


@pytest.fixture
async def other_runtime(sqlite_template: Path, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Runtime]:
    """A second runtime over a database of its own."""
    where = tmp_path / "other"
    where.mkdir()
    shutil.copy(sqlite_template, where / "cheers.db")
    rt = build_runtime(make_settings(f"sqlite+aiosqlite:///{where / 'cheers.db'}", where), clock=clock)
    yield rt
    await rt.close()


async def requests_counted(client: httpx.AsyncClient) -> float:
    """How many requests the app's request counter holds (the /metrics request itself is counted after)."""
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return sum(
        s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name == "cheers_http_requests_total"
    )


async def test_an_app_handed_another_runtime_serves_its_database_with_fresh_metrics(
    runtime: Runtime, other_runtime: Runtime
) -> None:
    first = await factories.person(runtime)
    second = await factories.person(other_runtime)
    app: Any = create_app(runtime=runtime, configure_logs=False)

    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        assert (await c.get("/api/me", headers=first.headers)).status_code == 200
        assert (await c.get("/api/me", headers=second.headers)).status_code == 401, "the second database is not served"
        assert await requests_counted(c) == 2

    serve_runtime(app, other_runtime)

    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        me = await c.get("/api/me", headers=second.headers)
        assert me.status_code == 200, f"the app still serves the first runtime: {me.status_code} {me.text}"
        assert me.json()["name"] == second.name
        assert (await c.get("/api/me", headers=first.headers)).status_code == 401, "the first database is still served"
        assert await requests_counted(c) == 2, "the previous runtime's requests are still counted"


async def test_an_app_that_builds_its_own_runtime_cannot_be_handed_another(runtime: Runtime) -> None:
    app = create_app(runtime.settings, configure_logs=False)
    with pytest.raises(ValueError, match="builds its own runtime"):
        serve_runtime(app, runtime)
