"""A photo too small for one platform is ready for the others: only that platform is refused, with the numbers."""

from __future__ import annotations

import httpx
import pytest

from core.media.jobs import process
from core.runtime import Runtime
from storage.models import Provider
from tests import factories
from tests.media.images import encode, photo_like
from tests.media_library.conftest import Venue, upload

GOOGLE = Provider.google_business


@pytest.fixture(scope="module")
def banner() -> bytes:
    return encode(photo_like(600, 200), quality=90)


async def ready_banner(client: httpx.AsyncClient, runtime: Runtime, venue: Venue, banner: bytes) -> int:
    r = await upload(client, venue, banner, filename="banner.jpg")
    assert r.status_code == 201, r.text
    asset_id = int(r.json()["asset"]["id"])
    assert await process(runtime, asset_id) == "ready"
    return asset_id


async def post(client: httpx.AsyncClient, venue: Venue, connection_ids: list[int], asset_id: int) -> httpx.Response:
    body = {
        "text": "Quiz night tonight",
        "when": "2026-12-24T19:30",
        "connection_ids": connection_ids,
        "media_ids": [asset_id],
    }
    return await client.post("/api/posts", json=body, headers=venue.headers)


async def test_a_banner_too_short_for_google_is_ready_for_facebook_and_instagram(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue, banner: bytes
) -> None:
    asset_id = await ready_banner(client, runtime, venue, banner)

    asset = (await client.get(f"/api/media/{asset_id}", headers=venue.headers)).json()
    assert asset["status"] == "ready" and asset["last_error"] is None
    presets = {d["preset"] for d in asset["derivatives"]}
    assert {"facebook_feed", "instagram_square", "instagram_portrait", "story"} <= presets
    assert "google_business" not in presets
    [google] = asset["unusable_for"]
    assert (google["platform"], google["surface"], google["preset"]) == ("google_business", "feed", "google_business")
    assert "600×200 px picture is too short for Google Business Profile" in google["reason"]
    assert "4:3 crop would be 264×198 px" in google["reason"] and "250×250" in google["reason"]
    assert google["remedy"].startswith("use a photo at least 252 px tall")
    listed = (await client.get("/api/media", headers=venue.headers)).json()
    assert listed[0]["unusable_for"] == asset["unusable_for"]


async def test_a_facebook_post_with_the_banner_is_accepted_and_a_google_one_is_refused_naming_google(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue, banner: bytes
) -> None:
    asset_id = await ready_banner(client, runtime, venue, banner)
    facebook = await factories.connection(runtime, venue.id, access_token="page-token")
    google = await factories.connection(runtime, venue.id, access_token="google-token", provider=GOOGLE)

    r = await post(client, venue, [facebook], asset_id)
    assert r.status_code == 201, r.text

    r = await post(client, venue, [facebook, google], asset_id)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == "media"
    assert "banner.jpg can't go to Google Business Profile" in problem["detail"]
    assert "its 4:3 crop would be 264×198 px, and Google needs at least 250×250 px" in problem["detail"]
    assert "use a photo at least 252 px tall" in problem["detail"]
    assert "Facebook" not in problem["detail"]
    assert [p["rule"] for p in problem["problems"]] == ["google_business.photo_size"]
