"""Post times: typed in the venue's zone, stored in UTC, and daylight-saving edges refused, never guessed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from core.errors import Invalid
from core.posts.times import PostTimeInvalid, format_local, resolve_when

LONDON = "Europe/London"
NEW_YORK = "America/New_York"
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def refused(
    value: str,
    tz: str = LONDON,
    *,
    now: datetime = NOW,
    fold: str | None = None,
    min_lead: timedelta = timedelta(0),
    field: str = "scheduled_at",
) -> PostTimeInvalid:
    with pytest.raises(PostTimeInvalid) as caught:
        resolve_when(value, tz, now=now, fold=cast(Any, fold), min_lead=min_lead, field=field)
    return caught.value


def test_a_winter_evening_in_london_is_stored_as_the_same_utc_time() -> None:
    assert resolve_when("2026-12-24T19:30", LONDON, now=NOW) == datetime(2026, 12, 24, 19, 30, tzinfo=UTC)


def test_a_summer_evening_in_london_is_an_hour_earlier_in_utc() -> None:
    assert resolve_when("2026-07-04 19:30", LONDON, now=NOW) == datetime(2026, 7, 4, 18, 30, tzinfo=UTC)


def test_seconds_are_optional_and_kept() -> None:
    assert resolve_when("2026-12-24T19:30:15", LONDON, now=NOW) == datetime(2026, 12, 24, 19, 30, 15, tzinfo=UTC)


def test_the_result_is_always_aware_utc() -> None:
    result = resolve_when("2026-07-04T09:00", NEW_YORK, now=NOW)
    assert result.tzinfo is UTC
    assert result == datetime(2026, 7, 4, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-24T19:30Z", datetime(2026, 12, 24, 19, 30, tzinfo=UTC)),
        ("2026-12-24T19:30+01:00", datetime(2026, 12, 24, 18, 30, tzinfo=UTC)),
        ("2026-12-24T19:30-0500", datetime(2026, 12, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_an_explicit_offset_is_taken_as_that_instant_whatever_the_venue_zone(value: str, expected: datetime) -> None:
    assert resolve_when(value, NEW_YORK, now=NOW) == expected


def test_an_explicit_offset_inside_a_local_gap_is_still_a_real_instant() -> None:
    assert resolve_when("2027-03-28T01:30Z", LONDON, now=NOW) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", ["now", "NOW", " Now "])
def test_now_means_the_current_instant(value: str) -> None:
    assert resolve_when(value, LONDON, now=NOW) == NOW


def test_now_is_not_held_to_the_minimum_lead_time() -> None:
    assert resolve_when("now", LONDON, now=NOW, min_lead=timedelta(minutes=10)) == NOW


def test_london_spring_forward_gap_is_refused_with_the_nearest_real_times() -> None:
    error = refused("2027-03-28T01:30")
    assert error.reason == "nonexistent"
    assert error.field == "scheduled_at"
    assert error.extra["field"] == "scheduled_at"
    assert "does not exist in Europe/London" in error.message
    assert "clocks go forward" in error.message
    assert "00:59 GMT or 02:00 BST" in error.message
    assert error.extra["choices"] == ["2027-03-28T00:59:00+00:00", "2027-03-28T02:00:00+01:00"]


def test_the_first_missing_minute_of_the_gap_is_refused_too() -> None:
    assert refused("2027-03-28T01:00").reason == "nonexistent"


def test_a_gap_is_refused_even_when_a_fold_is_given() -> None:
    assert refused("2027-03-28T01:30", fold="later").reason == "nonexistent"


def test_new_york_spring_forward_gap_is_refused_with_the_nearest_real_times() -> None:
    error = refused("2027-03-14T02:30", NEW_YORK)
    assert error.reason == "nonexistent"
    assert "01:59 EST or 03:00 EDT" in error.message


def test_london_autumn_overlap_without_a_fold_names_both_instants() -> None:
    error = refused("2026-10-25T01:30")
    assert error.reason == "ambiguous"
    assert error.field == "scheduled_at"
    assert "01:30 BST (first) or 01:30 GMT (second); send fold=earlier or fold=later" in error.message
    assert error.extra["choices"] == ["2026-10-25T01:30:00+01:00", "2026-10-25T01:30:00+00:00"]


def test_london_autumn_overlap_earlier_is_the_summer_time_reading() -> None:
    result = resolve_when("2026-10-25T01:30", LONDON, now=NOW, fold="earlier")
    assert result == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_london_autumn_overlap_later_is_the_winter_time_reading() -> None:
    result = resolve_when("2026-10-25T01:30", LONDON, now=NOW, fold="later")
    assert result == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_new_york_autumn_overlap_is_refused_without_a_fold() -> None:
    assert "01:30 EDT (first) or 01:30 EST (second)" in refused("2026-11-01T01:30", NEW_YORK).message


def test_a_fold_on_an_ordinary_time_changes_nothing() -> None:
    assert resolve_when("2026-12-24T19:30", LONDON, now=NOW, fold="later") == datetime(2026, 12, 24, 19, 30, tzinfo=UTC)


def test_an_unknown_fold_is_refused() -> None:
    error = refused("2026-10-25T01:30", fold="middle")
    assert error.reason == "bad_fold"
    assert error.field == "fold"


def test_a_past_time_is_refused_in_the_venue_zone() -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    error = refused("2026-11-24T19:30", now=now)
    assert error.reason == "past"
    assert "That time (Tue 24 Nov 19:30 GMT) has already passed" in error.message


def test_a_time_a_few_seconds_ago_is_within_the_grace() -> None:
    now = datetime(2026, 12, 24, 19, 30, 45, tzinfo=UTC)
    assert resolve_when("2026-12-24T19:30", LONDON, now=now) == datetime(2026, 12, 24, 19, 30, tzinfo=UTC)


def test_a_time_over_a_minute_ago_is_refused() -> None:
    now = datetime(2026, 12, 24, 19, 31, 1, tzinfo=UTC)
    assert refused("2026-12-24T19:30", now=now).reason == "past"


def test_a_time_sooner_than_the_minimum_lead_is_refused_with_the_earliest_choice() -> None:
    now = datetime(2026, 12, 24, 19, 25, tzinfo=UTC)
    error = refused("2026-12-24T19:30", now=now, min_lead=timedelta(minutes=10))
    assert error.reason == "too_soon"
    assert "Thu 24 Dec 19:35 GMT or later" in error.message


@pytest.mark.parametrize(
    "value", ["", "tomorrow", "24/12/2026 19:30", "2026-12-24", "19:30", "2026-12-24T19", "2026-12-24T19:30 GMT"]
)
def test_unreadable_times_are_refused_with_the_expected_format(value: str) -> None:
    error = refused(value)
    assert error.reason == "unparseable"
    assert error.field == "scheduled_at"
    assert "2026-12-24T19:30" in error.message


def test_an_impossible_date_is_refused() -> None:
    error = refused("2026-02-30T19:30")
    assert error.reason == "unparseable"
    assert "not a real date" in error.message


def test_an_unknown_timezone_is_refused() -> None:
    error = refused("2026-12-24T19:30", "Mars/Olympus_Mons")
    assert error.reason == "unknown_timezone"
    assert error.field == "timezone"
    assert "Mars/Olympus_Mons" in error.message


def test_the_errors_are_invalid_so_every_front_door_renders_them() -> None:
    error = refused("2027-03-28T01:30")
    assert isinstance(error, Invalid)
    assert error.code == "invalid"


def test_another_field_name_can_be_given() -> None:
    assert refused("garbage", field="event_start").extra["field"] == "event_start"


def test_a_venue_changing_timezone_keeps_the_utc_instant() -> None:
    stored = resolve_when("2026-12-24T19:30", LONDON, now=NOW)
    assert format_local(stored, LONDON, now=NOW) == "Thu 24 Dec 19:30 GMT"
    assert format_local(stored, NEW_YORK, now=NOW) == "Thu 24 Dec 14:30 EST"
    assert stored == datetime(2026, 12, 24, 19, 30, tzinfo=UTC)


def test_format_local_uses_the_offset_in_force_on_that_date() -> None:
    assert format_local(datetime(2026, 7, 4, 18, 30, tzinfo=UTC), LONDON, now=NOW) == "Sat 4 Jul 19:30 BST"


def test_a_date_in_the_current_year_leaves_the_year_out() -> None:
    # NOW is 10 Jan 2026: a December date eleven months ahead is still this year.
    assert format_local(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), LONDON, now=NOW) == "Thu 31 Dec 23:00 GMT"


def test_a_date_in_another_year_names_the_year() -> None:
    assert format_local(datetime(2030, 1, 1, 12, 0, tzinfo=UTC), LONDON, now=NOW) == "Tue 1 Jan 2030 12:00 GMT"
    assert format_local(datetime(2025, 12, 24, 19, 30, tzinfo=UTC), LONDON, now=NOW) == "Wed 24 Dec 2025 19:30 GMT"


def test_early_next_year_seen_from_december_names_the_year() -> None:
    # A few weeks ahead, but a bare "Fri 8 Jan" read in December could mean last January.
    december = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
    assert format_local(datetime(2027, 1, 8, 18, 0, tzinfo=UTC), LONDON, now=december) == "Fri 8 Jan 2027 18:00 GMT"


def test_the_current_year_is_the_venues_not_utcs() -> None:
    # 11:30 UTC on 31 Dec is already New Year's Day in Auckland: a post that evening is "this year" there.
    new_years_eve_utc = datetime(2026, 12, 31, 11, 30, tzinfo=UTC)
    evening = datetime(2027, 1, 1, 6, 0, tzinfo=UTC)  # 19:00 NZDT on 1 Jan 2027
    assert format_local(evening, "Pacific/Auckland", now=new_years_eve_utc) == "Fri 1 Jan 19:00 NZDT"
    assert format_local(evening, LONDON, now=new_years_eve_utc) == "Fri 1 Jan 2027 06:00 GMT"


def test_without_a_current_time_the_year_is_always_shown() -> None:
    assert format_local(datetime(2026, 7, 4, 18, 30, tzinfo=UTC), LONDON) == "Sat 4 Jul 2026 19:30 BST"


def test_a_refused_time_in_another_year_names_the_year() -> None:
    assert "That time (Wed 24 Dec 2025 19:30 GMT) has already passed" in refused("2025-12-24T19:30").message
    assert "Sun 31 Oct 2027 01:30 happens twice" in refused("2027-10-31T01:30").message


def test_format_local_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_local(datetime(2026, 7, 4, 18, 30), LONDON)


def test_resolve_when_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        resolve_when("now", LONDON, now=datetime(2026, 1, 1))
