"""The dispatcher loop's wake on commit: on PostgreSQL a post made due now is claimed at once, not at the loop's
interval (here an hour), also after the LISTEN connection's backend was terminated; SQLite keeps the interval."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from core.runtime import Runtime
from core.settings import Settings
from storage.wake import DUE_CHANNEL, DueListener
from tasks.dispatcher import DispatcherLoop
from tests import factories
from tests.conftest import make_settings
from tests.publishing.support import schedule

DEADLINE = 60.0  # seconds: generous, and still far short of the loop's interval


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, cheers_dispatch_interval_seconds=3600.0)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not {what} within {DEADLINE:.0f} s (the loop's interval is an hour)")
        await asyncio.sleep(0.05)


async def test_a_post_made_due_wakes_the_loop_at_once_even_after_its_listen_backend_was_killed(
    runtime: Runtime,
) -> None:
    venue_id = await factories.venue(runtime)
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token")
    # a second Page: the first one's delivery stays claimed (its lease held), and one call per connection at a time
    other_id = await factories.connection(runtime, venue_id, access_token="page-token-2")
    claimed: list[int] = []

    async def keep(target_id: int, token: str) -> None:
        claimed.append(target_id)

    loop = DispatcherLoop(runtime, keep)
    if runtime.db.dialect != "postgresql":
        assert loop.listener is None, "SQLite has no LISTEN/NOTIFY: its loop ticks at the interval"
        return
    listener = loop.listener
    assert listener is not None
    loop.start()
    try:
        await wait_until(lambda: listener.listening, "listening")
        await asyncio.sleep(0.5)  # let the loop's first ticks (start, listen) pass: it is then asleep for an hour
        assert claimed == []
        await schedule(runtime, venue_id, [connection_id])
        await wait_until(lambda: len(claimed) == 1, "claimed after the commit")

        killed = listener.backend_pid
        async with runtime.db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
        await wait_until(lambda: listener.listening and listener.backend_pid != killed, "listening again")
        await asyncio.sleep(0.5)
        await schedule(runtime, venue_id, [other_id])
        await wait_until(lambda: len(claimed) == 2, "claimed after the commit, once the listener was back")
    finally:
        await loop.stop()
    assert not listener.listening, "stop() left the LISTEN connection open"


async def test_the_listener_connects_with_the_engines_url_options_and_a_refusal_never_raises(
    runtime: Runtime, settings: Settings
) -> None:
    if runtime.db.dialect != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite's loop ticks at its interval")
    # `?ssl=disable` is SQLAlchemy's asyncpg option: as a plain DSN asyncpg sent it to the server as a setting
    # (refused), so the loop never listened and logged a failure every few seconds.
    with_options = DueListener(f"{settings.database}?ssl=disable")
    try:
        assert await with_options.ensure(), "a URL option the engine accepts kept the listener from connecting"
        async with runtime.db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": DUE_CHANNEL})
            await conn.commit()
        await wait_until(with_options.woken.is_set, "woken by a notification")
    finally:
        await with_options.close()
    # A server that is not what the URL asks for (here a standby) is a refusal to log, not an error that would
    # end the dispatcher loop.
    standby_only = DueListener(f"{settings.database}?target_session_attrs=standby")
    assert await standby_only.ensure() is False
    assert not standby_only.listening
