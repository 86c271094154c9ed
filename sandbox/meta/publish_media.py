"""Optional media fetching for the Meta twin: is the URL reachable, and is an image's shape acceptable?

Off by default (PublishSettings.fetch_media): test URLs are often not served. When on, the twin
answers as docs/providers.md#graph-errors and #instagram-media-rules describe for unreachable media and bad
aspect ratios.
"""

from __future__ import annotations

import io

import httpx
from PIL import Image, UnidentifiedImageError

from sandbox.meta.model import GraphError

ASPECT_RANGE = (0.8, 1.91)  # Instagram feed images: 4:5 to 1.91:1
FETCH_TIMEOUT = 5.0


async def check_media(url: str, *, kind: str, aspect: bool = False) -> None:
    """Fetch `url`; raise the GraphError Meta answers when it cannot be used."""
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=True) as client:
            response = await client.get(url)
    except httpx.HTTPError:
        response = None
    if response is None or not response.is_success:
        if kind == "photo":
            raise GraphError(324, "(#324) Missing or invalid image file")
        raise GraphError(
            9004,
            "Only photo or video can be accepted as media type.",
            subcode=2207052,
            is_transient=False,
            user_title="Media download has failed. The media URI doesn't meet our requirements.",
            user_msg=f"The media could not be fetched from this URI: {url}",
        )
    if not aspect:
        return
    try:
        width, height = Image.open(io.BytesIO(response.content)).size
    except (UnidentifiedImageError, OSError) as exc:
        raise GraphError(9004, "Only photo or video can be accepted as media type.", subcode=2207005) from exc
    ratio = width / height if height else 0.0
    low, high = ASPECT_RANGE
    if not low <= round(ratio, 2) <= high:
        raise GraphError(
            36003, f"The submitted image with aspect ratio {ratio:.2f} cannot be published.", subcode=2207009
        )
