"""The Meta twin's Instagram content publishing: containers, media_publish, the quota and media lists.

Behaviour follows docs/providers.md#instagram-business: containers process on the twin's clock, expire after
24 h, fail with an error subcode when a container fault says so, and publish at most once each.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sandbox.meta.content import Container, ContentStore, flag, graph_time, wanted_fields
from sandbox.meta.model import GraphError, InstagramAccount
from sandbox.meta.publish_media import check_media

CAROUSEL_LIMITS = (2, 10)
CAPTION_LIMIT = 2200
IG_TYPES = {"IMAGE", "VIDEO", "REELS", "STORIES", "CAROUSEL"}


def _required(media_type: str, image_url: str | None, video_url: str | None) -> str | None:
    """What is missing for this media type, as Meta words it ([UNVERIFIED] wording)."""
    if media_type == "IMAGE" and not image_url:
        return "media_type is required for video" if video_url else "image_url is required"
    if media_type in ("VIDEO", "REELS") and not video_url:
        return "video_url is required"
    if media_type == "STORIES" and not (image_url or video_url):
        return "image_url or video_url is required"
    return None


async def create_container(store: ContentStore, ig: InstagramAccount, p: dict[str, str]) -> dict[str, Any]:
    """POST /{ig}/media: an invisible container that processes for a while (docs/providers.md#instagram-containers)."""
    media_type = (p.get("media_type") or "IMAGE").upper()
    image_url, video_url = p.get("image_url") or None, p.get("video_url") or None
    caption = p.get("caption", "")
    item = flag(p.get("is_carousel_item"), default=False)
    if media_type not in IG_TYPES:
        raise GraphError(100, f"(#100) The media type {media_type} is not supported", subcode=2207023)
    if len(caption) > CAPTION_LIMIT:
        raise GraphError(100, "(#100) The caption is too long", subcode=2207010)
    if missing := _required(media_type, image_url, video_url):
        raise GraphError(100, f"(#100) The parameter {missing}")
    if item and media_type not in ("IMAGE", "VIDEO"):
        raise GraphError(100, "(#100) Only images and videos can be carousel items", subcode=2207028)
    children = _children(store, ig, p.get("children", "")) if media_type == "CAROUSEL" else []
    if store.settings.fetch_media:
        if image_url:
            await check_media(image_url, kind="image", aspect=media_type == "IMAGE")
        if video_url:
            await check_media(video_url, kind="video")
    now = store.now()
    ready = now + timedelta(seconds=store.processing_seconds(media_type, video_url))
    container = Container(
        id=store.new_id("1790"),
        ig_user_id=ig.id,
        media_type=media_type,
        created_at=now,
        ready_at=ready,
        caption="" if item else caption,
        image_url=image_url,
        video_url=video_url,
        cover_url=p.get("cover_url") or None,
        children=children,
        is_carousel_item=item,
    )
    fault = store.take_container_fault(media_type)
    if fault is not None:
        container.ready_at = None  # "expired": IN_PROGRESS until the 24 h expiry
        if fault.outcome == "error":
            after = fault.after_seconds if fault.after_seconds is not None else (ready - now).total_seconds()
            container.error_at, container.error_subcode = now + timedelta(seconds=after), fault.subcode
    store.containers[container.id] = container
    return {"id": container.id}


def _children(store: ContentStore, ig: InstagramAccount, raw: str) -> list[str]:
    """`children` as a comma list or a JSON list of this account's usable carousel items."""
    try:
        decoded = json.loads(raw) if raw.startswith("[") else raw.split(",")
    except ValueError as exc:
        raise GraphError(100, "(#100) children must be a list of container ids") from exc
    ids = [str(c).strip() for c in decoded if str(c).strip()]
    low, high = CAROUSEL_LIMITS
    if not low <= len(ids) <= high:
        raise GraphError(100, "(#100) The carousel has too little or too many attachments", subcode=2207028)
    for child_id in ids:
        child = store.containers.get(child_id)
        if child is None or child.ig_user_id != ig.id or not child.is_carousel_item:
            raise GraphError(100, f"(#100) Invalid carousel item {child_id}", subcode=2207028)
        if store.status(child)[0] in ("ERROR", "EXPIRED"):
            raise GraphError(100, f"(#100) Carousel item {child_id} cannot be used", subcode=2207028)
    return ids


def publish_container(store: ContentStore, ig: InstagramAccount, p: dict[str, str]) -> dict[str, Any]:
    """POST /{ig}/media_publish: FINISHED → visible media; publishing it again answers the same id."""
    container = store.containers.get(p.get("creation_id", ""))
    if container is None or container.ig_user_id != ig.id or container.is_carousel_item:
        raise GraphError(100, "(#100) The parameter creation_id must be a container of this account")
    status, subcode = store.status(container)
    if status == "PUBLISHED":  # [UNVERIFIED] real behaviour; the twin never makes a second post
        return {"id": container.media_id}
    if status == "EXPIRED":
        raise GraphError(9007, "The media builder has expired", subcode=2207008)
    if status != "FINISHED":
        raise GraphError(
            9007,
            "Media ID is not available",
            subcode=2207027 if status == "IN_PROGRESS" else subcode,
            user_title="Media not ready for publishing",
            user_msg="The media is not ready for publishing, please wait.",
        )
    if store.quota_used(ig.id) >= store.settings.quota_total:
        raise GraphError(
            9,
            "Application request limit reached",  # [UNVERIFIED] message text
            subcode=2207042,
            user_title="Maximum posts reached",
            user_msg="You have reached the maximum number of posts that can be published in 24 hours.",
        )
    return {"id": store.publish(container, ig.username).id}


def list_media(store: ContentStore, ig: InstagramAccount, edge: str, p: dict[str, str]) -> dict[str, Any]:
    """GET /{ig}/content_publishing_limit, /{ig}/media (feed and reels) and /{ig}/stories."""
    if edge == "content_publishing_limit":
        row: dict[str, Any] = {"quota_usage": store.quota_used(ig.id)}
        if "config" in wanted_fields(p):
            row["config"] = {
                "quota_total": store.settings.quota_total,
                "quota_duration": store.settings.quota_window_seconds,
            }
        return {"data": [row]}
    stories = edge == "stories"
    media = [m for m in reversed(store.visible_media(ig.id)) if (m.media_product_type == "STORY") == stories]
    limit = max(1, min(int(p.get("limit") or 25), 100))
    return {"data": [media_fields(store, m.id, wanted_fields(p)) for m in media[:limit]]}


def container_fields(store: ContentStore, container_id: str, wanted: set[str]) -> dict[str, Any]:
    status_code, status = store.status_text(store.containers[container_id])
    full = {"id": container_id, "status_code": status_code, "status": status}
    return {k: v for k, v in full.items() if k in wanted or k == "id"}


def media_fields(store: ContentStore, media_id: str, wanted: set[str]) -> dict[str, Any]:
    media = store.media[media_id]
    full: dict[str, Any] = {
        "id": media.id,
        "permalink": media.permalink,
        "media_type": media.media_type,
        "media_product_type": media.media_product_type,
        "caption": media.caption,
        "timestamp": graph_time(media.timestamp),
    }
    return {k: v for k, v in full.items() if k in wanted or k == "id"}
