"""The Library page: the venue's files with each version's state and preview, upload (a plain form and htmx),
duplicates, refusals in core's words, retry of a failed file, the focal point, and delete refused while in use."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete

from core.media.imaging.presets import PRESETS
from core.media.jobs import process
from core.runtime import Runtime
from storage.models import MediaDerivative, MediaStatus, Role
from storage.queries import media as media_q
from tests import factories
from tests.media.images import encode, photo_like
from tests.media_library.conftest import RecordingQueue
from tests.planner.conftest import SignedIn, carry_cookies, sign_in

LIBRARY = "/planner/library"


@pytest.fixture(scope="module")
def image_threads() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2)
    yield pool
    pool.shutdown()


@pytest.fixture(autouse=True)
def queue(runtime: Runtime, image_threads: ThreadPoolExecutor) -> RecordingQueue:
    """Set before the app starts: each test runs the derivatives job itself (threads: a small photo is quick)."""
    recording = RecordingQueue()
    runtime.queue = recording
    runtime.use_image_pool(image_threads)
    return recording


@pytest.fixture(scope="module")
def photo() -> bytes:
    return encode(photo_like(400, 300), quality=85)


async def upload_form(signed_in: SignedIn, data: bytes, filename: str = "quiz.jpg") -> httpx.Response:
    """The page's form without JavaScript: multipart with the CSRF token as a field."""
    return await signed_in.client.post(
        f"{LIBRARY}/upload", data={"csrf_token": signed_in.csrf}, files={"file": (filename, data, "image/jpeg")}
    )


async def upload_htmx(signed_in: SignedIn, data: bytes, filename: str = "quiz.jpg") -> httpx.Response:
    """The same form sent by htmx: the CSRF token in the header, the answer a toast."""
    return await signed_in.client.post(
        f"{LIBRARY}/upload",
        files={"file": (filename, data, "image/jpeg")},
        headers={"HX-Request": "true", "X-CSRF-Token": signed_in.csrf},
    )


def asset_id_of(response: httpx.Response) -> int:
    found = re.search(r"#asset-(\d+)$", response.headers.get("location", ""))
    assert found, f"the upload did not point at the file: {response.status_code} {response.headers}"
    return int(found.group(1))


async def follow(signed_in: SignedIn, response: httpx.Response) -> str:
    """The page a no-JS form post lands on, with the flash toast it left."""
    assert response.status_code == 303, f"a form post should redirect: {response.status_code} {response.text[:300]}"
    carry_cookies(signed_in.client, response)
    page = await signed_in.get(response.headers["location"].split("#")[0])
    assert page.status_code == 200, page.text[:300]
    return page.text


async def status_of(runtime: Runtime, asset_id: int) -> MediaStatus | None:
    async with runtime.db.session() as session:
        asset = await media_q.get_any(session, asset_id)
        return asset.status if asset else None


def item_html(page: str, asset_id: int) -> str:
    start = page.index(f'id="asset-{asset_id}"')
    end = page.find('<li class="lib-item"', start)
    return page[start : end if end > 0 else len(page)]


async def test_an_uploaded_photo_shows_every_version_ready_with_previews_that_load(
    signed_in: SignedIn, queue: RecordingQueue, photo: bytes
) -> None:
    r = await upload_form(signed_in, photo)
    asset_id = asset_id_of(r)
    page = await follow(signed_in, r)
    assert "Uploaded quiz.jpg; preparing versions for each platform." in page, "no toast saying the upload worked"
    assert queue.woken() == [asset_id], "the derivatives job was not woken for the new file"
    assert "Waiting to be prepared" in item_html(page, asset_id)
    assert "every 5s" in page, "a page with a file being prepared should refresh itself"

    assert await process(signed_in.runtime, asset_id) == "ready"
    page = (await signed_in.get(LIBRARY)).text
    item = item_html(page, asset_id)
    for preset in PRESETS.values():
        row = item[item.index(f'data-preset="{preset.name}"') :]
        assert f'<th scope="row">{preset.label}</th>' in row, f"{preset.name} is missing its label"
        assert "Ready" in row[: row.index("</tr>")], f"{preset.name} is not shown ready"
    previews = re.findall(r'<img class="lib-thumb" src="([^"]+)"', item)
    assert len(previews) == len(PRESETS), "each ready version should have a preview"
    for url in [*previews, re.search(r'class="lib-preview" src="([^"]+)"', item).group(1)]:  # type: ignore[union-attr]
        served = await signed_in.client.get(url.replace("&amp;", "&"))
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg", url
    assert "every 5s" not in page, "nothing is being prepared: the page should stop refreshing"
    assert [e.subject_id for e in await factories.audit_entries(signed_in.runtime, "media_uploaded")] == [str(asset_id)]


