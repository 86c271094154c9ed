"""The schedule form (`schedule` with nothing after it; a Slack modal): what it offers, what each platform would get,
and a filled-in form turned into the API's `create_post`, every problem named on the field that causes it.

Chat-neutral: the Slack modal renders `FormChoices` and `PreviewLine`s; Telegram's guided flow can use the same.
Times are the venue's wall-clock time, resolved by core.posts.times.resolve_when (the API's DST and past rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.chat.posting import ChatScheduled
from core.errors import DomainError, Invalid
from core.media.imaging.presets import PRESETS
from core.media.platforms import image_preset
from core.posts.rules import DraftMedia, DraftTarget, RuleLimits, check_target, configured_limits
from core.posts.service import PostDraft, account_timezone, create_post
from core.posts.times import PostTimeInvalid, resolve_when, zone
from core.publishing.labels import label_for
from core.runtime import Runtime
from storage.models import Connection, ConnectionStatus, MediaAsset, MediaKind, MediaStatus, Provider
from storage.queries import accounts as accounts_q
from storage.queries import connections as connections_q
from storage.queries import media as media_q

# The form's fields: a front door names its inputs after them so an error lands on the right one.
CONNECTIONS, TEXT, PHOTO, DATE, TIME = "connections", "text", "photo", "date", "time"
RECENT_IMAGES = 25  # the library's newest ready photos offered (a select shows up to 100 options)
SCAN_ASSETS = 100  # how far back the library is read to find them
LEAD = timedelta(hours=1)  # the default slot: the first whole hour at least this far ahead


@dataclass(frozen=True)
class FormConnection:
    id: int
    provider: Provider
    label: str  # "Facebook Page The Red Lion"
    needs_reconnect: bool


@dataclass(frozen=True)
class FormImage:
    id: int
    filename: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class FormChoices:
    """What the form offers for a venue, and where its date and time pickers start (the venue's wall clock)."""

    venue_id: int
    venue_name: str
    timezone: str
    connections: tuple[FormConnection, ...]
    images: tuple[FormImage, ...]
    day: date
    at: time


@dataclass(frozen=True)
class PreviewLine:
    """What one connection would get: its caption length against the platform's limit, the photo version, problems."""

    label: str
    text: str
    ok: bool


@dataclass(frozen=True)
class FormInput:
    """The form as submitted (every value untrusted: ids are looked up in the venue again)."""

    connection_ids: Sequence[int]
    text: str
    photo_id: int | None
    day: str | None  # YYYY-MM-DD
    at: str | None  # HH:MM


class FormInvalid(Invalid):
    """The form can't be saved as it is: `errors` maps each field (CONNECTIONS, TEXT, ...) to what is wrong there."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()), remedy="change the fields marked and send it again", errors=errors)
        self.errors = errors


async def choices(runtime: Runtime, session: AsyncSession, access: VenueAccess) -> FormChoices:
    """The venue's connections (not disconnected), its recent ready photos, and the next sensible slot."""
    account = await accounts_q.get_account(session, access.account_id)
    assert account is not None  # the caller's access was just granted for it
    connections = [
        FormConnection(c.id, c.provider, label_for(c), c.status is not ConnectionStatus.active)
        for c in await _usable(session, access.account_id)
    ]
    assets = await media_q.list_for_account(session, access.account_id, limit=SCAN_ASSETS)
    images = [FormImage(a.id, a.filename, a.width, a.height) for a in assets if _ready_photo(a)][:RECENT_IMAGES]
    day, at = next_slot(runtime.clock.now(), account.timezone)
    return FormChoices(access.account_id, account.name, account.timezone, tuple(connections), tuple(images), day, at)


def next_slot(now: datetime, tz_name: str) -> tuple[date, time]:
    """The first whole hour of the venue's clock at least an hour after `now` (a slot in a DST gap moves past it)."""
    tz = zone(tz_name)
    local = (now + LEAD).astimezone(tz)
    if (local.minute, local.second, local.microsecond) != (0, 0, 0):
        # Whole hours are added in UTC, so a slot never lands inside a spring-forward gap.
        local = (local.replace(minute=0, second=0, microsecond=0).astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    return local.date(), local.time().replace(tzinfo=None)


async def preview(
    runtime: Runtime,
    session: AsyncSession,
    access: VenueAccess,
    *,
    connection_ids: Sequence[int],
    text: str,
    photo_id: int | None,
) -> list[PreviewLine]:
    """One line per chosen connection (every usable one when none is chosen yet): what that platform would get."""
    usable = await _usable(session, access.account_id)
    chosen = [c for c in usable if c.id in set(connection_ids)] or usable
    asset = await media_q.get(session, access.account_id, photo_id) if photo_id is not None else None
    media = _draft_media(asset) if asset is not None and _attachable_photo(asset) else ()
    limits = configured_limits(runtime.settings)
    lines: list[PreviewLine] = []
    for connection in chosen:
        problems = check_target(DraftTarget(provider=connection.provider, caption=text, media=media), limits)
        if not text.strip():  # nothing typed yet: the form asks for text anyway, so say what else stands in the way
            problems = [p for p in problems if not p.field.startswith("captions.")]
        parts = [f"{len(text):,} of {_caption_limit(connection.provider, limits):,} characters"]
        if media and media[0].status is not MediaStatus.ready:
            parts.append(f"{media[0].filename}, its versions still being prepared")
        elif media:
            parts.append(_photo_version(connection.provider, media[0]))
        else:
            parts.append("no photo")
        if connection.status is not ConnectionStatus.active:
            parts.append("waits until it is reconnected")
        parts.extend(p.message for p in problems)
        lines.append(PreviewLine(label_for(connection), " · ".join(parts), ok=not problems))
    return lines


async def submit(runtime: Runtime, session: AsyncSession, access: VenueAccess, form: FormInput) -> ChatScheduled:
    """Schedule the form's post with the API's `create_post`, or FormInvalid naming every field that is wrong."""
    errors: dict[str, str] = {}
    tz = await account_timezone(session, access.account_id)
    text = form.text.strip()
    if not text:
        errors[TEXT] = "Write the post's text."
    by_id = {c.id: c for c in await _usable(session, access.account_id)}
    chosen = [by_id.get(i) for i in dict.fromkeys(form.connection_ids)]
    if not form.connection_ids:
        errors[CONNECTIONS] = "Choose at least one connection to post to."
    elif None in chosen:
        errors[CONNECTIONS] = "One of these connections is no longer connected to this venue; choose again."
    media: tuple[DraftMedia, ...] = ()
    if form.photo_id is not None:
        asset = await media_q.get(session, access.account_id, form.photo_id)
        if asset is None or not _attachable_photo(asset):
            errors[PHOTO] = "That photo is no longer in the venue's library (or isn't ready); choose another or none."
        else:
            media = _draft_media(asset)
    instant = _when(form, tz, runtime.clock.now(), errors)
    if TEXT not in errors and CONNECTIONS not in errors:
        _rules(runtime, [c for c in chosen if c is not None], text, media, errors)
    if errors or instant is None:
        raise FormInvalid(errors)
    draft = PostDraft(
        text=text,
        when=instant.isoformat(),
        connection_ids=list(dict.fromkeys(form.connection_ids)),
        media_ids=[m.asset_id for m in media],
    )
    try:
        saved = await create_post(runtime, session, access, draft)
    except (PostTimeInvalid, Invalid) as exc:
        raise FormInvalid({_field_of(exc): _sentence(exc.message)}) from exc
    return ChatScheduled(saved)


def _when(form: FormInput, tz: str, now: datetime, errors: dict[str, str]) -> datetime | None:
    """The UTC instant of the form's date and time on the venue's clock; a refusal is noted on DATE or TIME."""
    if not form.day:
        errors[DATE] = "Choose a day."
    if not form.at:
        errors[TIME] = "Choose a time."
    if not form.day or not form.at:
        return None
    try:
        return resolve_when(f"{form.day}T{form.at}", tz, now=now)
    except PostTimeInvalid as exc:
        past_day = exc.reason == "past" and form.day < now.astimezone(zone(tz)).date().isoformat()
        message = _sentence(exc.message)
        if exc.reason == "ambiguous":
            message += " Choose a time outside that repeated hour, or type it with /cheers schedule."
        errors[DATE if past_day or exc.reason == "unparseable" else TIME] = message
        return None


def _rules(
    runtime: Runtime,
    chosen: Sequence[Connection],
    text: str,
    media: tuple[DraftMedia, ...],
    errors: dict[str, str],
) -> None:
    """What a platform refuses, on the field to change: text for captions, photo for media, else connections."""
    limits = configured_limits(runtime.settings)
    found: dict[str, list[str]] = {}
    for connection in chosen:
        for problem in check_target(DraftTarget(provider=connection.provider, caption=text, media=media), limits):
            where = (
                TEXT if problem.field.startswith("captions.") else PHOTO if problem.field == "media" else CONNECTIONS
            )
            found.setdefault(where, []).append(f"{label_for(connection)}: {problem.message}")
    for where, messages in found.items():
        errors.setdefault(where, " ".join(dict.fromkeys(messages)))


def _field_of(exc: DomainError) -> str:
    field = str(exc.extra.get("field") or "")
    if field in ("scheduled_at", "fold"):
        return TIME
    if field == "media_ids" or field == "media":
        return PHOTO
    if field.startswith("captions."):
        return TEXT
    return CONNECTIONS


async def _usable(session: AsyncSession, account_id: int) -> list[Connection]:
    return [
        c
        for c in await connections_q.list_for_account(session, account_id)
        if c.status is not ConnectionStatus.disconnected
    ]


def _ready_photo(asset: MediaAsset) -> bool:
    return asset.kind is MediaKind.image and asset.status is MediaStatus.ready


def _attachable_photo(asset: MediaAsset) -> bool:
    # A photo just sent in a chat (Telegram's flow) is still being prepared: create_post takes it, and publishing
    # waits for its versions (core.publishing.media), as it does for one uploaded through the API.
    return asset.kind is MediaKind.image and asset.status in (
        MediaStatus.ready,
        MediaStatus.pending,
        MediaStatus.processing,
    )


def _draft_media(asset: MediaAsset) -> tuple[DraftMedia, ...]:
    return (DraftMedia(asset.id, asset.kind, asset.status, asset.width, asset.height, asset.duration, asset.filename),)


def _caption_limit(provider: Provider, limits: RuleLimits) -> int:
    return {
        Provider.facebook: limits.facebook_text,
        Provider.instagram: limits.instagram_caption,
        Provider.google_business: limits.google_summary,
    }[provider]


def _photo_version(provider: Provider, photo: DraftMedia) -> str:
    preset = PRESETS[image_preset(provider, "feed", photo.width, photo.height)]
    return f"{photo.filename} as {preset.label}, {preset.width}×{preset.height}"


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."
