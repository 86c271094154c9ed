"""SQL for claiming deliveries under a lease and finding what the dispatcher's sweep must move on."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Connection, ConnectionPacing, ConnectionStatus, DeliveryStatus, PostTarget
from storage.models.posts import CLAIMABLE
from storage.queries.deliveries import is_postgres


def new_lease_token() -> str:
    return secrets.token_hex(16)


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    max_in_flight: int,
) -> list[tuple[int, str]]:
    """Claim up to `limit` due deliveries, at most `max_in_flight` per connection and none of a paced
    connection, each with its own lease token. Returns (target id, token) pairs.

    PostgreSQL: candidates are locked `FOR UPDATE SKIP LOCKED`, so dispatchers in several processes never
    wait for or take each other's rows. SQLite has a single writer; the compare-and-set UPDATE below makes
    a second dispatcher's stale read claim nothing.
    """
    paced = select(ConnectionPacing.connection_id).where(ConnectionPacing.next_allowed_at > now)
    candidates = (
        select(PostTarget.id, PostTarget.connection_id)
        .where(
            PostTarget.status.in_(CLAIMABLE),
            PostTarget.due_at <= now,
            PostTarget.connection_id.not_in(paced),
        )
        .order_by(PostTarget.due_at, PostTarget.id)
        .limit(limit * 4)
    )
    if is_postgres(session):
        candidates = candidates.with_for_update(skip_locked=True, of=PostTarget)
    rows = (await session.execute(candidates)).all()
    if not rows:
        return []
    connection_ids = {r.connection_id for r in rows}
    busy_rows = await session.execute(
        select(PostTarget.connection_id, func.count())
        .where(
            PostTarget.connection_id.in_(connection_ids),
            PostTarget.status == DeliveryStatus.claimed,
            PostTarget.lease_expires_at > now,
        )
        .group_by(PostTarget.connection_id)
    )
    busy: dict[int, int] = {cid: int(n) for cid, n in busy_rows.all()}
    chosen: list[tuple[int, str]] = []
    for row in rows:
        if len(chosen) >= limit:
            break
        if busy.get(row.connection_id, 0) >= max_in_flight:
            continue
        busy[row.connection_id] = busy.get(row.connection_id, 0) + 1
        chosen.append((row.id, new_lease_token()))
    lease = {"status": DeliveryStatus.claimed, "lease_expires_at": lease_until, "claimed_at": now, "updated_at": now}
    if is_postgres(session):
        # The rows are locked by this transaction: one UPDATE for the whole batch, not one round trip each.
        if chosen:
            table = cast(Table, PostTarget.__table__)
            await session.execute(  # Core executemany (asyncpg pipelines it), not the ORM's bulk-by-key mode
                update(table).where(table.c.id == bindparam("b_id")).values(lease_token=bindparam("b_token"), **lease),
                [{"b_id": target_id, "b_token": token} for target_id, token in chosen],
            )
        return chosen
    claimed: list[tuple[int, str]] = []
    for target_id, token in chosen:
        # SQLite: compare-and-set, so a second dispatcher's stale read claims nothing.
        result = await session.execute(
            update(PostTarget)
            .where(PostTarget.id == target_id, PostTarget.status.in_(CLAIMABLE), PostTarget.due_at <= now)
            .values(lease_token=token, **lease)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            claimed.append((target_id, token))
    return claimed


async def expired_leases(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[PostTarget]:
    """Claimed deliveries whose lease ran out: their worker died, hung, or the hand-off was lost."""
    query = (
        select(PostTarget)
        .where(PostTarget.status == DeliveryStatus.claimed, PostTarget.lease_expires_at < now)
        .order_by(PostTarget.lease_expires_at)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().all()


async def past_cutoff(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[PostTarget]:
    """Deliveries not yet out whose freshness cutoff has passed (nothing visible exists for them), including
    those still waiting for their post's approval."""
    waiting = (
        DeliveryStatus.scheduled,
        DeliveryStatus.retrying,
        DeliveryStatus.needs_reconnect,
        DeliveryStatus.processing,
        DeliveryStatus.pending_approval,
    )
    query = (
        select(PostTarget)
        .where(PostTarget.status.in_(waiting), PostTarget.cutoff_at < now, PostTarget.committed.is_(False))
        .order_by(PostTarget.cutoff_at)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().all()


async def reconnected_waiting(session: AsyncSession, *, limit: int) -> Sequence[PostTarget]:
    """Deliveries waiting for a reconnect whose connection works again."""
    working = select(Connection.id).where(Connection.status.in_((ConnectionStatus.active, ConnectionStatus.expiring)))
    query = (
        select(PostTarget)
        .where(PostTarget.status == DeliveryStatus.needs_reconnect, PostTarget.connection_id.in_(working))
        .order_by(PostTarget.id)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().all()


# --- reconciliation of deliveries in doubt (core.publishing.reconcile) ---
# An in-doubt delivery being checked keeps its status and carries a lease (lease_token, lease_expires_at) instead:
# the sweep's expired_leases only looks at `claimed` rows, so the two never meet. `due_at` says when to check next.


async def claim_in_doubt(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[tuple[int, str]]:
    """Up to `limit` in-doubt deliveries due for a check, oldest first, each under a fresh lease token.

    A delivery is free when it has no lease or its lease ran out (the checker died). PostgreSQL locks the
    candidates `FOR UPDATE SKIP LOCKED`; the compare-and-set UPDATE makes a stale read on SQLite claim nothing.
    """
    free = or_(
        PostTarget.lease_token.is_(None), PostTarget.lease_expires_at.is_(None), PostTarget.lease_expires_at < now
    )
    candidates = (
        select(PostTarget.id)
        .where(PostTarget.status == DeliveryStatus.in_doubt, PostTarget.due_at <= now, free)
        .order_by(PostTarget.due_at, PostTarget.id)
        .limit(limit)
    )
    if is_postgres(session):
        candidates = candidates.with_for_update(skip_locked=True)
    claimed: list[tuple[int, str]] = []
    for target_id in (await session.execute(candidates)).scalars().all():
        token = new_lease_token()
        result = await session.execute(
            update(PostTarget)
            .where(PostTarget.id == target_id, PostTarget.status == DeliveryStatus.in_doubt, free)
            .values(lease_token=token, lease_expires_at=lease_until)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            claimed.append((target_id, token))
    return claimed
