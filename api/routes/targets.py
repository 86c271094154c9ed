"""A person's decisions on one delivery CheersAI could not settle: mark it as published, or publish it again."""

from __future__ import annotations

from datetime import datetime

from litestar import post
from pydantic import BaseModel, Field

from api.deps import require
from core.access.policy import VenueAccess
from core.publishing import actions as delivery_actions
from core.publishing.actions import RetryResult
from core.runtime import Runtime
from storage.models import Role
from storage.uow import UnitOfWork


class MarkPublishedIn(BaseModel):
    permalink: str | None = Field(
        default=None, max_length=2000, description="The post's https:// link on the platform, when you have it"
    )


class DeliveryOut(BaseModel):
    id: int
    post_id: int
    status: str
    note: str | None
    permalink: str | None
    external_id: str | None
    published_at: datetime | None


class DecisionOut(BaseModel):
    message: str
    changed: bool
    target: DeliveryOut


def _out(result: RetryResult) -> DecisionOut:
    t = result.target
    delivery = DeliveryOut(
        id=t.id,
        post_id=t.post_id,
        status=t.status.value,
        note=t.note,
        permalink=t.permalink,
        external_id=t.external_id,
        published_at=t.published_at,
    )
    return DecisionOut(message=result.message, changed=result.changed, target=delivery)


@post(
    "/api/targets/{target_id:int}/mark-published",
    tags=["posts"],
    summary="Say a delivery is live (in doubt, needing attention, failed or missed); audited",
    description="For when CheersAI cannot tell whether a post went out, or it was posted by hand. 409 for a "
    "delivery that is queued, live or cancelled; 404 for another venue's; 422 for a link that is not https.",
    dependencies={"access": require(Role.editor)},
    status_code=200,
)
async def mark_published(
    target_id: int, data: MarkPublishedIn, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> DecisionOut:
    result = await delivery_actions.mark_published(runtime, uow.session, access, target_id, data.permalink)
    return _out(result)


@post(
    "/api/targets/{target_id:int}/publish-again",
    tags=["posts"],
    summary="Say a delivery in doubt did not go out: send it again now (idempotent; refuses a live one); audited",
    description="409 while CheersAI is checking the platform for it, or when it is live or cancelled.",
    dependencies={"access": require(Role.editor)},
    status_code=202,
)
async def publish_again(target_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> DecisionOut:
    result = await delivery_actions.publish_again(runtime, uow.session, access, target_id)
    return _out(result)


routes = [mark_published, publish_again]
