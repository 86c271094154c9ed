"""Outbox writes with windowed de-duplication, feed pages, export batches and purge."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Notification, NotificationDedup, NotificationRead, Severity


async def claim_dedup_window(
    session: AsyncSession, *, account_id: int, dedup_key: str, now: datetime, until: datetime
) -> bool:
    """Atomically open a de-duplication window; False when one for this key is still open."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert_fn(NotificationDedup).values(account_id=account_id, dedup_key=dedup_key, until=until)
    upsert = stmt.on_conflict_do_update(
        index_elements=[NotificationDedup.account_id, NotificationDedup.dedup_key],
        set_={"until": until},
        where=NotificationDedup.until <= now,
    ).returning(NotificationDedup.id)
    result = await session.execute(upsert)
    return result.scalar_one_or_none() is not None


async def end_dedup_window(session: AsyncSession, *, account_id: int, dedup_key: str) -> None:
    """Close a key's window early, so the next notification with that key is recorded."""
    await session.execute(
        delete(NotificationDedup).where(
            NotificationDedup.account_id == account_id, NotificationDedup.dedup_key == dedup_key
        )
    )


async def add_notification(
    session: AsyncSession,
    *,
    account_id: int,
    kind: str,
    severity: Severity,
    title: str,
    subject: dict[str, Any],
    payload: dict[str, Any],
    dedup_key: str | None,
    created_at: datetime,
) -> Notification:
    notification = Notification(
        account_id=account_id,
        kind=kind,
        severity=severity,
        title=title,
        subject=subject,
        payload=payload,
        dedup_key=dedup_key,
        created_at=created_at,
    )
    session.add(notification)
    await session.flush()
    return notification


def _feed_query(
    account_id: int,
    *,
    kinds: Sequence[str] | None,
    since: datetime | None,
    unread_for: int | None,
    severities: Sequence[Severity] | None = None,
) -> Any:
    query = select(Notification).where(Notification.account_id == account_id)
    if kinds:
        query = query.where(Notification.kind.in_(list(kinds)))
    if severities:
        query = query.where(Notification.severity.in_(list(severities)))
    if since is not None:
        query = query.where(Notification.created_at >= since)
    if unread_for is not None:
        query = query.where(
            ~exists().where(
                and_(NotificationRead.notification_id == Notification.id, NotificationRead.user_id == unread_for)
            )
        )
    return query


async def feed_page(
    session: AsyncSession,
    account_id: int,
    *,
    before_id: int | None,
    limit: int,
    kinds: Sequence[str] | None = None,
    since: datetime | None = None,
    unread_for: int | None = None,
    severities: Sequence[Severity] | None = None,
) -> Sequence[Notification]:
    """Newest first; keyset pagination on id so pages stay stable while new rows arrive."""
    query = _feed_query(account_id, kinds=kinds, since=since, unread_for=unread_for, severities=severities)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    result = await session.execute(query.order_by(Notification.id.desc()).limit(limit))
    return result.scalars().all()


async def export_batch(
    session: AsyncSession,
    account_id: int,
    *,
    after_id: int,
    limit: int,
    kinds: Sequence[str] | None = None,
    since: datetime | None = None,
    severities: Sequence[Severity] | None = None,
) -> Sequence[Notification]:
    """Oldest first, in id order, for streaming the whole history batch by batch."""
    query = _feed_query(account_id, kinds=kinds, since=since, unread_for=None, severities=severities).where(
        Notification.id > after_id
    )
    result = await session.execute(query.order_by(Notification.id).limit(limit))
    return result.scalars().all()


async def read_ids(session: AsyncSession, user_id: int, notification_ids: Sequence[int]) -> set[int]:
    if not notification_ids:
        return set()
    result = await session.execute(
        select(NotificationRead.notification_id).where(
            NotificationRead.user_id == user_id, NotificationRead.notification_id.in_(list(notification_ids))
        )
    )
    return set(result.scalars().all())


async def mark_read(
    session: AsyncSession, account_id: int, *, user_id: int, notification_ids: Sequence[int] | None, now: datetime
) -> int:
    """Mark the given ids (or, with None, everything) in this venue read for one person."""
    query = select(Notification.id).where(Notification.account_id == account_id)
    if notification_ids is not None:
        query = query.where(Notification.id.in_(list(notification_ids)))
    query = query.where(
        ~exists().where(and_(NotificationRead.notification_id == Notification.id, NotificationRead.user_id == user_id))
    )
    ids = (await session.execute(query)).scalars().all()
    session.add_all([NotificationRead(notification_id=i, user_id=user_id, read_at=now) for i in ids])
    await session.flush()
    return len(ids)


async def purge_older_than(session: AsyncSession, *, cutoff: datetime, now: datetime) -> int:
    result = await session.execute(delete(Notification).where(Notification.created_at < cutoff))
    await session.execute(delete(NotificationDedup).where(NotificationDedup.until <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
