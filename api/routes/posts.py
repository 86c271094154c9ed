"""Posts and deliveries API: schedule, list by week, detail with attempts, edit, cancel, retry a delivery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import get, patch, post
from pydantic import BaseModel, Field

from api.deps import require
from core.access.policy import VenueAccess
from core.errors import Invalid
from core.posts import service as posts_core
from core.posts.times import format_local
from core.publishing import actions as delivery_actions
from core.runtime import Runtime
from storage.models import Connection, DeliveryStatus, Post, PostTarget, PublishAttempt, Role
from storage.queries import deliveries as deliveries_q
from storage.queries import posts as posts_q
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


class SavedOut(BaseModel):
    message: str
    post: PostOut


class RetryOut(BaseModel):
    message: str
    changed: bool
    target: TargetOut


# Most urgent first: what a post's headline status shows.
_ORDER = [
    DeliveryStatus.needs_attention,
    DeliveryStatus.in_doubt,
    DeliveryStatus.failed,
    DeliveryStatus.missed,
    DeliveryStatus.needs_reconnect,
    DeliveryStatus.claimed,
    DeliveryStatus.processing,
    DeliveryStatus.retrying,
    DeliveryStatus.scheduled,
    DeliveryStatus.published,
    DeliveryStatus.cancelled,
]


async def _render(
    uow: UnitOfWork, post_row: Post, targets: Sequence[PostTarget], tz: str, *, detail: bool = False
) -> PostOut:
    session = uow.session
    by_target: dict[int, list[PublishAttempt]] = {}
    if detail:
        for a in await deliveries_q.attempts_of(session, [t.id for t in targets]):
            by_target.setdefault(a.target_id, []).append(a)
    rendered = []
    for t in targets:
        connection = await session.get(Connection, t.connection_id)
        rendered.append(_target(t, connection.display_name if connection else "", by_target if detail else None))
    statuses = {t.status for t in targets}
    headline = next((s.value for s in _ORDER if s in statuses), "cancelled")
    return PostOut(
        id=post_row.id,
        text=post_row.text,
        link=post_row.link,
        captions=post_row.captions,
        options=post_row.options,
        media_ids=await posts_q.media_ids(session, post_row.id),
        scheduled_at=post_row.scheduled_at,
        scheduled_local=format_local(post_row.scheduled_at, tz),
        cutoff_at=post_row.cutoff_at,
        freshness_minutes=post_row.freshness_minutes,
        cancelled=post_row.cancelled_at is not None,
        status=headline,
        targets=rendered,
    )


def _target(t: PostTarget, name: str, attempts: dict[int, list[PublishAttempt]] | None) -> TargetOut:
    return TargetOut(
        id=t.id,
        connection_id=t.connection_id,
        connection=name,
        provider=t.provider.value,
        status=t.status.value,
        due_at=t.due_at,
        cutoff_at=t.cutoff_at,
        note=t.note,
        reason=t.last_error,
        error_code=t.error_code,
        remedy=t.remedy,
        external_id=t.external_id,
        permalink=t.permalink,
        published_at=t.published_at,
        attempts_made=t.attempts,
        attempts=None
        if attempts is None
        else [
            AttemptOut(
                number=a.number,
                started_at=a.started_at,
                finished_at=a.finished_at,
                outcome=a.outcome.value,
                error=a.error,
                error_code=a.error_code,
                exchanges=a.exchanges,
            )
            for a in attempts.get(t.id, [])
        ],
    )


def _draft(data: PostIn | PostPatch) -> posts_core.PostDraft:
    return posts_core.PostDraft(**data.model_dump(exclude_unset=isinstance(data, PostPatch)))


async def _saved(uow: UnitOfWork, access: VenueAccess, saved: posts_core.Saved) -> SavedOut:
    tz = await posts_core.account_timezone(uow.session, access.account_id)
    return SavedOut(message=saved.message, post=await _render(uow, saved.post, saved.targets, tz))


@post("/api/posts", tags=["posts"], summary="Schedule a post", dependencies={"access": require(Role.editor)})
async def create_post(data: PostIn, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SavedOut:
    saved = await posts_core.create_post(runtime, uow.session, access, _draft(data))
    return await _saved(uow, access, saved)


@get(
    "/api/posts",
    tags=["posts"],
    summary="The venue's posts, by week (Monday in the venue's zone), status or connection",
    dependencies={"access": require(Role.viewer)},
)
async def list_posts(
    access: VenueAccess,
    uow: UnitOfWork,
    week: date | None = None,
    status: str | None = None,
    connection_id: int | None = None,
) -> list[PostOut]:
    tz = await posts_core.account_timezone(uow.session, access.account_id)
    since = until = None
    if week is not None:
        monday = week - timedelta(days=week.weekday())
        since = datetime.combine(monday, time(0), ZoneInfo(tz))
        until = datetime.combine(monday + timedelta(days=7), time(0), ZoneInfo(tz))
    wanted: DeliveryStatus | None = None
    if status is not None:
        try:
            wanted = DeliveryStatus(status)
        except ValueError:
            raise Invalid(
                f"unknown status {status!r}; one of {', '.join(s.value for s in DeliveryStatus)}", field="status"
            ) from None
    rows = await posts_q.list_for_account(
        uow.session, access.account_id, since=since, until=until, status=wanted, connection_id=connection_id
    )
    targets = await posts_q.targets_for_posts(uow.session, [p.id for p in rows])
    out = []
    for row in rows:
        out.append(await _render(uow, row, [t for t in targets if t.post_id == row.id], tz))
    return out


@get(
    "/api/posts/{post_id:int}",
    tags=["posts"],
    summary="A post with every delivery's status, attempts, reasons, permalinks and snapshots",
    dependencies={"access": require(Role.viewer)},
)
async def get_post(post_id: int, access: VenueAccess, uow: UnitOfWork) -> PostOut:
    row, targets = await posts_core.get_post(uow.session, access, post_id)
    tz = await posts_core.account_timezone(uow.session, access.account_id)
    return await _render(uow, row, targets, tz, detail=True)


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
    return await _saved(uow, access, saved)


@post(
    "/api/posts/{post_id:int}/cancel",
    tags=["posts"],
    summary="Cancel every delivery not yet out",
    dependencies={"access": require(Role.editor)},
    status_code=200,
)
async def cancel_post(post_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SavedOut:
    saved = await posts_core.cancel_post(runtime, uow.session, access, post_id)
    return await _saved(uow, access, saved)


@post(
    "/api/targets/{target_id:int}/retry",
    tags=["posts"],
    summary="Send a failed, missed, in-doubt or waiting delivery again (idempotent; refuses a live one)",
    dependencies={"access": require(Role.editor)},
    status_code=202,
)
async def retry_target(target_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> RetryOut:
    result = await delivery_actions.retry_target(runtime, uow.session, access, target_id)
    connection = await uow.session.get(Connection, result.target.connection_id)
    return RetryOut(
        message=result.message,
        changed=result.changed,
        target=_target(result.target, connection.display_name if connection else "", None),
    )


routes = [create_post, list_posts, get_post, update_post, cancel_post, retry_target]
