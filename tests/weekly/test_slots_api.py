"""The weekly plan through the API: slots added, listed with their next post, edited, paused, resumed and deleted;
refusals that name the field (a template placeholder, a weekday, a platform rule with the next post's text), and
another venue's slot, connection or media never reached."""

from __future__ import annotations

import hashlib
import itertools
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from core.runtime import Runtime
from storage.models import Connection, ConnectionStatus, MediaAsset, MediaKind, MediaStatus, Provider, Role
from storage.queries import weekly as weekly_q
from tests import factories

_files = itertools.count(1)
QUIZ = "Quiz night tonight, {date:%A %d %B}, from 8pm"


@pytest.fixture
async def venue_id(runtime: Runtime) -> int:
    return await factories.venue(runtime, name="The Red Lion")


@pytest.fixture
async def facebook(runtime: Runtime, venue_id: int) -> int:
    return await factories.connection(runtime, venue_id, access_token="page-token")


@pytest.fixture
async def editor(runtime: Runtime, venue_id: int) -> factories.Person:
    return await factories.person(runtime, venue_id=venue_id, role=Role.editor)


def _slot(connection_id: int, **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Quiz night",
        "weekday": "tuesday",
        "local_time": "20:00",
        "text_template": QUIZ,
        "connection_ids": [connection_id],
    }
    return {**body, **more}


async def _media(runtime: Runtime, venue_id: int, *, status: MediaStatus = MediaStatus.ready) -> int:
    async with runtime.uow() as uow:
        asset = MediaAsset(
            account_id=venue_id, kind=MediaKind.image, filename="quiz.jpg", content_type="image/jpeg", size=10,
            sha256=hashlib.sha256(f"{venue_id}-{next(_files)}".encode()).hexdigest(), blob_key="k",
            width=1080, height=1080, status=status,
        )  # fmt: skip
        uow.session.add(asset)
        await uow.session.flush()
        await uow.commit()
        return asset.id


