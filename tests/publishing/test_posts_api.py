"""The posts API as a venue's planner uses it: local times, refusals that name the field, races, retry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from core.clock import FrozenClock
from core.media.jobs import process
from core.publishing.dispatcher import tick
from core.runtime import Runtime
from providers.errors import Permanent
from storage.models import (
    Connection,
    ConnectionStatus,
    DeliveryStatus,
    MediaAsset,
    MediaKind,
    MediaStatus,
    Provider,
    Role,
)
from tests import factories
from tests.media.images import encode, photo_like
from tests.publishing.conftest import Drain, Venue
from tests.publishing.support import deliveries


@pytest.fixture
async def editor(runtime: Runtime, venue: Venue) -> factories.Person:
    return await factories.person(runtime, venue_id=venue.id, role=Role.editor)


async def _create(client: httpx.AsyncClient, who: factories.Person, **body: Any) -> httpx.Response:
    return await client.post("/api/posts", json=body, headers=who.headers)


async def test_post_entered_in_local_time_is_stored_in_utc_and_shown_back_locally(
    client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    r = await _create(
        client, editor, text="Mulled wine is back", when="2026-12-24T19:30", connection_ids=[venue.connection_id]
    )
    assert r.status_code == 201, r.text
    post = r.json()["post"]
    assert post["scheduled_at"].startswith("2026-12-24T19:30:00"), "London in December is UTC+0"
    assert post["scheduled_local"] == "Thu 24 Dec 19:30 GMT"
    assert [t["status"] for t in post["targets"]] == ["scheduled"]


async def test_a_post_for_another_year_names_the_year_by_the_venues_clock(
    clock: FrozenClock, client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    # The test clock says 25 Nov 2026: the label follows it, not the machine's date.
    r = await _create(client, editor, text="Happy 2030", when="2030-01-01T12:00", connection_ids=[venue.connection_id])
    assert r.status_code == 201, r.text
    assert r.json()["post"]["scheduled_local"] == "Tue 1 Jan 2030 12:00 GMT", r.json()
    assert "Scheduled for Tue 1 Jan 2030 12:00 GMT" in r.json()["message"], r.json()
    post_id = r.json()["post"]["id"]
    r = await _create(client, editor, text="Soon", when="2026-12-24T19:30", connection_ids=[venue.connection_id])
    assert r.json()["post"]["scheduled_local"] == "Thu 24 Dec 19:30 GMT", "this year's date grew a year"

    clock.advance(days=365 * 3 + 30)  # late December 2029: the post is now next year's
    r = await client.get(f"/api/posts/{post_id}", headers=editor.headers)
    assert r.json()["scheduled_local"] == "Tue 1 Jan 2030 12:00 GMT", r.json()
    clock.advance(days=10)  # January 2030: the post is this year's, so the year goes
    r = await client.get(f"/api/posts/{post_id}", headers=editor.headers)
    assert r.json()["scheduled_local"] == "Tue 1 Jan 12:00 GMT", r.json()
    listed = (await client.get("/api/posts", headers=editor.headers)).json()
    assert [p["scheduled_local"] for p in listed if p["id"] == post_id] == ["Tue 1 Jan 12:00 GMT"], listed


async def test_several_refusals_read_as_sentences_not_joined_with_a_stray_semicolon(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    ig = await factories.connection(runtime, venue.id, access_token="ig-token", provider=Provider.instagram)
    text = " ".join(f"#tag{n}" for n in range(31))
    r = await _create(client, editor, text=text, connection_ids=[ig])
    assert r.status_code == 422, r.text
    problem = r.json()
    assert [p["rule"] for p in problem["problems"]] == ["instagram.hashtags", "instagram.media_required"], problem
    assert problem["detail"] == (
        "Instagram captions can have at most 30 hashtags; this one has 31. Instagram posts need a photo or a video."
    ), problem["detail"]


async def test_time_inside_the_spring_forward_gap_is_refused_naming_the_field(
    client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    r = await _create(client, editor, text="x", when="2027-03-28T01:30", connection_ids=[venue.connection_id])
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == "scheduled_at" and "does not exist" in problem["detail"], problem
    assert (await client.get("/api/posts", headers=editor.headers)).json() == [], "a refused post was saved"


async def test_past_time_and_another_venues_connection_are_refused_and_change_nothing(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    r = await _create(client, editor, text="x", when="2026-11-25T09:00", connection_ids=[venue.connection_id])
    assert r.status_code == 422 and "already passed" in r.json()["detail"], r.text
    elsewhere = await factories.venue(runtime)
    theirs = await factories.connection(runtime, elsewhere, access_token="their-token")
    r = await _create(client, editor, text="x", connection_ids=[theirs])
    assert r.status_code == 404, r.text
    assert (await client.get("/api/posts", headers=editor.headers)).json() == []


async def test_instagram_post_without_media_is_refused_with_the_rule(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    ig = await factories.connection(runtime, venue.id, access_token="ig-token", provider=Provider.instagram)
    r = await _create(client, editor, text="Quiz tonight", connection_ids=[ig])
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "media" and "Instagram" in r.json()["detail"], r.json()


async def test_detail_shows_attempts_with_snapshots_and_the_week_view_lists_the_post(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, editor: factories.Person, drain: Drain
) -> None:
    r = await _create(client, editor, text="Sunday roast", connection_ids=[venue.connection_id])
    post_id = r.json()["post"]["id"]
    await drain()
    detail = (await client.get(f"/api/posts/{post_id}", headers=editor.headers)).json()
    [target] = detail["targets"]
    assert target["status"] == "published" and target["permalink"], target
    assert target["attempts"][0]["exchanges"][0]["request"] == {"text": "Sunday roast"}
    week = (await client.get("/api/posts", params={"week": "2026-11-26"}, headers=editor.headers)).json()
    assert [p["id"] for p in week] == [post_id]
    other_week = (await client.get("/api/posts", params={"week": "2026-12-10"}, headers=editor.headers)).json()
    assert other_week == []


async def test_edit_racing_a_claimed_delivery_is_refused_saying_it_is_in_progress(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    post_id = (await _create(client, editor, text="Old", connection_ids=[venue.connection_id])).json()["post"]["id"]

    async def lost(target_id: int, token: str) -> None:
        return None

    await tick(runtime, lost)  # claimed by a worker that has not answered yet
    r = await client.patch(f"/api/posts/{post_id}", json={"text": "New"}, headers=editor.headers)
    assert r.status_code == 409 and "in progress" in r.json()["detail"], r.text
    r = await client.post(f"/api/posts/{post_id}/cancel", headers=editor.headers)
    assert r.status_code == 409, "cancelling an in-flight delivery must wait for it"


async def test_live_post_is_not_edited_silently_and_cannot_be_retried(
    client: httpx.AsyncClient, venue: Venue, editor: factories.Person, drain: Drain
) -> None:
    post_id = (await _create(client, editor, text="Live", connection_ids=[venue.connection_id])).json()["post"]["id"]
    await drain()
    r = await client.patch(f"/api/posts/{post_id}", json={"text": "Changed"}, headers=editor.headers)
    assert (
        r.status_code == 409 and "already live" in r.json()["detail"] and "https://fake.invalid" in r.json()["detail"]
    )
    target_id = (await client.get(f"/api/posts/{post_id}", headers=editor.headers)).json()["targets"][0]["id"]
    r = await client.post(f"/api/targets/{target_id}/retry", headers=editor.headers)
    assert r.status_code == 409, r.text


async def test_cancelling_a_post_that_is_live_everywhere_is_refused_with_its_links(
    client: httpx.AsyncClient, venue: Venue, editor: factories.Person, drain: Drain
) -> None:
    post_id = (await _create(client, editor, text="Live", connection_ids=[venue.connection_id])).json()["post"]["id"]
    await drain()
    r = await client.post(f"/api/posts/{post_id}/cancel", headers=editor.headers)
    assert r.status_code == 409, f"a post that is live everywhere cannot be cancelled: {r.status_code} {r.text}"
    assert "already live" in r.json()["detail"] and "https://fake.invalid" in r.json()["detail"], r.json()
    post = (await client.get(f"/api/posts/{post_id}", headers=editor.headers)).json()
    assert [t["status"] for t in post["targets"]] == ["published"], post["targets"]
    assert post["cancelled"] is False, f"the refused cancel still marked the post cancelled: {post}"


async def test_retry_of_a_failed_delivery_is_idempotent_and_publishes_once(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, editor: factories.Person, drain: Drain
) -> None:
    venue.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
    post_id = (await _create(client, editor, text="Try", connection_ids=[venue.connection_id])).json()["post"]["id"]
    await drain()
    [target] = await deliveries(runtime, post_id)
    assert target.status is DeliveryStatus.failed
    first = await client.post(f"/api/targets/{target.id}/retry", headers=editor.headers)
    second = await client.post(f"/api/targets/{target.id}/retry", headers=editor.headers)
    assert (first.status_code, first.json()["changed"]) == (202, True), first.text
    assert (second.status_code, second.json()["changed"]) == (202, False), "a second retry queued it twice"
    await drain()
    assert (await deliveries(runtime, post_id))[0].status is DeliveryStatus.published
    assert len(venue.publisher.calls) == 2


async def test_reschedule_moves_the_delivery_and_cancel_stops_it(
    runtime: Runtime,
    client: httpx.AsyncClient,
    venue: Venue,
    editor: factories.Person,
    drain: Drain,
    clock: FrozenClock,
) -> None:
    body = {"text": "Later", "when": "2026-11-25T18:00", "connection_ids": [venue.connection_id]}
    post_id = (await _create(client, editor, **body)).json()["post"]["id"]
    r = await client.patch(f"/api/posts/{post_id}", json={"when": "2026-11-25T20:00"}, headers=editor.headers)
    assert r.status_code == 200, r.text
    assert r.json()["post"]["targets"][0]["due_at"].startswith("2026-11-25T20:00")
    r = await client.post(f"/api/posts/{post_id}/cancel", headers=editor.headers)
    assert r.json()["post"]["targets"][0]["status"] == "cancelled"
    clock.advance(hours=9)
    await drain()
    assert not venue.publisher.calls, "a cancelled post went out"


async def test_editing_a_post_with_unknown_or_another_venues_media_is_not_found_and_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    body = {"text": "Roast", "when": "2026-11-25T18:00", "connection_ids": [venue.connection_id]}
    post = (await _create(client, editor, **body)).json()["post"]
    elsewhere = await factories.venue(runtime)
    async with runtime.uow() as uow:
        theirs = MediaAsset(
            account_id=elsewhere, kind=MediaKind.image, filename="theirs.jpg", content_type="image/jpeg", size=10,
            sha256="0" * 64, blob_key="k", width=1080, height=1080, status=MediaStatus.ready,
        )  # fmt: skip
        uow.session.add(theirs)
        await uow.session.flush()
        await uow.commit()
    for media_id in (999_999, theirs.id):
        r = await client.patch(
            f"/api/posts/{post['id']}", json={"text": "Changed", "media_ids": [media_id]}, headers=editor.headers
        )
        # As on create: "not found" naming the field, never a database error.
        assert r.status_code == 404, r.text
        assert r.json()["detail"] == f"media {media_id} not found" and r.json()["field"] == "media_ids", r.json()
    after = (await client.get(f"/api/posts/{post['id']}", headers=editor.headers)).json()
    assert (after["text"], after["media_ids"]) == ("Roast", []), after


async def test_media_used_by_a_scheduled_post_cannot_be_deleted(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    runtime.use_image_pool(ThreadPoolExecutor(max_workers=1))
    r = await client.post(
        "/api/media",
        params={"filename": "roast.jpg"},
        content=encode(photo_like(1600, 1200), quality=85),
        headers={**editor.headers, "Content-Type": "image/jpeg"},
    )
    asset_id = r.json()["asset"]["id"]
    await process(runtime, asset_id)
    # The asset need not be ready: a post may use a file still being prepared (it waits for it).
    body = {
        "text": "Roast",
        "when": "2026-11-25T18:00",
        "connection_ids": [venue.connection_id],
        "media_ids": [asset_id],
    }
    assert (await _create(client, editor, **body)).status_code == 201
    r = await client.delete(f"/api/media/{asset_id}", headers=editor.headers)
    assert r.status_code == 409 and "Roast" in r.json()["detail"], r.text


async def test_scheduling_to_a_connection_waiting_for_a_reconnect_says_the_post_will_wait_and_who_can_fix_it(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue, editor: factories.Person
) -> None:
    google = await factories.connection(
        runtime,
        venue.id,
        access_token="gbp",
        provider=Provider.google_business,
        status=ConnectionStatus.needs_reconnect,
    )
    body = {"text": "Quiz night", "when": "2026-11-25T18:00", "connection_ids": [venue.connection_id, google]}
    r = await _create(client, editor, **body)

    assert r.status_code == 201, r.text
    message = r.json()["message"]
    assert "needs reconnecting, so this post will wait" in message, f"the answer hides the broken connection: {message}"
    assert "owner or admin" in message and f"/api/connections/{google}/reconnect" in message, message
    assert "cheers connections connect google_business" in message, message
    notes = {t["connection_id"]: t["note"] for t in r.json()["post"]["targets"]}
    assert notes[venue.connection_id] is None, "the working Facebook delivery was said to wait"
    post_id = r.json()["post"]["id"]
    shown = (await client.get(f"/api/posts/{post_id}", headers=editor.headers)).json()
    google_target = next(t for t in shown["targets"] if t["connection_id"] == google)
    assert "will wait until it is reconnected" in (google_target["note"] or ""), google_target

    async with runtime.uow() as uow:
        await uow.session.execute(
            update(Connection).where(Connection.id == google).values(status=ConnectionStatus.active)
        )
        await uow.commit()
    shown = (await client.get(f"/api/posts/{post_id}", headers=editor.headers)).json()
    google_target = next(t for t in shown["targets"] if t["connection_id"] == google)
    assert google_target["note"] is None, f"still said to wait after the reconnect: {google_target['note']}"
