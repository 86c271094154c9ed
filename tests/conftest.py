"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when reachable),
a runtime with a controllable clock, an app client, and small factories."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from core.settings import Settings, normalise_database_url
from sandbox.server import reachable
from storage import migrate
from storage.crypto import generate_key
from storage.models import Base
from storage.wake import asyncpg_connect_args
from tests import factories

ADMIN_PG_URL = os.environ.get("CHEERS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("CHEERS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_KEY = "test-secret-key-" + "x" * 32


POSTGRES_UP = reachable(ADMIN_PG_URL, 5432) and os.environ.get("CHEERS_TEST_SKIP_POSTGRES") != "1"
REDIS_UP = reachable(TEST_REDIS_URL, 6379) and os.environ.get("CHEERS_TEST_SKIP_REDIS") != "1"
NO_POSTGRES = (
    "PostgreSQL switched off by CHEERS_TEST_SKIP_POSTGRES=1"
    if os.environ.get("CHEERS_TEST_SKIP_POSTGRES") == "1"
    else f"PostgreSQL not reachable at {urlsplit(ADMIN_PG_URL).netloc} (set CHEERS_TEST_POSTGRES_URL)"
)
NO_REDIS = (
    "Redis switched off by CHEERS_TEST_SKIP_REDIS=1"
    if os.environ.get("CHEERS_TEST_SKIP_REDIS") == "1"
    else f"Redis not reachable at {urlsplit(TEST_REDIS_URL).netloc} (set CHEERS_TEST_REDIS_URL)"
)


def pytest_configure(config: pytest.Config) -> None:
    if not POSTGRES_UP:
        print(f"\n[cheers] skipping PostgreSQL tests: {NO_POSTGRES}")
    if not REDIS_UP:
        print(f"[cheers] skipping Redis tests: {NO_REDIS}")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Hide the collected suite (every module, item and fixture: hundreds of thousands of objects) from the garbage
    collector, as `api.app.settle_heap` does for servers: otherwise each test's full collections walk all of it,
    and building an app per test (many short-lived objects) sets off several. docs/ci.md "Test start-up"."""
    gc.collect()
    gc.freeze()


def _pg_admin_exec(sql: str) -> None:
    async def go() -> None:
        engine = create_async_engine(normalise_database_url(ADMIN_PG_URL), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(go())


@pytest.fixture(scope="session")
def pg_template_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, migrated once for the whole run, dropped at the end."""
    if not POSTGRES_UP:
        pytest.skip(NO_POSTGRES)
    name = f"cheers_test_{uuid.uuid4().hex[:10]}"
    _pg_admin_exec(f'CREATE DATABASE "{name}"')
    parts = urlsplit(normalise_database_url(ADMIN_PG_URL))
    url = parts._replace(path=f"/{name}").geturl()
    try:
        migrate.upgrade(url)
        yield url
    finally:
        _pg_admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _empty_pg(url: str) -> None:
    """Every table the last test wrote emptied, and its sequences restarted, before each PostgreSQL test.

    TRUNCATE gives each table new files, so rows come back in insertion order, as on a fresh database. A
    DELETE-based reset was faster, but after it new rows can land in a different physical order: a CI run
    caught a helper reading ids without ORDER BY (fixed) that way. Only tables holding rows or whose sequence
    has moved are truncated (a test writes a handful of the 43; truncating all cost ~130 ms a test). See docs/ci.md."""

    async def go() -> None:
        conn = await asyncpg.connect(**asyncpg_connect_args(url))
        try:
            # A test whose event loop closed under a task still inside a transaction (an after-commit wake-up still
            # running) leaves that connection idle in transaction, holding locks TRUNCATE would wait for forever.
            # This worker's database is its own, so any other connection to it is such a leftover.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            used = ", ".join(f'"{row[0]}"' for row in await conn.fetch(_USED_TABLES))
            if used:
                await conn.execute(f"TRUNCATE {used} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    asyncio.run(go())


# The tables with a row, and those whose own sequence has been used (a test may delete what it inserted).
_USED_TABLES = " UNION ".join(
    [f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in Base.metadata.sorted_tables]
    + [
        "SELECT tbl.relname::text FROM pg_sequences s"
        " JOIN pg_class seq ON seq.relname = s.sequencename AND seq.relkind = 'S'"
        " JOIN pg_depend d ON d.objid = seq.oid AND d.deptype IN ('a', 'i')"
        " JOIN pg_class tbl ON tbl.oid = d.refobjid"
        " WHERE s.last_value IS NOT NULL"
    ]
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every database-backed test runs on SQLite and, when reachable, on PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "cheers.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("pg_template_url")
    _empty_pg(url)
    return url


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "cheers_env": "test",
        "database_url": database_url,
        "redis_url": None,
        "cheers_secret_key": SECRET_KEY,
        "cheers_token_keys": generate_key("test"),
        "cheers_public_url": "http://testserver.local",
        "cheers_var_dir": tmp_path / "var",
        "cheers_log_format": "json",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def clock(tmp_path: Path) -> FrozenClock:
    """The test's one clock: the runtime, the twins and (through an offset file) its subprocesses all follow it."""
    return factories.SharedFrozenClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tmp_path / "var")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def runtime(settings: Settings, clock: FrozenClock) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI in the test's own event loop (pooled PostgreSQL connections stay on one loop)."""
    async with factories.app_client(runtime) as c:
        yield c