async def test_an_htmx_upload_streams_and_answers_a_toast_that_points_at_the_file(
    signed_in: SignedIn, photo: bytes
) -> None:
    r = await upload_htmx(signed_in, photo, "band night.jpg")
    assert r.status_code == 200, r.text
    assert "Uploaded band night.jpg" in r.text and "toast-ok" in r.text
    trigger = json.loads(r.headers["hx-trigger"])
    assert "cheers:outcome" in trigger, "the list does not reload after an htmx upload"
    assert trigger["cheers:media"]["duplicate"] is False
    assert await status_of(signed_in.runtime, trigger["cheers:media"]["id"]) is MediaStatus.pending


async def test_the_same_file_again_is_a_duplicate_pointing_at_the_one_already_there(
    signed_in: SignedIn, queue: RecordingQueue, photo: bytes
) -> None:
    first = asset_id_of(await upload_form(signed_in, photo, "first.jpg"))
    again = await upload_form(signed_in, photo, "second.jpg")
    assert asset_id_of(again) == first, "a duplicate should point at the file already in the library"
    page = await follow(signed_in, again)
    assert f"This file is already in the library as first.jpg (#{first})." in page
    assert "second.jpg" not in page and queue.woken() == [first], "a duplicate made a second file"
    htmx = await upload_htmx(signed_in, photo, "third.jpg")
    assert json.loads(htmx.headers["hx-trigger"])["cheers:media"] == {"id": first, "duplicate": True}
    assert "toast-info" in htmx.text


async def test_a_file_that_is_not_a_photo_is_refused_in_cores_words_and_nothing_is_stored(
    signed_in: SignedIn, queue: RecordingQueue
) -> None:
    r = await upload_form(signed_in, b"Quiz night!\n" * 50, "poster.jpg")
    page = await follow(signed_in, r)
    assert "neither a photo (JPEG, PNG, WebP) nor a video" in page and "Export it as JPEG or MP4" in page
    assert "The library is empty." in page and queue.woken() == []
    htmx = await upload_htmx(signed_in, b"", "empty.jpg")
    assert htmx.status_code == 200 and "toast-error" in htmx.text and "The file is empty" in htmx.text


async def test_a_file_past_the_size_limit_is_refused_before_it_is_read(
    signed_in: SignedIn, queue: RecordingQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signed_in.runtime.settings, "cheers_media_max_upload_mb", 1)
    far_over = b"\xff\xd8\xff\xe0" + bytes(2 * 1024 * 1024)
    page = await follow(signed_in, await upload_form(signed_in, far_over, "huge.jpg"))
    assert "The file is larger than the 1 MB limit; nothing was stored." in page, "oversize not in core's words"
    just_over = b"\xff\xd8\xff\xe0" + bytes(1024 * 1024)  # the form fits the body limit, the file does not
    htmx = await upload_htmx(signed_in, just_over, "big.jpg")
    assert "larger than the 1 MB limit" in htmx.text and "toast-error" in htmx.text
    assert queue.woken() == [] and "The library is empty." in (await signed_in.get(LIBRARY)).text
    assert 'data-max-bytes="1048576"' in (await signed_in.get(LIBRARY)).text, "library.js can't check the size first"

    async def unannounced() -> AsyncIterator[bytes]:
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n\xff\xd8\xff'

    chunked = await signed_in.client.post(
        f"{LIBRARY}/upload",
        content=unannounced(),
        headers={
            "HX-Request": "true",
            "X-CSRF-Token": signed_in.csrf,
            "Content-Type": "multipart/form-data; boundary=x",
        },
    )
    assert "did not say how large the file is" in chunked.text, "a body of unknown length was read"


