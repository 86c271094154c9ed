"""Refuse cross-site browser posts to the unauthenticated forms (login link, the OAuth pick)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from core.errors import PermissionDenied
from core.settings import Settings

# "none" is a navigation the person started themselves (typed, bookmarked); only a page of ours is "same-origin".
_ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def require_same_origin(request: Request[Any, Any, Any], settings: Settings) -> None:
    """Refuse a browser post sent from another site; clients that send neither header (curl) pass."""
    fetch_site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    cross_site = fetch_site is not None and fetch_site.lower() not in _ALLOWED_FETCH_SITES
    # "null" is what browsers send from sandboxed frames and cross-site redirects: never our own page.
    if origin is not None and origin.lower() != _origin_of(settings.cheers_public_url):
        cross_site = True
    if cross_site:
        raise PermissionDenied(
            "this form was sent from another website, so it was refused",
            remedy=f"open the link directly in your browser, or use the form on {settings.cheers_public_url}",
        )