async def test_a_slot_is_added_and_listed_with_its_next_post_in_the_venues_time(
    runtime: Runtime, client: httpx.AsyncClient, editor: factories.Person, facebook: int
) -> None:
    # The test clock says Wednesday 25 Nov 2026 12:00 UTC: the next Tuesday is 1 December (GMT).
    r = await client.post("/api/weekly-slots", json=_slot(facebook), headers=editor.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    slot = body["slot"]
    assert (slot["weekday"], slot["weekday_name"], slot["local_time"], slot["version"]) == (1, "Tuesday", "20:00", 1)
    assert slot["next_local"] == "Tue 1 Dec 20:00 GMT", slot
    assert slot["next_at"].startswith("2026-12-01T20:00:00"), slot
    assert slot["preview"] == "Quiz night tonight, Tuesday 01 December, from 8pm", slot
    assert slot["state"] == "active", slot
    assert [t.split(" ")[:2] for t in slot["targets"]] == [["Facebook", "Page"]], slot
    assert body["message"] == "Added Quiz night: every Tuesday at 20:00. Next: Tue 1 Dec 20:00 GMT.", body
    r = await client.post(
        "/api/weekly-slots",
        json=_slot(facebook, name="Sunday roast", weekday=6, local_time="12:00", text_template="Roast from noon"),
        headers=editor.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/weekly-slots",
        json=_slot(facebook, name="Live music", weekday="Fri", local_time="9:00", text_template="Live {date}"),
        headers=editor.headers,
    )
    assert r.json()["slot"]["local_time"] == "09:00", r.text
    assert r.json()["slot"]["preview"] == "Live Friday 27 November", r.text
    listed = (await client.get("/api/weekly-slots", headers=editor.headers)).json()
    assert [s["name"] for s in listed] == ["Quiz night", "Live music", "Sunday roast"], "in week order, Monday first"
    created = await factories.audit_entries(runtime, "weekly_slot_created")
    assert len(created) == 3 and created[0].actor_user_id == editor.user_id


async def test_a_viewer_reads_the_plan_but_cannot_change_it(
    runtime: Runtime, client: httpx.AsyncClient, venue_id: int, facebook: int
) -> None:
    viewer = await factories.person(runtime, venue_id=venue_id, role=Role.viewer)
    slot_id = await factories.weekly_slot(runtime, venue_id, [facebook], name="Quiz night")
    r = await client.get("/api/weekly-slots", headers=viewer.headers)
    assert r.status_code == 200 and [s["id"] for s in r.json()] == [slot_id], r.text
    r = await client.post("/api/weekly-slots", json=_slot(facebook), headers=viewer.headers)
    assert r.status_code == 403, r.text
    assert "editor" in r.json()["detail"], r.text
    r = await client.post(f"/api/weekly-slots/{slot_id}/pause", headers=viewer.headers)
    assert r.status_code == 403, r.text


async def test_another_venues_slot_connection_and_media_are_not_found(
    runtime: Runtime, client: httpx.AsyncClient, editor: factories.Person, venue_id: int, facebook: int
) -> None:
    other = await factories.venue(runtime, name="The Crown")
    their_connection = await factories.connection(runtime, other, access_token="t")
    their_slot = await factories.weekly_slot(runtime, other, [their_connection], name="Their quiz")
    their_media = await _media(runtime, other)
    h = editor.headers
    for method, url in (
        ("GET", f"/api/weekly-slots/{their_slot}"),
        ("PATCH", f"/api/weekly-slots/{their_slot}"),
        ("DELETE", f"/api/weekly-slots/{their_slot}"),
        ("POST", f"/api/weekly-slots/{their_slot}/pause"),
        ("POST", f"/api/weekly-slots/{their_slot}/resume"),
    ):
        r = await client.request(method, url, headers=h, json={"name": "Mine now"} if method == "PATCH" else None)
        assert r.status_code == 404, f"{method} {url}: {r.status_code} {r.text}"
        assert "weekly slot" in r.json()["detail"], r.text
    r = await client.post("/api/weekly-slots", json=_slot(their_connection), headers=h)
    assert r.status_code == 404 and r.json()["field"] == "connection_ids", r.text
    r = await client.post("/api/weekly-slots", json=_slot(facebook, media_asset_ids=[their_media]), headers=h)
    assert r.status_code == 404 and r.json()["field"] == "media_asset_ids", r.text
    assert [s["name"] for s in (await client.get("/api/weekly-slots", headers=h)).json()] == []
    async with runtime.uow() as uow:
        theirs = await weekly_q.get_slot(uow.session, other, their_slot)
        assert theirs is not None and theirs.name == "Their quiz" and theirs.version == 1 and not theirs.paused


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("Quiz {date.__class__}", "{date.__class__}"),
        ("Quiz {date.year}", "{date.year}"),
        ("Quiz {date[0]}", "{date[0]}"),
        ("Quiz {venue}", "{venue}"),
        ("Quiz {0}", "{0}"),
        ("Quiz {}", "{}"),
        ("Quiz {date!r}", "{date!r}"),
        ("Quiz {date:%H:%M}", "{date:%H:%M}"),
    ],
)
async def test_a_template_with_anything_but_the_date_is_refused_naming_the_placeholder(
    client: httpx.AsyncClient, editor: factories.Person, facebook: int, template: str, named: str
) -> None:
    r = await client.post("/api/weekly-slots", json=_slot(facebook, text_template=template), headers=editor.headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == "text_template", problem
    assert named in problem["detail"], problem
    assert "{date:%A %d %B}" in problem["remedy"], problem


async def test_braces_are_written_doubled_and_unmatched_ones_are_refused(
    client: httpx.AsyncClient, editor: factories.Person, facebook: int
) -> None:
    r = await client.post(
        "/api/weekly-slots", json=_slot(facebook, text_template="{{Quiz}} {date:%d/%m}"), headers=editor.headers
    )
    assert r.status_code == 201 and r.json()["slot"]["preview"] == "{Quiz} 01/12", r.text
    r = await client.post("/api/weekly-slots", json=_slot(facebook, text_template="Quiz }"), headers=editor.headers)
    assert r.status_code == 422 and "braces" in r.json()["detail"], r.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weekday": 7}, "weekday"),
        ({"weekday": "someday"}, "weekday"),
        ({"local_time": "24:00"}, "local_time"),
        ({"local_time": "8pm"}, "local_time"),
        ({"name": "   "}, "name"),
        ({"connection_ids": []}, "connection_ids"),
        ({"captions": {"myspace": "hi"}}, "captions"),
        ({"captions": {"instagram": "{date.day}"}}, "captions.instagram"),
        ({"active_from": "2026-12-10", "active_until": "2026-12-01"}, "active_until"),
    ],
)
async def test_a_bad_slot_is_refused_naming_its_field(
    client: httpx.AsyncClient, editor: factories.Person, facebook: int, change: dict[str, Any], field: str
) -> None:
    r = await client.post("/api/weekly-slots", json=_slot(facebook, **change), headers=editor.headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()


async def test_a_platform_rule_is_checked_on_the_next_date_and_the_post_is_previewed(
    runtime: Runtime, client: httpx.AsyncClient, editor: factories.Person, venue_id: int
) -> None:
    instagram = await factories.connection(runtime, venue_id, access_token="ig", provider=Provider.instagram)
    r = await client.post("/api/weekly-slots", json=_slot(instagram), headers=editor.headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert [p["rule"] for p in problem["problems"]] == ["instagram.media_required"], problem
    assert problem["remedy"] == (
        "on Tue 1 Dec the post would read: “Quiz night tonight, Tuesday 01 December, from 8pm”"
    ), problem
    photo = await _media(runtime, venue_id)
    r = await client.post("/api/weekly-slots", json=_slot(instagram, media_asset_ids=[photo]), headers=editor.headers)
    assert r.status_code == 201, r.text


async def test_an_edit_raises_the_version_and_is_audited_and_no_change_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient, editor: factories.Person, venue_id: int, facebook: int
) -> None:
    slot_id = await factories.weekly_slot(runtime, venue_id, [facebook], name="Quiz night", active_until=None)
    url = f"/api/weekly-slots/{slot_id}"
    r = await client.patch(url, json={"local_time": "19:30", "weekday": 3}, headers=editor.headers)
    assert r.status_code == 200, r.text
    assert r.json()["slot"]["version"] == 2 and sorted(r.json()["changed"]) == ["local_time", "weekday"], r.text
    assert r.json()["slot"]["next_local"] == "Thu 26 Nov 19:30 GMT", r.text
    r = await client.patch(url, json={"local_time": "19:30"}, headers=editor.headers)
    assert r.json()["slot"]["version"] == 2 and r.json()["changed"] == [], r.text
    assert "unchanged" in r.json()["message"], r.text
    r = await client.patch(url, json={"active_until": "2026-11-01"}, headers=editor.headers)
    assert (r.json()["slot"]["state"], r.json()["slot"]["next_local"]) == ("ended", None), r.text
    r = await client.patch(url, json={"active_until": None}, headers=editor.headers)
    assert r.json()["slot"]["active_until"] is None and r.json()["slot"]["state"] == "active", r.text
    assert r.json()["slot"]["version"] == 4, r.text
    updated = await factories.audit_entries(runtime, "weekly_slot_updated")
    assert [e.details["version"] for e in updated] == [2, 3, 4], [e.details for e in updated]


async def test_a_paused_slot_has_no_next_post_until_resumed_and_a_deleted_one_is_gone(
    runtime: Runtime, client: httpx.AsyncClient, editor: factories.Person, venue_id: int, facebook: int
) -> None:
    slot_id = await factories.weekly_slot(runtime, venue_id, [facebook], name="Quiz night")
    url = f"/api/weekly-slots/{slot_id}"
    r = await client.post(f"{url}/pause", headers=editor.headers)
    assert r.status_code == 200, r.text
    slot = r.json()["slot"]
    assert (slot["paused"], slot["state"], slot["next_local"], slot["version"]) == (True, "paused", None, 2), slot
    assert r.json()["message"].startswith("Paused Quiz night"), r.text
    r = await client.post(f"{url}/pause", headers=editor.headers)
    assert r.json()["slot"]["version"] == 2 and "already paused" in r.json()["message"], r.text
    r = await client.post(f"{url}/resume", headers=editor.headers)
    assert r.json()["slot"]["next_local"] == "Tue 1 Dec 20:00 GMT" and r.json()["slot"]["version"] == 3, r.text
    assert [len(await factories.audit_entries(runtime, a)) for a in ("weekly_slot_paused", "weekly_slot_resumed")] == [
        1,
        1,
    ]
    r = await client.delete(url, headers=editor.headers)
    assert r.status_code == 200 and r.json()["message"].startswith("Deleted Quiz night"), r.text
    assert (await client.get(url, headers=editor.headers)).status_code == 404
    assert (await client.get("/api/weekly-slots", headers=editor.headers)).json() == []
    assert len(await factories.audit_entries(runtime, "weekly_slot_deleted")) == 1


async def test_the_next_post_respects_the_active_dates_and_the_time_already_passed_today(
    runtime: Runtime, client: httpx.AsyncClient, editor: factories.Person, venue_id: int, facebook: int
) -> None:
    # Wednesday 25 Nov, 12:00 in London: a Wednesday slot at 18:00 is today, one at 09:00 is next week.
    later = await factories.weekly_slot(runtime, venue_id, [facebook], name="Later", weekday=2, local_time="18:00")
    earlier = await factories.weekly_slot(runtime, venue_id, [facebook], name="Gone", weekday=2, local_time="09:00")
    starting = await factories.weekly_slot(
        runtime, venue_id, [facebook], name="Winter", weekday=2, local_time="18:00", active_from=date(2026, 12, 14)
    )
    shown = {s["id"]: s["next_local"] for s in (await client.get("/api/weekly-slots", headers=editor.headers)).json()}
    assert shown == {
        later: "Wed 25 Nov 18:00 GMT",
        earlier: "Wed 2 Dec 09:00 GMT",
        starting: "Wed 16 Dec 18:00 GMT",
    }, shown


async def test_the_openapi_document_describes_the_weekly_plan(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/api/weekly-slots"]) >= {"get", "post"}
    assert set(paths["/api/weekly-slots/{slot_id}"]) >= {"get", "patch", "delete"}
    assert (
        "post" in paths["/api/weekly-slots/{slot_id}/pause"] and "post" in paths["/api/weekly-slots/{slot_id}/resume"]
    )
    assert all(op.get("summary") for path in paths if path.startswith("/api/weekly") for op in paths[path].values())
    schemas = document["components"]["schemas"]
    slot_in = next(v for k, v in schemas.items() if k.endswith("SlotIn"))
    assert "{date:%A %d %B}" in slot_in["properties"]["text_template"]["description"]


async def test_a_slot_whose_connection_was_disconnected_can_still_be_paused_but_not_rewritten(
    runtime: Runtime, client: httpx.AsyncClient, editor: factories.Person, venue_id: int, facebook: int
) -> None:
    slot_id = await factories.weekly_slot(runtime, venue_id, [facebook], name="Quiz night")
    async with runtime.uow() as uow:
        await uow.session.execute(
            update(Connection).where(Connection.id == facebook).values(status=ConnectionStatus.disconnected)
        )
        await uow.commit()
    url = f"/api/weekly-slots/{slot_id}"
    r = await client.patch(url, json={"text_template": "Quiz {date}"}, headers=editor.headers)
    assert r.status_code == 422 and r.json()["field"] == "connection_ids", r.text
    assert "is disconnected" in r.json()["detail"], r.text
    r = await client.patch(url, json={"paused": True, "name": "Quiz (on hold)"}, headers=editor.headers)
    assert r.status_code == 200 and r.json()["slot"]["state"] == "paused", r.text
    other = await factories.connection(runtime, venue_id, access_token="t2")
    r = await client.patch(url, json={"connection_ids": [other]}, headers=editor.headers)
    assert r.status_code == 200 and r.json()["slot"]["connection_ids"] == [other], r.text
