"""Media library API: upload (a multipart form or the raw body, streamed), list, view, delete, retry, focal point."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import structlog
from litestar import Request, Response, delete, get, patch, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from pydantic import BaseModel, Field

from api.deps import require
from api.form_upload import first_file
from core.access.policy import VenueAccess
from core.media import library as media_core
from core.media.errors import UploadMalformed
from core.media.library import AssetView
from core.runtime import Runtime
from storage.models import Role
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)


class DerivativeOut(BaseModel):
    preset: str
    width: int
    height: int
    byte_size: int
    content_type: str
    url: str = Field(description="Signed and short-lived: ask again rather than storing it")


class UnusableOut(BaseModel):
    platform: str = Field(description="facebook, instagram or google_business")
    surface: str = Field(description="feed or story")
    preset: str = Field(description="the derivative that was left out")
    reason: str = Field(description="why, in numbers: the crop this photo gives and the platform's minimum")
    remedy: str


class AssetOut(BaseModel):
    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    status: str = Field(description="pending, processing, ready, failed or skipped")
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    width: int | None
    height: int | None
    duration: float | None
    focal_point: list[float]
    preview_url: str | None
    original_url: str | None = None
    derivatives: list[DerivativeOut] | None = None
    unusable_for: list[UnusableOut] = Field(
        default_factory=list,
        description="Platforms this photo is too small for (their versions were left out); usable everywhere else",
    )
    created_at: datetime


class UploadOut(BaseModel):
    duplicate: bool = Field(description="True when the venue already had this exact file (that asset is returned)")
    message: str
    asset: AssetOut


def _out(view: AssetView, *, full: bool = True) -> AssetOut:
    a = view.asset
    return AssetOut(
        id=a.id,
        kind=a.kind.value,
        filename=a.filename,
        content_type=a.content_type,
        size=a.size,
        sha256=a.sha256,
        status=a.status.value,
        attempts=a.attempts,
        last_error=a.last_error,
        next_attempt_at=a.next_attempt_at,
        width=a.width,
        height=a.height,
        duration=a.duration,
        focal_point=[a.focal_x, a.focal_y],
        preview_url=view.preview_url,
        original_url=view.original_url,
        derivatives=[
            DerivativeOut(
                preset=d.derivative.preset,
                width=d.derivative.width,
                height=d.derivative.height,
                byte_size=d.derivative.byte_size,
                content_type=d.derivative.content_type,
                url=d.url,
            )
            for d in view.derivatives
        ]
        if full
        else None,
        unusable_for=[
            UnusableOut(platform=u.provider.value, surface=u.surface, preset=u.preset, reason=u.reason, remedy=u.remedy)
            for u in view.unusable_for
        ],
        created_at=a.created_at,
    )


async def _body(request: Request[Any, Any, Any], limit: int) -> AsyncIterator[bytes]:
    """The raw body in chunks as they arrive; Litestar's own cut-off at the limit says it plainly."""
    try:
        async for chunk in request.stream():
            yield chunk
    except RequestEntityTooLarge:
        raise media_core.too_large(limit) from None


async def uploaded_file(
    request: Request[Any, Any, Any], limit: int, filename: str | None
) -> tuple[AsyncIterator[bytes], str | None]:
    """The uploaded file's bytes and name: the first file of a multipart form, or else the raw body (the planner's
    Library reads its uploads through this too)."""
    body = _body(request, limit)
    filename = filename or request.headers.get("x-filename")
    media_type, options = request.content_type
    if media_type != "multipart/form-data":
        return body, filename
    form = await first_file(body, options.get("boundary", ""))
    if form is None:
        raise UploadMalformed(
            "The form has no file in it.",
            reason="no_file",
            remedy="attach the photo or video as a file field, e.g. curl -F file=@photo.jpg",
        )
    # The name and declared type are hints: what the file is comes from its first bytes (sniffed in core).
    log.info("media_upload_form", field=form.field, declared_type=form.content_type)
    return form.chunks, filename or form.filename


@post(
    "/api/media",
    tags=["media"],
    summary="Upload a photo or video (a multipart form's file, or the raw file as the body)",
    description="Either a multipart/form-data form (a browser form, curl -F file=@photo.jpg; the first file "
    "field is taken, whatever its name, with its filename), or the file's bytes as the body and its name as "
    "?filename= or X-Filename. 413 past the size limit, 415 for anything but a photo or video, 400 for a form "
    "without a file. The same file twice returns the asset already in the library, as GET /api/media/{id} "
    "shows it.",
    dependencies={"access": require(Role.editor, commit_sign_in=True)},
)
async def upload(
    request: Request[Any, Any, Any], access: VenueAccess, runtime: Runtime, uow: UnitOfWork, filename: str | None = None
) -> Response[UploadOut]:
    chunks, name = await uploaded_file(request, runtime.settings.media_max_upload_bytes, filename)
    result = await media_core.upload(runtime, uow, access, chunks, filename=name)
    # The same shape as GET /api/media/{id}: a duplicate that is ready shows its derivatives and links.
    view = await media_core.get(runtime, uow, access, result.asset.id)
    body = UploadOut(duplicate=result.duplicate, message=result.message, asset=_out(view))
    return Response(body, status_code=200 if result.duplicate else 201)


@get(
    "/api/media",
    tags=["media"],
    summary="The venue's media library, newest first",
    dependencies={"access": require(Role.viewer)},
)
async def list_media(
    access: VenueAccess, runtime: Runtime, uow: UnitOfWork, before_id: int | None = None, limit: int = 50
) -> list[AssetOut]:
    views = await media_core.list_assets(runtime, uow, access, before_id=before_id, limit=limit)
    return [_out(v, full=False) for v in views]


@get(
    "/api/media/{asset_id:int}",
    tags=["media"],
    summary="One file with its derivatives and fresh signed links",
    dependencies={"access": require(Role.viewer)},
)
async def get_media(asset_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> AssetOut:
    return _out(await media_core.get(runtime, uow, access, asset_id))


class MessageOut(BaseModel):
    message: str


@delete(
    "/api/media/{asset_id:int}",
    tags=["media"],
    summary="Delete a file and its derivatives (refused while a scheduled post uses it)",
    dependencies={"access": require(Role.editor)},
    status_code=200,
)
async def delete_media(asset_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> MessageOut:
    return MessageOut(message=await media_core.delete(runtime, uow, access, asset_id))


@post(
    "/api/media/{asset_id:int}/retry",
    tags=["media"],
    summary="Prepare a failed or skipped file, or a ready one lacking a version, again",
    dependencies={"access": require(Role.editor)},
    status_code=202,
)
async def retry_media(asset_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> AssetOut:
    asset = await media_core.retry(runtime, uow, access, asset_id)
    return _out(AssetView(asset), full=False)


class MediaPatch(BaseModel):
    focal_point: tuple[float, float] = Field(description="[x, y] fractions from the top left; crops centre here")


@patch(
    "/api/media/{asset_id:int}",
    tags=["media"],
    summary="Set where crops centre (the focal point)",
    dependencies={"access": require(Role.editor)},
)
async def patch_media(
    asset_id: int, data: MediaPatch, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> AssetOut:
    x, y = data.focal_point
    asset = await media_core.set_focal_point(runtime, uow, access, asset_id, x=x, y=y)
    return _out(AssetView(asset), full=False)


# `/api/media` (upload, and the list that shares its path) gets the media size limit: api.app mounts it
# on its own router. The others keep the app's small JSON limit. A GET never reads a body.
upload_routes = [upload, list_media]
routes = [get_media, delete_media, retry_media, patch_media]
