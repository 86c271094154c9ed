"""SQL for materialising the weekly plan: one row per slot and local date (the idempotency key)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WeeklyPost
from storage.queries.deliveries import is_postgres


async def claim(
    session: AsyncSession, *, slot_id: int, account_id: int, local_date: date, slot_version: int, now: datetime
) -> WeeklyPost | None:
    """Insert the slot's row for `local_date` (outcome "made", no post yet); None when it already exists.

    The unique key (slot_id, local_date) decides: a second scheduler inserting the same row at once waits for
    the first transaction and then inserts nothing.
    """
    insert = pg_insert if is_postgres(session) else sqlite_insert
    stmt = (
        insert(WeeklyPost)
        .values(
            slot_id=slot_id,
            account_id=account_id,
            local_date=local_date,
            slot_version=slot_version,
            outcome="made",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[WeeklyPost.slot_id, WeeklyPost.local_date])
        .returning(WeeklyPost.id)
    )
    row_id = (await session.execute(stmt)).scalar_one_or_none()
    if row_id is None:
        return None
    return await session.get(WeeklyPost, row_id)


async def get_for_date(
    session: AsyncSession, slot_id: int, local_date: date, *, lock: bool = False
) -> WeeklyPost | None:
    """The slot's row for `local_date`, if it was made (or tried)."""
    query = select(WeeklyPost).where(WeeklyPost.slot_id == slot_id, WeeklyPost.local_date == local_date)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_by_post(session: AsyncSession, account_id: int, post_id: int, *, lock: bool = False) -> WeeklyPost | None:
    """The row that made post `post_id` in the venue; None for a post the plan did not make."""
    query = select(WeeklyPost).where(WeeklyPost.account_id == account_id, WeeklyPost.post_id == post_id)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def rows_of_account(session: AsyncSession, account_id: int) -> list[WeeklyPost]:
    """Every row of the venue, by date then slot (for views and tests)."""
    query = (
        select(WeeklyPost)
        .where(WeeklyPost.account_id == account_id)
        .order_by(WeeklyPost.local_date, WeeklyPost.slot_id)
    )
    return list((await session.execute(query)).scalars().all())


async def made_between(session: AsyncSession, slot_id: int, first: date, last: date) -> list[WeeklyPost]:
    """The slot's rows with a post made, dated `first` to `last` inclusive, by date."""
    query = (
        select(WeeklyPost)
        .where(
            WeeklyPost.slot_id == slot_id,
            WeeklyPost.outcome == "made",
            WeeklyPost.local_date >= first,
            WeeklyPost.local_date <= last,
        )
        .order_by(WeeklyPost.local_date)
    )
    return list((await session.execute(query)).scalars().all())
