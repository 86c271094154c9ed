"""Times typed in chat: each phrase read in the venue's zone from a frozen 'now', edges asked back, never guessed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.posts.phrases import day_first, resolve_phrase
from core.posts.times import PostTimeInvalid, zone

LONDON = "Europe/London"
NEW_YORK = "America/New_York"
# Saturday 5 December 2026, 14:00 in London (GMT).
SAT = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
# The Saturdays before the clocks change in 2027: London springs forward on 28 March, falls back on 31 October;
# New York on 14 March and 7 November.
BEFORE_SPRING = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
BEFORE_AUTUMN = datetime(2027, 10, 30, 12, 0, tzinfo=UTC)
NY_BEFORE_SPRING = datetime(2027, 3, 13, 17, 0, tzinfo=UTC)
NY_BEFORE_AUTUMN = datetime(2027, 11, 6, 16, 0, tzinfo=UTC)

READ = [
    # (phrase, zone, now, the venue's wall clock it must name)
    ("now", LONDON, SAT, "2026-12-05 14:00"),
    ("NOW", LONDON, SAT, "2026-12-05 14:00"),
    ("in 2 hours", LONDON, SAT, "2026-12-05 16:00"),
    ("in 90 mins", LONDON, SAT, "2026-12-05 15:30"),
    ("in an hour", LONDON, SAT, "2026-12-05 15:00"),
    ("in half an hour", LONDON, SAT, "2026-12-05 14:30"),
    ("in 1 hour and 15 minutes", LONDON, SAT, "2026-12-05 15:15"),
    ("in 2h30m", LONDON, SAT, "2026-12-05 16:30"),
    ("in 3 days", LONDON, SAT, "2026-12-08 14:00"),
    ("in a week", LONDON, SAT, "2026-12-12 14:00"),
    ("6pm", LONDON, SAT, "2026-12-05 18:00"),
    ("at 6:30pm", LONDON, SAT, "2026-12-05 18:30"),
    ("18:00", LONDON, SAT, "2026-12-05 18:00"),
    ("18.30", LONDON, SAT, "2026-12-05 18:30"),
    ("today 7pm", LONDON, SAT, "2026-12-05 19:00"),
    ("tonight 8", LONDON, SAT, "2026-12-05 20:00"),
    ("tonight at 8:30", LONDON, SAT, "2026-12-05 20:30"),
    ("tomorrow 6pm", LONDON, SAT, "2026-12-06 18:00"),
    ("Tomorrow at 9am", LONDON, SAT, "2026-12-06 09:00"),
    ("tmrw 12pm", LONDON, SAT, "2026-12-06 12:00"),
    ("tomorrow 12am", LONDON, SAT, "2026-12-06 00:00"),
    ("noon tomorrow", LONDON, SAT, "2026-12-06 12:00"),
    ("tomorrow midnight", LONDON, SAT, "2026-12-06 00:00"),
    ("6pm tomorrow", LONDON, SAT, "2026-12-06 18:00"),
    ("fri 18:00", LONDON, SAT, "2026-12-11 18:00"),
    ("Friday 6pm", LONDON, SAT, "2026-12-11 18:00"),
    ("next friday 5:30pm", LONDON, SAT, "2026-12-11 17:30"),
    ("this sunday at noon", LONDON, SAT, "2026-12-06 12:00"),
    ("sat 6pm", LONDON, SAT, "2026-12-05 18:00"),
    ("next sat 6pm", LONDON, SAT, "2026-12-12 18:00"),
    ("mon 9:15am", LONDON, SAT, "2026-12-07 09:15"),
    ("25/12 12:00", LONDON, SAT, "2026-12-25 12:00"),
    ("25/12/2026 7pm", LONDON, SAT, "2026-12-25 19:00"),
    ("31/12/26 23:30", LONDON, SAT, "2026-12-31 23:30"),
    ("2/1 9am", LONDON, SAT, "2027-01-02 09:00"),
    ("25 dec 7pm", LONDON, SAT, "2026-12-25 19:00"),
    ("25th December at 7pm", LONDON, SAT, "2026-12-25 19:00"),
    ("dec 25 7pm", LONDON, SAT, "2026-12-25 19:00"),
    ("fri 11 dec 6pm", LONDON, SAT, "2026-12-11 18:00"),
    ("14 feb 2027 8pm", LONDON, SAT, "2027-02-14 20:00"),
    ("2026-12-24 19:00", LONDON, SAT, "2026-12-24 19:00"),
    ("2026-12-24T19:00", LONDON, SAT, "2026-12-24 19:00"),
    ("12/25 12:00", NEW_YORK, SAT, "2026-12-25 12:00"),
    ("tomorrow 6pm", NEW_YORK, SAT, "2026-12-06 18:00"),
    # Daylight saving: a real 2 hours across the jump, and wall times on the far side of it.
    ("in 2 hours", LONDON, datetime(2027, 3, 28, 0, 30, tzinfo=UTC), "2027-03-28 03:30"),
    ("tomorrow 3:30am", LONDON, BEFORE_SPRING, "2027-03-28 03:30"),
    ("tomorrow 2:30am", LONDON, BEFORE_AUTUMN, "2027-10-31 02:30"),
    ("tomorrow 3am", NEW_YORK, NY_BEFORE_SPRING, "2027-03-14 03:00"),
]


@pytest.mark.parametrize(("phrase", "tz", "now", "expected"), READ, ids=[f"{p}|{z}" for p, z, _, _ in READ])
def test_phrase_names_the_expected_local_time(phrase: str, tz: str, now: datetime, expected: str) -> None:
    instant = resolve_phrase(phrase, tz, now=now)
    assert instant.tzinfo is not None and instant.utcoffset() is not None
    local = instant.astimezone(zone(tz))
    assert f"{local:%Y-%m-%d %H:%M}" == expected, f"{phrase!r} in {tz} read as {local:%a %Y-%m-%d %H:%M}"


ASKED_BACK = [
    # (phrase, zone, now, reason, words the answer must contain)
    ("tomorrow 1:30am", LONDON, BEFORE_SPRING, "nonexistent", "clocks go forward"),
    ("tomorrow 1:30am", LONDON, BEFORE_AUTUMN, "ambiguous", "happens twice"),
    ("tomorrow 2:30am", NEW_YORK, NY_BEFORE_SPRING, "nonexistent", "clocks go forward"),
    ("tomorrow 1:30am", NEW_YORK, NY_BEFORE_AUTUMN, "ambiguous", "happens twice"),
    ("tomorrow 6", LONDON, SAT, "unclear", "6am or 6pm"),
    ("fri at 7", LONDON, SAT, "unclear", "7am or 7pm"),
    ("tomorrow", LONDON, SAT, "unclear", "What time on Sun 6 Dec"),
    ("fri 12 dec 6pm", LONDON, SAT, "unclear", "Sat 12 Dec is a Saturday, not a Friday"),
    ("12/25 12:00", LONDON, SAT, "unclear", "did you mean 25/12"),
    ("9am", LONDON, SAT, "past", "did you mean Sun 6 Dec 09:00"),
    ("sat 9am", LONDON, SAT, "past", "did you mean Sat 12 Dec 09:00"),
    ("2026-12-01 10:00", LONDON, SAT, "past", "already passed"),
    ("30/02 12:00", LONDON, SAT, "unparseable", "not a real date"),
    ("25:00", LONDON, SAT, "unparseable", "no such time"),
    ("13pm", LONDON, SAT, "unparseable", "not a time we can read"),
    ("whenever", LONDON, SAT, "unparseable", "tomorrow 6pm"),
    ("in soon", LONDON, SAT, "unparseable", "not a time we can read"),
    ("in 2 fortnights", LONDON, SAT, "unparseable", "not a time we can read"),
    ("next week", LONDON, SAT, "unparseable", "not a time we can read"),
]


@pytest.mark.parametrize(
    ("phrase", "tz", "now", "reason", "words"), ASKED_BACK, ids=[f"{p}|{z}|{r}" for p, z, _, r, _ in ASKED_BACK]
)
def test_unclear_or_impossible_phrases_are_asked_back(
    phrase: str, tz: str, now: datetime, reason: str, words: str
) -> None:
    with pytest.raises(PostTimeInvalid) as caught:
        resolve_phrase(phrase, tz, now=now)
    assert caught.value.reason == reason, f"{phrase!r}: {caught.value}"
    assert words in str(caught.value), f"{phrase!r} answered: {caught.value}"


def test_a_time_that_happens_twice_resolves_once_the_person_picks() -> None:
    earlier = resolve_phrase("tomorrow 1:30am", LONDON, now=BEFORE_AUTUMN, fold="earlier")
    later = resolve_phrase("tomorrow 1:30am", LONDON, now=BEFORE_AUTUMN, fold="later")
    assert (later - earlier).total_seconds() == 3600
    assert f"{earlier.astimezone(zone(LONDON)):%H:%M %Z}" == "01:30 BST"
    assert f"{later.astimezone(zone(LONDON)):%H:%M %Z}" == "01:30 GMT"


def test_a_passed_time_offers_its_next_occurrence_as_a_choice() -> None:
    with pytest.raises(PostTimeInvalid) as caught:
        resolve_phrase("today 10am", LONDON, now=SAT)
    assert caught.value.extra.get("choices") == ["2026-12-06T10:00"]


def test_date_order_follows_the_venue_country() -> None:
    assert day_first(LONDON) and day_first("Europe/Paris") and day_first("Australia/Sydney")
    assert not day_first(NEW_YORK) and not day_first("America/Los_Angeles")
