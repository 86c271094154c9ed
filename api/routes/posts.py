"""Posts and deliveries API: schedule, list by week, detail with attempts, edit, cancel, approve or reject, retry a
delivery."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from litestar import get, patch, post
from litestar.params import Parameter
from pydantic import BaseModel, Field

from api.deps import require
from core.access.policy import VenueAccess
from core.posts import approval as approval_core
from core.posts import service as posts_core
from core.posts import views
from core.posts.views import DeliveryView, PostView
from core.publishing import actions as delivery_actions
from core.runtime import Runtime
from storage.models import Role
from storage.uow import UnitOfWork


class PostIn(BaseModel):
    text: str = Field(default="", max_length=70_000)
    when: str = Field(
        default="now", description="'now', a local time in the venue's zone (2026-12-24T19:30), or ISO with offset"
    )
    fold: str | None = Field(
        default=None, description="For a time that happens twice (clocks going back): earlier or later"
    )
    connection_ids: list[int] = Field(description="Where to publish: the venue's connection ids", max_length=50)
    media_ids: list[int] = Field(default_factory=list, max_length=10)
    link: str | None = None
    captions: dict[str, str] = Field(default_factory=dict, description="Per-provider text overriding `text`")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='{"instagram": {"surface": "feed|story|reel"}, "google_business": {...}}'
    )
    freshness_minutes: int | None = Field(default=None, description="Give up (missed) this long after the time")


class PostPatch(BaseModel):
    text: str | None = Field(default=None, max_length=70_000)
    when: str | None = None
    fold: str | None = None
    connection_ids: list[int] | None = Field(default=None, max_length=50)
    media_ids: list[int] | None = Field(default=None, max_length=10)
    link: str | None = None
    captions: dict[str, str] | None = None
    options: dict[str, dict[str, Any]] | None = None
    freshness_minutes: int | None = None


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    error: str | None
    error_code: str | None
    exchanges: list[dict[str, Any]] = Field(description="Request/response snapshots, secrets redacted")


class TargetOut(BaseModel):
    id: int
    connection_id: int
    connection: str
    provider: str
    status: str
    due_at: datetime
    cutoff_at: datetime
    note: str | None
    reason: str | None
    error_code: str | None
    remedy: str | None
    external_id: str | None
    permalink: str | None
    published_at: datetime | None
    attempts_made: int
    attempts: list[AttemptOut] | None = None


class PostOut(BaseModel):
    id: int
    text: str
    link: str | None
    captions: dict[str, str]
    options: dict[str, Any]
    media_ids: list[int]
    scheduled_at: datetime
    scheduled_local: str
    cutoff_at: datetime
    freshness_minutes: int
    cancelled: bool
    status: str = Field(description="The least settled delivery status (what needs attention first)")
    targets: list[TargetOut]
    approval: str | None = Field(
        None, description="None when not asked; pending, approved or rejected (docs/weekly.md#approvals)"
    )
    approval_decided_by_user_id: int | None = None
    approval_decided_at: datetime | None = None
    approval_note: str | None = Field(None, description="The reason given with a rejection")


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, description="Why, in words the post's author reads")


class SavedOut(BaseModel):
    message: str
    post: PostOut


class RetryOut(BaseModel):
    message: str
    changed: bool
    target: TargetOut


def _post_out(view: PostView) -> PostOut:
    return PostOut(
        id=view.id,
        text=view.text,
        link=view.link,
        captions=view.captions,
        options=view.options,
        media_ids=list(view.media_ids),
        scheduled_at=view.scheduled_at,
        scheduled_local=view.scheduled_local,
        cutoff_at=view.cutoff_at,
        freshness_minutes=view.freshness_minutes,
        cancelled=view.cancelled,
        status=view.status.value,
        targets=[_target_out(d) for d in view.deliveries],
        approval=view.approval,
        approval_decided_by_user_id=view.approval_decided_by_user_id,
        approval_decided_at=view.approval_decided_at,
        approval_note=view.approval_note,
    )


def _target_out(d: DeliveryView) -> TargetOut:
    return TargetOut(
        id=d.target_id,
        connection_id=d.connection_id,
        connection=d.connection,
        provider=d.provider,
        status=d.status.value,
        due_at=d.due_at,
        cutoff_at=d.cutoff_at,
        note=d.note,
        reason=d.last_error,
        error_code=d.error_code,
        remedy=d.remedy,
        external_id=d.external_id,
        permalink=d.permalink,
        published_at=d.published_at,
        attempts_made=d.attempts_made,
        attempts=None if d.attempts is None else [AttemptOut(**asdict(a)) for a in d.attempts],
    )


def _draft(data: PostIn | PostPatch) -> posts_core.PostDraft:
    return posts_core.PostDraft(**data.model_dump(exclude_unset=isinstance(data, PostPatch)))


async def _saved(runtime: Runtime, uow: UnitOfWork, access: VenueAccess, saved: posts_core.Saved) -> SavedOut:
    view = await views.post_view(uow.session, access, saved.post, clock=runtime.clock)
    return SavedOut(message=saved.message, post=_post_out(view))


@post("/api/posts", tags=["posts"], summary="Schedule a post", dependencies={"access": require(Role.editor)})
async def create_post(data: PostIn, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SavedOut:
    saved = await posts_core.create_post(runtime, uow.session, access, _draft(data))
    return await _saved(runtime, uow, access, saved)


@get(
    "/api/posts",
    tags=["posts"],
    summary="The venue's posts, by week (Monday in the venue's zone), status or connection",
    dependencies={"access": require(Role.viewer)},
)
async def list_posts(
    access: VenueAccess,
    runtime: Runtime,
    uow: UnitOfWork,
    week: str | None = Parameter(
        default=None,
        description="'this', 'next' or a date (YYYY-MM-DD): that Monday-to-Monday week in the venue's zone",
    ),
    status: str | None = Parameter(default=None, description="Only posts with a delivery in this status"),
    connection_id: int | None = Parameter(default=None, description="Only posts with a delivery to this connection"),
) -> list[PostOut]:
    listed = await views.list_posts(
        uow.session, access, status=status, connection_id=connection_id, week=week, clock=runtime.clock
    )
    return [_post_out(v) for v in listed]


@get(
    "/api/posts/{post_id:int}",
    tags=["posts"],
    summary="A post with every delivery's status, attempts, reasons, permalinks and snapshots",
    dependencies={"access": require(Role.viewer)},
)
async def get_post(post_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> PostOut:
    return _post_out(await views.get_post(uow.session, access, post_id, with_attempts=True, clock=runtime.clock))


@patch(
    "/api/posts/{post_id:int}",
    tags=["posts"],
    summary="Edit or reschedule (refused while a delivery is in flight or live, saying which)",
    dependencies={"access": require(Role.editor)},
)
async def update_post(
    post_id: int, data: PostPatch, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> SavedOut:
    saved = await posts_core.update_post(runtime, uow.session, access, post_id, _draft(data))
    return await _saved(runtime, uow, access, saved)


@post(
    "/api/posts/{post_id:int}/cancel",
    tags=["posts"],
    summary="Cancel every delivery not yet out",
    dependencies={"access": require(Role.editor)},
    status_code=200,
)
async def cancel_post(post_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SavedOut:
    saved = await posts_core.cancel_post(runtime, uow.session, access, post_id)
    return await _saved(runtime, uow, access, saved)


@post(
    "/api/posts/{post_id:int}/approve",
    tags=["posts"],
    summary="Approve a post waiting for approval (admin); it goes out at its time. 409 names who decided first",
    dependencies={"access": require(Role.admin)},
    status_code=200,
)
async def approve_post(post_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SavedOut:
    decision = await approval_core.approve(runtime, uow.session, access, post_id)
    view = await views.get_post(uow.session, access, post_id, clock=runtime.clock)
    return SavedOut(message=decision.message, post=_post_out(view))


@post(
    "/api/posts/{post_id:int}/reject",
    tags=["posts"],
    summary="Reject a post waiting for approval with a reason (admin); it is not sent. 409 names who decided first",
    dependencies={"access": require(Role.admin)},
    status_code=200,
)
async def reject_post(post_id: int, data: RejectIn, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SavedOut:
    decision = await approval_core.reject(runtime, uow.session, access, post_id, data.reason)
    view = await views.get_post(uow.session, access, post_id, clock=runtime.clock)
    return SavedOut(message=decision.message, post=_post_out(view))


@post(
    "/api/targets/{target_id:int}/retry",
    tags=["posts"],
    summary="Send a failed, missed, in-doubt or waiting delivery again (idempotent; refuses a live one)",
    dependencies={"access": require(Role.editor)},
    status_code=202,
)
async def retry_target(target_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> RetryOut:
    result = await delivery_actions.retry_target(runtime, uow.session, access, target_id)
    delivery = await views.delivery_view(uow.session, access, result.target)
    return RetryOut(message=result.message, changed=result.changed, target=_target_out(delivery))


routes = [create_post, list_posts, get_post, update_post, cancel_post, approve_post, reject_post, retry_target]
