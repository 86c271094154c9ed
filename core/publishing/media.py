"""Which prepared file each delivery sends, and whether the library has it ready yet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.media import platforms
from core.media.jobs import POSTER_PRESET, VIDEO_PRESET
from core.media.urls import media_url_for
from core.settings import Settings
from providers.publishing import MediaItem, Surface
from storage.blobs import BlobStore
from storage.models import MediaAsset, MediaDerivative, MediaKind, MediaStatus, Provider
from storage.queries import media as media_q

# Provider fetches can be slow or retried by the provider; links outlive the longest of them comfortably.
MEDIA_LINK_LIFETIME = timedelta(hours=6)


def image_preset(provider: Provider, surface: Surface, asset: MediaAsset) -> str:
    """The derivative preset for a photo on this provider and surface."""
    return platforms.image_preset(provider, surface, asset.width, asset.height)


@dataclass(frozen=True)
class MediaState:
    """Either every file is ready (`items`), or why we wait (`waiting`), or why it can never go (`broken`)."""

    items: tuple[MediaItem, ...] = ()
    waiting: str | None = None
    broken: str | None = None


async def resolve_media(
    session: AsyncSession,
    blobs: BlobStore,
    settings: Settings,
    clock: Clock,
    *,
    account_id: int,
    asset_ids: Sequence[int],
    provider: Provider,
    surface: Surface,
) -> MediaState:
    """Fresh signed URLs for the right derivative of each asset, or the reason we cannot send yet."""
    if not asset_ids:
        return MediaState()
    assets = {a.id: a for a in [await media_q.get(session, account_id, i) for i in asset_ids] if a is not None}
    missing = [i for i in asset_ids if i not in assets]
    if missing:
        return MediaState(broken=f"a photo or video of this post was deleted from the library (id {missing[0]})")
    derivatives: dict[tuple[int, str], MediaDerivative] = {
        (d.asset_id, d.preset): d for d in await media_q.derivatives_for(session, account_id, list(asset_ids))
    }
    items: list[MediaItem] = []
    for asset_id in asset_ids:
        asset = assets[asset_id]
        if asset.status in (MediaStatus.pending, MediaStatus.processing):
            return MediaState(waiting=f"{asset.filename} is still being prepared")
        if asset.status is MediaStatus.failed:
            return MediaState(broken=f"{asset.filename} couldn't be prepared: {asset.last_error or 'see the library'}")
        item = await _item(asset, derivatives, blobs, settings, clock, provider, surface)
        if isinstance(item, str):
            return MediaState(broken=item)
        items.append(item)
    return MediaState(items=tuple(items))


async def _item(
    asset: MediaAsset,
    derivatives: dict[tuple[int, str], MediaDerivative],
    blobs: BlobStore,
    settings: Settings,
    clock: Clock,
    provider: Provider,
    surface: Surface,
) -> MediaItem | str:
    async def url(key: str) -> str:
        return await media_url_for(blobs, settings, clock, key, expires_in=MEDIA_LINK_LIFETIME)

    if asset.kind is MediaKind.image:
        preset = image_preset(provider, surface, asset)
        d = derivatives.get((asset.id, preset))
        if d is None:
            short = platforms.unusable_on(provider, surface, asset.width, asset.height)
            if short is not None:  # left out on purpose when it was prepared: a retry would not make it
                return f"{asset.filename} can't go to {short.platform}. {short.reason} To send it, {short.remedy}"
            return f"{asset.filename} has no {preset.replace('_', ' ')} version; press Retry on it in the library"
        return MediaItem("image", await url(d.blob_key), d.content_type, d.width, d.height, d.byte_size)
    video = derivatives.get((asset.id, VIDEO_PRESET))
    poster = derivatives.get((asset.id, POSTER_PRESET))
    poster_url = await url(poster.blob_key) if poster else None
    if video is not None:
        return MediaItem(
            "video", await url(video.blob_key), video.content_type, video.width, video.height, video.byte_size,
            asset.duration, poster_url,
        )  # fmt: skip
    if asset.status is MediaStatus.skipped and asset.content_type == "video/mp4":
        # No ffmpeg where it was uploaded: the original goes as is where the provider takes MP4.
        return MediaItem(
            "video", await url(asset.blob_key), asset.content_type, asset.width, asset.height, asset.size,
            asset.duration, poster_url,
        )  # fmt: skip
    return f"{asset.filename} has no prepared video version this provider accepts"
