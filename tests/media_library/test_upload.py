"""Upload → derivatives → signed links, dedup per venue, the size limit and the type check."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import func, select

from core.media.imaging.derive import PRESETS
from core.media.jobs import process
from core.runtime import Runtime
from storage.models import MediaAsset, MediaKind, MediaStatus, Notification
from storage.queries import media as media_q
from tests import factories
from tests.media_library.conftest import RecordingQueue, RuntimeFactory, Venue, make_venue, upload


async def count_assets(runtime: Runtime) -> int:
    async with runtime.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(MediaAsset))).scalar_one())


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "sha256" in p.parts]


async def test_upload_is_pending_then_every_preset_is_ready_and_fetchable(
    client: httpx.AsyncClient, runtime: Runtime, queue: RecordingQueue, venue: Venue, photo: bytes
) -> None:
    r = await upload(client, venue, photo)
    assert r.status_code == 201, r.text
    body = r.json()
    asset_id = body["asset"]["id"]
    assert body["duplicate"] is False
    assert body["asset"]["status"] == "pending"
    assert body["asset"]["kind"] == "image" and body["asset"]["content_type"] == "image/jpeg"
    assert queue.woken() == [asset_id]  # enqueued after commit

    assert await process(runtime, asset_id) == "ready"
    assert await process(runtime, asset_id) == "not_claimed"  # a duplicate delivery does nothing

    r = await client.get(f"/api/media/{asset_id}", headers=venue.headers)
    assert r.status_code == 200, r.text
    asset = r.json()
    assert asset["status"] == "ready" and asset["attempts"] == 1 and asset["last_error"] is None
    assert (asset["width"], asset["height"]) == (1600, 1200)
    assert {d["preset"] for d in asset["derivatives"]} == set(PRESETS)
    for d in asset["derivatives"]:
        got = await client.get(d["url"])
        assert got.status_code == 200, (d["preset"], got.text)
        assert got.headers["content-type"] == "image/jpeg"
        assert len(got.content) == d["byte_size"]
        im = Image.open(io.BytesIO(got.content))
        assert (im.format, im.size) == ("JPEG", (d["width"], d["height"]))
    original = await client.get(asset["original_url"])
    assert original.content == photo

    listed = (await client.get("/api/media", headers=venue.headers)).json()
    assert [a["id"] for a in listed] == [asset_id]
    assert listed[0]["status"] == "ready" and listed[0]["preview_url"]
    assert (await client.get(listed[0]["preview_url"])).status_code == 200


async def test_the_same_file_twice_is_one_asset_per_venue(
    client: httpx.AsyncClient, runtime: Runtime, queue: RecordingQueue, venue: Venue, photo: bytes
) -> None:
    first = (await upload(client, venue, photo, filename="a.jpg")).json()
    r = await upload(client, venue, photo, filename="b.jpg")
    assert r.status_code == 200, r.text
    assert r.json()["duplicate"] is True
    assert r.json()["asset"]["id"] == first["asset"]["id"]
    assert "already in the library as a.jpg" in r.json()["message"]
    assert queue.woken() == [first["asset"]["id"]]

    # Another venue gets its own asset over the same stored object; deleting one keeps the other's file.
    other = await make_venue(runtime)
    theirs = (await upload(client, other, photo)).json()
    assert theirs["duplicate"] is False and theirs["asset"]["id"] != first["asset"]["id"]
    r = await client.delete(f"/api/media/{first['asset']['id']}", headers=venue.headers)
    assert r.status_code == 200, r.text
    got = (await client.get(f"/api/media/{theirs['asset']['id']}", headers=other.headers)).json()
    assert (await client.get(got["original_url"])).content == photo


async def chunked(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_upload_over_the_limit_is_413_and_nothing_is_stored(
    other_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt, queue = await other_runtime(cheers_media_max_upload_mb=1)
    venue = await make_venue(rt)
    big = b"\xff\xd8\xff\xe0" + os.urandom(1024 * 1024)
    async with factories.app_client(rt) as client:
        announced = await upload(client, venue, big)  # Content-Length says so: refused before reading
        streamed = await client.post(  # no Content-Length: cut off while streaming
            "/api/media", content=chunked(big), headers={**venue.headers, "Content-Type": "image/jpeg"}
        )
    for r in (announced, streamed):
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert "1 MB" in streamed.json()["detail"]
    assert await count_assets(rt) == 0 and queue.woken() == []
    assert stored_files(rt.settings.media_root) == []


async def test_a_text_file_named_jpg_is_refused_with_415_before_storing(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue
) -> None:
    r = await upload(client, venue, b"Quiz night at 8pm!\n" * 100, filename="poster.jpg")
    assert r.status_code == 415, r.text
    problem = r.json()
    assert problem["type"].endswith("/unsupported_media_type") and problem["reason"] == "unsupported_type"
    assert "neither a photo" in problem["detail"] and problem["remedy"]
    gif = await upload(client, venue, b"GIF89a" + b"\x00" * 64, filename="party.gif")
    assert gif.status_code == 415 and "GIF" in gif.json()["detail"]
    assert await count_assets(runtime) == 0
    assert stored_files(runtime.settings.media_root) == []


async def test_a_truncated_jpeg_fails_at_once_with_its_reason_and_a_notification(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue, photo: bytes
) -> None:
    r = await upload(client, venue, photo[: len(photo) // 2], filename="half.jpg")
    assert r.status_code == 201, r.text  # it sniffs as a JPEG; only decoding finds the damage
    asset_id = r.json()["asset"]["id"]
    assert await process(runtime, asset_id) == "failed"
    asset = (await client.get(f"/api/media/{asset_id}", headers=venue.headers)).json()
    assert asset["status"] == "failed" and asset["attempts"] == 1 and asset["next_attempt_at"] is None
    assert asset["last_error"] and asset["derivatives"] == []
    async with runtime.db.session() as session:
        notes = (await session.execute(select(Notification).where(Notification.kind == "derivative_failed"))).scalars()
        [note] = list(notes)
    assert note.account_id == venue.id and note.subject == {"media_asset_id": asset_id}
    assert "half.jpg" in note.title
    assert note.payload["message"] == asset["last_error"] and note.payload["remedy"]


async def test_the_same_bytes_landing_twice_at_once_keep_one_asset(runtime: Runtime) -> None:
    """Two uploads racing past the duplicate check: the database keeps one, the loser is told."""
    venue = await factories.venue(runtime)
    row = {
        "account_id": venue,
        "kind": MediaKind.image,
        "filename": "quiz.jpg",
        "content_type": "image/jpeg",
        "size": 10,
        "sha256": "ab" * 32,
        "blob_key": "sha256/ab/ab/x",
        "status": MediaStatus.pending,
        "attempts": 0,
        "next_attempt_at": runtime.clock.now(),
        "uploaded_by_user_id": None,
        "created_at": runtime.clock.now(),
        "updated_at": runtime.clock.now(),
    }
    async with runtime.uow() as uow:
        first = await media_q.add_unless_present(uow.session, row)
        second = await media_q.add_unless_present(uow.session, {**row, "filename": "quiz-copy.jpg"})
        await uow.commit()
    assert first is not None and first.filename == "quiz.jpg"
    assert second is None, "the second insert of the same bytes must not create a second asset"
