"""The stale-state sweep: expired consent states go, live ones (and choices still waiting) stay."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from core.clock import FrozenClock
from core.ops import jobs
from core.runtime import Runtime
from storage.models import OAuthState
from tests import factories
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.helpers import authorize, connection_rows, consent, listed, venue_with_admin


async def state_ids(runtime: Runtime) -> set[int]:
    async with runtime.db.session() as session:
        return set((await session.execute(select(OAuthState.id))).scalars().all())


def test_the_cleanup_is_a_registered_job_the_cli_can_run() -> None:
    spec = jobs.get_job("oauth-states-cleanup")  # `cheers jobs run NAME` accepts exactly the names in JOBS
    assert spec.name in jobs.JOBS and spec.cron == "*/10 * * * *", spec


async def test_cleanup_deletes_expired_states_only(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
    clock: FrozenClock,
) -> None:
    venue = await venue_with_admin(runtime)
    abandoned = (await authorize(client, venue.admin, "facebook"))["state_id"]  # never opened
    choosing = await consent(client, browser, venue.admin, "facebook")  # a choice waits 30 minutes
    assert choosing.choosing, choosing.text
    connected = await consent(client, ConsentBrowser(client, network), venue.admin, "instagram")
    assert connected.text.startswith("Connected"), connected.text
    clock.advance(minutes=9)
    fresh = (await authorize(client, venue.admin, "google_business"))["state_id"]
    clock.advance(minutes=2)  # the first three states expired 1 minute ago; the fresh one has 8 minutes left

    result = await jobs.run_job(runtime, "oauth-states-cleanup", trigger="manual")

    assert result == {"removed": 2}, result
    assert await state_ids(runtime) == {choosing.state_id, fresh}
    assert abandoned not in await state_ids(runtime) and connected.state_id not in await state_ids(runtime)
    pending = await client.get(f"/api/connections/pending/{choosing.state_id}", headers=venue.admin.headers)
    assert pending.status_code == 200 and len(pending.json()) == 2, "a waiting choice outlives its consent state"
    assert len(await connection_rows(runtime)) == 1, "the Instagram account stays connected"
    (run,) = await factories.job_runs(runtime, "oauth-states-cleanup")
    assert (run.status, run.trigger, run.result) == ("succeeded", "manual", {"removed": 2})

    clock.advance(minutes=20)  # past the choice's 30 minutes and the fresh state's 10

    assert await jobs.run_job(runtime, "oauth-states-cleanup", trigger="manual") == {"removed": 2}
    assert await state_ids(runtime) == set()
    assert len(await listed(client, venue.admin)) == 1, "connections never go with their states"


async def test_cleanup_with_nothing_expired_removes_nothing(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, clock: FrozenClock
) -> None:
    venue = await venue_with_admin(runtime)
    state_id = (await authorize(client, venue.admin, "facebook"))["state_id"]
    clock.advance(minutes=9, seconds=59)

    assert await jobs.run_job(runtime, "oauth-states-cleanup", trigger="manual") == {"removed": 0}

    assert await state_ids(runtime) == {state_id}
