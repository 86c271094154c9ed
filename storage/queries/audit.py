"""Append-only audit log writes and reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, Channel


async def append(
    session: AsyncSession,
    *,
    at: datetime,
    actor_user_id: int | None,
    account_id: int | None,
    channel: Channel,
    action: str,
    subject_type: str | None = None,
    subject_id: str | None = None,
    staff_override: bool = False,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=at,
        actor_user_id=actor_user_id,
        account_id=account_id,
        channel=channel,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        staff_override=staff_override,
        details=details or {},
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries_for_account(
    session: AsyncSession, account_id: int, *, before_id: int | None = None, limit: int = 50
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.account_id == account_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    result = await session.execute(query.order_by(AuditEntry.id.desc()).limit(limit))
    return result.scalars().all()


async def entries_by_action(session: AsyncSession, action: str) -> Sequence[AuditEntry]:
    result = await session.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
    return result.scalars().all()


async def entries_by_actor(
    session: AsyncSession, account_id: int, *, user_id: int, channel: Channel, limit: int
) -> Sequence[AuditEntry]:
    """One person's own entries in one venue through one channel, newest first."""
    query = select(AuditEntry).where(
        AuditEntry.account_id == account_id, AuditEntry.actor_user_id == user_id, AuditEntry.channel == channel
    )
    result = await session.execute(query.order_by(AuditEntry.id.desc()).limit(limit))
    return result.scalars().all()
