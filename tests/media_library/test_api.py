"""Retry, delete, focal point, roles and venue scoping of the media API."""

from __future__ import annotations

import httpx
import pytest

from core.media.jobs import process
from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.media_library.conftest import RecordingQueue, Venue, make_venue, upload
from tests.media_library.test_jobs import FAKE_MP4


async def ready_photo(client: httpx.AsyncClient, runtime: Runtime, venue: Venue, photo: bytes) -> int:
    asset_id: int = (await upload(client, venue, photo)).json()["asset"]["id"]
    assert await process(runtime, asset_id) == "ready"
    return asset_id


async def test_retry_sends_a_failed_file_back_to_pending(
    client: httpx.AsyncClient, runtime: Runtime, queue: RecordingQueue, venue: Venue, photo: bytes
) -> None:
    asset_id = (await upload(client, venue, photo[:2000], filename="half.jpg")).json()["asset"]["id"]
    assert await process(runtime, asset_id) == "failed"
    queue.sent.clear()
    r = await client.post(f"/api/media/{asset_id}/retry", headers=venue.headers)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending" and r.json()["attempts"] == 0 and r.json()["last_error"] is None
    assert queue.woken() == [asset_id]
    again = await client.post(f"/api/media/{asset_id}/retry", headers=venue.headers)
    assert again.status_code == 409 and "only failed or skipped" in again.json()["detail"]


async def test_retry_of_a_skipped_video(client: httpx.AsyncClient, runtime: Runtime, venue: Venue) -> None:
    asset_id = (await upload(client, venue, FAKE_MP4, filename="v.mp4", content_type="video/mp4")).json()["asset"]["id"]
    runtime.settings.cheers_video_tools_path = "/nonexistent-tools"
    assert await process(runtime, asset_id) == "skipped"
    r = await client.post(f"/api/media/{asset_id}/retry", headers=venue.headers)
    assert r.status_code == 202 and r.json()["status"] == "pending"


async def test_delete_removes_the_asset_and_its_files(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue, photo: bytes
) -> None:
    asset_id = await ready_photo(client, runtime, venue, photo)
    asset = (await client.get(f"/api/media/{asset_id}", headers=venue.headers)).json()
    viewer = await factories.person(runtime, venue_id=venue.id, role=Role.viewer)
    denied = await client.delete(
        f"/api/media/{asset_id}", headers={**viewer.headers, "X-Cheers-Account": str(venue.id)}
    )
    assert denied.status_code == 403
    r = await client.delete(f"/api/media/{asset_id}", headers=venue.headers)
    assert r.status_code == 200 and "Deleted pub.jpg" in r.json()["message"]
    assert (await client.get(f"/api/media/{asset_id}", headers=venue.headers)).status_code == 404
    for url in [asset["original_url"], *(d["url"] for d in asset["derivatives"])]:
        assert (await client.get(url)).status_code == 404
    assert [e.subject_id for e in await factories.audit_entries(runtime, "media_deleted")] == [str(asset_id)]


async def test_focal_point_change_makes_the_crops_again(
    client: httpx.AsyncClient, runtime: Runtime, queue: RecordingQueue, venue: Venue, photo: bytes
) -> None:
    asset_id = await ready_photo(client, runtime, venue, photo)
    queue.sent.clear()
    r = await client.patch(f"/api/media/{asset_id}", json={"focal_point": [0.2, 0.8]}, headers=venue.headers)
    assert r.status_code == 200, r.text
    assert r.json()["focal_point"] == [0.2, 0.8] and r.json()["status"] == "pending"
    assert queue.woken() == [asset_id]
    assert await process(runtime, asset_id) == "ready"
    bad = await client.patch(f"/api/media/{asset_id}", json={"focal_point": [1.5, 0.5]}, headers=venue.headers)
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/media/{id}", None),
        ("DELETE", "/api/media/{id}", None),
        ("POST", "/api/media/{id}/retry", None),
        ("PATCH", "/api/media/{id}", {"focal_point": [0.1, 0.1]}),
    ],
)
async def test_another_venues_media_is_not_found(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: Venue,
    photo: bytes,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    asset_id = (await upload(client, venue, photo)).json()["asset"]["id"]
    other = await make_venue(runtime)
    r = await client.request(method, path.format(id=asset_id), json=body, headers=other.headers)
    assert r.status_code == 404, r.text
    assert (await client.get("/api/media", headers=other.headers)).json() == []
    assert (await client.get(f"/api/media/{asset_id}", headers=venue.headers)).status_code == 200
