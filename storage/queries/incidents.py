"""Incidents: open once per key (the partial unique index decides races), update while open, resolve."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.enums import Severity
from storage.models import Incident, OpsDigest
from storage.queries.deliveries import is_postgres

OPEN = "open"
RESOLVED = "resolved"


async def open_incidents(session: AsyncSession, *, rules: Sequence[str] | None = None) -> Sequence[Incident]:
    """Every open incident (of `rules` when given), oldest first."""
    query = select(Incident).where(Incident.status == OPEN).order_by(Incident.id)
    if rules is not None:
        query = query.where(Incident.rule.in_(list(rules)))
    return (await session.execute(query)).scalars().all()


async def insert_open(
    session: AsyncSession,
    *,
    rule: str,
    key: str,
    severity: Severity,
    title: str,
    detail: str,
    subject: dict[str, Any],
    facts: dict[str, Any],
    now: datetime,
) -> int | None:
    """Open an incident for `key`; None when one is already open (another evaluator won the race).

    ON CONFLICT DO NOTHING without a target covers uq_incidents_open_key (a partial index) on both dialects: a
    second transaction inserting the same open key at once waits for the first and then inserts nothing.
    """
    insert = pg_insert if is_postgres(session) else sqlite_insert
    stmt = (
        insert(Incident)
        .values(
            rule=rule,
            key=key,
            status=OPEN,
            severity=severity,
            title=title[:300],
            detail=detail,
            subject=subject,
            facts=facts,
            opened_at=now,
            updated_at=now,
            last_seen_at=now,
            created_at=now,
            version=1,
            told_version=0,
        )
        .on_conflict_do_nothing()
        .returning(Incident.id)
    )
    result: int | None = (await session.execute(stmt)).scalar_one_or_none()
    return result


async def update_open(
    session: AsyncSession,
    incident_id: int,
    *,
    severity: Severity,
    title: str,
    detail: str,
    facts: dict[str, Any],
    now: datetime,
) -> bool:
    """Change what an open incident says (version += 1); False when it said that already or is no longer open.

    The comparison is in the WHERE clause: a second evaluator making the same change waits for the first's row
    lock, re-reads the row, finds nothing different and bumps nothing (one edit in chat, not two).
    """
    stmt = (
        update(Incident)
        .where(
            Incident.id == incident_id,
            Incident.status == OPEN,
            or_(Incident.severity != severity, Incident.title != title[:300], Incident.detail != detail),
        )
        .values(
            severity=severity,
            title=title[:300],
            detail=detail,
            facts=facts,
            updated_at=now,
            last_seen_at=now,
            version=Incident.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def touch_open(session: AsyncSession, incident_id: int, *, facts: dict[str, Any], now: datetime) -> None:
    """Record that an open incident's condition still holds (no version change: nothing new to tell)."""
    await session.execute(
        update(Incident)
        .where(Incident.id == incident_id, Incident.status == OPEN)
        .values(last_seen_at=now, facts=facts)
        .execution_options(synchronize_session=False)
    )


async def resolve_open(session: AsyncSession, incident_id: int, *, note: str, now: datetime) -> bool:
    """Resolve an open incident (version += 1); False when another evaluator resolved it first."""
    stmt = (
        update(Incident)
        .where(Incident.id == incident_id, Incident.status == OPEN)
        .values(
            status=RESOLVED,
            resolved_at=now,
            resolved_note=note,
            updated_at=now,
            version=Incident.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def list_incidents(session: AsyncSession, *, status: str | None, limit: int) -> Sequence[Incident]:
    """Incidents newest first, all or of one status."""
    query = select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Incident.status == status)
    return (await session.execute(query)).scalars().all()


async def get(session: AsyncSession, incident_id: int, *, lock: bool = False) -> Incident | None:
    query = select(Incident).where(Incident.id == incident_id)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def opened_between(session: AsyncSession, start: datetime, end: datetime) -> Sequence[Incident]:
    query = (
        select(Incident)
        .where(Incident.opened_at >= start, Incident.opened_at < end)
        .order_by(Incident.opened_at, Incident.id)
    )
    return (await session.execute(query)).scalars().all()


async def resolved_between(session: AsyncSession, start: datetime, end: datetime) -> Sequence[Incident]:
    query = (
        select(Incident).where(Incident.resolved_at >= start, Incident.resolved_at < end).order_by(Incident.resolved_at)
    )
    return (await session.execute(query)).scalars().all()


async def count_open(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(Incident.id)).where(Incident.status == OPEN))).scalar_one())


async def insert_digest(session: AsyncSession, *, day: date, body: dict[str, Any], now: datetime) -> int | None:
    """Write the day's digest once; None when it exists (another process, or a rerun of the job, made it)."""
    insert = pg_insert if is_postgres(session) else sqlite_insert
    stmt = (
        insert(OpsDigest)
        .values(day=day, body=body, created_at=now, told_at=None)
        .on_conflict_do_nothing(index_elements=[OpsDigest.day])
        .returning(OpsDigest.id)
    )
    result: int | None = (await session.execute(stmt)).scalar_one_or_none()
    return result
