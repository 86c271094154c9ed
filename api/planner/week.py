"""The planner's week: the venue's posts in day columns (Monday to Sunday) and time rows, in the venue's zone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import structlog
from litestar import Request, get
from litestar.params import QueryParameter
from litestar.response import Template

from api.planner.auth import Viewer
from api.planner.render import Toast, render
from core.posts import views
from core.posts.times import zone
from core.posts.views import DeliveryView, WeekDelivery, WeekPost
from core.runtime import Runtime
from storage.models import DeliveryStatus, Role
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

# Each delivery status as people read it on a badge, and its tone (the badge's colour): ok, info, error or off.
STATUS_WORDS: dict[DeliveryStatus, tuple[str, str]] = {
    DeliveryStatus.pending_approval: ("Waiting for approval", "info"),
    DeliveryStatus.scheduled: ("Scheduled", "info"),
    DeliveryStatus.claimed: ("Sending now", "info"),
    DeliveryStatus.processing: ("Processing at the platform", "info"),
    DeliveryStatus.retrying: ("Trying again soon", "info"),
    DeliveryStatus.published: ("Published", "ok"),
    DeliveryStatus.failed: ("Failed", "error"),
    DeliveryStatus.missed: ("Missed its time", "error"),
    DeliveryStatus.in_doubt: ("Checking whether it went out", "error"),
    DeliveryStatus.needs_attention: ("Needs your decision", "error"),
    DeliveryStatus.needs_reconnect: ("Needs reconnecting", "error"),
    DeliveryStatus.cancelled: ("Cancelled", "off"),
}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The most posts the week shows: well above a busy venue's week (the bench's 500 render in well under 100 ms), yet a
# bound, so a runaway import cannot make one page unbounded; a week with more says so above the grid.
WEEK_LIMIT = 1000


@dataclass(frozen=True)
class Badge:
    """One delivery on a card: where it goes and how it stands, in plain words."""

    connection: str
    words: str
    tone: str


@dataclass(frozen=True)
class Card:
    """One post in the grid: its local time, an excerpt of its text and its deliveries."""

    post_id: int
    time: str  # "19:30 GMT": the zone's abbreviation tells the two 01:30s of an autumn night apart
    instant: str  # ISO 8601 with the local offset, for <time datetime>
    hour: int
    minute: str  # "30": a drop onto another hour keeps the post's minute
    excerpt: str
    cancelled: bool
    movable: bool  # this person may change its time and every delivery can still be edited: it can be dragged
    badges: tuple[Badge, ...]


@dataclass(frozen=True)
class Cell:
    """The posts of one day in one time row (none: an empty cell a card can be dropped on)."""

    row: int  # 1-based, in `WeekGrid.hours`
    hour: str  # "19:00", repeated in the cell for the phone layout (no hour column there)
    slot: str  # "2027-11-02T19:00": the local day and hour a card dropped here moves to (its minute kept)
    cards: tuple[Card, ...]


@dataclass(frozen=True)
class Day:
    date: date
    label: str  # "Mon 23 Nov"
    column: int  # 1 (Monday) to 7 (Sunday)
    today: bool
    busy: bool  # the day holds a post
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class WeekGrid:
    """What the week template draws: seven days, the time rows that hold posts, and the neighbouring weeks."""

    monday: date
    title: str
    timezone: str
    days: tuple[Day, ...]
    hours: tuple[str, ...]
    previous: date
    following: date
    count: int
    truncated: bool  # the week holds more posts than one listing returns
    movable: bool  # some card can be dragged to another time


def badge(d: DeliveryView | WeekDelivery) -> Badge:
    words, tone = STATUS_WORDS[d.status]
    return Badge(connection=d.connection_label, words=words, tone=tone)


def _day_label(day: date) -> str:
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"


def movable(p: WeekPost) -> bool:
    """Whether the post's time can still change (core's rule for an edit, core.posts.views.can_change)."""
    return views.can_change(p.cancelled, (d.status for d in p.deliveries))


def build_week(
    posts: Sequence[WeekPost], tz_name: str, monday: date, today: date, *, limit: int, editor: bool = False
) -> WeekGrid:
    """Place each post in its venue-local day and hour (pure: the page and its tests share it).

    For an `editor` every day gets a cell in every time row, empty ones included, so a card can be dropped there."""
    tz = zone(tz_name)
    placed: dict[tuple[date, int], list[Card]] = {}
    for p in posts:
        local: datetime = p.scheduled_at.astimezone(tz)
        card = Card(
            post_id=p.id,
            time=f"{local:%H:%M} {local.tzname()}",
            instant=local.isoformat(timespec="minutes"),
            hour=local.hour,
            minute=f"{local.minute:02d}",
            excerpt=p.excerpt or f"Post {p.id} (no text)",
            cancelled=p.cancelled,
            movable=editor and movable(p),
            badges=tuple(badge(d) for d in p.deliveries),
        )
        placed.setdefault((local.date(), local.hour), []).append(card)
    # Only the hours that hold a post get a row: a week of evening posts is not 24 rows of mostly nothing.
    hours = sorted({hour for _, hour in placed})
    row_of = {hour: i + 1 for i, hour in enumerate(hours)}
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        cells = tuple(
            Cell(
                row=row_of[hour],
                hour=f"{hour:02d}:00",
                slot=f"{day.isoformat()}T{hour:02d}:00",
                cards=tuple(placed.get((day, hour), ())),
            )
            for hour in hours
            if editor or (day, hour) in placed
        )
        busy = any(cell.cards for cell in cells)
        days.append(Day(date=day, label=_day_label(day), column=offset + 1, today=day == today, busy=busy, cells=cells))
    sunday = monday + timedelta(days=6)
    return WeekGrid(
        monday=monday,
        title=f"{_day_label(monday)} – {_day_label(sunday)} {sunday.year}",
        timezone=tz_name,
        days=tuple(days),
        hours=tuple(f"{hour:02d}:00" for hour in hours),
        previous=monday - timedelta(days=7),
        following=monday + timedelta(days=7),
        count=len(posts),
        truncated=len(posts) >= limit,
        movable=any(card.movable for cards in placed.values() for card in cards),
    )


def _asked_day(raw: str | None, today: date) -> tuple[date, Toast | None]:
    """The day `?start=` names, or today with a toast saying the date could not be read."""
    if not raw:
        return today, None
    try:
        return date.fromisoformat(raw.strip()), None
    except ValueError:
        return today, Toast(f"'{raw[:40]}' is not a date like 2026-12-24, so this week is shown", "warning")


@get("/week", name="planner.week", summary="The venue's week: posts by day and time in the venue's zone")
async def week_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    runtime: Runtime,
    uow: UnitOfWork,
    start: Annotated[str | None, QueryParameter(name="start", description="Any day of the week (YYYY-MM-DD)")] = None,
) -> Template:
    tz = viewer.venue.timezone
    today = runtime.clock.now().astimezone(zone(tz)).date()
    day, problem = _asked_day(start, today)
    if day.year >= 9999 or day.year <= 1:  # the week around it would run off the calendar
        day, problem = today, Toast("that week is off the calendar, so this week is shown", "warning")
    monday = day - timedelta(days=day.weekday())
    posts = await views.week_posts(uow.session, viewer.access, monday, limit=WEEK_LIMIT)
    editor = viewer.can(Role.editor)
    grid = build_week(posts, tz, monday, today, limit=WEEK_LIMIT, editor=editor)
    log.info("planner_week", account_id=viewer.account_id, monday=monday.isoformat(), posts=grid.count)
    return render(
        request,
        "planner/week.html",
        title=f"Week of {_day_label(monday)}",
        grid=grid,
        editor=editor,
        this_monday=today - timedelta(days=today.weekday()),
        toasts=[problem] if problem else [],
    )


routes = [week_page]
