"""Uploading from a browser form or `curl -F file=@photo.jpg`, and what an upload answers (duplicates included)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from core.media.jobs import process
from core.runtime import Runtime
from tests import factories
from tests.media.images import encode, photo_like
from tests.media_library.conftest import RecordingQueue, RuntimeFactory, Venue, make_venue, upload
from tests.media_library.test_upload import count_assets, stored_files


async def form_upload(client: httpx.AsyncClient, venue: Venue, **form: Any) -> httpx.Response:
    """What `curl -F` sends: multipart/form-data with the file (and any other fields) as parts."""
    return await client.post("/api/media", headers=venue.headers, **form)


async def test_a_form_upload_is_accepted_like_a_raw_one_with_the_forms_filename(
    client: httpx.AsyncClient, runtime: Runtime, queue: RecordingQueue, venue: Venue, photo: bytes
) -> None:
    r = await form_upload(
        client, venue, files={"file": ("quiz night.jpg", photo, "image/jpeg")}, data={"caption": "Quiz tonight"}
    )
    assert r.status_code == 201, r.text
    formed = r.json()
    assert formed["duplicate"] is False
    asset = formed["asset"]
    assert (asset["filename"], asset["kind"], asset["content_type"]) == ("quiz night.jpg", "image", "image/jpeg")
    assert asset["size"] == len(photo) and asset["status"] == "pending"
    assert queue.woken() == [asset["id"]]
    assert await process(runtime, asset["id"]) == "ready"
    stored = (await client.get(f"/api/media/{asset['id']}", headers=venue.headers)).json()
    assert (await client.get(stored["original_url"])).content == photo  # the part's bytes, nothing of the form

    raw = (await upload(client, venue, encode(photo_like(800, 600)), filename="raw.jpg")).json()
    assert raw.keys() == formed.keys() and raw["asset"].keys() == asset.keys()


async def test_any_file_field_name_works_and_the_bytes_decide_the_type_not_the_declared_one(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue, photo: bytes
) -> None:
    r = await form_upload(
        client,
        venue,
        data={"note": "first a text field"},
        files={"upload": ("menu.txt", photo, "text/plain")},
    )
    assert r.status_code == 201, r.text
    assert r.json()["asset"]["content_type"] == "image/jpeg" and r.json()["asset"]["filename"] == "menu.txt"

    text = await form_upload(client, venue, files={"file": ("poster.jpg", b"Quiz night!\n" * 50, "image/jpeg")})
    assert text.status_code == 415, text.text
    assert "neither a photo" in text.json()["detail"]


async def test_a_form_without_a_file_is_400_saying_so(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue
) -> None:
    r = await form_upload(client, venue, data={"file": "photo.jpg"}, files={"empty": ("", b"", "image/jpeg")})
    assert r.status_code == 400, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert problem["detail"] == "The form has no file in it."
    assert "curl -F file=@photo.jpg" in problem["remedy"]
    broken = await client.post(
        "/api/media",
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n\xff\xd8\xff',
        headers={**venue.headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400, broken.text
    assert broken.json()["detail"].startswith("The upload couldn't be read")
    assert await count_assets(runtime) == 0
    assert stored_files(runtime.settings.media_root) == []


async def test_a_form_upload_over_the_limit_is_413_like_a_raw_one(other_runtime: RuntimeFactory) -> None:
    rt, queue = await other_runtime(cheers_media_max_upload_mb=1)
    venue = await make_venue(rt)
    just_over = b"\xff\xd8\xff\xe0" + os.urandom(1024 * 1024)  # the form fits the body limit; the file does not
    far_over = b"\xff\xd8\xff\xe0" + os.urandom(2 * 1024 * 1024)  # refused from Content-Length alone
    async with factories.app_client(rt) as client:
        answers = [
            await form_upload(client, venue, files={"file": ("big.jpg", data, "image/jpeg")})
            for data in (just_over, far_over)
        ]
    for r in answers:
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "1 MB" in r.json()["detail"]
    assert await count_assets(rt) == 0 and queue.woken() == []
    assert stored_files(rt.settings.media_root) == []


async def test_uploading_a_file_already_in_the_library_answers_with_it_as_get_shows_it(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue, photo: bytes
) -> None:
    first = (await upload(client, venue, photo, filename="a.jpg")).json()["asset"]
    assert await process(runtime, first["id"]) == "ready"

    for again in (
        await upload(client, venue, photo, filename="b.jpg"),
        await form_upload(client, venue, files={"file": ("c.jpg", photo, "image/jpeg")}),
    ):
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"] is True
        asset = again.json()["asset"]
        shown = (await client.get(f"/api/media/{first['id']}", headers=venue.headers)).json()
        assert asset["status"] == "ready" and asset["derivatives"], asset
        # Links are signed afresh on each call; everything else is what GET /api/media/{id} says.
        unsigned = {k: v for k, v in asset.items() if not k.endswith("url") and k != "derivatives"}
        assert unsigned == {k: v for k, v in shown.items() if not k.endswith("url") and k != "derivatives"}
        assert [d["preset"] for d in asset["derivatives"]] == [d["preset"] for d in shown["derivatives"]]
        assert (await client.get(asset["original_url"])).content == photo
        for d in asset["derivatives"]:
            assert (await client.get(d["url"])).status_code == 200
