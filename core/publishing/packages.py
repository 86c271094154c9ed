"""Manual fallback packages: one zip per delivery (media, caption, steps) for posting it by hand.

The download link is a capability like a media link: a signed token carrying the delivery id and the
expiry, checked against the injected clock. Whoever holds it may download that one package until then.
"""

from __future__ import annotations

import io
import json
import mimetypes
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.clock import Clock
from core.connections.lifecycle import PROVIDER_LABEL
from core.errors import Conflict, DomainError, NotFound
from core.media.jobs import VIDEO_PRESET
from core.posts.times import format_local
from core.publishing.media import image_preset
from core.runtime import Runtime
from core.settings import Settings
from providers.publishing import Surface
from storage.blobs import BlobError
from storage.models import (
    Account,
    Connection,
    DeliveryStatus,
    MediaAsset,
    MediaDerivative,
    MediaKind,
    Post,
    PostTarget,
    Provider,
)
from storage.queries import deliveries as deliveries_q
from storage.queries import media as media_q
from storage.queries import posts as posts_q

PACKAGE_SALT = "cheers.package-link"
PACKAGE_PATH = "/packages/"
# The zip is built in memory: media past this total stay out (STEPS.txt says so) rather than
# letting one post with several long videos exhaust a web process.
MAX_MEDIA_BYTES = 256 * 1024 * 1024
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4", "video/quicktime": ".mov"}


class PackageLinkInvalid(NotFound):
    """The token was altered, signed with another key, or is not a package token at all."""

    code = "package_link_invalid"


class PackageLinkExpired(DomainError):
    """The token was genuine but its time is up."""

    code = "package_link_expired"


@dataclass(frozen=True)
class PackageLink:
    url: str
    expires_at: datetime
    filename: str


def _serializer(settings: Settings) -> URLSafeSerializer:
    # Our own expiry field (as core.media.urls): itsdangerous' timed variant reads the wall clock.
    return URLSafeSerializer(settings.cheers_secret_key, salt=PACKAGE_SALT)


def package_filename(post_id: int, provider: Provider) -> str:
    return f"cheers-post-{post_id}-{provider.value}.zip"


def sign_package_token(settings: Settings, clock: Clock, target_id: int, *, expires_in: timedelta) -> str:
    """A token granting the download of delivery `target_id`'s package until now + `expires_in`."""
    if expires_in <= timedelta(0):
        raise ValueError("expires_in must be positive")
    return _serializer(settings).dumps({"t": target_id, "e": int((clock.now() + expires_in).timestamp())})


def verify_package_token(settings: Settings, clock: Clock, token: str) -> int:
    """The delivery id the token grants; PackageLinkInvalid when tampered, PackageLinkExpired when late.

    The signature is checked first, so an altered expiry reads as tampering, never as expiry.
    """
    try:
        payload: Any = _serializer(settings).loads(token)
    except BadSignature:
        raise PackageLinkInvalid(
            "this package link is not valid; it was changed or was not issued by this service"
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("t"), int) or not isinstance(payload.get("e"), int):
        raise PackageLinkInvalid("this package link is not valid")
    if clock.now().timestamp() >= payload["e"]:
        raise PackageLinkExpired(
            "this package link has expired",
            remedy="ask CheersAI for a fresh download link (the post's Download package button)",
        )
    target_id: int = payload["t"]
    return target_id


def _refuse_cancelled(target: PostTarget) -> None:
    if target.status is DeliveryStatus.cancelled:
        raise Conflict(
            "this post was cancelled, so there is nothing to post by hand",
            remedy="schedule a new post if you still want it to go out",
        )


async def package_link(runtime: Runtime, session: AsyncSession, access: VenueAccess, target_id: int) -> PackageLink:
    """A signed, expiring download link for the delivery's manual package (not for a cancelled one)."""
    target = await deliveries_q.get_target(session, target_id)
    if target is None or target.account_id != access.account_id:
        raise NotFound(f"delivery {target_id} not found")
    _refuse_cancelled(target)
    settings, clock = runtime.settings, runtime.clock
    lifetime = timedelta(minutes=settings.cheers_package_link_minutes)
    token = sign_package_token(settings, clock, target.id, expires_in=lifetime)
    return PackageLink(
        url=settings.cheers_public_url + PACKAGE_PATH + token,
        # The token holds whole seconds; report the same instant it stops working.
        expires_at=(clock.now() + lifetime).replace(microsecond=0),
        filename=package_filename(target.post_id, target.provider),
    )


