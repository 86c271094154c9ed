"""SQL for posts: create, read by venue with filters, their media, and the planner's week view."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Connection, DeliveryStatus, Post, PostMedia, PostTarget, Provider
from storage.queries.deliveries import is_postgres


async def add(session: AsyncSession, post: Post) -> Post:
    session.add(post)
    await session.flush()
    return post


async def get(session: AsyncSession, account_id: int, post_id: int, *, lock: bool = False) -> Post | None:
    query = select(Post).where(Post.id == post_id, Post.account_id == account_id)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def media_ids(session: AsyncSession, post_id: int) -> list[int]:
    result = await session.execute(
        select(PostMedia.asset_id).where(PostMedia.post_id == post_id).order_by(PostMedia.position)
    )
    return list(result.scalars().all())


async def set_media(session: AsyncSession, post_id: int, asset_ids: Sequence[int]) -> None:
    await session.execute(delete(PostMedia).where(PostMedia.post_id == post_id))
    session.add_all(PostMedia(post_id=post_id, asset_id=a, position=i) for i, a in enumerate(asset_ids))
    await session.flush()


async def list_for_account(
    session: AsyncSession,
    account_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    status: DeliveryStatus | None = None,
    connection_id: int | None = None,
    limit: int = 200,
) -> Sequence[Post]:
    """The venue's posts scheduled in [since, until), optionally only those with a delivery in `status`
    or to `connection_id`, in time order."""
    query = select(Post).where(Post.account_id == account_id)
    if since is not None:
        query = query.where(Post.scheduled_at >= since)
    if until is not None:
        query = query.where(Post.scheduled_at < until)
    if status is not None or connection_id is not None:
        targets = select(PostTarget.post_id).where(PostTarget.account_id == account_id)
        if status is not None:
            targets = targets.where(PostTarget.status == status)
        if connection_id is not None:
            targets = targets.where(PostTarget.connection_id == connection_id)
        query = query.where(Post.id.in_(targets))
    result = await session.execute(query.order_by(Post.scheduled_at, Post.id).limit(limit))
    return result.scalars().all()


async def week_rows(
    session: AsyncSession, account_id: int, *, since: datetime, until: datetime, limit: int
) -> Sequence[Row[int, datetime, str, datetime | None]]:
    """The calendar's columns of the venue's posts scheduled in [since, until), in time order: (id, scheduled_at,
    text, cancelled_at). Plain rows, not ORM objects: a busy week is hundreds of posts read on every page view."""
    result = await session.execute(
        select(Post.id, Post.scheduled_at, Post.text, Post.cancelled_at)
        .where(Post.account_id == account_id, Post.scheduled_at >= since, Post.scheduled_at < until)
        .order_by(Post.scheduled_at, Post.id)
        .limit(limit)
    )
    return result.all()


async def week_target_rows(
    session: AsyncSession, account_id: int, post_ids: Sequence[int]
) -> Sequence[Row[int, Provider, DeliveryStatus, str | None]]:
    """The calendar's columns of the deliveries of `post_ids`, by post then delivery id: (post_id, provider,
    status, the connection's display name)."""
    if not post_ids:
        return []
    result = await session.execute(
        select(PostTarget.post_id, PostTarget.provider, PostTarget.status, Connection.display_name)
        .outerjoin(Connection, Connection.id == PostTarget.connection_id)
        .where(PostTarget.account_id == account_id, PostTarget.post_id.in_(post_ids))
        .order_by(PostTarget.post_id, PostTarget.id)
    )
    return result.all()


async def targets_for_posts(session: AsyncSession, account_id: int, post_ids: Sequence[int]) -> Sequence[PostTarget]:
    """The deliveries of the venue's `post_ids`, by post then delivery id."""
    if not post_ids:
        return []
    result = await session.execute(
        select(PostTarget)
        .where(PostTarget.account_id == account_id, PostTarget.post_id.in_(post_ids))
        .order_by(PostTarget.post_id, PostTarget.id)
    )
    return result.scalars().all()


async def media_for_posts(session: AsyncSession, account_id: int, post_ids: Sequence[int]) -> dict[int, list[int]]:
    """Each of the venue's `post_ids` mapped to its media asset ids in position order (absent: no media)."""
    if not post_ids:
        return {}
    result = await session.execute(
        select(PostMedia.post_id, PostMedia.asset_id)
        .join(Post, Post.id == PostMedia.post_id)
        .where(Post.account_id == account_id, PostMedia.post_id.in_(post_ids))
        .order_by(PostMedia.post_id, PostMedia.position)
    )
    media: dict[int, list[int]] = {}
    for post_id, asset_id in result.all():
        media.setdefault(post_id, []).append(asset_id)
    return media


async def get_target_in_account(session: AsyncSession, account_id: int, target_id: int) -> PostTarget | None:
    query = select(PostTarget).where(PostTarget.id == target_id, PostTarget.account_id == account_id)
    if is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()
