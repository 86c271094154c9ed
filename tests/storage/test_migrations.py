"""Migrations on SQLite and PostgreSQL: up, no drift, all the way down, up again; UTC timestamps both ways."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select, text

from core.settings import normalise_database_url
from storage import migrate
from storage.db import create_engine
from storage.models import Account, Base
from tests.conftest import ADMIN_PG_URL, NO_POSTGRES, POSTGRES_UP, _pg_admin_exec

HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new, never-migrated database of each kind (PostgreSQL: created here, dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    if not POSTGRES_UP:
        pytest.skip(NO_POSTGRES)
    name = f"cheers_migrations_{uuid.uuid4().hex[:10]}"
    _pg_admin_exec(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(normalise_database_url(ADMIN_PG_URL))._replace(path=f"/{name}").geturl()
    finally:
        _pg_admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def tables(url: str) -> set[str]:
    return asyncio.run(_tables(url))


def drift(url: str) -> list[object]:
    return asyncio.run(migrate.drift(url))


def revision(url: str) -> str | None:
    return asyncio.run(migrate.current_revision(url))


def test_upgrade_downgrade_upgrade_round_trip_leaves_no_drift(empty_database_url: str) -> None:
    url = empty_database_url
    models = {t.name for t in Base.metadata.sorted_tables}

    migrate.upgrade(url)
    assert revision(url) == HEAD, "upgrade should reach the head revision"
    assert tables(url) == models | {"alembic_version"}, "upgrade should create exactly the models' tables"
    assert drift(url) == [], "the migrations should produce exactly the schema the models describe"

    migrate.downgrade(url, "base")
    assert revision(url) is None, "downgrade to base should leave no revision applied"
    assert tables(url) == {"alembic_version"}, f"downgrade should drop every table: {tables(url)}"

    migrate.upgrade(url)
    assert revision(url) == HEAD
    assert drift(url) == [], "upgrading again after a downgrade should leave no drift"


# 13:30 in London in July is 12:30 UTC.
SUMMER_IN_LONDON = datetime(2026, 7, 1, 13, 30, 15, 123456, tzinfo=ZoneInfo("Europe/London"))


async def _write_and_read_back(url: str) -> list[datetime]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Account).values(name="Defaulted", timezone="Europe/London"))
            await conn.execute(
                insert(Account).values(name="Given", timezone="Europe/London", created_at=SUMMER_IN_LONDON)
            )
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SET TIME ZONE 'America/New_York'"))  # a server not set to UTC
            rows = (await conn.execute(select(Account.created_at).order_by(Account.id))).all()
        return [row[0] for row in rows]
    finally:
        await engine.dispose()


def test_timestamps_read_back_timezone_aware_utc(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    before = datetime.now(UTC)
    defaulted, given = asyncio.run(_write_and_read_back(empty_database_url))
    after = datetime.now(UTC)
    for value in (defaulted, given):
        assert value.tzinfo is UTC, f"timestamps should come back timezone-aware in UTC: {value!r}"
    assert before <= defaulted <= after, f"created_at should default to the insert time: {defaulted}"
    assert given == SUMMER_IN_LONDON, f"a stored instant should read back unchanged: {given} != {SUMMER_IN_LONDON}"
    assert (given.hour, given.minute, given.microsecond) == (12, 30, 123456), f"kept to the µs, in UTC: {given}"
