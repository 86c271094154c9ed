"""Times as people type them in chat ('tomorrow 6pm', 'fri 18:00', '25/12 12:00'), read in the venue's zone.

A small grammar of our own rather than dateparser: that library judges "the future" in UTC rather than the
venue's zone, reads 05/06 month-first unless told otherwise, and guesses where we must ask (a bare '6' is
morning or evening). Whatever is read here is placed in the zone by `core.posts.times.resolve_when`, so a
phrase meets the same daylight-saving and past-time rules as the API. Choices: docs/decisions.md.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

from core.posts.times import Fold, PostTimeInvalid, resolve_when, zone

EXAMPLES = "'now', 'in 2 hours', 'tomorrow 6pm', 'fri 18:00', 'next friday 5:30pm', '25/12 12:00' or '2026-12-24 19:00'"

# Countries that write the month first (05/06 is 6 May there); every other zone reads day first.
_MONTH_FIRST_COUNTRIES = frozenset({"US", "PH", "FM", "MH", "PW", "AS", "GU", "MP", "PR", "UM", "VI"})

_WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "weds": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}  # fmt: skip
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
            ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
            ("nov", "november"), ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
_UNITS = {
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "d": "days", "day": "days", "days": "days", "w": "weeks", "wk": "weeks", "week": "weeks", "weeks": "weeks",
}  # fmt: skip
_FULL_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_FILLER = frozenset({"at", "on", "the", "@", "for", "of"})

_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY_NAMES = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_RELATIVE = re.compile(r"in\s+(?P<rest>.+)")
_AMOUNT = re.compile(r"(?P<n>\d+(?:\.\d+)?|an?|half\s+an?)\s*(?P<unit>[a-z]+)")
_ISO = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:t(?P<hh>\d{1,2}):(?P<mm>\d{2}))?")
_NUMERIC = re.compile(r"\b(?P<a>\d{1,2})[/.](?P<b>\d{1,2})(?:[/.](?P<y>\d{4}|\d{2}))?")
_DAY_MONTH = re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{_MONTH_NAMES})\.?(?:\s+(?P<y>\d{{4}}))?\b")
_MONTH_DAY = re.compile(rf"\b(?P<mon>{_MONTH_NAMES})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+(?P<y>\d{{4}}))?")
_WEEKDAY = re.compile(rf"\b(?:(?P<which>next|this)\s+)?(?P<day>{_WEEKDAY_NAMES})\b\.?")
_RELATIVE_DAY = re.compile(r"\b(?:today|tonight|tomorrow|tmrw|tmr)\b")
_CLOCK = re.compile(r"\b(?P<h>\d{1,2})[:.](?P<m>\d{2})\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?")
_HOUR = re.compile(r"\b(?:(?P<h>\d{1,2})\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)|(?P<bare>\d{1,2})\b)")
_NAMED_TIME = re.compile(r"\b(?:noon|midday|midnight)\b")

How = Literal["today", "weekday", "date", "dated"]


@dataclass(frozen=True)
class Reading:
    """What a phrase means before it meets the zone: an exact instant ('now', 'in 2 hours') or a wall time."""

    instant: datetime | None = None
    is_now: bool = False
    wall: datetime | None = None
    how: How | None = None  # where a wall time came from, to offer the next occurrence when it has passed


def day_first(tz_name: str) -> bool:
    """Whether people in `tz_name`'s country write the day before the month (the UK does, the US doesn't)."""
    country = _zone_countries().get(tz_name)
    return country not in _MONTH_FIRST_COUNTRIES


def _zone_countries() -> dict[str, str]:
    for base in zoneinfo.TZPATH:
        table = Path(base) / "zone.tab"
        if table.is_file():
            return {
                fields[2]: fields[0]
                for line in table.read_text(encoding="utf-8").splitlines()
                if not line.startswith("#") and len(fields := line.split("\t")) >= 3
            }
    return {}


def read_phrase(text: str, *, now_local: datetime, day_first: bool = True) -> Reading:
    """What `text` means, seen from `now_local` (the venue's wall clock); PostTimeInvalid when unclear."""
    words = " ".join(w for w in re.sub(r"[,\s]+", " ", text.strip().lower()).split(" ") if w not in _FILLER)
    if words in ("now", "right now", "asap"):
        return Reading(instant=now_local.astimezone(UTC), is_now=True)
    relative = _RELATIVE.fullmatch(words)
    if relative is not None:
        # In UTC: aware arithmetic in a zone adds wall-clock time, and 'in 2 hours' across a jump is two real hours.
        return Reading(instant=now_local.astimezone(UTC) + read_duration(relative.group("rest"), text))
    rest, when = _take_date(words, now_local, day_first, text)
    rest = _check_weekday(rest, when, text)
    rest, clock = _take_time(rest, tonight=bool(re.search(r"\btonight\b", words)), text=text)
    if rest.strip():
        raise _unreadable(text)
    if when is None and clock is None:
        raise _unreadable(text)
    if clock is None:
        day, _ = when if when is not None else (now_local.date(), "today")
        raise PostTimeInvalid(
            f"What time on {_day_name(day)}? Say it with the time, e.g. '{text.strip()} 6pm'",
            reason="unclear",
            remedy="add a time like 6pm or 18:00",
        )
    day, how = when if when is not None else (now_local.date(), "today")
    return Reading(wall=datetime.combine(day, clock), how=how)


def resolve_phrase(
    text: str, tz_name: str, *, now: datetime, fold: Fold | None = None, min_lead: timedelta = timedelta(0)
) -> datetime:
    """The UTC instant `text` names in the venue's zone, through the same checks as the API's times.

    A wall time that has just passed is refused with its next occurrence offered ('6pm' at 7pm: tomorrow).
    """
    now_local = now.astimezone(zone(tz_name))
    reading = read_phrase(text, now_local=now_local, day_first=day_first(tz_name))
    if reading.is_now:
        return resolve_when("now", tz_name, now=now)
    if reading.instant is not None:
        return resolve_when(reading.instant.isoformat(), tz_name, now=now, fold=fold, min_lead=min_lead)
    assert reading.wall is not None
    try:
        return resolve_when(reading.wall.isoformat(timespec="minutes"), tz_name, now=now, fold=fold, min_lead=min_lead)
    except PostTimeInvalid as exc:
        later = _next_occurrence(reading)
        if exc.reason != "past" or later is None:
            raise
        raise PostTimeInvalid(
            f"{_wall_text(reading.wall)} has already passed; did you mean {_wall_text(later)}?",
            reason="past",
            remedy=f"say '{later:%Y-%m-%d %H:%M}' or another time",
            choices=[later.isoformat(timespec="minutes")],
        ) from exc


def _next_occurrence(reading: Reading) -> datetime | None:
    assert reading.wall is not None
    if reading.how == "today":
        return reading.wall + timedelta(days=1)
    if reading.how == "weekday":
        return reading.wall + timedelta(days=7)
    return None


def read_duration(rest: str, text: str | None = None) -> timedelta:
    """'2 hours', '90 mins', '1h30m', 'half an hour' as a timedelta; PostTimeInvalid quoting `text` otherwise."""
    text = rest if text is None else text
    total = timedelta(0)
    position = 0
    rest = rest.replace(" and ", " ")
    for match in _AMOUNT.finditer(rest):
        if rest[position : match.start()].strip():
            raise _unreadable(text)
        amount, unit = match.group("n"), _UNITS.get(match.group("unit"))
        if unit is None:
            raise _unreadable(text)
        n = 0.5 if amount.startswith("half") else 1.0 if amount in ("a", "an") else float(amount)
        total += timedelta(**{unit: n})
        position = match.end()
    if position == 0 or rest[position:].strip() or total <= timedelta(0):
        raise _unreadable(text)
    return total


def _take_date(words: str, now_local: datetime, day_first: bool, text: str) -> tuple[str, tuple[date, How] | None]:
    today = now_local.date()
    iso = _ISO.search(words)
    if iso is not None:
        day = _real_date(int(iso["y"]), int(iso["m"]), int(iso["d"]), text)
        rest = _cut(words, iso)
        if iso["hh"] is not None:
            rest = f"{rest} {iso['hh']}:{iso['mm']}"
        return rest, (day, "dated")
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        named = pattern.search(words)
        if named is not None:
            month, day_number = _MONTHS[named["mon"]], int(named["d"])
            return _cut(words, named), _dated(today, day_number, month, named["y"], text)
    numeric = _NUMERIC.search(words)
    if numeric is not None and not _looks_like_clock(numeric):
        a, b = int(numeric["a"]), int(numeric["b"])
        day_number, month = (a, b) if day_first else (b, a)
        if month > 12 and day_number <= 12:
            swapped = f"{b}/{a}" if day_first else f"{a}/{b}"
            raise PostTimeInvalid(
                f"'{numeric.group(0)}' has no month {month}; did you mean {swapped}? "
                + ("Dates here are day first: 25/12 is 25 December" if day_first else "Dates here are month first"),
                reason="unclear",
                remedy=f"write the date as {swapped} or as '25 dec'",
            )
        return _cut(words, numeric), _dated(today, day_number, month, numeric["y"], text)
    weekday = _WEEKDAY.search(words)
    if weekday is not None:
        ahead = (_WEEKDAYS[weekday["day"]] - today.weekday()) % 7
        if weekday["which"] == "next" and ahead == 0:
            ahead = 7
        return _cut(words, weekday), (today + timedelta(days=ahead), "weekday")
    relative = _RELATIVE_DAY.search(words)
    if relative is not None:
        offset = 0 if relative.group(0) in ("today", "tonight") else 1
        return _cut(words, relative), (today + timedelta(days=offset), "today" if offset == 0 else "date")
    return words, None


def _check_weekday(rest: str, when: tuple[date, How] | None, text: str) -> str:
    """'fri 25 dec' names the day twice: fine when they agree, asked back when they don't."""
    named = _WEEKDAY.search(rest)
    if named is None or when is None:
        return rest
    day, _ = when
    said = _WEEKDAYS[named["day"]]
    if said != day.weekday():
        raise PostTimeInvalid(
            f"'{text.strip()}': {_day_name(day)} is a {_FULL_DAYS[day.weekday()]}, not a {_FULL_DAYS[said]}; "
            "which did you mean?",
            reason="unclear",
            remedy="send the date or the weekday, not both",
        )
    return _cut(rest, named)


def _looks_like_clock(match: re.Match[str]) -> bool:
    # '18.30' is a time, '25.12' a date: a dot with minutes 00-59 after an hour 0-23 and no year reads as a clock.
    return (
        match.group(0)[len(match["a"])] == "." and match["y"] is None and int(match["a"]) <= 23 and len(match["b"]) == 2
    )


def _dated(today: date, day_number: int, month: int, year: str | None, text: str) -> tuple[date, How]:
    if year is not None:
        full = int(year) + (2000 if len(year) == 2 else 0)
        return _real_date(full, month, day_number, text), "dated"
    candidate = _real_date(today.year, month, day_number, text, leap_ok=True)
    # No year given: the next time that day comes round (typing 2/1 in December means January).
    if candidate < today:
        return _real_date(today.year + 1, month, day_number, text), "date"
    return candidate, "date"


def _real_date(year: int, month: int, day_number: int, text: str, *, leap_ok: bool = False) -> date:
    try:
        return date(year, month, day_number)
    except ValueError:
        if leap_ok and month == 2 and day_number == 29:
            return date(year + (4 - year % 4), 2, 29)
        raise PostTimeInvalid(
            f"'{text.strip()}' is not a real date; try {EXAMPLES}",
            reason="unparseable",
            remedy="check the day and month",
        ) from None


def _take_time(words: str, *, tonight: bool, text: str) -> tuple[str, time | None]:
    named = _NAMED_TIME.search(words)
    if named is not None:
        return _cut(words, named), time(0, 0) if named.group(0) == "midnight" else time(12, 0)
    clock = _CLOCK.search(words)
    if clock is not None:
        hour, minute = int(clock["h"]), int(clock["m"])
        return _cut(words, clock), _clock_time(hour, minute, clock["ampm"], tonight=tonight, text=text)
    hour_match = _HOUR.search(words)
    if hour_match is None:
        return words, None
    if hour_match["bare"] is not None:
        hour = int(hour_match["bare"])
        if not tonight and 1 <= hour <= 12:
            raise PostTimeInvalid(
                f"'{text.strip()}': {hour} in the morning or in the evening? Say {hour}am or {hour}pm",
                reason="unclear",
                remedy=f"write {hour}am or {hour}pm (or {hour + 12 if hour < 12 else 12}:00)",
                choices=[f"{hour}am", f"{hour}pm"],
            )
        return _cut(words, hour_match), _clock_time(hour, 0, "pm" if tonight else None, tonight=tonight, text=text)
    return _cut(words, hour_match), _clock_time(int(hour_match["h"]), 0, hour_match["ampm"], tonight=tonight, text=text)


def _clock_time(hour: int, minute: int, ampm: str | None, *, tonight: bool, text: str) -> time:
    marker = (ampm or "").replace(".", "")
    if marker and not 1 <= hour <= 12:
        raise _unreadable(text)
    if marker == "pm" and hour != 12:
        hour += 12
    elif marker == "am" and hour == 12:
        hour = 0
    elif not marker and tonight and 1 <= hour <= 11:
        hour += 12  # "tonight 8:30" is evening
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise PostTimeInvalid(f"'{text.strip()}' has no such time of day; try {EXAMPLES}", reason="unparseable")
    return time(hour, minute)


def _cut(words: str, match: re.Match[str]) -> str:
    return f"{words[: match.start()]} {words[match.end() :]}".strip()


def _day_name(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _wall_text(wall: datetime) -> str:
    return f"{_day_name(wall.date())} {wall:%H:%M}"


def _unreadable(text: str) -> PostTimeInvalid:
    return PostTimeInvalid(
        f"'{text.strip()}' is not a time we can read; try {EXAMPLES}",
        reason="unparseable",
        remedy="say when in words or numbers, in the venue's time",
    )
