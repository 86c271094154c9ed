"""The planner's week page: posts in the venue's local day and hour (across the nights the clocks change), and drag to
reschedule: the DOM hooks planner.js relies on and the answers a drop gets."""

from __future__ import annotations

import json
import re

import httpx
from sqlalchemy import update

from core.runtime import Runtime
from storage.models import DeliveryStatus, PostTarget, Role
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


# --- Drag to reschedule (the DOM hooks planner.js and the browser tests rely on; docs/planner.md) ---

SLOT = re.compile(r'data-slot="([\dT:-]+)"')
HTMX = {"HX-Request": "true"}


async def _two_posts_next_week(signed_in: SignedIn) -> tuple[int, int, int]:
    """The Crown's Page with a Monday 19:30 and a Tuesday 12:15 post next week (the test clock says Wed 25 Nov
    2026); (page, monday post, tuesday post)."""
    runtime = signed_in.runtime
    page = await factories.connection(runtime, signed_in.venue_id, access_token="page-token")
    monday = await schedule(runtime, signed_in.venue_id, [page], text="Quiz night", when="2026-11-30T19:30")
    tuesday = await schedule(runtime, signed_in.venue_id, [page], text="Curry club", when="2026-12-01T12:15")
    return page, monday.post.id, tuesday.post.id


async def _set_status(runtime: Runtime, post_id: int, status: DeliveryStatus) -> None:
    async with runtime.uow() as uow:
        await uow.session.execute(update(PostTarget).where(PostTarget.post_id == post_id).values(status=status))
        await uow.commit()


def _card_tag(html: str, post_id: int) -> str:
    found = re.search(rf'<article[^>]*data-post-id="{post_id}"[^>]*>', html)
    assert found, f"no card for post {post_id}"
    return found[0]


async def test_an_editor_can_drag_each_editable_card_onto_any_day_in_the_shown_hours(signed_in: SignedIn) -> None:
    _, monday, tuesday = await _two_posts_next_week(signed_in)
    await _set_status(signed_in.runtime, tuesday, DeliveryStatus.published)  # live: its time can no longer change
    r = await signed_in.get("/planner/week", params={"start": "2026-11-30"})
    assert r.status_code == 200, r.text
    assert '<script src="/static/planner.js" defer></script>' in r.text, "the layout should load planner.js"
    card = _card_tag(r.text, monday)
    for hook in ('draggable="true"', 'data-minute="30"', 'data-pending="Moving the post…"', 'data-hour="19:00"'):
        assert hook in card, f"the Monday card lacks {hook}: {card}"
    assert f'href="/planner/posts/{monday}#time-title">Change the time</a>' in r.text, "no keyboard way to move it"
    assert "draggable" not in _card_tag(r.text, tuesday), "a published post must not be draggable"
    # Every day has a drop cell in each shown hour (12:00 and 19:00), empty or not.
    slots = set(SLOT.findall(r.text))
    days = [f"2026-11-{d}" for d in (30,)] + [f"2026-12-0{d}" for d in range(1, 7)]
    assert slots == {f"{d}T{h}" for d in days for h in ("12:00", "19:00")}, sorted(slots)
    assert "Drag a post onto another day or hour" in r.text


async def test_a_viewer_sees_the_week_without_drag_or_drop_cells(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    viewer = await factories.person(runtime, venue_id=venue, role=Role.viewer)
    page = await factories.connection(runtime, venue, access_token="page-token")
    post = await schedule(runtime, venue, [page], text="Quiz night", when="2026-11-30T19:30")
    await sign_in(client, runtime, viewer)
    r = await client.get("/planner/week", params={"start": "2026-11-30"})
    assert r.status_code == 200 and str(post.post.id) in _card_tag(r.text, post.post.id), r.text
    assert "draggable" not in r.text and "Change the time" not in r.text, "a viewer cannot move posts"
    assert SLOT.findall(r.text) == ["2026-11-30T19:00"], "a viewer gets only the cells that hold posts"


async def test_a_drop_moves_the_post_keeping_its_minute_and_answers_with_a_toast(signed_in: SignedIn) -> None:
    _, monday, _ = await _two_posts_next_week(signed_in)
    # What planner.js sends for a drop on Tuesday's 12:00 cell: the slot's day and hour, the card's minute.
    r = await signed_in.post_form(f"/planner/posts/{monday}/time", {"when": "2026-12-01T12:30"}, headers=HTMX)
    assert r.status_code == 200 and 'class="toast toast-ok"' in r.text, r.text
    assert json.loads(r.headers["HX-Trigger"]) == {"cheers:outcome": {"kind": "ok"}}, r.headers
    week = cards((await signed_in.get("/planner/week", params={"start": "2026-11-30"})).text)
    assert week[monday] == ("2026-12-01", "12:00", "12:30 GMT"), f"the post did not move: {week}"


async def test_a_refused_drop_is_an_error_toast_and_the_post_stays(signed_in: SignedIn) -> None:
    _, monday, tuesday = await _two_posts_next_week(signed_in)
    # 01:30 on Sunday 28 Mar 2027 does not exist in London (the clocks jump from 01:00 to 02:00).
    gap = await signed_in.post_form(f"/planner/posts/{monday}/time", {"when": "2027-03-28T01:30"}, headers=HTMX)
    assert gap.status_code == 200 and "toast-error" in gap.text and "does not exist" in gap.text, gap.text
    assert json.loads(gap.headers["HX-Trigger"]) == {"cheers:outcome": {"kind": "error"}}, gap.headers
    # A post being sent right now is refused by core.
    await _set_status(signed_in.runtime, tuesday, DeliveryStatus.claimed)
    busy = await signed_in.post_form(f"/planner/posts/{tuesday}/time", {"when": "2026-12-02T12:15"}, headers=HTMX)
    assert "toast-error" in busy.text and json.loads(busy.headers["HX-Trigger"])["cheers:outcome"]["kind"] == "error"
    week = cards((await signed_in.get("/planner/week", params={"start": "2026-11-30"})).text)
    assert week[monday] == ("2026-11-30", "19:00", "19:30 GMT"), f"a refused drop moved the post: {week}"
    assert week[tuesday] == ("2026-12-01", "12:00", "12:15 GMT"), f"a refused drop moved the post: {week}"
    # Without JavaScript the same refusal is the post page with the explanation (unchanged).
    plain = await signed_in.post_form(f"/planner/posts/{monday}/time", {"when": "2027-03-28T01:30"})
    assert plain.status_code == 422 and "does not exist" in plain.text, plain.text


async def test_remedy_buttons_carry_their_pending_words(signed_in: SignedIn) -> None:
    _, monday, _ = await _two_posts_next_week(signed_in)
    await _set_status(signed_in.runtime, monday, DeliveryStatus.failed)
    r = await signed_in.get(f"/planner/posts/{monday}")
    assert 'data-pending="Retry: sending…"' in r.text, "the Retry form should show a pending toast at once"