@dataclass(frozen=True)
class _Entry:
    name: str
    asset_id: int
    source: str  # the derivative preset, or "original"
    problem: str | None = None


async def build_package(runtime: Runtime, session: AsyncSession, target_id: int) -> tuple[str, bytes]:
    """The zip for one delivery: numbered media files, caption.txt, STEPS.txt and post.json."""
    target = await deliveries_q.get_target(session, target_id)
    if target is None:
        raise NotFound(f"delivery {target_id} not found", remedy="it was deleted; nothing is left to post")
    _refuse_cancelled(target)
    post = await session.get(Post, target.post_id)
    connection = await session.get(Connection, target.connection_id)
    account = await session.get(Account, target.account_id)
    assert post is not None and connection is not None and account is not None  # foreign keys
    surface = _surface(post, target.provider)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entries = await _add_media(runtime, session, archive, post, target.provider, surface)
        caption = _caption(post, target.provider)
        archive.writestr("caption.txt", caption + "\n")
        steps = _steps(target, post, connection, account.timezone, surface, entries)
        archive.writestr("STEPS.txt", steps)
        archive.writestr("post.json", json.dumps(_record(target, post, account, runtime.clock, entries), indent=2))
    return package_filename(post.id, target.provider), buffer.getvalue()


async def _add_media(
    runtime: Runtime,
    session: AsyncSession,
    archive: zipfile.ZipFile,
    post: Post,
    provider: Provider,
    surface: Surface,
) -> list[_Entry]:
    asset_ids = await posts_q.media_ids(session, post.id)
    derivatives = {
        (d.asset_id, d.preset): d for d in await media_q.derivatives_for(session, post.account_id, asset_ids)
    }
    entries: list[_Entry] = []
    budget = MAX_MEDIA_BYTES
    for number, asset_id in enumerate(asset_ids, start=1):
        asset = await media_q.get(session, post.account_id, asset_id)
        if asset is None:
            entries.append(_Entry(f"{number}-missing", asset_id, "none", "it was deleted from the library"))
            continue
        chosen = _pick(asset, derivatives, provider, surface)
        key, content_type, size, source = chosen
        word = "photo" if asset.kind is MediaKind.image else "video"
        name = f"{number}-{word}{_extension(content_type)}"
        if size > budget:
            entries.append(_Entry(name, asset_id, source, "it is too large to include; download it from the library"))
            continue
        try:
            data = await runtime.blobs.get_bytes(key)
        except BlobError:
            entries.append(_Entry(name, asset_id, source, f"{asset.filename} is missing from storage"))
            continue
        budget -= len(data)
        # Photos and videos are already compressed: store them as they are.
        archive.writestr(_zip_info(name, runtime.clock), data, compress_type=zipfile.ZIP_STORED)
        entries.append(_Entry(name, asset_id, source))
    return entries


def _pick(
    asset: MediaAsset, derivatives: dict[tuple[int, str], MediaDerivative], provider: Provider, surface: Surface
) -> tuple[str, str, int, str]:
    """(blob key, content type, size, source): the provider's version, else the original upload."""
    preset = image_preset(provider, surface, asset) if asset.kind is MediaKind.image else VIDEO_PRESET
    d = derivatives.get((asset.id, preset))
    if d is not None:
        return d.blob_key, d.content_type, d.byte_size, preset
    return asset.blob_key, asset.content_type, asset.size, "original"


def _zip_info(name: str, clock: Clock) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=clock.now().timetuple()[:6])
    info.external_attr = 0o644 << 16
    return info


def _extension(content_type: str) -> str:
    return _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ".bin"


def _surface(post: Post, provider: Provider) -> Surface:
    value = (post.options.get(provider.value) or {}).get("surface", "feed")
    return value if value in ("feed", "story", "reel") else "feed"


def _caption(post: Post, provider: Provider) -> str:
    text = post.captions.get(provider.value) or post.text
    return f"{text}\n\n{post.link}" if post.link else text


