"""The time publishing judges leases and due times by: the database's clock, so a worker whose clock is off
neither claims early nor late (docs/publishing.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import SystemClock
from core.runtime import Runtime
from storage.queries import deliveries as deliveries_q


async def clock_now(runtime: Runtime, session: AsyncSession) -> datetime:
    """The time leases and due times are judged by: the database's clock, plus the OffsetClock's offset in tests.

    A test that injects its own clock (FrozenClock) gets that clock instead, so it can move time.
    """
    on_system_clock = isinstance(runtime.clock, SystemClock)
    return judged_now(runtime, await deliveries_q.database_now(session) if on_system_clock else None)


def judged_now(runtime: Runtime, db_now: datetime | None) -> datetime:
    """`clock_now` given the database clock already read (`load_delivery` reads it with the delivery)."""
    if isinstance(runtime.clock, SystemClock):
        # The database stays the authority; a chaos test's shared offset moves it like every other clock. SQLite has
        # no server clock: the host's, as deliveries_q.database_now (OffsetClock.now() is already moved).
        return (db_now or datetime.now(UTC)) + runtime.clock.offset()
    return runtime.clock.now()


def statement_clock(runtime: Runtime) -> tuple[datetime | None, timedelta]:
    """`clock_now` for a statement that reads the clock itself: (a fixed time, or None for the database's clock;
    the offset to move the database's clock by). A chaos run's shared offset, a test's own clock; SQLite, the
    host's clock."""
    clock = runtime.clock
    if isinstance(clock, SystemClock):
        fixed = None if runtime.db.dialect == "postgresql" else judged_now(runtime, None)
        return fixed, clock.offset()
    return clock.now(), timedelta()
