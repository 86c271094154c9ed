"""The media library: upload (streamed, size-limited, deduplicated per venue), list, view, delete,
retry and focal point. The derivatives themselves are made by the job in core/media/jobs.py.

Upload decides image or video from the file's first bytes, never from its name or declared type, and
refuses anything else before a byte is stored (HTTP 415): a text file named `.jpg` never becomes an
asset. A file that sniffs right but is broken inside (a truncated JPEG) is stored and then fails in the
derivatives job with its reason, because only a full decode can tell.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

import structlog

from core.access.policy import VenueAccess
from core.errors import Conflict, Invalid, NotFound
from core.media import stored as stored_files
from core.media.errors import MediaRejected, MediaTooLarge, MediaUnsupportedType
from core.media.imaging.decode import sniff as sniff_image
from core.media.imaging.presets import PRESETS
from core.media.jobs import POSTER_PRESET, VIDEO_PRESET, process, sweep, wake_after_commit
from core.media.platforms import Unusable, unusable_for
from core.media.urls import media_url_for
from core.runtime import Runtime
from storage.blobs import BlobTooLarge, StoredBlob, content_key, human_size, staging_key
from storage.models import MediaAsset, MediaDerivative, MediaKind, MediaStatus
from storage.queries import media as media_q
from storage.uow import UnitOfWork

__all__ = [
    "AssetView",
    "UploadResult",
    "delete",
    "get",
    "list_assets",
    "process",
    "retry",
    "set_focal_point",
    "sniff_kind",
    "sweep",
    "too_large",
    "upload",
]

log = structlog.get_logger(__name__)

HEAD_BYTES = 32
MAX_PAGE = 200
PREVIEW_PRESET = {MediaKind.image: "instagram_square", MediaKind.video: POSTER_PRESET}
_IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heif"}
_MP4_ATOMS = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_NOT_VIDEO_BRANDS = frozenset({b"avif", b"avis"})
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class UploadResult:
    asset: MediaAsset
    duplicate: bool
    message: str


@dataclass(frozen=True)
class DerivativeView:
    derivative: MediaDerivative
    url: str


@dataclass(frozen=True)
class AssetView:
    asset: MediaAsset
    derivatives: list[DerivativeView] = field(default_factory=list)
    preview_url: str | None = None
    original_url: str | None = None

    @property
    def unusable_for(self) -> list[Unusable]:
        """Platforms this photo is too small for (their presets were left out), from its size: never stored."""
        a = self.asset
        return unusable_for(a.width, a.height) if a.kind is MediaKind.image else []


def sniff_kind(head: bytes) -> tuple[MediaKind, str]:
    """(kind, content type) from a file's first bytes; MediaUnsupportedType for anything else."""
    if not head:
        raise MediaRejected("The file is empty (0 bytes).", reason="empty", remedy="upload it again")
    try:
        return MediaKind.image, _IMAGE_TYPES[sniff_image(head)]
    except MediaRejected as exc:
        if exc.reason != "not_an_image":  # a known format we refuse (GIF, HEIC here, ...): say which
            raise MediaUnsupportedType(exc.message, reason=exc.reason, remedy=exc.remedy) from None
    if head[4:8] in _MP4_ATOMS and head[8:12] not in _NOT_VIDEO_BRANDS:
        return MediaKind.video, "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaKind.video, "video/webm"
    raise MediaUnsupportedType(
        "This file is neither a photo (JPEG, PNG, WebP) nor a video (MP4, MOV, WebM) we accept, "
        "whatever its name says.",
        reason="unsupported_type",
        remedy="export it as JPEG or MP4 and upload it again",
    )


async def _split_head(chunks: AsyncIterator[bytes]) -> tuple[bytes, AsyncIterator[bytes]]:
    """Read just enough to sniff; return the head and a stream that still yields every byte."""
    it = chunks.__aiter__()
    buffered: list[bytes] = []
    size = 0
    while size < HEAD_BYTES:
        try:
            chunk = await it.__anext__()
        except StopAsyncIteration:
            break
        if chunk:
            buffered.append(chunk)
            size += len(chunk)

    async def whole() -> AsyncIterator[bytes]:
        for chunk in buffered:
            yield chunk
        async for chunk in it:
            yield chunk

    return b"".join(buffered)[:HEAD_BYTES], whole()


def too_large(limit: int) -> MediaTooLarge:
    """The refusal for an upload past `limit` bytes (front doors that cut the stream off use it too)."""
    return MediaTooLarge(
        f"The file is larger than the {human_size(limit)} limit; nothing was stored.",
        reason="too_large",
        remedy="for a video, trim it or export it at 1080p; for a photo, export it as JPEG",
    )


