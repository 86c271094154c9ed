"""The planner's composer: a new post with per-platform captions, media from the library, targets, time and cutoff."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import structlog
from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template

from api.planner.auth import Viewer, require_role
from api.planner.library import STATUS_WORDS
from api.planner.posts import WALL_FORMAT, post_path, refusal, time_check
from api.planner.render import outcome, render, route_path
from core.access.policy import VenueAccess
from core.connections import lifecycle as connections_core
from core.connections.lifecycle import PROVIDER_LABEL
from core.errors import Conflict, Invalid, NotFound
from core.media import library
from core.media.imaging.presets import PRESETS
from core.media.jobs import POSTER_PRESET, VIDEO_PRESET
from core.media.library import AssetView
from core.media.platforms import PLATFORM_NAMES, image_preset, unusable_on
from core.posts import approval
from core.posts import service as posts_core
from core.posts.rules import HASHTAG, MENTION, DraftMedia, DraftTarget, RuleLimits, check_target, configured_limits
from core.posts.times import FIELD as TIME_FIELD
from core.posts.times import PostTimeInvalid, format_local
from core.runtime import Runtime
from storage.models import Connection, ConnectionStatus, MediaAsset, MediaKind, MediaStatus, Provider, Role
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

COMPOSE_PATH = "/planner/compose"
PLATFORMS = (Provider.facebook, Provider.instagram, Provider.google_business)
MEDIA_SHOWN = 50  # the newest of the library offered in the picker (core.media.library's default page)


@dataclass(frozen=True)
class Limit:
    """One live limit of a platform's text (from core.posts.rules): what is counted, the most allowed, the count."""

    what: str  # characters | hashtags | mentions
    maximum: int
    count: int

    @property
    def over(self) -> bool:
        return self.count > self.maximum


@dataclass(frozen=True)
class Caption:
    """A platform's own caption field (empty: the post's text goes there) with its limits counted."""

    provider: str
    platform: str
    value: str
    limits: tuple[Limit, ...]


@dataclass(frozen=True)
class Version:
    """The derivative one platform gets of one library item: its preset, size and crop, the image when ready."""

    provider: str
    platform: str
    preset: str
    label: str
    size: str
    crop: str
    url: str | None
    state: str
    usable: bool = True


@dataclass(frozen=True)
class Item:
    """A library item in the picker: its thumbnail, state and what each of the venue's platforms gets."""

    asset_id: int
    filename: str
    kind: str
    preview_url: str | None
    state: str
    chosen: bool
    versions: tuple[Version, ...]


@dataclass
class Draft:
    """What the form holds: kept as typed when the post is refused, so nothing has to be typed again."""

    text: str = ""
    captions: dict[str, str] = field(default_factory=dict)
    connection_ids: list[int] = field(default_factory=list)
    media_ids: list[int] = field(default_factory=list)
    when: str = ""
    fold: str | None = None
    freshness: str = ""
    link: str = ""


def caption_limits(provider: Provider, text: str, limits: RuleLimits) -> tuple[Limit, ...]:
    """The limits core.posts.rules checks on a platform's text, with `text` counted the way the rules count it."""
    if provider is Provider.instagram:
        return (
            Limit("characters", limits.instagram_caption, len(text)),
            Limit("hashtags", limits.instagram_hashtags, len(HASHTAG.findall(text))),
            Limit("mentions", limits.instagram_mentions, len(MENTION.findall(text))),
        )
    maximum = limits.facebook_text if provider is Provider.facebook else limits.google_summary
    return (Limit("characters", maximum, len(text)),)


