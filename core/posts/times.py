"""Post times: entered as the venue's wall-clock time, stored as a UTC instant.

Daylight-saving edges are refused, never guessed: a local time inside the spring-forward gap does not
exist, and one inside the autumn overlap happens twice (the caller must pick with `fold`).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import Invalid

Fold = Literal["earlier", "later"]

FIELD = "scheduled_at"
PAST_GRACE = timedelta(seconds=60)
LAST_YEAR = 9999
EXPECTED_FORMAT = "'now', a local time like 2026-12-24T19:30, or an instant with an offset like 2026-12-24T19:30Z"

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class PostTimeInvalid(Invalid):
    """A post time was refused; `reason` is one of unparseable, unknown_timezone, bad_fold, nonexistent,
    ambiguous, past, too_soon, too_far. `field` names the request field (scheduled_at unless told otherwise)."""

    def __init__(
        self, message: str, *, reason: str, field: str = FIELD, remedy: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message, remedy=remedy, field=field, reason=reason, **extra)
        self.reason = reason
        self.field = field


def zone(tz_name: str, *, field: str = "timezone") -> ZoneInfo:
    """The IANA zone `tz_name`, or PostTimeInvalid(reason=unknown_timezone)."""
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise PostTimeInvalid(
            f"'{tz_name}' is not a known IANA timezone; use a name like Europe/London",
            reason="unknown_timezone",
            field=field,
        ) from exc


def format_local(instant: datetime, tz_name: str, *, now: datetime | None = None) -> str:
    """`instant` as the venue reads it: 'Thu 24 Dec 19:30 GMT' (English names whatever the locale).

    The year is added ('Tue 1 Jan 2030 12:00 GMT') unless the date falls in the venue's current year at `now`;
    without `now` the current year is unknown, so the year is always shown.
    """
    if instant.tzinfo is None:
        raise ValueError("format_local needs an aware datetime")
    tz = zone(tz_name)
    return _wall(instant.astimezone(tz), _year_of(now, tz))


def _year_of(now: datetime | None, tz: tzinfo) -> int | None:
    """The venue's current year at `now` (None: unknown, so labels show the year)."""
    if now is None:
        return None
    if now.tzinfo is None:
        raise ValueError("the current time must be an aware datetime")
    return now.astimezone(tz).year


def _wall(local: datetime, this_year: int | None) -> str:
    return f"{_day(local, this_year)} {_clock(local)}"


def _day(local: date, this_year: int | None) -> str:
    # A bare "Tue 1 Jan" for a post years away reads as the coming January: name the year unless it is this one.
    year = "" if local.year == this_year else f" {local.year}"
    return f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}{year}"


def _clock(local: datetime) -> str:
    return f"{local:%H:%M} {local.tzname()}"


def resolve_when(
    value: str,
    tz_name: str,
    *,
    now: datetime,
    fold: Fold | None = None,
    min_lead: timedelta = timedelta(0),
    field: str = FIELD,
) -> datetime:
    """Turn what the venue typed into an aware UTC instant, or raise PostTimeInvalid naming `field`.

    'now' (any case) is `now` and skips `min_lead`; a time without an offset is wall-clock time in
    `tz_name`; a time with an offset or Z is taken as that instant. Times more than a minute in the past
    are refused, and so are times sooner than `now + min_lead`.
    """
    if now.tzinfo is None:
        raise ValueError("resolve_when needs an aware `now`")
    now = now.astimezone(UTC)
    tz = zone(tz_name)
    if fold not in (None, "earlier", "later"):
        raise PostTimeInvalid(f"fold must be 'earlier' or 'later', not '{fold}'", reason="bad_fold", field="fold")
    text = value.strip() if isinstance(value, str) else ""
    if text.lower() == "now":
        return now
    parsed = _parse(text, field)
    aware = parsed.tzinfo is not None
    try:
        instant = parsed.astimezone(UTC) if aware else _localise(parsed, tz, tz_name, fold, field, now)
    except OverflowError:
        instant = datetime.max.replace(tzinfo=UTC)
    # Year 9999 is the end of the calendar: the weeks and retries around such a time cannot be computed.
    if instant.year >= LAST_YEAR:
        raise PostTimeInvalid(
            f"'{text}' is too far ahead; choose a time before {LAST_YEAR}", reason="too_far", field=field
        )
    _check_not_past(instant, now, tz, min_lead, field)
    return instant


