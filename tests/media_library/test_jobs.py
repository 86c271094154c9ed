"""The derivatives job's outcomes: transient retries with backoff, giving up, video with and without
ffmpeg, and the sweep that rebuilds the work from the table."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from core.media.jobs import RETRY_BASE, process
from core.media.video.tools import ffmpeg_available
from core.ops.jobs import run_job
from core.runtime import Runtime
from storage.models import MediaAsset, MediaStatus, Notification
from storage.queries import media as media_q
from tests import factories
from tests.media.test_video import make_clip
from tests.media_library.conftest import RecordingQueue, RuntimeFactory, Venue, make_venue, upload

FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


async def asset_row(runtime: Runtime, asset_id: int) -> MediaAsset:
    async with runtime.db.session() as session:
        asset = await media_q.get_any(session, asset_id)
        assert asset is not None
        return asset


async def kinds(runtime: Runtime) -> list[str]:
    async with runtime.db.session() as session:
        return list((await session.execute(select(Notification.kind).order_by(Notification.id))).scalars())


def closed_pool() -> ThreadPoolExecutor:
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    return pool


async def test_a_transient_failure_is_retried_after_a_backoff_then_ready(
    client: httpx.AsyncClient,
    runtime: Runtime,
    queue: RecordingQueue,
    clock: FrozenClock,
    venue: Venue,
    photo: bytes,
    image_pool: ProcessPoolExecutor,
) -> None:
    asset_id = (await upload(client, venue, photo)).json()["asset"]["id"]
    runtime.use_image_pool(closed_pool())  # the worker pool is gone for this attempt
    assert await process(runtime, asset_id) == "pending"
    asset = await asset_row(runtime, asset_id)
    assert asset.attempts == 1 and asset.last_error and "try again" in asset.last_error
    assert asset.next_attempt_at is not None
    delay = asset.next_attempt_at - clock.now()
    assert RETRY_BASE / 2 <= delay <= RETRY_BASE  # first backoff, with jitter

    queue.sent.clear()
    await run_job(runtime, "media-derivatives-sweep", trigger="manual")
    assert queue.woken() == []  # not due yet
    clock.advance(seconds=RETRY_BASE.total_seconds())
    await run_job(runtime, "media-derivatives-sweep", trigger="manual")
    assert queue.woken() == [asset_id]

    runtime.use_image_pool(image_pool)
    assert await process(runtime, asset_id) == "ready"
    asset = await asset_row(runtime, asset_id)
    assert asset.attempts == 2 and asset.last_error is None and asset.next_attempt_at is None
    assert "derivative_failed" not in await kinds(runtime)


async def test_transient_failures_give_up_after_the_configured_attempts(
    other_runtime: RuntimeFactory, photo: bytes
) -> None:
    rt, _ = await other_runtime(cheers_media_max_attempts=1)
    venue = await make_venue(rt)
    async with factories.app_client(rt) as client:
        asset_id = (await upload(client, venue, photo)).json()["asset"]["id"]
    rt.use_image_pool(closed_pool())
    assert await process(rt, asset_id) == "failed"
    asset = await asset_row(rt, asset_id)
    assert asset.last_error and "gave up" in asset.last_error
    assert await kinds(rt) == ["derivative_failed"]


async def test_video_is_skipped_with_the_reason_when_ffmpeg_is_missing(
    other_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    no_tools = tmp_path / "no-tools"
    no_tools.mkdir()
    rt, _ = await other_runtime(cheers_video_tools_path=str(no_tools))
    venue = await make_venue(rt)
    async with factories.app_client(rt) as client:
        r = await upload(client, venue, FAKE_MP4, filename="band.mp4", content_type="video/mp4")
        assert r.status_code == 201, r.text
        asset_id = r.json()["asset"]["id"]
        assert r.json()["asset"]["kind"] == "video"
        assert await process(rt, asset_id) == "skipped"
        asset = (await client.get(f"/api/media/{asset_id}", headers=venue.headers)).json()
    assert asset["status"] == "skipped" and "ffmpeg" in asset["last_error"]
    async with rt.db.session() as session:
        [note] = list((await session.execute(select(Notification))).scalars())
    assert note.kind == "derivative_skipped" and note.payload["reason"] == "ffmpeg_missing"
    assert note.payload["remedy"] and "original" in note.payload["message"]


@pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg/ffprobe not installed (apt-get install ffmpeg)")
async def test_video_is_transcoded_with_a_poster_when_ffmpeg_is_present(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=4)
    r = await upload(client, venue, clip.read_bytes(), filename="clip.mp4", content_type="video/mp4")
    asset_id = r.json()["asset"]["id"]
    assert await process(runtime, asset_id) == "ready"
    asset = (await client.get(f"/api/media/{asset_id}", headers=venue.headers)).json()
    by_preset = {d["preset"]: d for d in asset["derivatives"]}
    assert set(by_preset) == {"video", "poster"}
    assert by_preset["video"]["content_type"] == "video/mp4"
    assert asset["duration"] == pytest.approx(4, abs=0.2) and asset["width"] == 640
    poster = await client.get(by_preset["poster"]["url"])
    assert poster.status_code == 200 and poster.content[:3] == b"\xff\xd8\xff"
    assert asset["preview_url"]


async def test_the_sweep_wakes_due_pending_media_and_resets_a_dead_workers_claim(
    client: httpx.AsyncClient, runtime: Runtime, queue: RecordingQueue, clock: FrozenClock, venue: Venue, photo: bytes
) -> None:
    asset_id = (await upload(client, venue, photo)).json()["asset"]["id"]
    queue.sent.clear()  # the wake-up was lost: the table still says pending and due
    result = await run_job(runtime, "media-derivatives-sweep", trigger="manual")
    assert result["woken"] == 1 and queue.woken() == [asset_id]

    async with runtime.uow() as uow:  # a worker claims it, then dies
        assert await media_q.claim(uow.session, asset_id, now=clock.now())
        await uow.commit()
    queue.sent.clear()
    clock.advance(minutes=5)
    assert (await run_job(runtime, "media-derivatives-sweep", trigger="manual"))["stuck_reset"] == 0
    clock.advance(minutes=6)
    result = await run_job(runtime, "media-derivatives-sweep", trigger="manual")
    assert result["stuck_reset"] == 1 and queue.woken() == [asset_id]
    asset = await asset_row(runtime, asset_id)
    assert asset.status is MediaStatus.pending and asset.attempts == 1 and asset.last_error
    assert await process(runtime, asset_id) == "ready"


async def test_without_a_queue_the_sweep_does_the_work_itself(
    client: httpx.AsyncClient, runtime: Runtime, venue: Venue, photo: bytes
) -> None:
    asset_id = (await upload(client, venue, photo)).json()["asset"]["id"]
    runtime.queue = None
    result = await run_job(runtime, "media-derivatives-sweep", trigger="manual")
    assert result["processed_inline"] == 1
    assert (await asset_row(runtime, asset_id)).status is MediaStatus.ready
