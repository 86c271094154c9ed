"""Reading posts for display: the post and delivery views every front door (API, CLI, chat) renders.

Weeks are the venue's: local Monday 00:00 to the next local Monday 00:00 in its IANA zone, so a week
in which the clocks change is 167 or 169 hours long.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.clock import Clock
from core.connections.lifecycle import PROVIDER_LABEL
from core.errors import Invalid, NotFound
from core.posts.service import account_timezone, reconnect_wait
from core.posts.times import format_local, zone
from core.publishing.labels import excerpt
from storage.models import Connection, DeliveryStatus, Post, PostTarget, Provider, PublishAttempt
from storage.models.posts import EDITABLE
from storage.queries import connections as connections_q
from storage.queries import deliveries as deliveries_q
from storage.queries import posts as posts_q

LIST_LIMIT = 200  # the most posts one listing returns (earliest first)
RELATIVE_WEEKS = {"this": 0, "next": 1}

# Most urgent first: what a post's headline status shows.
HEADLINE_ORDER = (
    DeliveryStatus.needs_attention,
    DeliveryStatus.in_doubt,
    DeliveryStatus.failed,
    DeliveryStatus.missed,
    DeliveryStatus.needs_reconnect,
    DeliveryStatus.pending_approval,
    DeliveryStatus.claimed,
    DeliveryStatus.processing,
    DeliveryStatus.retrying,
    DeliveryStatus.scheduled,
    DeliveryStatus.published,
    DeliveryStatus.cancelled,
)

# Deliveries that will find their connection broken when due (one already waiting says so in its own note).
NOT_YET_DUE = frozenset({DeliveryStatus.scheduled, DeliveryStatus.retrying, DeliveryStatus.processing})


@dataclass(frozen=True)
class AttemptView:
    """One call to a provider for a delivery, with its redacted request/response snapshots."""

    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    error: str | None
    error_code: str | None
    exchanges: list[dict[str, Any]]


@dataclass(frozen=True)
class DeliveryView:
    """One post to one connection: where it goes, how it stands, why, and what to do about it."""

    target_id: int
    connection_id: int
    connection: str  # the connection's own name, e.g. "The Red Lion"
    connection_label: str  # what people read, e.g. "Facebook Page The Red Lion"
    provider: str
    status: DeliveryStatus
    due_at: datetime
    cutoff_at: datetime
    note: str | None
    last_error: str | None
    error_code: str | None
    remedy: str | None
    external_id: str | None
    permalink: str | None
    published_at: datetime | None
    attempts_made: int
    attempts: tuple[AttemptView, ...] | None = None  # None unless asked for


@dataclass(frozen=True)
class PostView:
    """A post as the venue reads it: times in UTC and in the venue's zone, and its most urgent status."""

    id: int
    text: str
    excerpt: str
    link: str | None
    captions: dict[str, str]
    options: dict[str, Any]
    media_ids: tuple[int, ...]
    scheduled_at: datetime
    scheduled_local: str
    timezone: str
    cutoff_at: datetime
    freshness_minutes: int
    cancelled: bool
    status: DeliveryStatus
    deliveries: tuple[DeliveryView, ...]
    # Approval (docs/weekly.md#approvals): None when not asked; "pending", "approved" or "rejected".
    approval: str | None = None
    approval_decided_by_user_id: int | None = None
    approval_decided_at: datetime | None = None
    approval_note: str | None = None  # the reason given with a rejection


def headline_status(statuses: Iterable[DeliveryStatus]) -> DeliveryStatus:
    """The most urgent of a post's delivery statuses; cancelled when it has none."""
    present = set(statuses)
    return next((s for s in HEADLINE_ORDER if s in present), DeliveryStatus.cancelled)


