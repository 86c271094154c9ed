"""The `media-derivatives` job: claim an asset, prepare its derivatives off the event loop, record the
outcome on the asset; and the sweep that rebuilds the work from the table (the broker only wakes us).

Outcomes: every preset stored → `ready` (a photo too small for a platform's minimum skips just that
platform's presets: see core.media.platforms); ffmpeg missing → `skipped` (+ `derivative_skipped`); a bad
file → `failed` at once (+ `derivative_failed`); a passing failure → back to `pending` with
`next_attempt_at` after an exponential backoff with jitter, and `failed` after
CHEERS_MEDIA_MAX_ATTEMPTS tries. `attempts` counts claims, so a worker killed mid-file counts too.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.faults import fault_point
from core.media import stored as stored_files
from core.media.errors import MediaRejected, MediaTransient, VideoToolsMissing
from core.media.imaging.derive import derive_in_pool, probe_image
from core.media.imaging.presets import PRESETS, Preset
from core.media.video.transcode import transcode
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from storage.blobs import MIB, BlobNotFound, BlobStore, BlobStoreUnavailable
from storage.models import MediaAsset, MediaDerivative, MediaKind, MediaStatus, Severity
from storage.queries import media as media_q
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

TASK_NAME = "media-derivatives"
# Backoff for passing failures: BASE x 2^(attempt-1), capped, with "equal jitter" (a random point in the
# upper half) so many assets failing together (a store outage) do not all come back in the same second.
# The sweep wakes retries, so in practice they start on the first minute tick after next_attempt_at.
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
# A claim older than this without an outcome means the worker died (a video transcode has its own limit).
STUCK_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 200
VIDEO_PRESET, POSTER_PRESET = "video", "poster"


def retry_delay(attempt: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after the `attempt`-th try failed for a passing reason (between half and all of
    min(RETRY_CAP, RETRY_BASE x 2^(attempt-1)))."""
    ceiling: timedelta = min(RETRY_CAP, RETRY_BASE * 2 ** max(0, attempt - 1))
    fraction: float = 0.5 + (rng or random).random() / 2
    return ceiling * fraction


def wake_after_commit(runtime: Runtime, uow: UnitOfWork, asset_id: int) -> None:
    """Enqueue the derivatives task once the transaction commits (without a queue, the sweep finds it)."""
    queue = runtime.queue
    if queue is None:
        return

    async def wake() -> None:
        await queue.enqueue(TASK_NAME, asset_id=asset_id)

    uow.after_commit(wake)


@dataclass(frozen=True)
class _Job:
    asset_id: int
    account_id: int
    kind: MediaKind
    blob_key: str
    filename: str
    focal: tuple[float, float]
    attempts: int


@dataclass(frozen=True)
class _Output:
    preset: str
    width: int
    height: int
    content_type: str
    data: bytes | Path


@dataclass(frozen=True)
class _Result:
    derivatives: list[MediaDerivative]
    width: int | None
    height: int | None
    duration: float | None


async def process(runtime: Runtime, asset_id: int) -> str:
    """Prepare one asset's derivatives; returns the status it ended in ("not_claimed" when another run
    has it or it is not pending: a duplicate delivery does nothing)."""
    # A job owns its transactions: the claim commits before the work (minutes for a video, off the event
    # loop) so no transaction stays open meanwhile; the outcome commits in a second one (`_finish`).
    async with runtime.uow() as uow:
        if not await media_q.claim(uow.session, asset_id, now=runtime.clock.now()):
            await uow.rollback()
            return "not_claimed"
        asset = await media_q.get_any(uow.session, asset_id)
        assert asset is not None
        job = _Job(
            asset.id,
            asset.account_id,
            asset.kind,
            asset.blob_key,
            asset.filename,
            (asset.focal_x, asset.focal_y),
            asset.attempts,
        )
        await uow.commit()
    log.info("media_derivatives_started", asset_id=asset_id, kind=job.kind.value, attempt=job.attempts)
    try:
        with tempfile.TemporaryDirectory(prefix="cheers-media-") as tmp:
            result = await _derive(runtime, job, Path(tmp))
    except VideoToolsMissing as exc:
        return await _finish(runtime, job, MediaStatus.skipped, error=exc)
    except MediaRejected as exc:
        return await _finish(runtime, job, MediaStatus.failed, error=exc)
    except (MediaTransient, BlobStoreUnavailable) as exc:
        return await _finish(runtime, job, MediaStatus.pending, error=exc)
    except Exception as exc:  # a bug or an unforeseen failure: retried, and it ends in `failed` after N tries
        log.exception("media_derivatives_crashed", asset_id=asset_id)
        error = MediaTransient(f"Something went wrong preparing this file ({type(exc).__name__}); we'll try again.")
        return await _finish(runtime, job, MediaStatus.pending, error=error)
    return await _finish(runtime, job, MediaStatus.ready, result=result)


