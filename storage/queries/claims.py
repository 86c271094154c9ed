"""SQL for claiming deliveries under a lease and finding what the dispatcher's sweep must move on."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Interval, Table, and_, bindparam, exists, func, or_, select, text, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import aliased

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
    candidates = (
        select(PostTarget.id, PostTarget.connection_id)
        .where(_claimable_due(now))
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


# PostgreSQL: the whole claim in one autocommitted statement. The candidates are locked SKIP LOCKED as before;
# a connection gets at most `max_in_flight` minus its live claims (the first in due order), and the batch the first
# `limit` of those in due order: what the per-row choice in `claim_due` makes. Tokens come from gen_random_uuid().
_CLAIM_AT_ONCE = """
WITH judged AS (
    SELECT COALESCE(CAST(:fixed_now AS timestamptz), now() + CAST(:offset AS interval)) AS now
), candidates AS MATERIALIZED (
    SELECT t.id, t.connection_id, t.due_at FROM post_targets AS t, judged
    WHERE t.status IN ({claimable}) AND t.due_at <= judged.now
      AND t.connection_id NOT IN (
          SELECT p.connection_id FROM connection_pacing AS p, judged AS j WHERE p.next_allowed_at > j.now
      )
    ORDER BY t.due_at, t.id
    LIMIT :scan
    FOR UPDATE OF t SKIP LOCKED
), busy AS (
    SELECT b.connection_id, count(*) AS n FROM post_targets AS b, judged
    WHERE b.connection_id IN (SELECT connection_id FROM candidates)
      AND b.status = '{claimed}' AND b.lease_expires_at > judged.now
    GROUP BY b.connection_id
), ranked AS (
    SELECT c.id, c.due_at,
           row_number() OVER (PARTITION BY c.connection_id ORDER BY c.due_at, c.id) + COALESCE(busy.n, 0) AS slot
    FROM candidates AS c LEFT JOIN busy ON busy.connection_id = c.connection_id
), chosen AS (
    SELECT id, due_at FROM ranked WHERE slot <= :max_in_flight ORDER BY due_at, id LIMIT :limit
)
UPDATE post_targets AS t
SET status = '{claimed}', lease_token = replace(CAST(gen_random_uuid() AS text), '-', ''),
    lease_expires_at = judged.now + CAST(:lease AS interval), claimed_at = judged.now, updated_at = judged.now