def week_bounds(tz_name: str, day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of the venue-local week (Monday 00:00 to Monday 00:00) containing `day`."""
    tz = zone(tz_name)
    monday = day - timedelta(days=day.weekday())
    # Each bound is a local wall time converted on its own, so a DST change inside the week moves the end
    # and not the start. fold=0 reads a midnight that happens twice as its first occurrence, and one
    # skipped by the clocks as the moment they jump.
    start = datetime.combine(monday, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def can_change(cancelled: bool, statuses: Iterable[DeliveryStatus]) -> bool:
    """Whether a post can still be edited or moved: not cancelled, and every delivery still editable (nothing in
    flight, live or in doubt: what core.posts.service.update_post refuses), so a page offers only what core takes."""
    return not cancelled and all(status in EDITABLE for status in statuses)


def _week_range(tz_name: str, day: date, *, asked: str | date) -> tuple[datetime, datetime]:
    """`week_bounds`, refused as Invalid (naming what was `asked`) when the week runs past year 9999."""
    try:
        return week_bounds(tz_name, day)
    except OverflowError:  # the end of the calendar
        raise Invalid(f"'{asked}' is too far ahead; send a date before 9999-12-25", field="week") from None


def _label(provider: Provider, connection_name: str | None) -> str:
    """What people read for a delivery's connection, e.g. "Facebook Page The Red Lion"."""
    return f"{PROVIDER_LABEL[provider]} {connection_name or ''}".rstrip()


def week_day(week: str | date, tz_name: str, clock: Clock | None) -> date:
    """A day in the week meant by `week`: a date, 'YYYY-MM-DD', or 'this'/'next' (the venue's local week now)."""
    if isinstance(week, date):
        return week
    text = week.strip().lower()
    if text in RELATIVE_WEEKS:
        if clock is None:
            raise ValueError("a relative week needs a clock")
        today = clock.now().astimezone(zone(tz_name)).date()
        return today + timedelta(weeks=RELATIVE_WEEKS[text])
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"'{week}' is not a week we can read; send 'this', 'next' or a date like 2026-12-24",
            field="week",
        ) from None


def parse_status(value: str | DeliveryStatus) -> DeliveryStatus:
    """A delivery status from its name, or Invalid naming the field and the choices."""
    try:
        return DeliveryStatus(value)
    except ValueError:
        raise Invalid(
            f"unknown status {value!r}; one of {', '.join(s.value for s in DeliveryStatus)}", field="status"
        ) from None


async def list_posts(
    session: AsyncSession,
    access: VenueAccess,
    *,
    status: str | DeliveryStatus | None = None,
    connection_id: int | None = None,
    week: str | date | None = None,
    clock: Clock | None = None,
    limit: int = LIST_LIMIT,
) -> list[PostView]:
    """The venue's posts, earliest first: those with a delivery in `status` or to `connection_id`, and
    scheduled in the venue-local `week` (see `week_day`; 'this'/'next' read `clock`, which also names the current
    year, left out of `scheduled_local`)."""
    wanted = parse_status(status) if status is not None else None
    tz = await account_timezone(session, access.account_id)
    since = until = None
    if week is not None:
        since, until = _week_range(tz, week_day(week, tz, clock), asked=week)
    rows = await posts_q.list_for_account(
        session,
        access.account_id,
        since=since,
        until=until,
        status=wanted,
        connection_id=connection_id,
        limit=limit,
    )
    return await _views(session, access.account_id, rows, tz, with_attempts=False, clock=clock)


@dataclass(frozen=True)
class WeekDelivery:
    """A delivery as a calendar card shows it: where it goes and its status."""

    connection_label: str  # "Facebook Page The Crown"
    status: DeliveryStatus


@dataclass(frozen=True)
class WeekPost:
    """A post as a calendar shows it: when, the start of its text, whether cancelled, its deliveries."""

    id: int
    scheduled_at: datetime
    excerpt: str
    cancelled: bool
    deliveries: tuple[WeekDelivery, ...]


async def week_posts(
    session: AsyncSession, access: VenueAccess, week: date, *, limit: int = LIST_LIMIT
) -> list[WeekPost]:
    """The venue's posts in the venue-local week holding `week`, earliest first, with only what a calendar shows.

    After the venue's zone, two queries of plain columns whatever the week holds (no ORM objects, no per-post work
    beyond the excerpt), so a week of 500 posts with three deliveries each is read in a few milliseconds;
    `list_posts(week=)` gives the full views of the same posts."""
    tz = await account_timezone(session, access.account_id)
    since, until = _week_range(tz, week, asked=week)
    rows = await posts_q.week_rows(session, access.account_id, since=since, until=until, limit=limit)
    deliveries: dict[int, list[WeekDelivery]] = {}
    for post_id, provider, status, name in await posts_q.week_target_rows(
        session, access.account_id, [r.id for r in rows]
    ):
        deliveries.setdefault(post_id, []).append(WeekDelivery(connection_label=_label(provider, name), status=status))
    return [
        WeekPost(
            id=r.id,
            scheduled_at=r.scheduled_at,
            excerpt=excerpt(r.text),
            cancelled=r.cancelled_at is not None,
            deliveries=tuple(deliveries.get(r.id, ())),
        )
        for r in rows
    ]


async def get_post(
    session: AsyncSession,
    access: VenueAccess,
    post_id: int,
    *,
    with_attempts: bool = False,
    clock: Clock | None = None,
) -> PostView:
    """One of the venue's posts (another venue's is not found), with each delivery's attempts if asked.

    `clock` says which year is the current one (its year is left out of `scheduled_local`)."""
    row = await posts_q.get(session, access.account_id, post_id)
    if row is None:
        raise NotFound(f"post {post_id} not found")
    return await post_view(session, access, row, with_attempts=with_attempts, clock=clock)