def clean_filename(name: str | None) -> str:
    """The last path part, without control characters, at most 255 characters; "upload" when empty."""
    base = _UNSAFE_NAME.sub("", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return base[:255] or "upload"


async def upload(
    runtime: Runtime, uow: UnitOfWork, access: VenueAccess, chunks: AsyncIterator[bytes], *, filename: str | None
) -> UploadResult:
    """Stream into the blob store under the size limit, then create (or find) the venue's asset.

    Raises MediaUnsupportedType before storing anything, MediaTooLarge (nothing kept) past the limit.
    """
    head, stream = await _split_head(chunks)
    kind, content_type = sniff_kind(head)
    limit = runtime.settings.media_max_upload_bytes
    try:
        # Staged first: the content address (shared by every venue with these bytes) is only written once
        # the new asset holds its reference (core.media.stored.adopt), so a concurrent delete can't take it.
        stored = await runtime.blobs.put_stream(staging_key(), stream, max_bytes=limit, content_type=content_type)
    except BlobTooLarge:
        raise too_large(limit) from None
    try:
        return await _record_upload(runtime, uow, access, stored, kind, content_type, filename)
    finally:
        await stored_files.drop_staging(runtime, stored.key)  # gone already when promoted


async def _record_upload(
    runtime: Runtime,
    uow: UnitOfWork,
    access: VenueAccess,
    stored: StoredBlob,
    kind: MediaKind,
    content_type: str,
    filename: str | None,
) -> UploadResult:
    existing = await media_q.by_sha256(uow.session, access.account_id, stored.sha256)
    if existing is not None:
        return UploadResult(
            existing, True, f"This file is already in the library as {existing.filename} (#{existing.id})."
        )
    now = runtime.clock.now()
    asset = await media_q.add_unless_present(
        uow.session,
        dict(
            account_id=access.account_id,
            kind=kind,
            filename=clean_filename(filename),
            content_type=content_type,
            size=stored.size,
            sha256=stored.sha256,
            blob_key=content_key(stored.sha256),
            status=MediaStatus.pending,
            attempts=0,
            next_attempt_at=now,
            uploaded_by_user_id=access.actor.user_id,
            created_at=now,
            updated_at=now,
        ),
    )
    if asset is None:  # the same bytes arrived a moment ago through another upload
        existing = await media_q.by_sha256(uow.session, access.account_id, stored.sha256)
        assert existing is not None, "the conflicting asset is visible once its insert committed"
        return UploadResult(
            existing, True, f"This file is already in the library as {existing.filename} (#{existing.id})."
        )
    await stored_files.adopt(runtime, uow.session, staging=stored.key, key=asset.blob_key)
    await access.record(
        uow.session, runtime.clock, "media_uploaded", subject_type="media_asset", subject_id=asset.id,
        filename=asset.filename,
    )  # fmt: skip
    wake_after_commit(runtime, uow, asset.id)
    log.info("media_uploaded", asset_id=asset.id, kind=kind.value, size=stored.size)
    return UploadResult(asset, False, f"Uploaded {asset.filename}; preparing versions for each platform.")


async def _view(
    runtime: Runtime, asset: MediaAsset, derivatives: Sequence[MediaDerivative], *, full: bool
) -> AssetView:
    """URLs are signed afresh on every call (never stored), so a view never hands out a stale link."""

    async def url(key: str) -> str:
        return await media_url_for(runtime.blobs, runtime.settings, runtime.clock, key)

    preview = next((d for d in derivatives if d.preset == PREVIEW_PRESET[asset.kind]), None)
    return AssetView(
        asset=asset,
        derivatives=[DerivativeView(d, await url(d.blob_key)) for d in derivatives] if full else [],
        preview_url=await url(preview.blob_key) if preview else None,
        original_url=await url(asset.blob_key) if full else None,
    )


async def list_assets(
    runtime: Runtime,
    uow: UnitOfWork,
    access: VenueAccess,
    *,
    before_id: int | None = None,
    limit: int = 50,
    full: bool = False,
) -> list[AssetView]:
    """The venue's assets, newest first, each with its status and a preview link once ready (`full`: also every
    derivative and the original, with fresh links, as `get` gives one asset)."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    assets = await media_q.list_for_account(uow.session, access.account_id, before_id=before_id, limit=limit)
    rows = await media_q.derivatives_for(uow.session, access.account_id, [a.id for a in assets])
    by_asset: dict[int, list[MediaDerivative]] = {}
    for row in rows:
        by_asset.setdefault(row.asset_id, []).append(row)
    return [await _view(runtime, a, by_asset.get(a.id, []), full=full) for a in assets]


async def _asset(uow: UnitOfWork, access: VenueAccess, asset_id: int) -> MediaAsset:
    asset = await media_q.get(uow.session, access.account_id, asset_id)
    if asset is None:
        raise NotFound(f"media {asset_id} not found")
    return asset


async def get(runtime: Runtime, uow: UnitOfWork, access: VenueAccess, asset_id: int) -> AssetView:
    """One asset with every derivative and fresh signed links to each and to the original."""
    asset = await _asset(uow, access, asset_id)
    rows = await media_q.derivatives_for(uow.session, access.account_id, [asset.id])
    return await _view(runtime, asset, rows, full=True)


async def delete(runtime: Runtime, uow: UnitOfWork, access: VenueAccess, asset_id: int) -> str:
    """Delete the asset, its derivatives and their files; refused while a scheduled post uses it."""
    asset = await _asset(uow, access, asset_id)
    users = await media_q.assets_in_use(uow.session, access.account_id, asset_id)
    if users:
        raise Conflict(
            f"{asset.filename} is used by scheduled posts: {'; '.join(users)}",
            remedy="remove it from those posts (or delete them) first",
        )
    rows = await media_q.derivatives_for(uow.session, access.account_id, [asset.id])
    keys = [asset.blob_key, *(d.blob_key for d in rows)]
    filename = asset.filename
    await media_q.delete_asset(uow.session, access.account_id, asset.id)
    await access.record(
        uow.session, runtime.clock, "media_deleted", subject_type="media_asset", subject_id=asset_id, filename=filename
    )
    # Last, under the reference rows' locks: each file goes only if no other row (another venue's asset with
    # the same bytes) still counts on it, and before an upload waiting on the lock can count on it again.
    await stored_files.release(runtime, uow.session, keys)
    return f"Deleted {filename}."


async def _requeue(runtime: Runtime, uow: UnitOfWork, asset: MediaAsset) -> None:
    now = runtime.clock.now()
    asset.status, asset.attempts, asset.last_error = MediaStatus.pending, 0, None
    asset.next_attempt_at, asset.updated_at = now, now
    await uow.session.flush()
    wake_after_commit(runtime, uow, asset.id)


def missing_versions(asset: MediaAsset, made: Iterable[str]) -> list[str]:
    """The presets a file should have and has not, given the presets `made` (a photo's makeable ones: those it is
    not too small for; a video's MP4 and poster): what a ready file prepared before a preset existed lacks."""
    if asset.kind is MediaKind.video:
        wanted = [VIDEO_PRESET, POSTER_PRESET]
    elif asset.width and asset.height:  # as core.media.jobs picks them
        wanted = [p.name for p in PRESETS.values() if p.shortfall(asset.width, asset.height) is None]
    else:  # not read yet: nothing is known to be missing
        wanted = []
    have = set(made)
    return [name for name in wanted if name not in have]


async def retry(runtime: Runtime, uow: UnitOfWork, access: VenueAccess, asset_id: int) -> MediaAsset:
    """Try a failed or skipped asset again from the start (attempts reset); a ready one only when it lacks a version
    (`missing_versions`: the remedy publishing gives for it)."""
    asset = await _asset(uow, access, asset_id)
    retryable = asset.status in (MediaStatus.failed, MediaStatus.skipped)
    if asset.status is MediaStatus.ready:
        rows = await media_q.derivatives_for(uow.session, access.account_id, [asset.id])
        retryable = bool(missing_versions(asset, (d.preset for d in rows)))
    if not retryable and asset.status is MediaStatus.ready:
        raise Conflict(f"{asset.filename} is ready with every version it can have; there is nothing to retry")
    if not retryable:
        raise Conflict(
            f"{asset.filename} is {asset.status.value}; only failed or skipped media can be retried",
            remedy="wait for it to finish",
        )
    await _requeue(runtime, uow, asset)
    await access.record(
        uow.session, runtime.clock, "media_retried", subject_type="media_asset", subject_id=asset_id,
        filename=asset.filename,
    )  # fmt: skip
    return asset


async def set_focal_point(
    runtime: Runtime, uow: UnitOfWork, access: VenueAccess, asset_id: int, *, x: float, y: float
) -> MediaAsset:
    """Set where crops centre (fractions of width and height from the top left); a ready photo's
    derivatives are made again around it."""
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise Invalid("the focal point is two fractions between 0 and 1 (0,0 is the top left)", field="focal_point")
    asset = await _asset(uow, access, asset_id)
    changed = (asset.focal_x, asset.focal_y) != (x, y)
    asset.focal_x, asset.focal_y = x, y
    if changed and asset.kind is MediaKind.image and asset.status in (MediaStatus.ready, MediaStatus.failed):
        await _requeue(runtime, uow, asset)
    # A pending photo reads the new point when it is processed; one being processed is re-queued when it
    # finishes (core.media.jobs compares the point it used with the stored one).
    if changed:
        await access.record(
            uow.session, runtime.clock, "media_focal_point_set", subject_type="media_asset", subject_id=asset_id,
            filename=asset.filename, x=x, y=y,
        )  # fmt: skip
    await uow.session.flush()
    return asset
