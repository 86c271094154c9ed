"""The venue's notification feed: paginated, filterable, markable as read, exportable in full."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from litestar import get, post
from litestar.exceptions import ValidationException
from litestar.params import Parameter, QueryParameter
from litestar.response import Stream
from pydantic import BaseModel, Field

from api.deps import require
from api.links import payload_with_links
from core.access.policy import VenueAccess
from core.errors import Invalid
from core.notifications import outbox as notifications_core
from core.notifications.kinds import NotificationKind, parse_kinds
from core.runtime import Runtime
from storage.models import Role, Severity
from storage.uow import UnitOfWork

KIND_FILTER = "Repeat to filter by several kinds: " + ", ".join(k.value for k in NotificationKind)
SEVERITY_FILTER = "Repeat to filter by several severities: " + ", ".join(s.value for s in Severity)
FORMAT_HELP = "csv (a header row, subject and payload as JSON in their cells) or jsonl (one JSON object a line)"


def _kinds(values: list[str] | None) -> list[NotificationKind] | None:
    """An unknown kind is a malformed request (400, like any other bad parameter value), naming the valid ones."""
    try:
        return parse_kinds(values)
    except Invalid as exc:
        raise ValidationException(
            detail=exc.message, extra=[{"key": "kind", "message": exc.message, "source": "query"}]
        ) from exc


def _severities(values: list[str] | None) -> list[str] | None:
    """An unknown severity is a 400 too, as an unknown kind is."""
    try:
        parsed = notifications_core.parse_severities(values)
    except Invalid as exc:
        raise ValidationException(
            detail=exc.message, extra=[{"key": "severity", "message": exc.message, "source": "query"}]
        ) from exc
    return [s.value for s in parsed] if parsed else None


class NotificationOut(BaseModel):
    id: int
    created_at: datetime
    kind: str
    severity: str
    title: str
    subject: dict[str, Any]
    payload: dict[str, Any] = Field(
        description="What happened, in detail; `actions` lists what you can do next, each with its `method` and `url`"
    )
    read: bool


class FeedOut(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null at the end")


@get(
    "/api/notifications",
    tags=["notifications"],
    summary="The venue's notifications, newest first",
    dependencies={"access": require(Role.viewer)},
)
async def list_notifications(
    access: VenueAccess,
    uow: UnitOfWork,
    cursor: str | None = None,
    limit: int = Parameter(default=50, ge=1, le=notifications_core.MAX_PAGE),
    kind: list[str] | None = Parameter(default=None, description=KIND_FILTER),
    since: datetime | None = None,
    unread: bool = False,
    severity: list[str] | None = Parameter(default=None, description=SEVERITY_FILTER),
) -> FeedOut:
    page = await notifications_core.feed(
        uow.session,
        access,
        cursor=cursor,
        limit=limit,
        kinds=_kinds(kind),
        since=since,
        unread_only=unread,
        severities=_severities(severity),
    )
    return FeedOut(
        items=[
            NotificationOut(
                id=i.notification.id,
                created_at=i.notification.created_at,
                kind=i.notification.kind,
                severity=i.notification.severity.value,
                title=i.notification.title,
                subject=i.notification.subject,
                payload=payload_with_links(i.notification),
                read=i.read,
            )
            for i in page.items
        ],
        next_cursor=page.next_cursor,
    )


class ReadIn(BaseModel):
    ids: list[int] | None = Field(None, description="Notification ids; omit (or set all=true) for everything")
    all: bool = False


class ReadOut(BaseModel):
    marked: int


@post(
    "/api/notifications/read",
    tags=["notifications"],
    summary="Mark notifications read for you",
    dependencies={"access": require(Role.viewer)},
    status_code=200,
)
async def mark_read(data: ReadIn, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> ReadOut:
    ids = None if data.all or data.ids is None else data.ids
    return ReadOut(marked=await notifications_core.mark_read(uow.session, runtime.clock, access, ids=ids))


@get(
    "/api/notifications/export",
    tags=["notifications"],
    summary="Every notification, streamed as CSV or JSON lines",
    dependencies={"access": require(Role.viewer)},
)
async def export(
    access: VenueAccess,
    runtime: Runtime,
    format_: Annotated[str, QueryParameter(name="format", description=FORMAT_HELP)] = "jsonl",
    kind: list[str] | None = Parameter(default=None, description=KIND_FILTER),
    severity: list[str] | None = Parameter(default=None, description=SEVERITY_FILTER),
    since: datetime | None = None,
) -> Stream:
    """`?format=csv` or `?format=jsonl` (default); the whole history, oldest first, read from the database in
    batches (never all of it in memory), with the same filters as the feed."""
    # Checked before streaming starts: afterwards no error response can be sent.
    if format_ not in notifications_core.EXPORT_FORMATS:
        raise Invalid("format must be csv or jsonl", field="format")
    notifications_core.check_since(since)
    kinds = _kinds(kind)
    severities = _severities(severity)
    filename = f"notifications-venue-{access.account_id}.{format_}"

    async def body() -> AsyncIterator[bytes]:
        async for chunk in notifications_core.export(
            runtime.db,
            access,
            fmt=format_,
            kinds=kinds,
            since=since,
            severities=severities,
            payload_view=payload_with_links,
        ):
            yield chunk.encode()

    media = notifications_core.EXPORT_FORMATS[format_]
    return Stream(body(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


routes = [list_notifications, mark_read, export]