async def post_view(
    session: AsyncSession, access: VenueAccess, post: Post, *, with_attempts: bool = False, clock: Clock | None = None
) -> PostView:
    """The view of a post the caller already holds (just created, edited or cancelled)."""
    tz = await account_timezone(session, access.account_id)
    [view] = await _views(session, access.account_id, [post], tz, with_attempts=with_attempts, clock=clock)
    return view


async def get_delivery(session: AsyncSession, access: VenueAccess, target_id: int) -> DeliveryView:
    """One of the venue's deliveries (another venue's is not found), without attempts."""
    target = await posts_q.get_target_in_account(session, access.account_id, target_id)
    if target is None:
        raise NotFound(f"delivery {target_id} not found")
    return await delivery_view(session, access, target)


async def delivery_view(session: AsyncSession, access: VenueAccess, target: PostTarget) -> DeliveryView:
    """The view of one of the venue's deliveries the caller already holds (just retried), without attempts."""
    connection = await connections_q.get(session, access.account_id, target.connection_id)
    return _delivery(target, connection, None)


async def _views(
    session: AsyncSession, account_id: int, posts: Sequence[Post], tz: str, *, with_attempts: bool, clock: Clock | None
) -> list[PostView]:
    post_ids = [p.id for p in posts]
    targets = await posts_q.targets_for_posts(session, account_id, post_ids)
    media = await posts_q.media_for_posts(session, account_id, post_ids)
    connections = {c.id: c for c in await connections_q.list_for_account(session, account_id)}
    attempts: dict[int, list[PublishAttempt]] | None = None
    if with_attempts:
        attempts = {}
        for a in await deliveries_q.attempts_of(session, account_id, [t.id for t in targets]):
            attempts.setdefault(a.target_id, []).append(a)
    by_post: dict[int, list[DeliveryView]] = {}
    for t in targets:
        by_post.setdefault(t.post_id, []).append(_delivery(t, connections.get(t.connection_id), attempts))
    now = clock.now() if clock is not None else None
    return [_post(p, tz, tuple(by_post.get(p.id, ())), tuple(media.get(p.id, ())), now) for p in posts]


def _post(
    post: Post, tz: str, deliveries: tuple[DeliveryView, ...], media_ids: tuple[int, ...], now: datetime | None
) -> PostView:
    return PostView(
        id=post.id,
        text=post.text,
        excerpt=excerpt(post.text),
        link=post.link,
        captions=dict(post.captions),
        options=dict(post.options),
        media_ids=media_ids,
        scheduled_at=post.scheduled_at,
        scheduled_local=format_local(post.scheduled_at, tz, now=now),
        timezone=tz,
        cutoff_at=post.cutoff_at,
        freshness_minutes=post.freshness_minutes,
        cancelled=post.cancelled_at is not None,
        status=headline_status(d.status for d in deliveries),
        deliveries=deliveries,
        approval=post.approval,
        approval_decided_by_user_id=post.approval_decided_by_user_id,
        approval_decided_at=post.approval_decided_at,
        approval_note=post.approval_note,
    )


def _delivery(
    t: PostTarget, connection: Connection | None, attempts: dict[int, list[PublishAttempt]] | None
) -> DeliveryView:
    name = connection.display_name if connection else ""
    return DeliveryView(
        target_id=t.id,
        connection_id=t.connection_id,
        connection=name,
        connection_label=_label(t.provider, name),
        provider=t.provider.value,
        status=t.status,
        due_at=t.due_at,
        cutoff_at=t.cutoff_at,
        note=_note(t, connection),
        last_error=t.last_error,
        error_code=t.error_code,
        remedy=t.remedy,
        external_id=t.external_id,
        permalink=t.permalink,
        published_at=t.published_at,
        attempts_made=t.attempts,
        attempts=None if attempts is None else tuple(_attempt(a) for a in attempts.get(t.id, [])),
    )


def _note(t: PostTarget, connection: Connection | None) -> str | None:
    # Read at display time, so the words end the moment the connection is reconnected.
    wait = reconnect_wait(connection) if connection is not None and t.status in NOT_YET_DUE else None
    if wait is None:
        return t.note
    return f"{t.note} {wait}." if t.note else f"{wait}."


def _attempt(a: PublishAttempt) -> AttemptView:
    return AttemptView(
        number=a.number,
        started_at=a.started_at,
        finished_at=a.finished_at,
        outcome=a.outcome.value,
        error=a.error,
        error_code=a.error_code,
        exchanges=list(a.exchanges),
    )
