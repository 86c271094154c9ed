"""A worker's PostgreSQL pool pings only connections that sat idle, and replaces one the server cut."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import normalise_database_url
from storage.db import Database

pytestmark = pytest.mark.postgres
IDLE = 0.2


@pytest.fixture
async def database(pg_template_url: str) -> AsyncIterator[Database]:
    """A worker's pool: connections idle for more than 0.2 s are pinged before use."""
    database = Database(normalise_database_url(pg_template_url), pool_size=2, ping_after_idle=IDLE)
    yield database
    await database.dispose()


def count_pings(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    dialect = database.engine.sync_engine.dialect
    calls: list[int] = []
    real = dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        calls.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting)
    return calls


async def backend_pid(database: Database) -> int:
    async with database.engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(admin_url: str, pid: int) -> None:
    engine = create_async_engine(normalise_database_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await engine.dispose()


async def test_a_busy_pool_hands_out_connections_without_pinging_them(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = count_pings(database, monkeypatch)
    await backend_pid(database)  # opens the connection
    for _ in range(10):
        await backend_pid(database)
    assert pings == [], f"a connection reused within {IDLE} s was pinged {len(pings)} times"


async def test_an_idle_connection_cut_by_the_server_is_replaced_before_use(
    database: Database, pg_template_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = count_pings(database, monkeypatch)
    first = await backend_pid(database)
    await terminate(pg_template_url, first)
    await asyncio.sleep(IDLE * 2)
    second = await backend_pid(database)  # must not raise: the ping found it dead and the pool reconnected
    assert second != first, "the pool handed out the connection the server had terminated"
    assert pings, "an idle connection was handed out without a ping"


async def test_a_web_process_pool_pings_every_connection_it_hands_out(
    pg_template_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(normalise_database_url(pg_template_url), pool_size=2)
    try:
        pings = count_pings(database, monkeypatch)
        first = await backend_pid(database)
        await terminate(pg_template_url, first)
        second = await backend_pid(database)  # at once, no idle time: pre-ping finds the dead connection
        assert second != first and pings, "the web pool handed out a connection the server had terminated"
    finally:
        await database.dispose()
