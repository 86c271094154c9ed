"""SQL for a post's approval: the one conditional UPDATE that lets exactly one approver decide, and reading back
who did."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Post, User, WeeklyPost


async def decide(
    session: AsyncSession,
    post_id: int,
    *,
    decision: str,
    user_id: int | None,
    at: datetime,
    note: str | None,
) -> bool:
    """Record `decision` on the post only while it is still pending; False when someone else decided first.

    PostgreSQL: a second UPDATE waits for the first transaction and then re-reads the row, so it matches nothing.
    SQLite has a single writer, so the second runs after the first committed and matches nothing either."""
    result = await session.execute(
        update(Post)
        .where(Post.id == post_id, Post.approval == "pending")
        .values(approval=decision, approval_decided_by_user_id=user_id, approval_decided_at=at, approval_note=note)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def reread(session: AsyncSession, post_id: int) -> Post | None:
    """The post as committed now (the identity map refreshed), to say who decided it."""
    query = select(Post).where(Post.id == post_id).execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def user_name(session: AsyncSession, user_id: int | None) -> str | None:
    """A person's name, or None when unknown (the operator at the shell has no person row)."""
    if user_id is None:
        return None
    return (await session.execute(select(User.name).where(User.id == user_id))).scalar_one_or_none()


async def is_weekly(session: AsyncSession, post_id: int) -> bool:
    """Whether the post was made from the venue's weekly plan (materialise-weekly)."""
    query = select(WeeklyPost.id).where(WeeklyPost.post_id == post_id).limit(1)
    return (await session.execute(query)).first() is not None
