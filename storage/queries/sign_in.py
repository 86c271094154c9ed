"""SQL for e-mail sign-in: count requests per key in a fixed window (one upsert), and find a person by address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SignInThrottle, User
from storage.queries.deliveries import is_postgres


async def count_attempt(session: AsyncSession, key: str, *, now: datetime, window_start: datetime) -> int:
    """Count one request for `key` and return the count in its current window (a window that started at or before
    `window_start` restarts at 1). One statement, so two processes counting at once both count."""
    insert = pg_insert if is_postgres(session) else sqlite_insert
    stmt = insert(SignInThrottle).values(key=key, window_started_at=now, attempts=1)
    expired = SignInThrottle.window_started_at <= window_start
    upsert = stmt.on_conflict_do_update(
        index_elements=[SignInThrottle.key],
        set_={
            "attempts": case((expired, 1), else_=SignInThrottle.attempts + 1),
            "window_started_at": case((expired, now), else_=SignInThrottle.window_started_at),
        },
    ).returning(SignInThrottle.attempts)
    return int((await session.execute(upsert)).scalar_one())


async def forget_before(session: AsyncSession, window_start: datetime) -> None:
    """Drop counts whose window has ended (they would restart at 1 anyway): the table stays small."""
    await session.execute(delete(SignInThrottle).where(SignInThrottle.window_started_at <= window_start))


async def active_users_by_email(session: AsyncSession, address: str) -> list[User]:
    """Active people whose address matches `address` ignoring case (at most two: more than one is ambiguous)."""
    result = await session.execute(
        select(User).where(func.lower(User.email) == address.lower(), User.is_active.is_(True)).limit(2)
    )
    return list(result.scalars())