def _parse(text: str, field: str) -> datetime:
    match = _ISO.fullmatch(text.upper())
    if match is None:
        raise PostTimeInvalid(
            f"'{text}' is not a time we can read; send {EXPECTED_FORMAT}", reason="unparseable", field=field
        )
    try:
        return datetime.fromisoformat(match.group(0))
    except ValueError as exc:
        raise PostTimeInvalid(
            f"'{text}' is not a real date and time; send {EXPECTED_FORMAT}", reason="unparseable", field=field
        ) from exc


def _localise(wall: datetime, tz: ZoneInfo, tz_name: str, fold: Fold | None, field: str, now: datetime) -> datetime:
    """Attach `tz` to a naive wall-clock time, refusing times that never happen or happen twice."""
    this_year = _year_of(now, tz)
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    u_first, u_second = first.astimezone(UTC), second.astimezone(UTC)
    if u_first == u_second:
        return u_first
    when = f"{_day(wall, this_year)} {wall:%H:%M}"
    if _round_trips(u_first, tz, wall):
        # The overlap: both readings exist (fold=0 is the earlier instant, before the clocks go back).
        if fold is not None:
            return u_first if fold == "earlier" else u_second
        a, b = u_first.astimezone(tz), u_second.astimezone(tz)
        raise PostTimeInvalid(
            f"{when} happens twice in {tz_name} because the clocks go back that night: "
            f"{_clock(a)} (first) or {_clock(b)} (second); send fold=earlier or fold=later",
            reason="ambiguous",
            field=field,
            choices=[a.isoformat(), b.isoformat()],
        )
    # The gap: fold=0 reads with the offset before the jump and lands after it, fold=1 the reverse.
    jump = _transition(u_second, u_first, tz)
    before = (jump - timedelta(minutes=1)).astimezone(tz)
    after = jump.astimezone(tz)
    start = (jump + (first.utcoffset() or timedelta(0))).replace(tzinfo=None)
    if start.date() == after.date():
        jumped = f"from {start:%H:%M} to {after:%H:%M} that night; choose {_clock(before)} or {_clock(after)}"
    else:  # a whole day skipped (Samoa, 2011)
        jumped = f"past {_day(wall, this_year)}; choose {_wall(before, this_year)} or {_wall(after, this_year)}"
    raise PostTimeInvalid(
        f"{when} does not exist in {tz_name} because the clocks go forward {jumped}",
        reason="nonexistent",
        field=field,
        choices=[before.isoformat(), after.isoformat()],
    )


def _round_trips(instant: datetime, tz: tzinfo, wall: datetime) -> bool:
    return instant.astimezone(tz).replace(tzinfo=None) == wall


def _transition(lo: datetime, hi: datetime, tz: tzinfo) -> datetime:
    """The first whole second in (lo, hi] whose UTC offset differs from lo's (the moment clocks jump)."""
    lo_ts, hi_ts = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
    offset = datetime.fromtimestamp(lo_ts, tz).utcoffset()
    while hi_ts - lo_ts > 1:
        mid = (lo_ts + hi_ts) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == offset:
            lo_ts = mid
        else:
            hi_ts = mid
    return datetime.fromtimestamp(hi_ts, UTC)


def _check_not_past(instant: datetime, now: datetime, tz: ZoneInfo, min_lead: timedelta, field: str) -> None:
    this_year = _year_of(now, tz)
    if instant < now - PAST_GRACE:
        raise PostTimeInvalid(
            f"That time ({_wall(instant.astimezone(tz), this_year)}) has already passed; choose a later time or 'now'",
            reason="past",
            field=field,
        )
    if min_lead > timedelta(0) and instant < now + min_lead:
        earliest = _wall((now + min_lead).astimezone(tz), this_year)
        raise PostTimeInvalid(
            f"That time ({_wall(instant.astimezone(tz), this_year)}) is too soon; choose {earliest} or later, or 'now'",
            reason="too_soon",
            field=field,
        )