def _versions(view: AssetView, providers: Sequence[Provider]) -> tuple[Version, ...]:
    """What each platform will be sent of this item (core.media.platforms picks the preset, as publishing does)."""
    asset = view.asset
    made = {d.derivative.preset: d for d in view.derivatives}
    versions: list[Version] = []
    for provider in providers:
        name = PLATFORM_NAMES[provider]
        if asset.kind is MediaKind.video:
            video, poster = made.get(VIDEO_PRESET), made.get(POSTER_PRESET)
            size = f"{video.derivative.width}×{video.derivative.height}" if video else "as filmed"
            state = "Ready" if video else _state(asset.status, asset.last_error, ready_without="No MP4 version")
            refused = _video_refused(provider, asset)
            versions.append(
                Version(provider.value, name, VIDEO_PRESET, "MP4 video", size, "uncropped",
                        poster.url if poster else None, refused or state, usable=refused is None)
            )  # fmt: skip
            continue
        preset = PRESETS[image_preset(provider, "feed", asset.width, asset.height)]
        derivative = made.get(preset.name)
        crop = "{}:{}".format(*preset.aspect)
        if derivative is not None:
            d = derivative.derivative
            versions.append(
                Version(provider.value, name, preset.name, preset.label, f"{d.width}×{d.height}", crop,
                        derivative.url, "Ready")
            )  # fmt: skip
            continue
        short = unusable_on(provider, "feed", asset.width, asset.height)
        if short is not None:
            state, usable = f"{short.reason} To post it there, {short.remedy}.", False
        else:
            state, usable = _state(asset.status, asset.last_error, ready_without="No version yet"), True
        width, height = (
            preset.fitted(asset.width, asset.height) if asset.width and asset.height else (preset.width, preset.height)
        )
        versions.append(
            Version(provider.value, name, preset.name, preset.label, f"{width}×{height}", crop, None, state, usable)
        )
    return tuple(versions)


def _video_refused(provider: Provider, asset: MediaAsset) -> str | None:
    """Why the rules refuse this video on `provider` on its own (Business Profile takes none; Instagram's lengths)."""
    alone = DraftMedia(asset.id, asset.kind, asset.status, asset.width, asset.height, asset.duration, asset.filename)
    problems = check_target(DraftTarget(provider, caption="", media=(alone,)))
    said = [p.message for p in problems if p.field == "media" and p.rule != "media.failed"]
    return " ".join(said) or None


def _state(status: MediaStatus, last_error: str | None, *, ready_without: str) -> str:
    if status is MediaStatus.failed:
        return f"Couldn't be prepared: {last_error or 'see the library'}"
    if status is MediaStatus.ready:
        return f"{ready_without}: press Retry on it in the library"
    return STATUS_WORDS[status][0]  # the Library's words for a file still waiting, or sent as uploaded


def _item(view: AssetView, providers: Sequence[Provider], chosen: Sequence[int]) -> Item:
    asset = view.asset
    state = "Ready" if asset.status is MediaStatus.ready else _state(asset.status, asset.last_error, ready_without="")
    return Item(
        asset.id, asset.filename, asset.kind.value, view.preview_url, state, asset.id in chosen,
        _versions(view, providers),
    )  # fmt: skip


def _usable(connection: Connection) -> bool:
    return connection.status is not ConnectionStatus.disconnected


async def _page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    runtime: Runtime,
    uow: UnitOfWork,
    access: VenueAccess,
    draft: Draft,
    *,
    status_code: int = 200,
    error: Invalid | Conflict | NotFound | None = None,
) -> Template:
    tz = viewer.venue.timezone
    now = runtime.clock.now()
    connections = [c for c in await connections_core.list_connections(uow.session, access) if _usable(c)]
    providers = [p for p in PLATFORMS if any(c.provider is p for c in connections)]
    limits = configured_limits(runtime.settings)
    captions = [
        Caption(p.value, PLATFORM_NAMES[p], draft.captions.get(p.value, ""),
                caption_limits(p, draft.captions.get(p.value) or draft.text, limits))
        for p in providers
    ]  # fmt: skip
    assets = await library.list_assets(runtime, uow, access, limit=MEDIA_SHOWN, full=True)
    problems: dict[str, list[str]] = {}
    messages: list[str] = []
    if error is not None:
        listed = error.extra.get("problems") or [{"field": error.extra.get("field", ""), "message": error.message}]
        for p in listed:
            said = refusal(Invalid(str(p["message"])))
            name = "when" if p["field"] == TIME_FIELD else str(p["field"])  # the time is the form's `when`
            problems.setdefault(name, []).append(said)
            messages.append(said)
        if error.remedy:
            messages.append(f"What to do: {refusal(Invalid(error.remedy))}")
    raw_choices = error.extra.get("choices", []) if error is not None else []
    return render(
        request,
        "planner/compose.html",
        title="New post",
        status_code=status_code,
        draft=draft,
        captions=captions,
        connections=[
            {
                "id": c.id,
                "label": f"{PROVIDER_LABEL[c.provider]} {c.display_name}",
                "provider": c.provider.value,
                "wait": posts_core.reconnect_wait(c),
                "chosen": c.id in draft.connection_ids,
            }
            for c in connections
        ],
        items=[_item(v, providers, draft.media_ids) for v in assets],
        library_url=route_path(request, "planner.library"),
        timezone=tz,
        freshness_default=runtime.settings.cheers_post_freshness_minutes,
        freshness_max=posts_core.MAX_FRESHNESS_MINUTES,
        approvers=await approval.waits_for(uow.session, access),
        problems=problems,
        messages=messages,
        captions_open=bool(draft.captions) or any(name.startswith("captions.") for name in problems),
        ambiguous=isinstance(error, PostTimeInvalid) and error.reason == "ambiguous",
        choices=[format_local(datetime.fromisoformat(c), tz, now=now) for c in raw_choices],
    )


