"""Where the schedule form's day and time pickers start: the first whole hour at least an hour ahead, on the venue's
clock, never inside a daylight-saving gap."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from core.chat.form import next_slot


@pytest.mark.parametrize(
    ("now", "tz", "day", "at"),
    [
        (datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "Europe/London", date(2026, 11, 25), time(13, 0)),
        (datetime(2026, 11, 25, 12, 1, tzinfo=UTC), "Europe/London", date(2026, 11, 25), time(14, 0)),
        (datetime(2026, 11, 25, 23, 30, tzinfo=UTC), "Europe/London", date(2026, 11, 26), time(1, 0)),
        (datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "America/New_York", date(2026, 11, 25), time(8, 0)),
        # 00:30 GMT on 28 March 2027: an hour later is 02:30 BST (01:00-02:00 never happens), so 03:00.
        (datetime(2027, 3, 28, 0, 30, tzinfo=UTC), "Europe/London", date(2027, 3, 28), time(3, 0)),
        # India is UTC+05:30: whole hours of the venue's clock, not of UTC.
        (datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "Asia/Kolkata", date(2026, 11, 25), time(19, 0)),
    ],
)
def test_the_form_starts_at_the_next_whole_hour_of_the_venues_clock(
    now: datetime, tz: str, day: date, at: time
) -> None:
    assert next_slot(now, tz) == (day, at)