FROM chosen, judged
WHERE t.id = chosen.id
RETURNING t.id, t.lease_token, chosen.due_at
"""


async def claim_due_at_once(
    engine: AsyncEngine,
    *,
    fixed_now: datetime | None,
    offset: timedelta,
    lease: timedelta,
    limit: int,
    max_in_flight: int,
) -> list[tuple[int, str]]:
    """`claim_due` on PostgreSQL as one autocommitted statement (one round trip instead of BEGIN, the locked read,
    the in-flight count, the UPDATE and COMMIT), judged at `fixed_now` (a test's clock) or the database's clock
    moved by `offset`, as `probe`. (id, token) pairs in due order."""
    params = {
        "fixed_now": fixed_now,
        "offset": offset,
        "lease": lease,
        "scan": limit * 4,
        "limit": limit,
        "max_in_flight": max_in_flight,
    }
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = (await conn.execute(_claim_at_once_statement(), params)).all()
    return [(int(i), str(token)) for i, token, _ in sorted(rows, key=lambda r: (r[2], r[0]))]


@functools.cache
def _claim_at_once_statement() -> Any:
    claimable = ", ".join(f"'{status.value}'" for status in CLAIMABLE)
    sql = _CLAIM_AT_ONCE.format(claimable=claimable, claimed=DeliveryStatus.claimed.value)
    return text(sql).bindparams(
        bindparam("fixed_now", type_=PostTarget.due_at.type),
        bindparam("offset", type_=Interval()),
        bindparam("lease", type_=Interval()),
    )


def _claimable_due(now: Any) -> ColumnElement[bool]:
    """What `claim_due` takes (and the probe looks for): claimable, due, its connection not paced."""
    paced = select(ConnectionPacing.connection_id).where(ConnectionPacing.next_allowed_at > now)
    return and_(PostTarget.status.in_(CLAIMABLE), PostTarget.due_at <= now, PostTarget.connection_id.not_in(paced))


def _expired(now: Any) -> ColumnElement[bool]:
    return and_(PostTarget.status == DeliveryStatus.claimed, PostTarget.lease_expires_at < now)


# Not yet out: what the freshness cutoff applies to (including deliveries still waiting for their post's approval).
_WAITING = (
    DeliveryStatus.scheduled,
    DeliveryStatus.retrying,
    DeliveryStatus.needs_reconnect,
    DeliveryStatus.processing,
    DeliveryStatus.pending_approval,
)


def _past_cutoff(now: Any) -> ColumnElement[bool]:
    return and_(PostTarget.status.in_(_WAITING), PostTarget.cutoff_at < now, PostTarget.committed.is_(False))


def _reconnected() -> ColumnElement[bool]:
    working = select(Connection.id).where(Connection.status.in_((ConnectionStatus.active, ConnectionStatus.expiring)))
    return and_(PostTarget.status == DeliveryStatus.needs_reconnect, PostTarget.connection_id.in_(working))


async def expired_leases(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[PostTarget]:
    """Claimed deliveries whose lease ran out: their worker died, hung, or the hand-off was lost."""
    query = select(PostTarget).where(_expired(now)).order_by(PostTarget.lease_expires_at).limit(limit)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().all()


async def past_cutoff(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[PostTarget]:
    """Deliveries not yet out whose freshness cutoff has passed (nothing visible exists for them), including
    those still waiting for their post's approval."""
    query = select(PostTarget).where(_past_cutoff(now)).order_by(PostTarget.cutoff_at).limit(limit)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().all()


async def reconnected_waiting(session: AsyncSession, *, limit: int) -> Sequence[PostTarget]:
    """Deliveries waiting for a reconnect whose connection works again."""
    query = select(PostTarget).where(_reconnected()).order_by(PostTarget.id).limit(limit)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().all()


@dataclass(frozen=True)
class Probe:
    """What a dispatcher tick has to do, read in one statement before it opens any transaction."""

    db_now: datetime | None  # the database's clock (PostgreSQL); None on SQLite
    sweep: bool  # an expired lease, a delivery past its cutoff, or one whose connection was reconnected
    due: bool  # a delivery due to be claimed now, on a connection not paced
    # Within the horizon: the next due time of a delivery not due yet, or the end of a connection's pacing that
    # holds back a delivery due by then (None: nothing within the horizon)
    next_at: datetime | None


async def probe(engine: AsyncEngine, *, fixed_now: datetime | None, offset: timedelta, horizon: timedelta) -> Probe:
    """Whether the sweep and the claim have anything to do, judged at `fixed_now` (a test's clock) or else the
    database's clock moved by `offset`: the same conditions as `expired_leases`, `past_cutoff`,
    `reconnected_waiting` and `claim_due`'s candidates, so a tick with nothing to do costs one autocommitted round
    trip instead of two transactions; and when, within `horizon`, the claim will next find something."""
    if engine.dialect.name == "postgresql":
        params = {"p_fixed_now": fixed_now, "p_offset": offset, "p_horizon": horizon}
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            row = (await conn.execute(_probe_statement(True), params)).one()
        return Probe(db_now=row[0], sweep=bool(row[1]), due=bool(row[2]), next_at=_earliest(row[3], row[4]))
    assert fixed_now is not None, "SQLite has no server clock: the caller judges the time"
    async with engine.connect() as conn:
        params = {"p_fixed_now": fixed_now, "p_until": fixed_now + horizon}
        row = (await conn.execute(_probe_statement(False), params)).one()
    return Probe(db_now=None, sweep=bool(row[0]), due=bool(row[1]), next_at=_earliest(row[2], row[3]))


def _earliest(*times: datetime | None) -> datetime | None:
    found = [t for t in times if t is not None]
    return min(found) if found else None


@functools.cache
def _probe_statement(postgres: bool) -> Any:
    fixed = bindparam("p_fixed_now", type_=PostTarget.due_at.type)
    now: Any = fixed
    until: Any = bindparam("p_until", type_=PostTarget.due_at.type)
    if postgres:
        now = func.coalesce(fixed, func.now() + sql_cast(bindparam("p_offset", type_=Interval()), Interval()))
        until = now + sql_cast(bindparam("p_horizon", type_=Interval()), Interval())
    sweep = or_(
        exists(select(PostTarget.id).where(_expired(now))),
        exists(select(PostTarget.id).where(_past_cutoff(now))),
        exists(select(PostTarget.id).where(_reconnected())),
    )
    claimable = PostTarget.status.in_(CLAIMABLE)
    due = exists(select(PostTarget.id).where(_claimable_due(now)))
    next_due = (
        select(func.min(PostTarget.due_at))
        .where(claimable, PostTarget.due_at > now, PostTarget.due_at <= until)
        .scalar_subquery()
    )
    held = aliased(PostTarget)
    held_back = exists(
        select(held.id).where(
            held.connection_id == ConnectionPacing.connection_id,
            held.status.in_(CLAIMABLE),
            held.due_at <= ConnectionPacing.next_allowed_at,
        )
    )
    pacing_ends = (
        select(func.min(ConnectionPacing.next_allowed_at))
        .where(ConnectionPacing.next_allowed_at > now, ConnectionPacing.next_allowed_at <= until, held_back)
        .scalar_subquery()
    )
    columns: list[Any] = [
        sweep.label("sweep"),
        due.label("due"),
        next_due.label("next_due"),
        pacing_ends.label("pacing_ends"),
    ]
    return select(func.now().label("db_now"), *columns) if postgres else select(*columns)


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
