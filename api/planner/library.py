"""The planner's Library: the venue's media with each derivative's state, upload, retry, focal point and delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile

from api.deps import CSRF_HEADER
from api.form_upload import FORM_OVERHEAD_BYTES
from api.planner.auth import Viewer, require_role
from api.planner.posts import refusal
from api.planner.render import ToastKind, is_htmx, outcome, render
from api.routes.media import uploaded_file
from core.errors import Conflict, DomainError, Invalid
from core.media import library as media_core
from core.media.errors import MediaError, UploadMalformed
from core.media.imaging.presets import PRESETS
from core.media.jobs import POSTER_PRESET, VIDEO_PRESET
from core.media.library import AssetView
from core.runtime import Runtime
from storage.blobs import human_size
from storage.models import MediaKind, MediaStatus, Role
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

LIBRARY = "/planner/library"
PAGE_SIZE = 50
CHUNK = 1024 * 1024  # reading a form's spooled file back
# The versions each kind of file gets (core.media.jobs makes them), in the order the page lists them.
PRESET_LABELS: dict[MediaKind, dict[str, str]] = {
    MediaKind.image: {name: preset.label for name, preset in PRESETS.items()},
    MediaKind.video: {VIDEO_PRESET: "Video (MP4)", POSTER_PRESET: "Poster frame"},
}
# An asset's state in plain words and the badge tone it shows with.
STATUS_WORDS: dict[MediaStatus, tuple[str, str]] = {
    MediaStatus.pending: ("Waiting to be prepared", "info"),
    MediaStatus.processing: ("Being prepared", "info"),
    MediaStatus.ready: ("Ready", "ok"),
    MediaStatus.failed: ("Failed", "error"),
    MediaStatus.skipped: ("Using the original", "warning"),
}
WAITING = frozenset({MediaStatus.pending, MediaStatus.processing})


@dataclass(frozen=True)
class Version:
    """One derivative as the page shows it: its preset, its state in words, why, and its preview once made."""

    preset: str
    label: str
    words: str
    tone: str
    detail: str | None
    url: str | None


@dataclass(frozen=True)
class Item:
    """A library file: the asset's view, its state in words, one line per version and whether Retry is offered."""

    view: AssetView
    words: str
    tone: str
    size: str
    versions: tuple[Version, ...]
    retryable: bool  # failed, skipped, or ready but lacking a version (core.media.library.retry takes these)

    @property
    def asset_id(self) -> int:
        return self.view.asset.id


def _refused(exc: DomainError) -> str:
    """posts.refusal's words, keeping the message's first letter as core wrote it (a file name stays as named)."""
    said = refusal(exc)
    return exc.message[:1] + said[1:] if exc.message else said


def _versions(view: AssetView) -> tuple[Version, ...]:
    """Each preset's state: made (with its size and preview), left out (too small, with the numbers), or the
    asset's own state (waiting, failed, skipped) for a version not made yet."""
    a = view.asset
    made = {d.derivative.preset: d for d in view.derivatives}
    left_out = {u.preset: u for u in view.unusable_for}
    versions = []
    for preset, label in PRESET_LABELS[a.kind].items():
        d = made.get(preset)
        if preset in left_out and d is None:
            u = left_out[preset]
            versions.append(Version(preset, label, "Left out", "warning", f"{u.reason} {u.remedy}.", None))
        elif d is not None:
            size = f"{d.derivative.width}×{d.derivative.height} px, {human_size(d.derivative.byte_size)}"
            redo = " (being made again)" if a.status in WAITING else ""
            versions.append(Version(preset, label, "Ready" + redo, "ok", size, d.url))
        elif a.status is MediaStatus.ready:
            versions.append(
                Version(preset, label, "Not made", "warning", "Prepared before it existed: Retry makes it.", None)
            )
        else:  # not made yet: the file's own state (its why is shown once, above the versions)
            words, tone = STATUS_WORDS[a.status]
            versions.append(Version(preset, label, words, tone, None, None))
    return tuple(versions)


def _item(view: AssetView) -> Item:
    a = view.asset
    words, tone = STATUS_WORDS[a.status]
    made = [d.derivative.preset for d in view.derivatives]
    lacking = a.status is MediaStatus.ready and bool(media_core.missing_versions(a, made))
    retryable = lacking or a.status in (MediaStatus.failed, MediaStatus.skipped)
    return Item(view, words, tone, human_size(a.size), _versions(view), retryable)


@get("/library", name="planner.library")
async def library_page(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork, before: int | None = None
) -> Response[Any]:
    """The venue's files, newest first, 50 a page, each with every version's state and preview."""
    views = await media_core.list_assets(runtime, uow, viewer.access, before_id=before, limit=PAGE_SIZE, full=True)
    items = [_item(v) for v in views]
    limit = runtime.settings.media_max_upload_bytes
    return render(
        request,
        "planner/library.html",
        title="Library",
        items=items,
        editor=viewer.can(Role.editor),
        older=f"{LIBRARY}?before={items[-1].asset_id}" if len(items) == PAGE_SIZE else None,
        first_page=before is None,
        waiting=any(i.view.asset.status in WAITING for i in items),
        max_bytes=limit,
        too_large=_refused(media_core.too_large(limit)),
        here_url=f"{LIBRARY}?before={before}" if before is not None else LIBRARY,
    )


