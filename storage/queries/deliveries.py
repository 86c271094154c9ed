"""SQL for reading deliveries and their attempts: the engine's one-statement load, a post's deliveries, counts.

Claims and sweeps are in storage.queries.claims, pacing in storage.queries.pacing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, text
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
from storage.models.posts import CLAIMABLE, SETTLED


def is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def database_now(session: AsyncSession) -> datetime:
    """The database's clock (PostgreSQL `now()`); SQLite has one process and no server, so the host clock."""
    if is_postgres(session):
        value = (await session.execute(text("SELECT now()"))).scalar_one()
        return value.astimezone(UTC) if isinstance(value, datetime) else datetime.now(UTC)
    return datetime.now(UTC)


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


async def unsettled_on_connection(session: AsyncSession, account_id: int, connection_id: int) -> int:
    """How many of the venue's deliveries through this connection are not settled yet (still to go out)."""
    result = await session.execute(
        select(func.count())
        .select_from(PostTarget)
        .where(
            PostTarget.account_id == account_id,
            PostTarget.connection_id == connection_id,
            PostTarget.status.not_in(SETTLED),
        )
    )
    return int(result.scalar_one())


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
