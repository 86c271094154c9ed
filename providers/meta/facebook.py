"""Facebook Pages: connect through Facebook Login, one target per Page the person ticked; publish to its feed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from providers.base import Finding, StoredCredentials, Target
from providers.errors import MetadataMissing, Permanent
from providers.meta.adapter import PUBLISH_TASKS, MetaAdapter
from providers.meta.publish import PublishCall, publish_call
from providers.publishing import MediaItem, Pending, Published, PublishRequest, Recorder, StepOutcome
from providers.reconcile import Candidate, Found, InDoubt, Verdict, judge, parse_time
from storage.enums import Provider

FACEBOOK_WEB = "https://www.facebook.com"
RECENT_FIELDS = "id,message,created_time,permalink_url"
RECENT_PAGE, RECENT_PAGES = 100, 5  # 500 posts in the window of one lost answer means we cannot be sure
# A video post is listed only once Facebook has processed the video (minutes) [UNVERIFIED].
VIDEO_VISIBILITY_DELAY = timedelta(minutes=10)


class FacebookAdapter(MetaAdapter):
    """Publishes to Facebook Pages with each Page's own token."""

    provider = Provider.facebook
    required_scopes: tuple[str, ...] = ("pages_show_list", "pages_manage_posts", "pages_read_engagement")
    page_fields = "id,name,access_token,category,tasks"

    async def _page_target(self, page: dict[str, Any], token: str) -> Target:
        """The Page with its token; `token_expires_at` None when it never expires (long-lived login)."""
        tasks = list(page.get("tasks") or [])
        return Target(
            provider=self.provider,
            external_id=str(page["id"]),
            name=str(page.get("name") or page["id"]),
            access_token=token,
            token_expires_at=await self.page_token_expiry(token),
            page_id=str(page["id"]),
            details={"tasks": tasks, "category": page.get("category"), "can_publish": bool(PUBLISH_TASKS & set(tasks))},
        )

    def _no_targets(self) -> MetadataMissing:
        return MetadataMissing(
            "No Facebook Page was shared with CheersAI.",
            provider=self.provider.value,
            remedy="Connect again and tick your venue's Page in the Facebook dialog (you must manage the Page).",
        )

    async def _target_findings(self, credentials: StoredCredentials) -> list[Finding]:
        page, reach = await self._reach_page(credentials, "id,name,tasks")
        if page is None:
            return [reach]
        tasks = page.get("tasks")
        return [reach, self._tasks_finding(list(tasks) if tasks is not None else None, str(page.get("name")))]

    # -- publishing (providers.publishing.Publisher) -------------------------------------------

    async def publish(
        self,
        credentials: StoredCredentials,
        request: PublishRequest,
        stage: Mapping[str, Any],
        recorder: Recorder,
    ) -> StepOutcome:
        """Text or link → feed; one photo → photos; several → unpublished photos then one feed post; video → videos."""
        if request.surface != "feed":
            raise Permanent(
                f"CheersAI can only post to a Facebook Page's feed, not as a {request.surface}.",
                provider=self.provider.value,
                remedy="Choose the feed for Facebook, or leave Facebook out of this post.",
            )
        images = [m for m in request.media if m.kind == "image"]
        videos = [m for m in request.media if m.kind == "video"]
        if videos and (images or len(videos) > 1):
            raise Permanent(
                "A Facebook post can carry several photos or one video, not both.",
                provider=self.provider.value,
                remedy="Keep either the photos or a single video for Facebook.",
            )
        call = publish_call(self.graph, credentials, recorder, "Facebook")
        page_id = credentials.page_id or credentials.external_id
        if videos:
            return await self._video(call, page_id, request, videos[0])
        if len(images) == 1:
            return await self._photo(call, page_id, _with_link(request), images[0])
        if images:
            photo_ids = [str(i) for i in stage.get("photo_ids") or []]
            if len(photo_ids) != len(images):
                return await self._upload_photos(call, page_id, images)
            media = {f"attached_media[{i}]": json.dumps({"media_fbid": pid}) for i, pid in enumerate(photo_ids)}
            return await self._feed(call, page_id, {"message": _with_link(request), **media}, "album")
        form = {"message": request.text, **({"link": request.link} if request.link else {})}
        return await self._feed(call, page_id, form, "link" if request.link else "status")

    async def _feed(self, call: PublishCall, page_id: str, form: dict[str, str], kind: str) -> Published:
        """POST /{page}/feed, the committing step; permalink from the answer or read afterwards."""
        body = await call.post(
            f"{page_id}/feed", "create post", form, may_publish=True, params={"fields": "id,permalink_url"}
        )
        post_id = str(body["id"])
        permalink = body.get("permalink_url") or await call.best_effort(post_id, "read permalink", "permalink_url")
        return Published(post_id, _absolute(permalink), details={"kind": kind})

    async def _photo(self, call: PublishCall, page_id: str, caption: str, image: MediaItem) -> Published:
        """One published photo: Facebook makes the post itself and answers its post_id."""
        form = {"url": image.url, "caption": caption, "published": "true"}
        body = await call.post(f"{page_id}/photos", "create photo post", form, may_publish=True)
        post_id = str(body.get("post_id") or body["id"])
        permalink = await call.best_effort(post_id, "read permalink", "permalink_url")
        return Published(post_id, _absolute(permalink), details={"kind": "photo", "photo_id": str(body["id"])})

    async def _upload_photos(self, call: PublishCall, page_id: str, images: list[MediaItem]) -> Pending:
        """Unpublished photos for one multi-photo post: invisible, so repeating them is harmless."""
        photo_ids = []
        for number, image in enumerate(images, start=1):
            form = {"url": image.url, "published": "false"}
            body = await call.post(f"{page_id}/photos", f"upload photo {number}", form, may_publish=False)
            photo_ids.append(str(body["id"]))
        return Pending(
            stage={"photo_ids": photo_ids},
            check_after=0.0,
            note=f"{len(photo_ids)} photos uploaded to Facebook; the post goes out next.",
        )

    async def _video(self, call: PublishCall, page_id: str, request: PublishRequest, video: MediaItem) -> Published:
        """POST /{page}/videos with the file's URL: the post appears once Facebook has processed it."""
        form = {"file_url": video.url, "description": _with_link(request)}
        body = await call.post(f"{page_id}/videos", "create video post", form, may_publish=True)
        video_id = str(body["id"])
        permalink = await call.best_effort(video_id, "read permalink", "permalink_url")
        return Published(video_id, _absolute(permalink), details={"kind": "video"})

    # -- reconciling (providers.reconcile.Reconciler) ------------------------------------------

    async def reconcile(self, credentials: StoredCredentials, doubt: InDoubt, recorder: Recorder) -> Verdict:
        """No idempotency key on Facebook: look among the Page's own posts for this text, made while the lost
        attempt ran (photo and video posts show their caption as the message)."""
        call = publish_call(self.graph, credentials, recorder, "Facebook")
        page_id = credentials.page_id or credentials.external_id
        request = doubt.request
        message = _with_link(request) if request.media else request.text
        posts, complete = await self._posts_between(call, page_id, doubt.window_start, doubt.window_end)
        video = any(m.kind == "video" for m in request.media)
        delay = max(doubt.visibility_delay, VIDEO_VISIBILITY_DELAY) if video else None
        verdict = judge(posts, message, doubt, "Facebook", complete=complete, visibility_delay=delay)
        if not isinstance(verdict, Candidate):
            return verdict
        details = {"found_after_lost_answer": True, "created_time": str(verdict.created_at)}
        return Found(verdict.external_id, _absolute(verdict.permalink), details=details)

    async def _posts_between(
        self, call: PublishCall, page_id: str, since: datetime, until: datetime
    ) -> tuple[list[Candidate], bool]:
        """The Page's own posts made between the two times, and whether that is all of them."""
        params = {
            "fields": RECENT_FIELDS,
            "since": str(int(since.timestamp())),
            "until": str(int(until.timestamp()) + 1),
            "limit": str(RECENT_PAGE),
        }
        found: list[Candidate] = []
        for _ in range(RECENT_PAGES):
            body = await call.get(f"{page_id}/published_posts", "reconcile: recent posts", params)
            found += [_candidate(row) for row in body.get("data") or []]
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return found, True
            params["after"] = str(after)
        return found, False


def _candidate(row: dict[str, Any]) -> Candidate:
    created = parse_time(row.get("created_time"))
    return Candidate(str(row["id"]), str(row.get("message") or ""), created, row.get("permalink_url"))


def _with_link(request: PublishRequest) -> str:
    """Photo and video posts have no link field: the link goes at the end of the text instead."""
    if request.link and request.link not in request.text:
        return f"{request.text}\n\n{request.link}".strip()
    return request.text


def _absolute(permalink: Any) -> str | None:
    """Graph answers some permalinks (videos) as paths on facebook.com."""
    if not permalink:
        return None
    text = str(permalink)
    return FACEBOOK_WEB + text if text.startswith("/") else text
