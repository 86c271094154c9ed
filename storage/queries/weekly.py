"""SQL for the weekly plan: a venue's slots (never another venue's), and the rows of slots turned into posts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WeeklySlot
from storage.queries.deliveries import is_postgres


async def add_slot(session: AsyncSession, slot: WeeklySlot) -> WeeklySlot:
    """Insert `slot` and flush so it has its id."""
    session.add(slot)
    await session.flush()
    return slot


async def get_slot(
    session: AsyncSession, account_id: int, slot_id: int, *, lock: bool = False, include_deleted: bool = False
) -> WeeklySlot | None:
    """The venue's slot `slot_id` (a deleted one only when asked); None for another venue's id."""
    query = select(WeeklySlot).where(WeeklySlot.id == slot_id, WeeklySlot.account_id == account_id)
    if not include_deleted:
        query = query.where(WeeklySlot.deleted_at.is_(None))
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_slot_any(session: AsyncSession, slot_id: int) -> WeeklySlot | None:
    """A slot by id in any venue (deleted ones too): for front doors that find the venue from the slot."""
    return await session.get(WeeklySlot, slot_id)


async def list_slots(session: AsyncSession, account_id: int, *, include_deleted: bool = False) -> Sequence[WeeklySlot]:
    """The venue's slots in week order: weekday, then wall time, then id."""
    query = select(WeeklySlot).where(WeeklySlot.account_id == account_id)
    if not include_deleted:
        query = query.where(WeeklySlot.deleted_at.is_(None))
    query = query.order_by(WeeklySlot.weekday, WeeklySlot.local_time, WeeklySlot.id)
    return (await session.execute(query)).scalars().all()


async def live_slots(session: AsyncSession, *, account_id: int | None = None) -> Sequence[WeeklySlot]:
    """Slots not deleted and not paused (of one venue, or of every venue), by venue then week order."""
    query = select(WeeklySlot).where(WeeklySlot.deleted_at.is_(None), WeeklySlot.paused.is_(False))
    if account_id is not None:
        query = query.where(WeeklySlot.account_id == account_id)
    query = query.order_by(WeeklySlot.account_id, WeeklySlot.weekday, WeeklySlot.local_time, WeeklySlot.id)
    return (await session.execute(query)).scalars().all()


# --- materialising (W2 adds its queries below) ---------------------------------------------------------------
