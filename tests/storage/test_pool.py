"""The PostgreSQL pool pings only connections that sat idle, and replaces one the server cut."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import normalise_database_url
from storage import db as db_module
from storage.db import Database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(pg_template_url: str) -> AsyncIterator[Database]:
    database = Database(normalise_database_url(pg_template_url), pool_size=2)
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
    assert pings == [], f"a connection reused within {db_module.PING_IF_IDLE_SECONDS} s was pinged {len(pings)} times"


async def test_an_idle_connection_cut_by_the_server_is_replaced_before_use(
    database: Database, pg_template_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = count_pings(database, monkeypatch)
    first = await backend_pid(database)
    await terminate(pg_template_url, first)
    monkeypatch.setattr(db_module, "PING_IF_IDLE_SECONDS", 0.0)  # as if it had sat idle
    second = await backend_pid(database)  # must not raise: the ping found it dead and the pool reconnected
    assert second != first, "the pool handed out the connection the server had terminated"
    assert pings, "an idle connection was handed out without a ping"