async def _within_limit(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Before anything reads the body: a file announced past the size limit is refused in core's words.

    The route takes no Litestar body limit (the limit is a setting, read here per request): the announced
    Content-Length, which the server holds the body to, must be present and within the media limit.
    """
    runtime: Runtime = request.app.state.runtime
    limit = runtime.settings.media_max_upload_bytes
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        log.info("planner_upload_refused", reason="no_length")
        return outcome(request, "The browser did not say how large the file is, so nothing was stored. Upload it "
                       "again from the Library's form.", redirect_to=LIBRARY, kind="error")  # fmt: skip
    if int(length) > limit + FORM_OVERHEAD_BYTES:
        log.info("planner_upload_refused", reason="too_large", length=int(length))
        return outcome(request, _refused(media_core.too_large(limit)), redirect_to=LIBRARY, kind="error")
    return None


async def _spooled(file: UploadFile) -> AsyncIterator[bytes]:
    try:
        while chunk := await file.read(CHUNK):
            yield chunk
    finally:
        await file.close()


async def _upload_of(request: Request[Any, Any, Any], limit: int) -> tuple[AsyncIterator[bytes], str | None]:
    """The file's bytes and name. With the CSRF token in a header (htmx) the body is still unread and streams
    through the API's own reader; a plain form's token is a field, so the guard parsed the form already
    (Litestar keeps the file in a temporary file) and its file is read back from there."""
    if request.headers.get(CSRF_HEADER):
        return await uploaded_file(request, limit, None)
    form = await request.form()
    file = next((v for _, v in form.multi_items() if isinstance(v, UploadFile) and v.filename), None)
    if file is None:
        raise UploadMalformed("The form has no file in it.", reason="no_file", remedy="choose a photo or video first")
    return _spooled(file), file.filename


@post(
    "/library/upload",
    name="planner.library_upload",
    status_code=303,
    request_max_body_size=None,  # _within_limit checks the announced size against the setting
    before_request=_within_limit,
)
async def upload(request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork) -> Response[Any]:
    """Upload a photo or video through the API's use-case; a file already in the library is pointed at."""
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    try:
        chunks, name = await _upload_of(request, runtime.settings.media_max_upload_bytes)
        result = await media_core.upload(runtime, uow, access, chunks, filename=name)
    except MediaError as exc:
        await uow.rollback()
        log.info("planner_upload_refused", reason=exc.reason, account_id=access.account_id)
        return outcome(request, _refused(exc), redirect_to=LIBRARY, kind="error")
    asset_id = result.asset.id
    log.info("planner_upload", asset_id=asset_id, duplicate=result.duplicate, account_id=access.account_id)
    kind: ToastKind = "info" if result.duplicate else "ok"
    answer = outcome(request, result.message, redirect_to=f"{LIBRARY}#asset-{asset_id}", kind=kind)
    if is_htmx(request):  # library.js scrolls to the file (a duplicate: the one already there) once the list reloads
        answer.headers["HX-Trigger"] = json.dumps(
            {"cheers:outcome": {"kind": kind}, "cheers:media": {"id": asset_id, "duplicate": result.duplicate}}
        )
    return answer


@post("/library/{asset_id:int}/retry", name="planner.library_retry", status_code=303)
async def retry(
    request: Request[Any, Any, Any], asset_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Prepare a failed or skipped file (or a ready one lacking a version) again from the start (the API's retry)."""
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    back = f"{LIBRARY}#asset-{asset_id}"
    try:
        asset = await media_core.retry(runtime, uow, access, asset_id)
    except Conflict as exc:
        await uow.rollback()
        log.info("planner_media_retry_refused", asset_id=asset_id, code=exc.code)
        return outcome(request, _refused(exc), redirect_to=back, kind="error")
    log.info("planner_media_retry", asset_id=asset_id, account_id=access.account_id)
    return outcome(request, f"Preparing {asset.filename} again.", redirect_to=back)


def _percent(raw: object, axis: str) -> float:
    try:
        value = float(raw) if isinstance(raw, str) else float("nan")
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 100.0:  # NaN fails too
        raise Invalid(f"The focal point's {axis} is a number from 0 to 100 (per cent)", field="focal_point")
    return value / 100.0


@post("/library/{asset_id:int}/focal-point", name="planner.library_focal_point", status_code=303)
async def focal_point(
    request: Request[Any, Any, Any], asset_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Set where crops centre, in per cent across and down; core makes a photo's versions again around it."""
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    form = await request.form()
    back = f"{LIBRARY}#asset-{asset_id}"
    try:
        x, y = _percent(form.get("x"), "across"), _percent(form.get("y"), "down")
        asset = await media_core.set_focal_point(runtime, uow, access, asset_id, x=x, y=y)
    except Invalid as exc:
        await uow.rollback()
        return outcome(request, _refused(exc), redirect_to=back, kind="error")
    log.info("planner_focal_point", asset_id=asset_id, x=x, y=y, account_id=access.account_id)
    again = " Its versions are being made again around it." if asset.status in WAITING else ""
    return outcome(request, f"Focal point of {asset.filename} saved.{again}", redirect_to=back)


@post("/library/{asset_id:int}/delete", name="planner.library_delete", status_code=303)
async def delete(
    request: Request[Any, Any, Any], asset_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Delete a file and its versions; refused, naming the posts, while a scheduled post uses it."""
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    try:
        message = await media_core.delete(runtime, uow, access, asset_id)
    except Conflict as exc:
        await uow.rollback()
        log.info("planner_media_delete_refused", asset_id=asset_id, code=exc.code)
        return outcome(request, _refused(exc), redirect_to=f"{LIBRARY}#asset-{asset_id}", kind="error")
    log.info("planner_media_deleted", asset_id=asset_id, account_id=access.account_id)
    return outcome(request, message, redirect_to=LIBRARY)


routes = [library_page, upload, retry, focal_point, delete]
