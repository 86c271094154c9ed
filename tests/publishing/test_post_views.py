"""Reading posts for display (core.posts.views): headline status, venue-local weeks, filters, tenancy, and
the API and `cheers posts list` showing the same listing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.clock import FrozenClock
from core.errors import Invalid, NotFound
from core.posts import views
from core.posts.service import cancel_post
from core.runtime import Runtime
from providers.errors import Permanent
from storage.models import DeliveryStatus, Role
from tests import factories
from tests.publishing.conftest import Drain, Venue
from tests.publishing.support import owner, schedule
from tests.test_cli import acheers, as_json, succeeded

# Today's headline order, most urgent first, written out so a reordering in core is caught here.
EXPECTED_ORDER = [
    "needs_attention",
    "in_doubt",
    "failed",
    "missed",
    "needs_reconnect",
    "pending_approval",  # waits for a person, like a reconnect: shown above what is merely on its way
    "claimed",
    "processing",
    "retrying",
    "scheduled",
    "published",
    "cancelled",
]


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _set(clock: FrozenClock, at: datetime) -> None:
    clock.advance(seconds=(at - clock.now()).total_seconds())


def _hours(bounds: tuple[datetime, datetime]) -> float:
    return (bounds[1] - bounds[0]).total_seconds() / 3600


async def _list(client: httpx.AsyncClient, who: factories.Person, **params: Any) -> list[int]:
    r = await client.get("/api/posts", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()]


# --- headline status ---


def test_headline_status_shows_the_most_urgent_delivery_in_todays_order() -> None:
    remaining = set(DeliveryStatus)
    shown = []
    while remaining:
        headline = views.headline_status(remaining)
        shown.append(headline.value)
        remaining.discard(headline)
    assert shown == EXPECTED_ORDER, f"the headline order changed: {shown}"
    assert views.headline_status([]) is DeliveryStatus.cancelled, "a post without deliveries reads as cancelled"
    mixed = [DeliveryStatus.published, DeliveryStatus.retrying, DeliveryStatus.needs_reconnect]
    assert views.headline_status(mixed) is DeliveryStatus.needs_reconnect


async def test_a_post_with_one_failed_and_one_live_delivery_headlines_failed(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, drain: Drain
) -> None:
    second = await factories.connection(runtime, venue.id, access_token="page-token-2")
    venue.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
    saved = await schedule(runtime, venue.id, [venue.connection_id, second])
    await drain()
    viewer = await factories.person(runtime, venue_id=venue.id, role=Role.viewer)
    detail = (await client.get(f"/api/posts/{saved.post.id}", headers=viewer.headers)).json()
    assert sorted(t["status"] for t in detail["targets"]) == ["failed", "published"], detail
    assert detail["status"] == "failed", "a failure must headline over a live delivery"
    view = await _view(runtime, venue.id, saved.post.id)
    assert [d.connection_label for d in view.deliveries] == [
        f"Facebook Page {d.connection}" for d in view.deliveries
    ], "a delivery is labelled with its provider and connection name"


async def _view(runtime: Runtime, venue_id: int, post_id: int) -> views.PostView:
    async with runtime.uow() as uow:
        return await views.get_post(uow.session, owner(venue_id), post_id, with_attempts=True)


# --- venue-local weeks ---


def test_a_london_week_with_the_clocks_going_forward_is_167_hours() -> None:
    start, end = views.week_bounds("Europe/London", date(2026, 3, 29))  # the last Sunday of March
    assert (start, end) == (_utc(2026, 3, 23, 0), _utc(2026, 3, 29, 23)), "Monday 00:00 GMT to Monday 00:00 BST"
    assert _hours((start, end)) == 167


def test_a_london_week_with_the_clocks_going_back_is_169_hours() -> None:
    bounds = views.week_bounds("Europe/London", date(2026, 10, 21))  # the week of the last Sunday of October
    assert bounds == (_utc(2026, 10, 18, 23), _utc(2026, 10, 26, 0)), "Monday 00:00 BST to Monday 00:00 GMT"
    assert _hours(bounds) == 169
    assert _hours(views.week_bounds("Europe/London", date(2026, 11, 25))) == 168


def test_a_sydney_week_starts_on_the_local_monday_and_follows_its_own_clock_change() -> None:
    # Sydney moves forward on the first Sunday of October; its Monday begins on Sunday afternoon in UTC.
    bounds = views.week_bounds("Australia/Sydney", date(2026, 10, 4))
    assert bounds == (_utc(2026, 9, 27, 14), _utc(2026, 10, 4, 13)), bounds
    assert _hours(bounds) == 167
    assert views.week_bounds("Australia/Sydney", date(2026, 9, 28)) == bounds, "Monday and Sunday share a week"


async def test_listing_by_week_keeps_to_the_venues_local_week_and_next_follows_the_clock(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    venue_id = await factories.venue(runtime, timezone="Australia/Sydney")
    connection = await factories.connection(runtime, venue_id, access_token="page-token")
    viewer = await factories.person(runtime, venue_id=venue_id, role=Role.viewer)
    ids = {}
    for name, when in [
        ("sunday_night", "2026-11-29T23:30"),  # this week (now is Wed 25 Nov 23:00 in Sydney)
        ("monday_early", "2026-11-30T00:30"),  # Sunday 13:30 UTC, but Monday in Sydney: next week
        ("next_sunday", "2026-12-06T23:59"),
        ("week_after", "2026-12-07T00:00"),  # exactly where next week ends
    ]:
        ids[name] = (await schedule(runtime, venue_id, [connection], text=name, when=when)).post.id

    assert await _list(client, viewer, week="this") == [ids["sunday_night"]]
    assert await _list(client, viewer, week="next") == [ids["monday_early"], ids["next_sunday"]]
    assert await _list(client, viewer, week="2026-12-09") == [ids["week_after"]], "a date means its local week"
    assert len(await _list(client, viewer)) == 4, "no week: every post"

    _set(clock, _utc(2026, 11, 29, 13))  # Monday 00:00 in Sydney while still Sunday in UTC
    assert await _list(client, viewer, week="this") == [ids["monday_early"], ids["next_sunday"]]
    assert await _list(client, viewer, week="next") == [ids["week_after"]], "'next' must move with the clock"

    r = await client.get("/api/posts", params={"week": "someday"}, headers=viewer.headers)
    assert r.status_code == 422 and r.json()["field"] == "week", r.text


async def test_listing_the_week_the_clocks_go_back_includes_its_extra_hour(
    runtime: Runtime, venue: Venue, clock: FrozenClock
) -> None:
    _set(clock, _utc(2026, 10, 20, 12))
    late = await schedule(runtime, venue.id, [venue.connection_id], text="late", when="2026-10-25T23:30")
    monday = await schedule(runtime, venue.id, [venue.connection_id], text="monday", when="2026-10-26T00:30")
    async with runtime.uow() as uow:
        this = await views.list_posts(uow.session, owner(venue.id), week="this", clock=runtime.clock)
        following = await views.list_posts(uow.session, owner(venue.id), week="next", clock=runtime.clock)
    assert [v.id for v in this] == [late.post.id], "Sunday 23:30 GMT is still the week that began in BST"
    assert [v.id for v in following] == [monday.post.id]
    assert this[0].scheduled_local == "Sun 25 Oct 23:30 GMT", this[0]


# --- filters and tenancy ---


async def test_status_and_connection_filters_pick_posts_by_their_deliveries(runtime: Runtime, venue: Venue) -> None:
    other = await factories.connection(runtime, venue.id, access_token="page-token-2")
    first = await schedule(runtime, venue.id, [venue.connection_id], text="first", when="2026-11-26T18:00")
    second = await schedule(runtime, venue.id, [other], text="second", when="2026-11-27T18:00")
    both = await schedule(runtime, venue.id, [venue.connection_id, other], text="both", when="2026-11-28T18:00")
    async with runtime.uow() as uow:
        await cancel_post(runtime, uow.session, owner(venue.id), second.post.id)
        await uow.commit()

    async def listed(**filters: Any) -> list[int]:
        async with runtime.uow() as uow:
            return [v.id for v in await views.list_posts(uow.session, owner(venue.id), **filters)]

    assert await listed(connection_id=venue.connection_id) == [first.post.id, both.post.id]
    assert await listed(connection_id=other) == [second.post.id, both.post.id]
    assert await listed(status="cancelled") == [second.post.id]
    assert await listed(status="scheduled") == [first.post.id, both.post.id]
    assert await listed(status="scheduled", connection_id=other) == [both.post.id], "filters combine"
    with pytest.raises(Invalid) as refused:
        await listed(status="sent")
    assert refused.value.extra["field"] == "status" and "scheduled" in refused.value.message


async def test_another_venues_post_is_not_found_and_not_listed(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue
) -> None:
    theirs = await schedule(runtime, venue.id, [venue.connection_id], when="2026-11-26T18:00")
    elsewhere = await factories.venue(runtime)
    stranger = await factories.person(runtime, venue_id=elsewhere, role=Role.owner)
    async with runtime.uow() as uow:
        with pytest.raises(NotFound):
            await views.get_post(uow.session, owner(elsewhere), theirs.post.id)
        assert await views.list_posts(uow.session, owner(elsewhere), connection_id=venue.connection_id) == []
    headers = {**stranger.headers, "X-Cheers-Account": str(elsewhere)}
    assert (await client.get(f"/api/posts/{theirs.post.id}", headers=headers)).status_code == 404
    assert (await client.get("/api/posts", headers=headers)).json() == [], "another venue's post was listed"


# --- one listing, two front doors ---


async def test_the_cli_and_the_api_list_the_same_posts(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, drain: Drain, tmp_path: Path
) -> None:
    other = await factories.connection(runtime, venue.id, access_token="page-token-2")
    venue.publisher.script = [Permanent("Facebook refused the request.")]
    await schedule(runtime, venue.id, [venue.connection_id, other], text="Quiz now")
    await drain()
    await schedule(runtime, venue.id, [other], text="Roast Sunday", when="2026-11-29T12:00")
    await schedule(runtime, venue.id, [venue.connection_id], text="Carols", when="2026-12-01T19:00")
    viewer = await factories.person(runtime, venue_id=venue.id, role=Role.viewer)

    cases: list[tuple[dict[str, str | int], list[str]]] = [
        ({}, []),
        ({"week": "2026-11-25", "connection_id": other}, ["--week", "2026-11-25", "--connection", str(other)]),
        ({"status": "failed"}, ["--status", "failed"]),
    ]
    for api_filters, cli_filters in cases:
        r = await client.get("/api/posts", params=api_filters, headers=viewer.headers)
        api = [
            (
                p["id"],
                p["status"],
                p["scheduled_local"],
                [(t["id"], t["status"], t["connection_id"]) for t in p["targets"]],
            )
            for p in r.json()
        ]
        out = as_json(await acheers(runtime.settings, "posts", "list", "--account", str(venue.id), *cli_filters,
                                    "--json", cwd=tmp_path))  # fmt: skip
        cli = [
            (
                p["post_id"],
                p["status"],
                p["scheduled_local"],
                [(d["target_id"], d["status"], d["connection_id"]) for d in p["deliveries"]],
            )
            for p in out["posts"]
        ]
        assert api, f"nothing listed for {api_filters}: the comparison would prove nothing"
        assert cli == api, f"CLI and API disagree for {api_filters}:\n{cli}\n{api}"

    text = succeeded(await acheers(runtime.settings, "posts", "list", "--account", str(venue.id), cwd=tmp_path))
    assert "Sun 29 Nov 12:00 GMT" in text and "Facebook Page" in text, text


async def test_cli_refuses_an_unknown_status_in_one_line(runtime: Runtime, venue: Venue, tmp_path: Path) -> None:
    result = await acheers(runtime.settings, "posts", "list", "--account", str(venue.id), "--status", "sent",
                           cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1 and "unknown status 'sent'" in result.stderr, (result.returncode, result.stderr)


def test_week_day_reads_this_next_and_dates_in_the_venues_zone() -> None:
    clock = FrozenClock(_utc(2026, 3, 29, 23, 30))  # Monday 00:30 BST in London, still Sunday in UTC
    assert views.week_day("this", "Europe/London", clock) == date(2026, 3, 30)
    assert views.week_day(" Next ", "Europe/London", clock) == date(2026, 3, 30) + timedelta(weeks=1)
    assert views.week_day("this", "UTC", clock) == date(2026, 3, 29)
    assert views.week_day("2026-12-24", "Europe/London", None) == date(2026, 12, 24)
