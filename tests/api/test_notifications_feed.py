"""GET /api/notifications: the feed, its pages and filters, read marks per person, venues kept apart."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import httpx
import pytest

from core.clock import FrozenClock
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from storage.models import Role, Severity
from tests import factories
from tests.api.notifications_support import EXPORT, FEED, assert_problem, flat, get_page, walk


async def test_feed_lists_newest_first(runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue, role=Role.viewer)
    created = []
    for title in ("first", "second", "third"):
        n = await factories.record_notification(
            runtime,
            venue,
            kind=NotificationKind.publish_succeeded,
            severity=Severity.success,
            title=title,
            payload={"t": title},
        )
        assert n is not None
        created.append(n.id)
        clock.advance(minutes=5)

    body = await get_page(client, me)

    assert [i["title"] for i in body["items"]] == ["third", "second", "first"], "the feed should be newest first"
    assert [i["id"] for i in body["items"]] == created[::-1]
    stamps = [i["created_at"] for i in body["items"]]
    assert stamps == sorted(stamps, reverse=True), f"created_at should descend: {stamps}"
    top = body["items"][0]
    assert top["kind"] == "publish_succeeded" and top["severity"] == "success" and top["payload"] == {"t": "third"}
    assert top["read"] is False, "a notification nobody marked should be unread"
    assert body["next_cursor"] is None, "a feed that fits one page should have no next cursor"


async def test_empty_feed(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    assert await get_page(client, me) == {"items": [], "next_cursor": None}


async def test_cursor_pagination_walks_whole_history_without_gaps_or_repeats(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    created = await factories.notifications_batch(runtime, venue, 120)

    pages = await walk(client, me, limit=50)

    assert [len(p) for p in pages] == [50, 50, 20], f"120 notifications at limit=50 should page 50/50/20, got {pages}"
    ids = flat(pages)
    assert len(set(ids)) == len(ids), "a notification appeared on more than one page"
    assert ids == created[::-1], "paging should cover every notification exactly once, newest first"


async def test_default_page_size_is_fifty(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 51)
    body = await get_page(client, me)
    assert len(body["items"]) == 50 and body["next_cursor"] is not None


async def test_exact_multiple_of_page_size_ends_without_an_empty_page(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 20)
    pages = await walk(client, me, limit=10)
    assert [len(p) for p in pages] == [10, 10], f"20 at limit=10 should be exactly two pages, got {pages}"


async def test_pages_stay_stable_when_new_notifications_arrive(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    older = await factories.notifications_batch(runtime, venue, 30)

    first = await get_page(client, me, limit=10)
    newer = await factories.notifications_batch(runtime, venue, 5)
    ids = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        body = await get_page(client, me, limit=10, cursor=cursor)
        ids += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]

    assert ids == older[::-1], "notifications arriving mid-walk must not shift, repeat or drop older pages"
    top = await get_page(client, me, limit=5)
    assert [i["id"] for i in top["items"]] == newer[::-1], "a fresh first page should show the new notifications"


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "!!!", "bjpub3RhbnVtYmVy", "eDo1", "n:5"],
    ids=["not-base64", "punctuation", "non-numeric-id", "wrong-prefix", "not-encoded"],
)
async def test_garbage_cursor_answers_422_problem(runtime: Runtime, client: httpx.AsyncClient, cursor: str) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 3)
    r = await client.get(FEED, params={"cursor": cursor}, headers=me.headers)
    body = assert_problem(r, 422)
    assert body.get("field") == "cursor", f"the problem should point at the cursor: {body}"
    assert "cursor" in body["detail"]


@pytest.mark.parametrize("limit", ["0", "-1", "201", "100000", "ten"])
async def test_limit_out_of_range_answers_400(runtime: Runtime, client: httpx.AsyncClient, limit: str) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    r = await client.get(FEED, params={"limit": limit}, headers=me.headers)
    body = assert_problem(r, 400)
    assert "limit" in body["detail"], f"the problem should name the limit parameter: {body}"


@pytest.mark.parametrize("limit", [1, 200])
async def test_limit_at_the_bounds_is_accepted(runtime: Runtime, client: httpx.AsyncClient, limit: int) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 3)
    body = await get_page(client, me, limit=limit)
    assert len(body["items"]) == min(limit, 3)


async def test_filter_by_kind(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    failed = await factories.notifications_batch(runtime, venue, 3, kind=NotificationKind.publish_failed)
    expiring = await factories.notifications_batch(runtime, venue, 2, kind=NotificationKind.connection_expiring)
    await factories.notifications_batch(runtime, venue, 4, kind=NotificationKind.queue_stalled)

    one = await get_page(client, me, kind="publish_failed")
    assert [i["id"] for i in one["items"]] == failed[::-1], "?kind= should list only that kind"

    r = await client.get(FEED, params=[("kind", "publish_failed"), ("kind", "connection_expiring")], headers=me.headers)
    assert r.status_code == 200, r.text
    both = [i["id"] for i in r.json()["items"]]
    assert both == sorted(failed + expiring, reverse=True), "a repeated ?kind= should list each of those kinds"


@pytest.mark.parametrize("path", [FEED, EXPORT], ids=["feed", "export"])
async def test_unknown_kind_answers_400_naming_the_valid_kinds(
    runtime: Runtime, client: httpx.AsyncClient, path: str
) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 2, kind=NotificationKind.publish_failed)
    r = await client.get(path, params=[("kind", "publish_failed"), ("kind", "post.failed")], headers=me.headers)
    body = assert_problem(r, 400)
    assert "'post.failed'" in body["detail"], f"the problem should name the unknown kind: {body}"
    missing = [k.value for k in NotificationKind if k.value not in body["detail"]]
    assert not missing, f"the problem should list every valid kind, lacks {missing}: {body}"


async def test_kind_filter_paginates(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    wanted = []
    for _ in range(5):
        wanted += await factories.notifications_batch(runtime, venue, 1, kind=NotificationKind.publish_failed)
        await factories.notifications_batch(runtime, venue, 2, kind=NotificationKind.queue_stalled)
    pages = await walk(client, me, kind="publish_failed", limit=2)
    assert [len(p) for p in pages] == [2, 2, 1] and flat(pages) == wanted[::-1], f"filtered paging broke: {pages}"


async def test_filter_by_since(runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    start = clock.now()
    await factories.notifications_batch(runtime, venue, 3)
    clock.advance(hours=1)
    later = await factories.notifications_batch(runtime, venue, 2)
    clock.advance(hours=1)
    latest = await factories.notifications_batch(runtime, venue, 1)

    cut = start + timedelta(hours=1)
    body = await get_page(client, me, since=cut.isoformat())
    assert [i["id"] for i in body["items"]] == (later + latest)[::-1], (
        "?since= should list notifications created at or after that instant"
    )
    same_instant = cut.astimezone(timezone(timedelta(hours=1))).isoformat()
    body = await get_page(client, me, since=same_instant)
    assert len(body["items"]) == 3, f"since {same_instant} is the same instant in +01:00 and should match the same rows"
    assert (await get_page(client, me, since=(clock.now() + timedelta(seconds=1)).isoformat()))["items"] == []


async def test_since_without_a_timezone_is_refused_with_a_clear_problem(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 2)
    r = await client.get(FEED, params={"since": "2026-11-25T11:00:00"}, headers=me.headers)
    body = assert_problem(r, 422)
    assert body.get("field") == "since" and "timezone" in body["detail"], f"unhelpful problem: {body}"


async def test_malformed_since_answers_400(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    assert_problem(await client.get(FEED, params={"since": "last tuesday"}, headers=me.headers), 400)


# --- read marks -----------------------------------------------------------------------------------------------------


async def mark_read(client: httpx.AsyncClient, who: factories.Person, body: dict[str, Any]) -> int:
    r = await client.post(f"{FEED}/read", json=body, headers=who.headers)
    assert r.status_code == 200, f"marking {body} read failed: {r.status_code} {r.text}"
    marked: int = r.json()["marked"]
    return marked


async def test_marking_ids_read_is_per_person(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    alice = await factories.person(runtime, venue_id=venue, role=Role.editor)
    bob = await factories.person(runtime, venue_id=venue, role=Role.viewer)
    ids = await factories.notifications_batch(runtime, venue, 5)

    assert await mark_read(client, alice, {"ids": ids[:2]}) == 2

    alice_feed = await get_page(client, alice)
    assert {i["id"]: i["read"] for i in alice_feed["items"]} == {i: i in ids[:2] for i in ids}, (
        "the feed should flag exactly the notifications this person marked as read"
    )
    alice_unread = await get_page(client, alice, unread="true")
    assert [i["id"] for i in alice_unread["items"]] == ids[2:][::-1], "?unread=true should hide what she read"
    bob_unread = await get_page(client, bob, unread="true")
    assert [i["id"] for i in bob_unread["items"]] == ids[::-1], "another member must still see everything unread"
    assert not any(i["read"] for i in (await get_page(client, bob))["items"])


async def test_marking_all_read_is_per_person(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    alice = await factories.person(runtime, venue_id=venue)
    bob = await factories.person(runtime, venue_id=venue)
    ids = await factories.notifications_batch(runtime, venue, 4)
    assert await mark_read(client, alice, {"ids": ids[:1]}) == 1

    assert await mark_read(client, alice, {"all": True}) == 3, "all=true should mark the remaining unread ones"

    assert (await get_page(client, alice, unread="true"))["items"] == [], "after all=true nothing is unread for her"
    assert all(i["read"] for i in (await get_page(client, alice))["items"])
    assert len((await get_page(client, bob, unread="true"))["items"]) == 4, "bob's unread must be untouched"
    assert await mark_read(client, bob, {"all": True}) == 4


async def test_empty_body_marks_everything_read(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 3)
    assert await mark_read(client, me, {}) == 3, "omitting ids marks everything, as documented"


async def test_marking_read_twice_counts_once(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    ids = await factories.notifications_batch(runtime, venue, 3)
    assert await mark_read(client, me, {"ids": ids}) == 3
    assert await mark_read(client, me, {"ids": ids}) == 0, "marking already-read notifications should be a no-op"
    assert await mark_read(client, me, {"all": True}) == 0
    assert await mark_read(client, me, {"ids": []}) == 0


async def test_unread_filter_paginates(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    ids = await factories.notifications_batch(runtime, venue, 60)
    assert await mark_read(client, me, {"ids": ids[::2]}) == 30
    pages = await walk(client, me, unread="true", limit=25)
    assert [len(p) for p in pages] == [25, 5] and flat(pages) == ids[1::2][::-1], f"unread paging broke: {pages}"


async def test_cannot_mark_another_venues_notifications(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine)
    them = await factories.person(runtime, venue_id=theirs)
    their_ids = await factories.notifications_batch(runtime, theirs, 3)

    assert await mark_read(client, me, {"ids": their_ids}) == 0, "ids from another venue must not be marked"
    assert await mark_read(client, me, {"all": True}) == 0
    assert len((await get_page(client, them, unread="true"))["items"]) == 3


# --- tenancy --------------------------------------------------------------------------------------------------------


async def test_another_venues_notifications_are_never_listed(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine)
    my_ids: list[int] = []
    for _ in range(4):
        my_ids += await factories.notifications_batch(runtime, mine, 3, kind=NotificationKind.publish_failed)
        await factories.notifications_batch(runtime, theirs, 3, kind=NotificationKind.publish_failed)

    assert flat(await walk(client, me, limit=5)) == my_ids[::-1], "the feed leaked or dropped notifications"
    assert flat(await walk(client, me, kind="publish_failed", unread="true")) == my_ids[::-1]

    r = await client.get(FEED, params={"account": theirs}, headers=me.headers)
    assert_problem(r, 404)
    r = await client.get(FEED, headers={**me.headers, "X-Cheers-Account": str(theirs)})
    assert_problem(r, 404)


async def test_member_of_two_venues_sees_each_separately(runtime: Runtime, client: httpx.AsyncClient) -> None:
    first = await factories.venue(runtime)
    second = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=first)
    await factories.join(runtime, me, second, Role.viewer)
    first_ids = await factories.notifications_batch(runtime, first, 2)
    second_ids = await factories.notifications_batch(runtime, second, 3)

    for venue, expected in ((first, first_ids), (second, second_ids)):
        r = await client.get(FEED, headers={**me.headers, "X-Cheers-Account": str(venue)})
        assert r.status_code == 200, r.text
        assert [i["id"] for i in r.json()["items"]] == expected[::-1], f"venue {venue} feed is wrong"
    assert_problem(await client.get(FEED, headers=me.headers), 422)  # which venue? it must be said


async def test_feed_requires_authentication(runtime: Runtime, client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(FEED), 401)
    assert_problem(await client.get(EXPORT), 401)


# --- export ---------------------------------------------------------------------------------------------------------