@get("/compose", name="planner.compose", summary="Write a new post")
async def compose_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    runtime: Runtime,
    uow: UnitOfWork,
    when: Annotated[str | None, QueryParameter(name="when")] = None,
) -> Template:
    """The composer, empty (or at `?when=`, a local time from the week); editors only."""
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    draft = Draft(when=_wall(when) or "", freshness=str(runtime.settings.cheers_post_freshness_minutes))
    return await _page(request, viewer, runtime, uow, access, draft)


def _wall(value: str | None) -> str | None:
    """A `datetime-local` value from `?when=` (YYYY-MM-DDTHH:MM), or None when it is not one."""
    try:
        return datetime.strptime((value or "")[:16], WALL_FORMAT).strftime(WALL_FORMAT)
    except ValueError:
        return None


def _ids(values: Sequence[Any], name: str) -> list[int]:
    try:
        return [int(v) for v in values if str(v).strip()]
    except ValueError:
        raise Invalid(f"{name} must be numbers", field=name) from None


async def _draft(request: Request[Any, Any, Any]) -> Draft:
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    return Draft(
        text=text("text"),
        captions={p.value: text(f"captions.{p.value}") for p in PLATFORMS if text(f"captions.{p.value}").strip()},
        connection_ids=_ids(form.getall("connection_ids", []), "connection_ids"),
        media_ids=_ids(form.getall("media_ids", []), "media_ids"),
        when=text("when").strip(),
        fold=text("fold") or None,
        freshness=text("freshness_minutes").strip(),
        link=text("link").strip(),
    )


def _minutes(value: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid(
            f"the cutoff must be a number of minutes, not '{value[:20]}'", field="freshness_minutes"
        ) from None


@post("/compose", name="planner.compose_post", status_code=303)
async def compose_submit(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Schedule the post through the API's own use-case (core.posts.service.create_post); refused, the form comes
    back with why beside each field and everything as typed."""
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    draft = await _draft(request)
    try:
        if not draft.when:
            raise PostTimeInvalid("choose a date and time", reason="unparseable", field="when")
        saved = await posts_core.create_post(
            runtime, uow.session, access,
            posts_core.PostDraft(
                text=draft.text, when=draft.when, fold=draft.fold, connection_ids=draft.connection_ids,
                media_ids=draft.media_ids, link=draft.link or None, captions=draft.captions,
                freshness_minutes=_minutes(draft.freshness),
            ),
        )  # fmt: skip
    except (Invalid, Conflict, NotFound) as exc:
        await uow.rollback()  # nothing of a refused post may be committed with the page's transaction
        log.info("planner_compose_refused", account_id=access.account_id, code=exc.code)
        return await _page(request, viewer, runtime, uow, access, draft, status_code=422, error=exc)
    log.info("planner_post_created", post_id=saved.post.id, account_id=access.account_id)
    return outcome(request, saved.message, redirect_to=post_path(saved.post.id))


@get("/compose/time-check", name="planner.compose_time_check")
async def compose_time_check(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    runtime: Runtime,
    when: Annotated[str, QueryParameter(name="when")] = "",
    fold: Annotated[str | None, QueryParameter(name="fold")] = None,
) -> Template:
    """What a typed time means in the venue's zone before submitting (the clocks' gaps and overlaps explained)."""
    return time_check(when, fold, viewer.venue.timezone, runtime.clock.now())


routes = [compose_page, compose_submit, compose_time_check]
