"""The Meta twin's publishing endpoints: Page feed, photos and videos, and the Instagram edges.

`route_content()` claims publishing paths (and reads of objects it created) before the generic Graph
routing in sandbox/meta/graph.py. Behaviour: docs/providers.md#what-the-twins-imitate; the state it changes
is sandbox/meta/content.py, the Instagram half is sandbox/meta/instagram.py. Writes honour the commit
faults (the post exists, then a 500 or a hang): how Meta really makes duplicates (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from typing import Any

from sandbox.meta.content import (
    ContentStore,
    PagePhoto,
    PagePost,
    PageVideo,
    flag,
    graph_time,
    parse_time,
    wanted_fields,
)
from sandbox.meta.instagram import container_fields, create_container, list_media, media_fields, publish_container
from sandbox.meta.model import GraphError, GraphRequest, InstagramAccount, Page, Token
from sandbox.meta.publish_media import check_media
from sandbox.meta.state import MetaTwinState

PAGE_EDGES = {"GET": {"feed", "published_posts"}, "POST": {"feed", "photos", "videos"}}
IG_EDGES = {"GET": {"media", "stories", "content_publishing_limit"}, "POST": {"media", "media_publish"}}
PAGE_SCOPES = ("pages_manage_posts", "pages_read_engagement")
PAGE_PERMISSION = (
    "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin "
    "with sufficient administrative permission"
)
IG_PERMISSION = "(#200) Requires instagram_content_publish permission to publish on this Instagram account"
PUBLISH_TASKS = {"CREATE_CONTENT", "MANAGE"}
NOT_FOUND = (
    "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing "
    "permissions, or does not support this operation."
)
GHOST_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
}
BAD_MEDIA = "(#100) attached_media must be a list of {media_fbid}"


async def route_content(state: MetaTwinState, req: GraphRequest, seg: list[str]) -> dict[str, Any] | None:
    """The answer for a publishing path, or None when the path is not about publishing."""
    edges = PAGE_EDGES.get(req.method, set()) | IG_EDGES.get(req.method, set())
    if len(seg) == 2 and seg[1] in edges:
        token = state.check_token(req.token)
        owner = token.page_id if seg[0] == "me" and token.kind == "PAGE" else seg[0]
        if owner is None or owner == "me":
            return None
        body = await _edge(state, token, owner, seg[1], req)
        if req.method == "POST":
            await _after_commit(state, req)
        return body
    if len(seg) == 1 and req.method == "GET" and state.content.owner_of(seg[0]) is not None:
        return read_object(state, state.check_token(req.token), seg[0], wanted_fields(req.params))
    return None


async def _edge(state: MetaTwinState, token: Token, owner: str, edge: str, req: GraphRequest) -> dict[str, Any]:
    p, store = req.params, state.content
    if owner in state.pages and edge in PAGE_EDGES[req.method]:
        if req.method == "GET":
            return list_posts(store, _page(state, token, owner, write=False), p)
        page = _page(state, token, owner, write=True)
        if edge == "feed":
            return create_post(store, page, p)
        if edge == "photos":
            return await create_photo(store, page, p)
        return create_video(store, page, p)
    if owner in state.instagram and edge in IG_EDGES[req.method]:
        ig = _instagram(state, token, owner, write=req.method == "POST")
        if req.method == "GET":
            return list_media(store, ig, edge, p)
        if edge == "media":
            return await create_container(store, ig, p)
        return publish_container(store, ig, p)
    if owner in state.pages or owner in state.instagram:
        raise GraphError(100, f"(#100) Tried accessing nonexisting field ({edge}) on this node type")
    raise GraphError(100, NOT_FOUND.format(method=req.method.lower(), id=owner), subcode=33)


async def _after_commit(state: MetaTwinState, req: GraphRequest) -> None:
    """Commit faults: the write above already happened; now answer 500, or hang before answering."""
    fault = state.take_fault(req.path, committed=True)
    if fault is None:
        return
    if fault.kind == "commit_then_hang":
        await asyncio.sleep(fault.seconds)
        return
    transient = True if fault.is_transient is None else fault.is_transient
    message = GHOST_MESSAGES.get(fault.code, "Service temporarily unavailable")
    raise GraphError(fault.code, message, status=500, is_transient=transient)


# -- who may do what -----------------------------------------------------------------------------


def _page(state: MetaTwinState, token: Token, page_id: str, *, write: bool) -> Page:
    """The Page if the token reaches it; writes need a Page token, both scopes and a content task."""
    page = next((p for p in state.granted_pages(token) if p.id == page_id), None)
    if page is None:
        raise GraphError(100, NOT_FOUND.format(method="post" if write else "get", id=page_id), subcode=33)
    scopes = state.grant_for(token).scopes
    if not write:
        if "pages_read_engagement" not in scopes:
            raise GraphError(10, "(#10) This endpoint requires the 'pages_read_engagement' permission")
        return page
    tasks = set(state.users[token.user_id].roles.get(page_id, []))
    if token.kind != "PAGE" or any(s not in scopes for s in PAGE_SCOPES) or not PUBLISH_TASKS & tasks:
        raise GraphError(200, PAGE_PERMISSION)
    return page


def _instagram(state: MetaTwinState, token: Token, ig_id: str, *, write: bool) -> InstagramAccount:
    """The account if a granted Page links it; reads need instagram_basic, writes instagram_content_publish."""
    if not any(p.instagram_id == ig_id for p in state.granted_pages(token)):
        raise GraphError(100, NOT_FOUND.format(method="post" if write else "get", id=ig_id), subcode=33)
    scopes = state.grant_for(token).scopes
    if "instagram_basic" not in scopes:
        raise GraphError(10, "(#10) Application does not have permission for this action")
    if write and "instagram_content_publish" not in scopes:
        raise GraphError(200, IG_PERMISSION)
    return state.instagram[ig_id]


# -- Facebook Page -------------------------------------------------------------------------------


def create_post(store: ContentStore, page: Page, p: dict[str, str]) -> dict[str, Any]:
    """POST /{page}/feed: a status, link or multi-photo post; scheduled when published=false + a time."""
    message, link = p.get("message", ""), p.get("link") or None
    media_ids = _attached_media(p)
    if not (message or link or media_ids):
        raise GraphError(100, "(#100) Missing message or attachment")
    published = flag(p.get("published"), default=True)
    scheduled = _scheduled(store, p.get("scheduled_publish_time"), published)
    photos = [store.photos.get(m) for m in media_ids]
    for media_id, photo in zip(media_ids, photos, strict=True):
        if photo is None or photo.page_id != page.id or photo.published or photo.attached_to:
            raise GraphError(100, f"(#100) Invalid media_fbid: {media_id}")
    _refuse_duplicate(store, page.id, message)
    post = store.add_post(
        page.id,
        "album" if media_ids else "link" if link else "status",
        message,
        created_time=scheduled or store.now(),
        link=link,
        published=published,
        scheduled_publish_time=scheduled,
        attached_media=media_ids,
    )
    for photo in photos:
        if photo is not None:
            photo.attached_to = post.id
    out: dict[str, Any] = {"id": post.id}
    if "permalink_url" in wanted_fields(p):  # [UNVERIFIED] that Meta answers it here; Postiz relies on it
        out["permalink_url"] = post.permalink_url
    return out


async def create_photo(store: ContentStore, page: Page, p: dict[str, str]) -> dict[str, Any]:
    """POST /{page}/photos: published → a visible post {id, post_id}; unpublished → {id}, no post."""
    url = p.get("url") or None
    if not url and "source" not in p:
        raise GraphError(324, "(#324) Requires upload file")
    if url and store.settings.fetch_media:
        await check_media(url, kind="photo")
    caption = p.get("caption") or p.get("message") or ""
    published = flag(p.get("published"), default=True)
    photo = PagePhoto(store.new_id("1300"), page.id, url, caption, published, store.now())
    store.photos[photo.id] = photo
    if not published:
        return {"id": photo.id}
    post = store.add_post(page.id, "photo", caption, created_time=store.now(), object_id=photo.id)
    photo.post_id = post.id
    return {"id": photo.id, "post_id": post.id}


def create_video(store: ContentStore, page: Page, p: dict[str, str]) -> dict[str, Any]:
    """POST /{page}/videos with file_url (or source): a visible video post, processing for a while."""
    file_url = p.get("file_url") or None
    if not file_url and "source" not in p and "fbuploader_video_file_chunk" not in p:
        raise GraphError(100, "(#100) Either file_url or source must be specified")
    now = store.now()
    ready_at = now + timedelta(seconds=store.settings.fb_video_processing_seconds)
    description, title = p.get("description", ""), p.get("title", "")
    video = PageVideo(store.new_id("1400"), page.id, file_url, description, title, now, ready_at)
    store.videos[video.id] = video
    post = store.add_post(page.id, "video", description or title, created_time=now, object_id=video.id)
    video.post_id = post.id
    return {"id": video.id}


def list_posts(store: ContentStore, page: Page, p: dict[str, str]) -> dict[str, Any]:
    """GET /{page}/feed or /published_posts: visible posts, newest first, with since/until/limit/after."""
    since, until = parse_time(p.get("since")), parse_time(p.get("until"))
    posts = [
        post
        for post in reversed(store.visible_posts(page.id))
        if (since is None or post.created_time >= since) and (until is None or post.created_time <= until)
    ]
    wanted = wanted_fields(p) or {"id", "message", "created_time"}
    limit = max(1, min(int(p.get("limit") or 25), 100))
    start = int(p["after"]) if p.get("after", "").isdigit() else 0
    out: dict[str, Any] = {"data": [post_fields(post, wanted) for post in posts[start : start + limit]]}
    if start + limit < len(posts):  # cursors are plain offsets here; clients treat them as opaque
        out["paging"] = {"cursors": {"after": str(start + limit)}, "next": f"{page.id}/feed?after={start + limit}"}
    return out


def post_fields(post: PagePost, wanted: set[str]) -> dict[str, Any]:
    full: dict[str, Any] = {
        "id": post.id,
        "created_time": graph_time(post.created_time),
        "permalink_url": post.permalink_url,
        "is_published": post.published,
    }
    if post.message:  # Graph leaves `message` out when there is none
        full["message"] = post.message
    return {k: v for k, v in full.items() if k in wanted or k == "id"}


def _refuse_duplicate(store: ContentStore, page_id: str, message: str) -> None:
    if store.duplicate_of(page_id, message) is None:
        return
    if store.settings.duplicate_code == 368:
        raise GraphError(
            368, "You've already posted this. Posting the same content repeatedly on Facebook isn't allowed."
        )
    raise GraphError(506, "(#506) Duplicate status message")


def _scheduled(store: ContentStore, raw: str | None, published: bool) -> datetime | None:
    if not raw:
        return None
    if published:  # [UNVERIFIED] wording
        raise GraphError(100, "(#100) You cannot specify a scheduled publish time on a published post")
    when = parse_time(raw)
    ahead = (when - store.now()).total_seconds() if when else -1.0
    if not store.settings.min_schedule_seconds <= ahead <= store.settings.max_schedule_seconds:
        raise GraphError(100, "(#100) The specified scheduled publish time is invalid.")
    return when


def _attached_media(p: dict[str, str]) -> list[str]:
    """attached_media as one JSON list (JSON bodies) or as attached_media[0], [1]… form fields."""
    raw_values = [p["attached_media"]] if p.get("attached_media") else []
    indexed = sorted((int(m.group(1)), v) for k, v in p.items() if (m := re.fullmatch(r"attached_media\[(\d+)]", k)))
    raw_values += [v for _, v in indexed]
    items: list[Any] = []
    for raw in raw_values:
        try:
            decoded = json.loads(raw)
        except ValueError as exc:
            raise GraphError(100, BAD_MEDIA) from exc
        items += decoded if isinstance(decoded, list) else [decoded]
    ids = [str(i["media_fbid"]) for i in items if isinstance(i, dict) and i.get("media_fbid")]
    if len(ids) != len(items):
        raise GraphError(100, BAD_MEDIA)
    return ids


# -- reading objects -----------------------------------------------------------------------------


def read_object(state: MetaTwinState, token: Token, object_id: str, wanted: set[str]) -> dict[str, Any]:
    """GET /{post|photo|video|container|media}; only when the token reaches its Page or account."""
    store = state.content
    owner = store.owner_of(object_id) or ""
    if owner in state.pages:
        _page(state, token, owner, write=False)
    else:
        _instagram(state, token, owner, write=False)
    if object_id in store.posts:
        return post_fields(store.posts[object_id], wanted or {"id", "message", "created_time"})
    if object_id in store.containers:
        return container_fields(store, object_id, wanted)
    if object_id in store.media:
        return media_fields(store, object_id, wanted)
    full: dict[str, Any]
    if object_id in store.photos:
        photo = store.photos[object_id]
        full = {"id": photo.id, "name": photo.caption, "created_time": graph_time(photo.created_time)}
    else:
        video = store.videos[object_id]
        status = store.video_status(video)
        full = {
            "id": video.id,
            "status": {"video_status": status, "processing_progress": 100 if status == "ready" else 50},
            "permalink_url": video.permalink_url,
            "description": video.description,
            "created_time": graph_time(video.created_time),
        }
    return {k: v for k, v in full.items() if k in wanted or k == "id"}