async def _derive(runtime: Runtime, job: _Job, tmp: Path) -> _Result:
    source = tmp / "source"
    await _download(runtime.blobs, job.blob_key, source)
    outputs: list[_Output]
    if job.kind is MediaKind.image:
        info = await asyncio.to_thread(probe_image, source)  # header only: size, and a bad file fails fast
        presets = _makeable(job, info.width, info.height)
        # The budget counts the source's pixels: what a PNG or WebP decode holds (a JPEG decodes smaller).
        async with runtime.decode_budget.admit(info.pixels):
            derived = await derive_in_pool(runtime.image_pool, source, presets, focal_point=job.focal)
        outputs = [_Output(d.preset, d.width, d.height, d.mime_type, d.data) for d in derived]
        width, height, duration = info.width, info.height, None
    else:
        video = await transcode(source, tmp / "out", tools_path=runtime.settings.cheers_video_tools_path)
        w, h = video.info.width, video.info.height
        outputs = [
            _Output(VIDEO_PRESET, w, h, "video/mp4", video.path),
            _Output(POSTER_PRESET, w, h, "image/jpeg", video.poster_path),
        ]
        width, height, duration = w, h, video.info.duration
    await fault_point("during_image_work")
    rows = []
    for out in outputs:
        ext = "mp4" if out.content_type == "video/mp4" else "jpg"
        key = f"media/{job.account_id}/{job.asset_id}/{out.preset}.{ext}"
        if isinstance(out.data, bytes):
            stored = await runtime.blobs.put_bytes(key, out.data, content_type=out.content_type)
        else:
            size = out.data.stat().st_size
            stored = await runtime.blobs.put_stream(
                key, _file_chunks(out.data), max_bytes=size + 1, content_type=out.content_type
            )
        rows.append(
            MediaDerivative(
                asset_id=job.asset_id,
                preset=out.preset,
                blob_key=stored.key,
                width=out.width,
                height=out.height,
                byte_size=stored.size,
                content_type=out.content_type,
            )
        )
    return _Result(rows, width, height, duration)


def _makeable(job: _Job, width: int, height: int) -> list[Preset]:
    """The presets this photo is big enough for. One platform's minimum never fails the whole photo: the
    others are made and it is `ready`; where it can't go is worked out again from its size when asked
    (core.media.platforms), so nothing about the skipped ones is stored."""
    makeable, skipped = [], []
    for preset in PRESETS.values():
        short = preset.shortfall(width, height)
        if short is None:
            makeable.append(preset)
        else:
            skipped.append(short)
    if skipped:
        log.info(
            "media_presets_skipped",
            asset_id=job.asset_id,
            width=width,
            height=height,
            presets=[s.preset.name for s in skipped],
        )
    if not makeable:
        first = skipped[0]
        raise MediaRejected(first.message, reason="too_small", remedy=first.remedy, preset=first.preset.name)
    return makeable


async def _download(store: BlobStore, key: str, target: Path) -> None:
    """Copy the original to a local file (ffmpeg and the image workers read files, not streams)."""
    try:
        reader = await store.open(key)
    except BlobNotFound:
        raise MediaRejected(
            "The uploaded file is missing from storage.", reason="source_missing", remedy="upload it again"
        ) from None
    try:
        fh = await asyncio.to_thread(target.open, "wb")
        with fh:
            async for chunk in reader:
                await asyncio.to_thread(fh.write, chunk)
    except OSError as exc:
        raise MediaTransient(f"Couldn't copy the upload for processing ({exc.strerror or exc}).", reason="io") from exc
    finally:
        await reader.aclose()


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    fh = await asyncio.to_thread(path.open, "rb")
    with fh:
        while chunk := await asyncio.to_thread(fh.read, MIB):
            yield chunk


