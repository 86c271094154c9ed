"""Factories for publishing tests: schedule posts through core, read deliveries and attempts back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from core.access.policy import VenueAccess
from core.posts.service import PostDraft, Saved, create_post
from core.runtime import Runtime
from storage.models import Notification, PostTarget, PublishAttempt, Role
from tests.factories import SYSTEM


def owner(venue_id: int) -> VenueAccess:
    return VenueAccess(SYSTEM, venue_id, Role.owner)


async def schedule(
    runtime: Runtime, venue_id: int, connection_ids: Sequence[int], *, text: str = "Quiz night tonight!", **draft: Any
) -> Saved:
    """Create a post through core (default: now) and commit it."""
    async with runtime.uow() as uow:
        saved = await create_post(
            runtime, uow.session, owner(venue_id), PostDraft(text=text, connection_ids=connection_ids, **draft)
        )
        await uow.commit()
        return saved


async def deliveries(runtime: Runtime, post_id: int) -> list[PostTarget]:
    async with runtime.uow() as uow:
        rows = await uow.session.execute(
            select(PostTarget).where(PostTarget.post_id == post_id).order_by(PostTarget.id)
        )
        return list(rows.scalars().all())


async def delivery(runtime: Runtime, target_id: int) -> PostTarget:
    async with runtime.uow() as uow:
        row = await uow.session.get(PostTarget, target_id)
        assert row is not None, f"delivery {target_id} does not exist"
        return row


async def attempts(runtime: Runtime, target_id: int) -> list[PublishAttempt]:
    async with runtime.uow() as uow:
        rows = await uow.session.execute(
            select(PublishAttempt).where(PublishAttempt.target_id == target_id).order_by(PublishAttempt.number)
        )
        return list(rows.scalars().all())


async def notifications_of(runtime: Runtime, venue_id: int, kind: str | None = None) -> list[Notification]:
    async with runtime.uow() as uow:
        query = select(Notification).where(Notification.account_id == venue_id).order_by(Notification.id)
        if kind is not None:
            query = query.where(Notification.kind == kind)
        return list((await uow.session.execute(query)).scalars().all())
