"""The planner's week page: posts in the venue's local day and hour, across a week in which the clocks go back."""

from __future__ import annotations

import re

import httpx

from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.planner.conftest import SignedIn, sign_in
from tests.publishing.support import schedule

CARD = re.compile(
    r'data-post-id="(\d+)"\s+data-day="([\d-]+)"\s+data-hour="(\d\d:\d\d)"[^>]*>'
    r'\s*<a[^>]*>\s*<time datetime="[^"]+">([^<]+)</time>'
)


def cards(html: str) -> dict[int, tuple[str, str, str]]:
    """Each card on the page: post id -> (day, hour row, the time it shows)."""
    return {int(m[1]): (m[2], m[3], m[4]) for m in CARD.finditer(html)}


async def _new_york(runtime: Runtime, client: httpx.AsyncClient) -> tuple[int, int]:
    """A venue in New York (clocks go back at 02:00 on Sunday 7 Nov 2027) with its owner signed in; (venue, page)."""
    venue = await factories.venue(runtime, name="The Bowery", timezone="America/New_York")
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    await sign_in(client, runtime, owner)
    return venue, await factories.connection(runtime, venue, access_token="page-token")


async def test_posts_land_in_their_local_day_and_hour_across_the_night_the_clocks_go_back(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue, page = await _new_york(runtime, client)

    async def at(when: str, fold: str | None = None) -> int:
        return (await schedule(runtime, venue, [page], text=f"Post at {when}", when=when, fold=fold)).post.id

    monday_night = await at("2027-11-01T21:00")  # already Tuesday in UTC
    first_0130 = await at("2027-11-07T01:30", "earlier")
    second_0130 = await at("2027-11-07T01:30", "later")
    sunday_late = await at("2027-11-07T23:30")  # Monday 04:30 UTC, still this local week
    next_monday = await at("2027-11-08T00:30")
    r = await client.get("/planner/week", params={"start": "2027-11-03"})  # any day of the week
    assert r.status_code == 200, r.text
    found = cards(r.text)
    assert found == {
        monday_night: ("2027-11-01", "21:00", "21:00 EDT"),
        first_0130: ("2027-11-07", "01:00", "01:30 EDT"),
        second_0130: ("2027-11-07", "01:00", "01:30 EST"),
        sunday_late: ("2027-11-07", "23:00", "23:30 EST"),
    }, f"cards in the wrong day or hour: {found}"
    assert "Mon 1 Nov – Sun 7 Nov 2027" in r.text and "America/New_York" in r.text
    assert "Scheduled" in r.text and "Post at 2027-11-01T21:00" in r.text, "a card lacks its text or its status"
    following = await client.get("/planner/week", params={"start": "2027-11-08"})
    assert cards(following.text) == {next_monday: ("2027-11-08", "00:00", "00:30 EST")}, cards(following.text)


async def test_previous_and_next_link_the_neighbouring_weeks_and_a_bad_date_shows_this_week(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await _new_york(runtime, client)
    r = await client.get("/planner/week", params={"start": "2027-11-07"})
    assert 'href="?start=2027-10-25" rel="prev"' in r.text and 'href="?start=2027-11-08" rel="next"' in r.text, r.text
    bad = await client.get("/planner/week", params={"start": "next tuesday"})
    assert bad.status_code == 200 and "is not a date like" in bad.text, bad.text
    # The test clock says Wednesday 25 Nov 2026: this week is the one it falls in.
    assert "Mon 23 Nov – Sun 29 Nov 2026" in bad.text and "(today)" in bad.text, bad.text


async def test_the_week_shows_only_the_current_venues_posts(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue, page = await _new_york(runtime, client)
    other = await factories.venue(runtime, name="Elsewhere", timezone="America/New_York")
    other_page = await factories.connection(runtime, other, access_token="other-token")
    mine = await schedule(runtime, venue, [page], text="Ours", when="2027-11-02T19:00")
    await schedule(runtime, other, [other_page], text="Theirs", when="2027-11-02T19:00")
    r = await client.get("/planner/week", params={"start": "2027-11-02"})
    assert list(cards(r.text)) == [mine.post.id] and "Theirs" not in r.text, r.text


async def test_the_week_the_clocks_go_forward_ends_at_local_midnight(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime  # The Crown, Europe/London: clocks go forward at 01:00 on Sunday 28 Mar 2027
    page = await factories.connection(runtime, signed_in.venue_id, access_token="page-token")

    async def at(when: str) -> int:
        return (await schedule(runtime, signed_in.venue_id, [page], text=f"Post at {when}", when=when)).post.id

    before_jump = await at("2027-03-28T00:30")
    after_jump = await at("2027-03-28T03:30")
    sunday_late = await at("2027-03-28T23:30")  # 22:30 UTC
    monday = await at("2027-03-29T00:30")  # 23:30 UTC on Sunday, but Monday here: next week
    found = cards((await signed_in.get("/planner/week", params={"start": "2027-03-22"})).text)
    assert found == {
        before_jump: ("2027-03-28", "00:00", "00:30 GMT"),
        after_jump: ("2027-03-28", "03:00", "03:30 BST"),
        sunday_late: ("2027-03-28", "23:00", "23:30 BST"),
    }, found
    following = cards((await signed_in.get("/planner/week", params={"start": "2027-03-29"})).text)
    assert following == {monday: ("2027-03-29", "00:00", "00:30 BST")}, following