def _why(target: PostTarget) -> str:
    if target.status in (DeliveryStatus.failed, DeliveryStatus.missed, DeliveryStatus.in_doubt):
        return target.last_error or target.note or f"the delivery is {target.status.value}"
    if target.last_error:
        return target.last_error
    return f"you asked for it (the delivery is {target.status.value.replace('_', ' ')})"


def _platform_steps(provider: Provider, name: str, surface: Surface, files: str, has_link: bool) -> list[str]:
    if provider is Provider.instagram:
        kind = {"story": "Story", "reel": "Reel"}.get(surface, "Post")
        steps = [
            f"Save {files} to your phone (AirDrop, e-mail it to yourself, or a shared drive).",
            f"Open the Instagram app, signed in as {name}.",
            f"Tap + and choose {kind}.",
            "Pick the files in their numbered order (for several, tap 'Select multiple').",
            "Tap Next, paste the text from caption.txt, then tap Share.",
        ]
        if has_link:
            steps.append("Links in Instagram captions can't be tapped: put it in your bio if it matters.")
        return steps
    if provider is Provider.google_business:
        steps = [
            f"Search Google for your business name (or open Google Maps), signed in with the account that "
            f"manages {name}.",
            "In your Business Profile, choose 'Add update' (on Maps: Updates, then Add update).",
            f"Add {files} (Google shows one photo per update) and paste the text from caption.txt.",
        ]
        if has_link:
            steps.append("Add a button ('Learn more') with the link at the end of caption.txt.")
        return [*steps, "Click Post. Google may take a few minutes to review it."]
    return [
        f"Open Meta Business Suite (business.facebook.com, or its app) and choose the Page {name}.",
        "Click 'Create post'.",
        "Paste the text from caption.txt.",
        f"Add {files} in their numbered order.",
        "Click Publish (or Schedule to pick a time).",
    ]


def _steps(
    target: PostTarget, post: Post, connection: Connection, tz: str, surface: Surface, entries: list[_Entry]
) -> str:
    label = f"{PROVIDER_LABEL[target.provider]} {connection.display_name}"
    included = [e.name for e in entries if e.problem is None]
    files = "the photo or video files in this folder (" + ", ".join(included) + ")" if included else "no files"
    steps = _platform_steps(target.provider, connection.display_name, surface, files, post.link is not None)
    steps.append("Then leave this delivery as it is in CheersAI: pressing Retry as well would post it twice.")
    lines = [
        f"Post this by hand on {label}",
        "",
        f"Why: {_why(target)}",
        f"Scheduled for: {format_local(post.scheduled_at, tz)} ({tz})",
    ]
    if target.remedy:
        lines.append(f"What CheersAI suggests: {target.remedy}")
    problems = [e for e in entries if e.problem is not None]
    if problems:
        lines += ["", "Missing from this package:"]
        lines += [f"- file {e.name} (library #{e.asset_id}): {e.problem}." for e in problems]
    originals = [e.name for e in entries if e.problem is None and e.source == "original"]
    if originals:
        lines += ["", f"Not resized for this platform (the original upload): {', '.join(originals)}."]
    lines += ["", "Steps:"]
    lines += [f"{i}. {step}" for i, step in enumerate(steps, start=1)]
    return "\n".join(lines) + "\n"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record(target: PostTarget, post: Post, account: Account, clock: Clock, entries: list[_Entry]) -> dict[str, Any]:
    return {
        "post_id": post.id,
        "target_id": target.id,
        "account_id": account.id,
        "connection_id": target.connection_id,
        "provider": target.provider.value,
        "status": target.status.value,
        "timezone": account.timezone,
        "scheduled_at": _iso(post.scheduled_at),
        "due_at": _iso(target.due_at),
        "cutoff_at": _iso(target.cutoff_at),
        "published_at": _iso(target.published_at),
        "permalink": target.permalink,
        "external_id": target.external_id,
        "attempts": target.attempts,
        "last_error": target.last_error,
        "error_code": target.error_code,
        "note": target.note,
        "link": post.link,
        "media": [{"file": e.name, "asset_id": e.asset_id, "version": e.source, "missing": e.problem} for e in entries],
        "generated_at": _iso(clock.now()),
    }
