"""Engine and session factory for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 15_000
# Worker processes ping a pooled connection only when it sat unused for longer than this (see `_ping_if_idle`).
WORKER_PING_AFTER_IDLE_SECONDS = 2.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; busy_timeout makes writers queue, not fail.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _mark_returned(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any, *, dialect: Any, after: float) -> None:
    """Pre-ping only connections that sat idle: a busy worker reuses a connection within milliseconds,
    and SQLAlchemy's `pool_pre_ping` would cost three round trips (BEGIN, `;`, ROLLBACK on asyncpg) on every
    checkout — a fifth of a delivery's round trips. A connection that died under load fails its statement
    instead; SQLAlchemy then invalidates every older connection of the pool, and the publish path retries
    the transaction (core.publishing.engine)."""
    if time.monotonic() - record.info.get("returned_at", 0.0) <= after:
        return
    try:
        alive = dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise exc.DisconnectionError(f"stale pooled connection: {type(error).__name__}") from error
    if not alive:
        raise exc.DisconnectionError("stale pooled connection")


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False, ping_after_idle: float = 0.0) -> AsyncEngine:
    """Build an async engine; nothing connects until first use.

    PostgreSQL pools ping every connection they hand out (`pool_pre_ping`), unless `ping_after_idle` > 0: then
    only one unused for longer than that (the publish workers, where the ping was a fifth of the round trips).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=echo, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=ping_after_idle <= 0,  # survives a database restart: stale connections are replaced
        pool_recycle=1800,
        pool_timeout=10,
    )
    if ping_after_idle > 0:
        # DisconnectionError from a checkout listener makes the pool replace the connection and try again.
        event.listen(engine.sync_engine, "checkin", _mark_returned)
        event.listen(engine.sync_engine, "connect", _mark_returned)
        dialect = engine.sync_engine.dialect
        event.listen(
            engine.sync_engine,
            "checkout",
            lambda conn, record, proxy: _ping_if_idle(conn, record, proxy, dialect=dialect, after=ping_after_idle),
        )
    return engine


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, url: str, *, pool_size: int = 10, ping_after_idle: float = 0.0) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, ping_after_idle=ping_after_idle)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