async def _finish(
    runtime: Runtime,
    job: _Job,
    status: MediaStatus,
    *,
    error: Any = None,
    result: _Result | None = None,
) -> str:
    """Record the outcome on the asset (and its notification) in one transaction."""
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        asset = await media_q.get_any(uow.session, job.asset_id)
        if asset is None or asset.status is not MediaStatus.processing:
            # Deleted (or reset by an operator) while we worked: drop what we made (unless a row uses it).
            await uow.rollback()
            if result is not None and asset is None:
                await stored_files.discard_unreferenced(runtime, uow.session, [r.blob_key for r in result.derivatives])
                await uow.commit()
            return "abandoned"
        asset.processing_started_at = None
        asset.updated_at = now
        if result is not None:
            await _ready(runtime, uow, asset, job, result, now)
        elif status is MediaStatus.pending:
            await _transient(runtime, uow.session, asset, error, now)
        else:
            await _stop(uow.session, runtime.clock, asset, status, error.message, error.remedy, error.reason)
        await uow.commit()
        final = asset.status.value
    log.info("media_derivatives_finished", asset_id=job.asset_id, status=final, error=getattr(error, "reason", None))
    return final


async def _ready(
    runtime: Runtime, uow: UnitOfWork, asset: MediaAsset, job: _Job, result: _Result, now: datetime
) -> None:
    await stored_files.replace_derivatives(runtime, uow.session, asset.account_id, asset.id, result.derivatives)
    asset.width, asset.height, asset.duration = result.width, result.height, result.duration
    asset.last_error, asset.next_attempt_at = None, None
    if asset.kind is MediaKind.image and (asset.focal_x, asset.focal_y) != job.focal:
        # The focal point moved while we worked: crop again around the new one.
        asset.status, asset.attempts, asset.next_attempt_at = MediaStatus.pending, 0, now
        wake_after_commit(runtime, uow, asset.id)
    else:
        asset.status = MediaStatus.ready


async def _transient(runtime: Runtime, session: AsyncSession, asset: MediaAsset, error: Any, now: datetime) -> None:
    limit = runtime.settings.cheers_media_max_attempts
    if asset.attempts >= limit:
        await _stop(
            session,
            runtime.clock,
            asset,
            MediaStatus.failed,
            f"{error.message} We tried {asset.attempts} times and gave up.",
            "retry it from the Library later; if it keeps failing, tell us",
            "attempts_exhausted",
        )
        return
    asset.status = MediaStatus.pending
    asset.last_error = error.message
    asset.next_attempt_at = now + retry_delay(asset.attempts)


async def _stop(
    session: AsyncSession,
    clock: Clock,
    asset: MediaAsset,
    status: MediaStatus,
    message: str,
    remedy: str | None,
    reason: str,
) -> None:
    """End processing as `failed` or `skipped`, saying why on the asset and in the outbox."""
    asset.status, asset.last_error, asset.next_attempt_at = status, message, None
    skipped = status is MediaStatus.skipped
    await notifications.notify(
        session,
        clock,
        account_id=asset.account_id,
        kind=NotificationKind.derivative_skipped if skipped else NotificationKind.derivative_failed,
        severity=Severity.warning if skipped else Severity.error,
        title=f"{'Using the original of' if skipped else 'Could not prepare'} {asset.filename}",
        subject={"media_asset_id": asset.id},
        payload={
            "message": message,
            "remedy": remedy or ("upload a different file" if not skipped else None),
            "reason": reason,
            "attempts": asset.attempts,
        },
    )


async def sweep(runtime: Runtime) -> dict[str, Any]:
    """Reset claims whose worker died, then wake every pending asset that is due."""
    # A job owns its transaction: the wake-ups go to the broker only after it commits (`wake_after_commit`).
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        stuck = await media_q.stuck_processing(uow.session, started_before=now - STUCK_AFTER, limit=SWEEP_BATCH)
        for asset in stuck:
            asset.processing_started_at, asset.updated_at = None, now
            lost = MediaTransient("The worker preparing this file stopped before it finished.", reason="worker_lost")
            await _transient(runtime, uow.session, asset, lost, now)
            if asset.status is MediaStatus.pending:
                asset.next_attempt_at = now  # the backoff was spent waiting for the lost worker
        due = await media_q.due_pending(uow.session, now=now, limit=SWEEP_BATCH)
        for asset_id in due:
            wake_after_commit(runtime, uow, asset_id)
        await uow.commit()
    processed = 0
    if runtime.queue is None:
        # No broker (a one-off `cheers jobs run`): do the work here.
        for asset_id in due:
            await process(runtime, asset_id)
            processed += 1
    return {"stuck_reset": len(stuck), "woken": len(due), "processed_inline": processed}
