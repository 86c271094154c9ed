"""The dispatcher's wake on commit (PostgreSQL LISTEN/NOTIFY).

A transaction that makes a delivery claimable and due within seconds notifies `DUE_CHANNEL` (a trigger on
post_targets, migration 0013: on every path, the ORM's and raw SQL alike); PostgreSQL delivers it when that
transaction commits. `DueListener` holds one dedicated connection LISTENing there and sets an event on each
notification. The database stays the truth: a notification lost (the connection died, the process was busy) only
means the dispatcher ticks at its interval, as it did before.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url

log = structlog.get_logger(__name__)

DUE_CHANNEL = "cheers_due"
CONNECT_TIMEOUT = 5.0


# What SQLAlchemy's asyncpg dialect keeps for itself; everything else it hands to asyncpg.connect.
_DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


def asyncpg_connect_args(url: str) -> dict[str, Any]:
    """asyncpg.connect's keyword arguments for a SQLAlchemy URL (postgresql+asyncpg://…), as the engine's own
    dialect makes them: query options such as `?ssl=require` or several hosts mean to asyncpg what they mean to
    the engine (sent as a plain DSN, asyncpg passes unknown options to the server as settings, which it refuses)."""
    _, kwargs = PGDialect_asyncpg().create_connect_args(make_url(url))  # type: ignore[no-untyped-call]
    return {k: v for k, v in kwargs.items() if k not in _DIALECT_ONLY}


class DueListener:
    """One LISTEN connection; `woken` is set by each notification and when the connection is lost (a tick then
    catches up on whatever was missed). `ensure()` connects again when it is gone."""

    def __init__(self, url: str, channel: str = DUE_CHANNEL) -> None:
        self._connect_args = asyncpg_connect_args(url)
        self._channel = channel
        self._conn: Any = None  # asyncpg.Connection
        self._closing = False
        self.woken = asyncio.Event()

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend that LISTENs (None when not connected)."""
        return int(self._conn.get_server_pid()) if self.listening else None

    async def ensure(self) -> bool:
        """Listen, connecting first when there is no live connection; False (logged) when the database refuses."""
        if self.listening:
            return True
        await self.close()
        try:
            conn = await asyncpg.connect(**self._connect_args, timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - refused, unreachable, misconfigured: tick at the interval instead
            log.warning("dispatcher_listen_failed", error=type(exc).__name__, detail=str(exc)[:200])
            return False
        try:
            conn.add_termination_listener(self._lost)
            await conn.add_listener(self._channel, self._notified)
        except Exception as exc:  # noqa: BLE001 - as above
            log.warning("dispatcher_listen_failed", error=type(exc).__name__, detail=str(exc)[:200])
            with contextlib.suppress(Exception):
                conn.terminate()
            return False
        self._conn = conn
        self.woken.set()  # anything committed while nobody listened: look once
        return True

    def _notified(self, *_: object) -> None:
        self.woken.set()

    def _lost(self, *_: object) -> None:
        if not self._closing:  # our own close() runs the termination listeners too
            log.warning("dispatcher_listen_lost")
        self.woken.set()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.is_closed():
            return
        self._closing = True
        try:
            await asyncio.wait_for(conn.close(), timeout=CONNECT_TIMEOUT)
        except Exception:  # noqa: BLE001 - a dead connection: drop it
            conn.terminate()
        finally:
            self._closing = False