async def test_a_corrupt_photo_fails_with_why_and_retry_prepares_it_again(
    signed_in: SignedIn, queue: RecordingQueue, photo: bytes
) -> None:
    broken = photo[: len(photo) // 3]
    asset_id = asset_id_of(await upload_form(signed_in, broken, "broken.jpg"))
    assert await process(signed_in.runtime, asset_id) == "failed"
    item = item_html((await signed_in.get(LIBRARY)).text, asset_id)
    assert "Failed" in item and 'class="lib-why"' in item, "a failed file should say so and why"
    assert item.count('<span class="badge badge-error">Failed</span>') == 1 + len(PRESETS), "each version: failed"
    assert f'action="{LIBRARY}/{asset_id}/retry"' in item, "a failed file has no Retry button"

    queue.sent.clear()
    r = await signed_in.client.post(
        f"{LIBRARY}/{asset_id}/retry", headers={"HX-Request": "true", "X-CSRF-Token": signed_in.csrf}
    )
    assert r.status_code == 200 and "Preparing broken.jpg again." in r.text and "toast-ok" in r.text, r.text
    assert await status_of(signed_in.runtime, asset_id) is MediaStatus.pending
    assert queue.woken() == [asset_id], "the retry did not wake the derivatives job"
    assert [e.subject_id for e in await factories.audit_entries(signed_in.runtime, "media_retried")] == [str(asset_id)]

    again = await signed_in.post_form(f"{LIBRARY}/{asset_id}/retry")  # waiting now: core refuses, saying why
    assert "broken.jpg is pending; only failed or skipped media can be retried" in await follow(signed_in, again)


async def test_a_ready_photo_lacking_a_version_offers_retry_and_a_whole_one_is_not_retried(
    signed_in: SignedIn, queue: RecordingQueue, photo: bytes
) -> None:
    asset_id = asset_id_of(await upload_form(signed_in, photo, "menu.jpg"))
    assert await process(signed_in.runtime, asset_id) == "ready"
    whole = await signed_in.post_form(f"{LIBRARY}/{asset_id}/retry")
    assert "menu.jpg is ready with every version it can have" in await follow(signed_in, whole), "a whole file retried"
    item = item_html((await signed_in.get(LIBRARY)).text, asset_id)
    assert f'action="{LIBRARY}/{asset_id}/retry"' not in item, "a ready file with every version offers Retry"
    # As if the file was prepared before a preset existed (publishing says: press Retry on it in the library).
    lost = next(iter(PRESETS))
    async with signed_in.runtime.uow() as uow:
        await uow.session.execute(
            delete(MediaDerivative).where(MediaDerivative.asset_id == asset_id, MediaDerivative.preset == lost)
        )
        await uow.commit()
    item = item_html((await signed_in.get(LIBRARY)).text, asset_id)
    assert "Not made" in item and f'action="{LIBRARY}/{asset_id}/retry"' in item, "the missing version has no Retry"
    queue.sent.clear()
    r = await signed_in.post_form(f"{LIBRARY}/{asset_id}/retry")
    assert "Preparing menu.jpg again." in await follow(signed_in, r), "the retry of a lacking file was refused"
    assert queue.woken() == [asset_id] and await process(signed_in.runtime, asset_id) == "ready"
    assert "Not made" not in item_html((await signed_in.get(LIBRARY)).text, asset_id), "the version was not made"


async def test_the_focal_point_is_saved_and_a_ready_photos_versions_are_made_again(
    signed_in: SignedIn, queue: RecordingQueue, photo: bytes
) -> None:
    asset_id = asset_id_of(await upload_form(signed_in, photo))
    assert await process(signed_in.runtime, asset_id) == "ready"
    page = await follow(
        signed_in, await signed_in.post_form(f"{LIBRARY}/{asset_id}/focal-point", {"x": "20", "y": "75"})
    )
    assert "Focal point of quiz.jpg saved. Its versions are being made again around it." in page
    item = item_html(page, asset_id)
    assert "20% across, 75% down" in item and "Ready (being made again)" in item
    async with signed_in.runtime.db.session() as session:
        asset = await media_q.get_any(session, asset_id)
        assert asset is not None and (asset.focal_x, asset.focal_y) == (0.2, 0.75)
    assert len(await factories.audit_entries(signed_in.runtime, "media_focal_point_set")) == 1

    for bad in ({"x": "120", "y": "10"}, {"x": "left", "y": "10"}, {"x": "nan", "y": "10"}):
        refused = await follow(signed_in, await signed_in.post_form(f"{LIBRARY}/{asset_id}/focal-point", bad))
        assert "is a number from 0 to 100 (per cent)" in refused, f"{bad} was not refused plainly"
    assert len(await factories.audit_entries(signed_in.runtime, "media_focal_point_set")) == 1


async def test_delete_is_refused_naming_the_posts_that_use_the_file_and_works_once_unused(
    signed_in: SignedIn, photo: bytes
) -> None:
    rt = signed_in.runtime
    asset_id = asset_id_of(await upload_form(signed_in, photo, "menu.jpg"))
    assert await process(rt, asset_id) == "ready"
    connection = await factories.connection(rt, signed_in.venue_id, access_token="page-token")
    headers = {**signed_in.person.headers, "X-Cheers-Account": str(signed_in.venue_id)}
    body = {
        "text": "Friday quiz night at eight",
        "when": (rt.clock.now() + timedelta(days=2)).isoformat(),
        "connection_ids": [connection],
        "media_ids": [asset_id],
    }
    made = await signed_in.client.post("/api/posts", json=body, headers=headers)
    assert made.status_code == 201, made.text
    post_id = made.json()["post"]["id"]

    r = await signed_in.client.post(
        f"{LIBRARY}/{asset_id}/delete", headers={"HX-Request": "true", "X-CSRF-Token": signed_in.csrf}
    )
    assert "toast-error" in r.text and f"post {post_id}: Friday quiz night at eight" in r.text, r.text
    assert await status_of(rt, asset_id) is MediaStatus.ready, "a file in use was deleted"

    cancelled = await signed_in.client.post(f"/api/posts/{post_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    page = await follow(signed_in, await signed_in.post_form(f"{LIBRARY}/{asset_id}/delete"))
    assert "Deleted menu.jpg." in page and f'id="asset-{asset_id}"' not in page
    assert await status_of(rt, asset_id) is None


async def test_a_viewer_sees_the_files_but_no_buttons_and_is_refused_changes(
    signed_in: SignedIn, client: httpx.AsyncClient, photo: bytes
) -> None:
    asset_id = asset_id_of(await upload_form(signed_in, photo))
    viewer = await factories.person(signed_in.runtime, venue_id=signed_in.venue_id, role=Role.viewer, name="Vic")
    client.cookies.clear()
    browser = await sign_in(client, signed_in.runtime, viewer)
    page = (await client.get(LIBRARY)).text
    assert f'id="asset-{asset_id}"' in page, "a viewer should see the library"
    assert "library-upload" not in page and "/delete" not in page and "focal-point" not in page
    for path in (f"{LIBRARY}/{asset_id}/delete", f"{LIBRARY}/{asset_id}/focal-point"):
        r = await client.post(path, data={"csrf_token": browser.csrf, "x": "1", "y": "1"})
        assert r.status_code == 403, f"a viewer could post to {path}: {r.status_code}"
    r = await client.post(
        f"{LIBRARY}/upload", data={"csrf_token": browser.csrf}, files={"file": ("v.jpg", photo, "image/jpeg")}
    )
    assert r.status_code == 403 and await status_of(signed_in.runtime, asset_id) is MediaStatus.pending


async def test_another_venues_file_is_not_found_and_a_post_without_the_token_changes_nothing(
    signed_in: SignedIn, runtime: Runtime, photo: bytes
) -> None:
    other = await factories.venue(runtime, name="The Anchor")
    editor = await factories.person(runtime, venue_id=other, role=Role.editor)
    theirs = await signed_in.client.post(
        "/api/media",
        content=photo,
        params={"filename": "theirs.jpg"},
        headers={**editor.headers, "X-Cheers-Account": str(other), "Content-Type": "image/jpeg"},
    )
    assert theirs.status_code == 201, theirs.text
    their_id = theirs.json()["asset"]["id"]
    for action in ("retry", "delete"):
        r = await signed_in.post_form(f"{LIBRARY}/{their_id}/{action}")
        assert r.status_code == 404, f"{action} on another venue's file answered {r.status_code}"
    assert f"asset-{their_id}" not in (await signed_in.get(LIBRARY)).text

    no_token = await signed_in.client.post(f"{LIBRARY}/upload", files={"file": ("a.jpg", photo, "image/jpeg")})
    assert no_token.status_code == 403 and "The library is empty." in (await signed_in.get(LIBRARY)).text


async def test_the_page_is_labelled_with_its_script_and_headings_in_order(signed_in: SignedIn, photo: bytes) -> None:
    page = (await signed_in.get(LIBRARY)).text
    assert '<label for="library-file">' in page and 'enctype="multipart/form-data"' in page
    assert '<script src="/static/library.js" defer></script>' in page
    assert 'href="/planner/library" aria-current="page"' in page, "the nav does not mark the Library"
    assert (await signed_in.get("/static/library.js")).status_code == 200
    assert re.findall(r"<h(\d)", page) == ["1", "2", "2"], "headings out of order on an empty library"
