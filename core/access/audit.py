"""Recording audited actions: who, in which venue, through which channel, when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from storage.models import AuditEntry, Channel
from storage.queries import audit as audit_q


@dataclass(frozen=True)
class Actor:
    """Who is acting, and through which front door."""

    user_id: int | None
    channel: Channel
    is_staff: bool = False

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=None, channel=Channel.system)


async def record(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    action: str,
    *,
    account_id: int | None = None,
    subject_type: str | None = None,
    subject_id: object | None = None,
    staff_override: bool = False,
    **details: Any,
) -> None:
    """Append one audit entry in the caller's transaction."""
    await audit_q.append(
        session,
        at=clock.now(),
        actor_user_id=actor.user_id,
        account_id=account_id,
        channel=actor.channel,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        staff_override=staff_override,
        details=details,
    )


async def entries(
    session: AsyncSession, account_id: int, *, before_id: int | None = None, limit: int = 50
) -> Sequence[AuditEntry]:
    """The venue's audit log, newest first (callers hold a VenueAccess for `account_id`)."""
    return await audit_q.entries_for_account(session, account_id, before_id=before_id, limit=limit)


async def own_entries(
    session: AsyncSession, account_id: int, *, user_id: int, channel: Channel, limit: int = 20
) -> Sequence[AuditEntry]:
    """What one person did in a venue through one channel, newest first (the planner's outcome history)."""
    return await audit_q.entries_by_actor(session, account_id, user_id=user_id, channel=channel, limit=limit)
