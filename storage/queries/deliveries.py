"""SQL for the delivery engine: claiming due deliveries with a lease, attempts, sweeps and pacing."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, case, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    AttemptOutcome,
    Connection,
    ConnectionPacing,
    DeliveryStatus,
    Post,
    PostMedia,
    PostTarget,
    PublishAttempt,
)
from storage.models.posts import CLAIMABLE


def is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def database_now(session: AsyncSession) -> datetime:
    """The database's clock (PostgreSQL `now()`); SQLite has one process and no server, so the host clock."""
    if is_postgres(session):
        value = (await session.execute(text("SELECT now()"))).scalar_one()
        return value.astimezone(UTC) if isinstance(value, datetime) else datetime.now(UTC)
    return datetime.now(UTC)


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


async def get_target(session: AsyncSession, target_id: int, *, lock: bool = False) -> PostTarget | None:
    query = select(PostTarget).where(PostTarget.id == target_id)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


@dataclass
class LoadedDelivery:
    """A delivery locked for publishing with everything `_begin`/`_finish` read, fetched in one statement."""

    target: PostTarget
    post: Post
    connection: Connection
    pacing: ConnectionPacing | None = None
    attempt: PublishAttempt | None = None
    in_flight: bool = False
    media_ids: list[int] = field(default_factory=list)
    db_now: datetime | None = None


@functools.cache
def _load_statement(postgres: bool, with_attempt: bool) -> Select[Any]:
    """Built once per shape: constructing this select (an alias, five joins) cost more CPU than running it."""
    other = aliased(PublishAttempt)  # the outer query may join the given attempt too
    in_flight = (
        select(other.id)
        .where(other.target_id == PostTarget.id, other.outcome == AttemptOutcome.in_flight)
        .correlate(PostTarget)
        .exists()
    )
    columns: list[Any] = [PostTarget, Post, Connection, ConnectionPacing, in_flight.label("in_flight")]
    columns.append(PostMedia.asset_id)
    if with_attempt:
        columns.append(PublishAttempt)
    if postgres:
        columns.append(func.now().label("db_now"))
    query = (
        select(*columns)
        .join(Post, Post.id == PostTarget.post_id)
        .join(Connection, Connection.id == PostTarget.connection_id)
        .outerjoin(ConnectionPacing, ConnectionPacing.connection_id == PostTarget.connection_id)
        .outerjoin(PostMedia, PostMedia.post_id == PostTarget.post_id)
        .where(PostTarget.id == bindparam("target_id"))
        .order_by(PostMedia.position)
    )
    if with_attempt:
        query = query.outerjoin(
            PublishAttempt,
            (PublishAttempt.id == bindparam("attempt_id")) & (PublishAttempt.target_id == PostTarget.id),
        )
    if postgres:
        query = query.with_for_update(of=PostTarget)
    return query


async def load_delivery(
    session: AsyncSession, target_id: int, *, attempt_id: int | None = None
) -> LoadedDelivery | None:
    """The delivery locked `FOR UPDATE` (PostgreSQL) with its post, connection, pacing row, media ids in order,
    whether an attempt is in flight, the given attempt, and the database clock: one round trip instead of seven.
    """
    postgres = is_postgres(session)
    query = _load_statement(postgres, attempt_id is not None)
    params: dict[str, Any] = {"target_id": target_id}
    if attempt_id is not None:
        params["attempt_id"] = attempt_id
    rows = (await session.execute(query, params)).all()
    if not rows:
        return None
    first = rows[0]
    db_now = first.db_now.astimezone(UTC) if postgres else None
    return LoadedDelivery(
        target=first[0],
        post=first[1],
        connection=first[2],
        pacing=first[3],
        attempt=first[6] if attempt_id is not None else None,
        in_flight=bool(first.in_flight),
        media_ids=[row.asset_id for row in rows if row.asset_id is not None],
        db_now=db_now,
    )


