"""`GET /media/{token}`: serves a blob to whoever holds a signed, unexpired media link (providers)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, head
from litestar.response import Stream

from api.problems import problem
from core.errors import DomainError
from core.media.urls import MediaLinkExpired, MediaLinkInvalid, verify_media_token
from core.runtime import Runtime
from storage.blobs import BlobNotFound, BlobStat, BlobStoreUnavailable

# Links live an hour at most; a short private max-age spares a provider's retry a second fetch
# without letting shared caches keep venue media.
CACHE_CONTROL = "private, max-age=300"


def _headers(stat: BlobStat) -> dict[str, str]:
    return {
        "Content-Length": str(stat.size),
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        # Served from our own origin: never let an uploaded file run as a page.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Accept-Ranges": "none",
    }


def _refusal(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    status = 410 if isinstance(exc, MediaLinkExpired) else 403
    return problem(request, status, exc.message, code=exc.code, remedy=exc.remedy)


@get(
    "/media/{token:str}",
    tags=["media"],
    summary="A media file, for providers holding a signed link",
    security=[],
)
async def media_file(request: Request[Any, Any, Any], token: str, runtime: Runtime) -> Response[Any]:
    """Streams the blob: 403 for an altered link, 410 for an expired one, 404 once the file is gone."""
    try:
        key = verify_media_token(runtime.settings, runtime.clock, token)
    except (MediaLinkInvalid, MediaLinkExpired) as exc:
        return _refusal(request, exc)
    try:
        reader = await runtime.blobs.open(key)
    except BlobNotFound:
        return problem(request, 404, "this media file no longer exists", code="media_gone")
    except BlobStoreUnavailable as exc:
        return problem(request, 503, exc.message, code="media_store_unavailable", remedy="try again shortly")
    return Stream(reader, media_type=reader.stat.content_type, headers=_headers(reader.stat))


@head("/media/{token:str}", tags=["media"], summary="Headers of a media file (size, type)", security=[])
async def media_file_head(token: str, runtime: Runtime) -> Response[None]:
    """What a provider's pre-flight HEAD sees: the same checks and headers as GET, no body."""
    try:
        key = verify_media_token(runtime.settings, runtime.clock, token)
        stat = await runtime.blobs.stat(key)
    except (MediaLinkInvalid, MediaLinkExpired) as exc:
        return Response(None, status_code=410 if isinstance(exc, MediaLinkExpired) else 403)
    except BlobNotFound:
        return Response(None, status_code=404)
    except BlobStoreUnavailable:
        return Response(None, status_code=503)
    # Litestar leaves HEAD's headers to us (and renders no body for a `text/` media type).
    return Response(None, media_type=MediaType.TEXT, headers={**_headers(stat), "Content-Type": stat.content_type})


routes = [media_file, media_file_head]
