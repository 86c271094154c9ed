"""Manual packages: what the zip holds for a failed delivery, and who may download it until when."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from core.clock import FrozenClock
from core.media import library as media_core
from core.media.imaging.derive import make_image_pool
from core.media.jobs import process
from core.posts.service import cancel_post
from core.runtime import Runtime
from providers.errors import Permanent
from storage.models import DeliveryStatus, Provider, Role
from storage.queries import media as media_q
from tests import factories
from tests.media.images import encode, photo_like
from tests.publishing.conftest import Drain
from tests.publishing.fakes import ScriptedPublisher
from tests.publishing.support import deliveries, owner, schedule

REFUSAL = "Instagram refused this photo (code 2207026)."


@pytest.fixture(scope="module")
def image_pool() -> Iterator[ProcessPoolExecutor]:
    pool = make_image_pool(1)
    yield pool
    pool.shutdown(cancel_futures=True)


class NoQueue:
    """Nothing is sent anywhere: each test runs the derivatives job itself."""

    async def enqueue(self, task_name: str, **kwargs: object) -> None:
        return None

    async def depth(self) -> int | None:
        return 0

    async def ping(self) -> None:
        return None


@pytest.fixture(autouse=True)
def wired(runtime: Runtime, image_pool: ProcessPoolExecutor) -> None:
    """Set before the app starts, so it uses this queue instead of an in-memory broker."""
    runtime.queue = NoQueue()
    runtime.use_image_pool(image_pool)


@dataclass
class Failed:
    venue_id: int
    target_id: int
    post_id: int
    asset_id: int
    viewer: factories.Person

    @property
    def headers(self) -> dict[str, str]:
        return {**self.viewer.headers, "X-Cheers-Account": str(self.venue_id)}


async def upload_photo(runtime: Runtime, venue_id: int) -> int:
    """A real JPEG uploaded through core.media.library, with its derivatives prepared; the asset id."""
    data = encode(photo_like(1600, 1200), quality=90)

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    async with runtime.uow() as uow:
        result = await media_core.upload(runtime, uow, owner(venue_id), chunks(), filename="quiz.jpg")
        await uow.commit()
    assert await process(runtime, result.asset.id) == "ready", "the photo's derivatives were not made"
    return result.asset.id


@pytest.fixture
async def failed(runtime: Runtime, drain: Drain) -> Failed:
    """An Instagram delivery with one photo, refused for good by Instagram, in a New York venue."""
    venue_id = await factories.venue(runtime, timezone="America/New_York")
    connection_id = await factories.connection(runtime, venue_id, access_token="ig-token", provider=Provider.instagram)
    runtime.use_providers({p: ScriptedPublisher(script=[Permanent(REFUSAL)]) for p in Provider})  # type: ignore[misc]
    asset_id = await upload_photo(runtime, venue_id)
    saved = await schedule(
        runtime,
        venue_id,
        [connection_id],
        text="Quiz night tonight!",
        media_ids=[asset_id],
        captions={"instagram": "Quiz night tonight! #pubquiz"},
        link="https://example.com/quiz",
    )
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.failed, f"the setup expected a failed delivery: {target.note}"
    viewer = await factories.person(runtime, venue_id=venue_id, role=Role.viewer)
    return Failed(venue_id, target.id, saved.post.id, asset_id, viewer)


async def link_for(client: httpx.AsyncClient, failed: Failed) -> dict[str, str]:
    r = await client.get(f"/api/targets/{failed.target_id}/package", headers=failed.headers)
    assert r.status_code == 200, f"asking for a package link failed: {r.status_code} {r.text}"
    body: dict[str, str] = r.json()
    return body


async def download(client: httpx.AsyncClient, url: str) -> httpx.Response:
    return await client.get(urlsplit(url).path)


async def test_package_of_a_failed_delivery_holds_the_instagram_photo_caption_and_steps(
    client: httpx.AsyncClient, runtime: Runtime, failed: Failed
) -> None:
    link = await link_for(client, failed)
    assert link["filename"] == f"cheers-post-{failed.post_id}-instagram.zip", link
    assert link["url"].startswith("http://testserver.local/packages/"), link

    r = await download(client, link["url"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="{link["filename"]}"'
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(archive.namelist()) == ["1-photo.jpg", "STEPS.txt", "caption.txt", "post.json"]

    async with runtime.db.session() as session:
        [square] = [
            d for d in await media_q.derivatives_for(session, failed.venue_id, [failed.asset_id])
            if d.preset == "instagram_square"
        ]  # fmt: skip
    photo = archive.read("1-photo.jpg")
    assert photo == await runtime.blobs.get_bytes(square.blob_key), "the zip should hold the Instagram square version"
    assert Image.open(io.BytesIO(photo)).size == (1080, 1080), "a landscape photo goes to Instagram as a square"

    caption = archive.read("caption.txt").decode()
    expected = "Quiz night tonight! #pubquiz\n\nhttps://example.com/quiz\n"
    assert caption == expected, f"caption.txt should be the Instagram caption, then the link: {caption!r}"

    steps = archive.read("STEPS.txt").decode()
    assert "Instagram app" in steps and "1. " in steps, steps
    assert REFUSAL in steps, "STEPS.txt should say why the package is needed"
    assert "Wed 25 Nov 2026 07:00 EST (America/New_York)" in steps, "the time should read in the venue's zone and year"

    record = json.loads(archive.read("post.json"))
    assert record["post_id"] == failed.post_id and record["target_id"] == failed.target_id, record
    assert record["status"] == "failed" and record["provider"] == "instagram", record
    assert record["media"] == [
        {"file": "1-photo.jpg", "asset_id": failed.asset_id, "version": "instagram_square", "missing": None}
    ]


async def test_package_is_still_built_when_a_photo_is_missing_from_storage(
    client: httpx.AsyncClient, runtime: Runtime, failed: Failed
) -> None:
    async with runtime.db.session() as session:
        for d in await media_q.derivatives_for(session, failed.venue_id, [failed.asset_id]):
            await runtime.blobs.delete(d.blob_key)

    r = await download(client, (await link_for(client, failed))["url"])
    assert r.status_code == 200, r.text
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(archive.namelist()) == ["STEPS.txt", "caption.txt", "post.json"]
    steps = archive.read("STEPS.txt").decode()
    assert "Missing from this package:" in steps and "quiz.jpg is missing from storage" in steps, steps


async def test_package_link_expires_after_its_lifetime(
    client: httpx.AsyncClient, runtime: Runtime, failed: Failed, clock: FrozenClock
) -> None:
    link = await link_for(client, failed)
    clock.advance(minutes=runtime.settings.cheers_package_link_minutes - 1)
    assert (await download(client, link["url"])).status_code == 200, "the link stopped working before its time"

    clock.advance(minutes=1)
    r = await download(client, link["url"])
    assert r.status_code == 410, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "this package link has expired"


async def test_tampered_package_link_is_not_found(client: httpx.AsyncClient, failed: Failed) -> None:
    url = (await link_for(client, failed))["url"]
    r = await download(client, url[:-2] + ("xx" if not url.endswith("xx") else "yy"))
    assert r.status_code == 404, r.text
    assert "not valid" in r.json()["detail"]


async def test_another_venues_delivery_is_not_found(
    client: httpx.AsyncClient, runtime: Runtime, failed: Failed
) -> None:
    other_venue = await factories.venue(runtime)
    stranger = await factories.person(runtime, venue_id=other_venue, role=Role.owner)
    headers = {**stranger.headers, "X-Cheers-Account": str(other_venue)}
    r = await client.get(f"/api/targets/{failed.target_id}/package", headers=headers)
    assert r.status_code == 404, f"another venue's delivery should be invisible: {r.status_code} {r.text}"


async def test_cancelled_delivery_has_no_package(client: httpx.AsyncClient, runtime: Runtime, failed: Failed) -> None:
    earlier = (await link_for(client, failed))["url"]
    async with runtime.uow() as uow:
        await cancel_post(runtime, uow.session, owner(failed.venue_id), failed.post_id)
        await uow.commit()
    r = await client.get(f"/api/targets/{failed.target_id}/package", headers=failed.headers)
    assert r.status_code == 409, r.text
    assert "cancelled" in r.json()["detail"]
    assert (await download(client, earlier)).status_code == 409, "a link issued before the cancel still worked"


async def test_the_failure_alert_in_the_feed_links_to_this_package(client: httpx.AsyncClient, failed: Failed) -> None:
    r = await client.get("/api/notifications", params={"kind": "publish_failed"}, headers=failed.headers)
    assert r.status_code == 200, r.text
    [alert] = r.json()["items"]
    offers = {a["action"]: a for a in alert["payload"]["actions"]}
    assert set(offers) == {"retry", "manual_package"}, f"a failure should offer a retry and the package: {alert}"
    package = offers["manual_package"]
    assert (package["method"], package["target_id"]) == ("GET", failed.target_id), package
    r = await client.get(package["url"], headers=failed.viewer.headers)
    assert r.status_code == 200, f"the feed's package link did not work: {r.status_code} {r.text}"
    assert r.json()["filename"] == f"cheers-post-{failed.post_id}-instagram.zip", r.json()