async def targets_of_post(session: AsyncSession, post_id: int, *, lock: bool = False) -> Sequence[PostTarget]:
    query = select(PostTarget).where(PostTarget.post_id == post_id).order_by(PostTarget.id)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalars().all()


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
    """Deliveries not yet out whose freshness cutoff has passed (nothing visible exists for them)."""
    waiting = (
        DeliveryStatus.scheduled,
        DeliveryStatus.retrying,
        DeliveryStatus.needs_reconnect,
        DeliveryStatus.processing,
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


async def in_flight_attempt(session: AsyncSession, target_id: int) -> PublishAttempt | None:
    result = await session.execute(
        select(PublishAttempt)
        .where(PublishAttempt.target_id == target_id, PublishAttempt.outcome == AttemptOutcome.in_flight)
        .order_by(PublishAttempt.number.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def attempts_of(session: AsyncSession, account_id: int, target_ids: Sequence[int]) -> Sequence[PublishAttempt]:
    """Every attempt at the venue's deliveries `target_ids`, by delivery then attempt number."""
    if not target_ids:
        return []
    result = await session.execute(
        select(PublishAttempt)
        .join(PostTarget, PostTarget.id == PublishAttempt.target_id)
        .where(PostTarget.account_id == account_id, PublishAttempt.target_id.in_(target_ids))
        .order_by(PublishAttempt.target_id, PublishAttempt.number)
    )
    return result.scalars().all()


async def waiting_on_connection(session: AsyncSession, connection_id: int) -> Sequence[PostTarget]:
    result = await session.execute(
        select(PostTarget).where(
            PostTarget.connection_id == connection_id, PostTarget.status == DeliveryStatus.needs_reconnect
        )
    )
    return result.scalars().all()


async def pace(
    session: AsyncSession,
    connection_id: int,
    *,
    not_before: datetime,
    now: datetime,
    usage_percent: int | None = None,
    reason: str | None = None,
) -> None:
    """Push the connection's next allowed call to at least `not_before` (never pulls it earlier).

    One upsert, so two workers pacing the same connection for the first time never collide on the insert.
    """
    params = {
        "p_connection_id": connection_id,
        "p_next_allowed_at": not_before,
        "p_usage_percent": usage_percent,
        "p_reason": reason,
        "p_updated_at": now,
    }
    await session.execute(_pace_statement(is_postgres(session)), params)


@functools.cache
def _pace_statement(postgres: bool) -> Any:
    """The pacing upsert, built once per dialect (it runs with every delivery while spacing is on)."""
    insert = (pg_insert if postgres else sqlite_insert)(ConnectionPacing).values(
        connection_id=bindparam("p_connection_id"),
        next_allowed_at=bindparam("p_next_allowed_at"),
        usage_percent=bindparam("p_usage_percent"),
        reason=bindparam("p_reason"),
        updated_at=bindparam("p_updated_at"),
    )
    later = func.greatest if postgres else func.max  # SQLite's two-argument max() is a scalar function
    pushed = insert.excluded.next_allowed_at > ConnectionPacing.next_allowed_at
    return insert.on_conflict_do_update(
        index_elements=[ConnectionPacing.connection_id],
        set_={
            "next_allowed_at": later(ConnectionPacing.next_allowed_at, insert.excluded.next_allowed_at),
            "reason": case((pushed, insert.excluded.reason), else_=ConnectionPacing.reason),
            "usage_percent": func.coalesce(insert.excluded.usage_percent, ConnectionPacing.usage_percent),
            "updated_at": insert.excluded.updated_at,
        },
    )


async def due_unclaimed(session: AsyncSession, *, due_before: datetime) -> list[dict[str, Any]]:
    """Per venue: how many deliveries were due before `due_before` and still wait, and the oldest due time."""
    result = await session.execute(
        select(PostTarget.account_id, func.count(), func.min(PostTarget.due_at))
        .where(PostTarget.status.in_(CLAIMABLE), PostTarget.due_at < due_before)
        .group_by(PostTarget.account_id)
    )
    return [{"account_id": a, "count": int(n), "oldest_due": d} for a, n, d in result.all()]


async def assets_in_scheduled_posts(session: AsyncSession, account_id: int, asset_id: int) -> list[tuple[int, str]]:
    """(post id, text) of the venue's posts using the asset with a delivery not yet out."""
    from storage.models import Post, PostMedia

    not_out = (
        DeliveryStatus.scheduled,
        DeliveryStatus.claimed,
        DeliveryStatus.processing,
        DeliveryStatus.retrying,
        DeliveryStatus.needs_reconnect,
    )
    result = await session.execute(
        select(Post.id, Post.text, Post.scheduled_at)
        .join(PostMedia, PostMedia.post_id == Post.id)
        .where(
            Post.account_id == account_id,
            PostMedia.asset_id == asset_id,
            Post.id.in_(select(PostTarget.post_id).where(PostTarget.status.in_(not_out))),
        )
        .distinct()
        .order_by(Post.scheduled_at)
    )
    return [(pid, body) for pid, body, _ in result.all()]


async def reconnected_waiting(session: AsyncSession, *, limit: int) -> Sequence[PostTarget]:
    """Deliveries waiting for a reconnect whose connection works again."""
    from storage.models import Connection, ConnectionStatus

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


async def last_publish_attempt(session: AsyncSession, target_id: int, *, except_worker: str) -> PublishAttempt | None:
    """The latest attempt that called the provider to publish (not a reconciliation check, whose worker
    starts with `except_worker`)."""
    result = await session.execute(
        select(PublishAttempt)
        .where(PublishAttempt.target_id == target_id, PublishAttempt.worker.not_like(f"{except_worker}%"))
        .order_by(PublishAttempt.number.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


# --- holding a paced connection's waiting deliveries (core.publishing.engine) ---


async def hold_behind_pace(
    session: AsyncSession,
    connection_id: int,
    *,
    until: datetime,
    now: datetime,
    note: str,
    note_past_cutoff: str | None = None,
    except_id: int | None = None,
) -> int:
    """Move the connection's waiting deliveries due before `until` to `until`, saying why. Returns how many.

    `claim_due` skips a paced connection silently, so without this its deliveries would keep a stale note
    ("Instagram is preparing the post.") for the whole pause. One UPDATE; it never pulls a due time earlier.
    Untouched: claimed deliveries (their worker settles them), `except_id` (the one being settled), and
    uncommitted ones already past their cutoff (the sweep marks those missed). A delivery whose cutoff
    comes before `until` gets `note_past_cutoff` when given: it will be missed, not sent after the pause.
    """
    conditions = [
        PostTarget.connection_id == connection_id,
        PostTarget.status.in_(CLAIMABLE),  # waiting for claim_due: scheduled, retrying, processing
        PostTarget.due_at < until,
        or_(PostTarget.committed.is_(True), PostTarget.cutoff_at >= now),
    ]
    if except_id is not None:
        conditions.append(PostTarget.id != except_id)
    note_value: Any = note
    if note_past_cutoff is not None:
        note_value = case(
            (PostTarget.committed.is_(False) & (PostTarget.cutoff_at < until), note_past_cutoff), else_=note
        )
    result = await session.execute(
        update(PostTarget)
        .where(*conditions)
        .values(due_at=until, note=note_value, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
