"""Instagram business accounts: connect through Facebook Login, publish with the linked Page's token.

Publishing is container → status → media_publish (docs/providers.md#instagram-containers), one step per `publish` call:
only media_publish can make a post visible, so only its lost answers are `Transient(sent=True)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from providers.base import Finding, StoredCredentials, Target
from providers.errors import MetadataMissing, Permanent, PermissionMissing, ProviderError, RateLimited, Transient
from providers.meta.adapter import MetaAdapter
from providers.meta.publish import (
    ANY_MEDIA,
    DAILY_LIMIT,
    EXPIRED_CONTAINER,
    NOT_READY,
    QUOTA_RETRY_AFTER,
    PublishCall,
    instagram_reason,
    publish_call,
    subcode_in,
)
from providers.publishing import (
    MediaItem,
    Pending,
    Published,
    PublishingQuota,
    PublishRequest,
    Recorder,
    StepOutcome,
)
from providers.reconcile import Absent, Continue, Found, InDoubt, Unsure, Verdict
from storage.enums import Provider

IG_FIELDS = "id,username,name,profile_picture_url"
CAPTION_LIMIT = 2200
MAX_CAROUSEL = 10
DEFAULT_QUOTA = 50  # docs/providers.md#instagram-publish-and-quota; only used when Graph leaves `config` out
MAX_CONTAINERS = 3  # containers that may expire before we stop recreating them
IMAGE_WAIT, VIDEO_WAIT, MAX_WAIT = 5.0, 20.0, 300.0  # seconds between status checks
CLOCK_MARGIN = timedelta(minutes=10)  # our clock against Meta's when matching media after a lost answer
RECENT_FIELDS = "id,caption,permalink,timestamp"
LINK_REMEDY = (
    "In Meta Business Suite, link your Instagram professional account to the venue's Facebook Page "
    "(Settings → Linked accounts → Instagram), then connect Instagram again and tick that Page."
)


class InstagramAdapter(MetaAdapter):
    """Publishes to Instagram business accounts linked to the Pages the person ticked."""

    provider = Provider.instagram
    required_scopes: tuple[str, ...] = (
        "instagram_basic",
        "instagram_content_publish",
        "pages_show_list",
        "pages_read_engagement",
    )
    page_fields = f"id,name,access_token,tasks,instagram_business_account{{{IG_FIELDS}}}"

    async def _page_target(self, page: dict[str, Any], token: str) -> Target | None:
        """The Page's linked Instagram account, published to with the Page's token; None when unlinked."""
        ig = page.get("instagram_business_account")
        if not ig:
            return None
        if not ig.get("username"):  # some answers carry only the id inside the edge
            ig = await self.graph.get(str(ig["id"]), token=token, params={"fields": IG_FIELDS})
        username = str(ig.get("username") or ig["id"])
        return Target(
            provider=self.provider,
            external_id=str(ig["id"]),
            name=f"@{username}",
            access_token=token,
            token_expires_at=await self.page_token_expiry(token),
            page_id=str(page["id"]),
            ig_business_id=str(ig["id"]),
            details={
                "username": username,
                "page_name": page.get("name"),
                "tasks": list(page.get("tasks") or []),
                "profile_picture_url": ig.get("profile_picture_url"),
            },
        )

    def _no_targets(self) -> MetadataMissing:
        return MetadataMissing(
            "None of the Facebook Pages you shared has an Instagram professional account linked.",
            provider=self.provider.value,
            remedy=LINK_REMEDY,
        )

    async def _target_findings(self, credentials: StoredCredentials) -> list[Finding]:
        page, reach = await self._reach_page(credentials, "id,name,tasks,instagram_business_account")
        if page is None:
            return [reach]
        name = str(page.get("name"))
        tasks = page.get("tasks")
        findings = [reach, self._tasks_finding(list(tasks) if tasks is not None else None, name)]
        linked = (page.get("instagram_business_account") or {}).get("id")
        expected = credentials.ig_business_id or credentials.external_id
        if linked is None:
            message = f"No Instagram account is linked to {name} any more."
            findings.append(Finding("instagram_linked", False, message, LINK_REMEDY))
        elif str(linked) != expected:
            message = f"{name} is now linked to a different Instagram account."
            remedy = "Connect Instagram again to pick up the account now linked to the Page."
            findings.append(Finding("instagram_linked", False, message, remedy))
        else:
            findings.append(Finding("instagram_linked", True, f"The Instagram account is still linked to {name}."))
        return findings

    # -- publishing (providers.publishing.Publisher) -------------------------------------------

    async def publish(
        self,
        credentials: StoredCredentials,
        request: PublishRequest,
        stage: Mapping[str, Any],
        recorder: Recorder,
    ) -> StepOutcome:
        """Create the container (Pending), wait while it processes (Pending), then media_publish (Published)."""
        plan = _Plan.of(request)
        call = publish_call(self.graph, credentials, recorder, "Instagram", plan.sent)
        ig_id = credentials.ig_business_id or credentials.external_id
        state = dict(stage)
        if state.get("container_id"):
            return await self._advance(call, ig_id, plan, state)
        if plan.kind == "carousel":
            return await self._prepare_carousel(call, ig_id, plan, state)
        return await self._create(call, ig_id, plan, state, children=None)

    async def _create(
        self, call: PublishCall, ig_id: str, plan: _Plan, state: dict[str, Any], *, children: list[str] | None
    ) -> Pending:
        """POST /{ig}/media: an invisible container, so a lost answer is harmless (sent=False)."""
        made = int(state.get("containers") or 0)
        if made >= MAX_CONTAINERS:
            raise Permanent(
                f"Instagram let the post expire {made} times before it was ready.",
                provider=self.provider.value,
                remedy="Publish it again later; if it keeps happening, try a smaller photo or a shorter video.",
            )
        body = await call.post(f"{ig_id}/media", "create container", plan.form(children), may_publish=False)
        new_state = {
            **state,
            "kind": plan.kind,
            "container_id": str(body["id"]),
            "created_at": self._now().isoformat(),
            "checks": 0,
            "containers": made + 1,
        }
        return Pending(new_state, check_after=plan.wait(0), note="Instagram is preparing the post.")

    async def _prepare_carousel(self, call: PublishCall, ig_id: str, plan: _Plan, state: dict[str, Any]) -> Pending:
        """Create the missing carousel items, and the carousel itself once every item is FINISHED."""
        known: list[str | None] = list(state.get("children") or [])
        if len(known) != len(plan.media):
            known = [None] * len(plan.media)
        ids: list[str] = []
        for number, (item, child) in enumerate(zip(plan.media, known, strict=True), start=1):
            if child is None:
                form, step = _item_form(item), f"create carousel item {number}"
                child = str((await call.post(f"{ig_id}/media", step, form, may_publish=False))["id"])
            ids.append(child)
        statuses = [await self._status(call, child, f"carousel item {n} status") for n, child in enumerate(ids, 1)]
        for number, (code, text) in enumerate(statuses, start=1):
            if code == "ERROR":
                raise _container_error(text, _noun(plan.media[number - 1]), f"Item {number} of the carousel: ")
        children = [None if code == "EXPIRED" else c for c, (code, _) in zip(ids, statuses, strict=True)]
        state = {**state, "kind": plan.kind, "children": children}
        if None in children:
            return Pending(state, check_after=0.0, note="An Instagram carousel item expired; preparing it again.")
        if any(code != "FINISHED" for code, _ in statuses):
            checks = int(state.get("checks") or 0) + 1
            note = "Instagram is still processing the carousel items."
            return Pending({**state, "checks": checks}, check_after=plan.wait(checks), note=note)
        return await self._create(call, ig_id, plan, {**state, "checks": 0}, children=ids)

    async def _advance(self, call: PublishCall, ig_id: str, plan: _Plan, state: dict[str, Any]) -> StepOutcome:
        """The container's status decides: wait, publish, recreate, or explain the failure."""
        code, text = await self._status(call, str(state["container_id"]), "container status")
        if code == "IN_PROGRESS":
            checks = int(state.get("checks") or 0) + 1
            note = f"Instagram is still processing the {'video' if plan.has_video else 'post'}."
            return Pending({**state, "checks": checks}, check_after=plan.wait(checks), note=note)
        if code == "FINISHED":
            return await self._publish(call, ig_id, plan, state)
        if code == "PUBLISHED":  # an earlier media_publish went through but its answer was lost
            return await self._already_published(call, ig_id, plan, state)
        if code == "ERROR":
            raise _container_error(text, plan.sent)
        if code == "EXPIRED":
            return await self._recreate(call, ig_id, plan, state)
        raise Transient(f"Instagram answered an unknown status ({code}).", provider=self.provider.value, sent=False)

    async def _recreate(self, call: PublishCall, ig_id: str, plan: _Plan, state: dict[str, Any]) -> Pending:
        """A container expired (24 h unpublished): start again with fresh ones."""
        fresh = {k: v for k, v in state.items() if k not in ("container_id", "checks", "children", "created_at")}
        if plan.kind == "carousel":
            return await self._prepare_carousel(call, ig_id, plan, fresh)
        return await self._create(call, ig_id, plan, fresh, children=None)

    async def _publish(self, call: PublishCall, ig_id: str, plan: _Plan, state: dict[str, Any]) -> StepOutcome:
        """Check the quota first (a refused media_publish still costs a call), then the committing media_publish."""
        quota = await self._quota(call, ig_id)
        if quota is not None and quota.exhausted:
            raise RateLimited(
                f"Instagram's limit of {quota.total} posts per 24 hours is used up for this account.",
                retry_after=QUOTA_RETRY_AFTER,
                provider=self.provider.value,
                code=9,
                subcode=DAILY_LIMIT,
                remedy="It goes out by itself once the limit frees up; nothing to do unless it is urgent.",
            )
        container_id = str(state["container_id"])
        try:
            body = await call.post(f"{ig_id}/media_publish", "publish", {"creation_id": container_id}, may_publish=True)
        except ProviderError as exc:
            if exc.subcode == NOT_READY:
                checks = int(state.get("checks") or 0) + 1
                note = "Instagram is not ready to publish it yet."
                return Pending({**state, "checks": checks}, check_after=plan.wait(checks), note=note)
            if exc.subcode in EXPIRED_CONTAINER:
                return await self._recreate(call, ig_id, plan, state)
            raise
        media_id = str(body["id"])
        permalink = await call.best_effort(media_id, "read permalink", "permalink")
        return Published(media_id, permalink, details={"container_id": container_id, "kind": plan.kind})

    async def _already_published(self, call: PublishCall, ig_id: str, plan: _Plan, state: dict[str, Any]) -> Published:
        """Find the media among the account's latest (containers do not name their media): same caption, newer."""
        container_id = str(state["container_id"])
        edge = "stories" if plan.kind == "story" else "media"
        try:
            body = await call.get(f"{ig_id}/{edge}", "find published media", {"fields": RECENT_FIELDS, "limit": "25"})
        except ProviderError:
            body = {}
        since = _parse_time(str(state.get("created_at") or "")) - CLOCK_MARGIN
        for media in body.get("data") or []:
            if (media.get("caption") or "") == plan.caption and _parse_time(str(media.get("timestamp"))) >= since:
                details = {"container_id": container_id, "kind": plan.kind, "found_after_lost_answer": True}
                return Published(str(media["id"]), media.get("permalink"), details=details)
        details = {"container_id": container_id, "kind": plan.kind, "media_id_unknown": True}
        return Published(container_id, None, details=details)

    # -- reconciling (providers.reconcile.Reconciler) ------------------------------------------

    async def reconcile(self, credentials: StoredCredentials, doubt: InDoubt, recorder: Recorder) -> Verdict:
        """Only media_publish of the staged container can have published: its status_code says whether it did."""
        state = dict(doubt.stage)
        if not state.get("container_id"):
            return Absent("Instagram never got a publish request for it: only unpublished containers were made")
        call = publish_call(self.graph, credentials, recorder, "Instagram")
        code, _ = await self._status(call, str(state["container_id"]), "reconcile: container status")
        if code == "PUBLISHED":
            ig_id = credentials.ig_business_id or credentials.external_id
            live = await self._already_published(call, ig_id, _Plan.of(doubt.request), state)
            return Found(live.external_id, live.permalink, details=live.details)
        if code == "EXPIRED":  # never published, and unusable: a fresh container (the stage keeps the count)
            fresh = {k: v for k, v in state.items() if k not in ("container_id", "checks", "children", "created_at")}
            return Continue(fresh, "Instagram's container expired unpublished; preparing it again")
        if code in ("FINISHED", "IN_PROGRESS", "ERROR"):
            # Not published. ERROR too: the engine then fails it with Instagram's own reason (a new container
            # would most likely fail the same way, and hide why).
            return Continue(state, f"Instagram has not published it (container {code})")
        return Unsure(f"Instagram answered a container status CheersAI does not know ({code or 'none'}).")

    async def _status(self, call: PublishCall, container_id: str, step: str) -> tuple[str, str]:
        body = await call.get(container_id, step, {"fields": "status_code,status"})
        return str(body.get("status_code") or ""), str(body.get("status") or "")

    async def _quota(self, call: PublishCall, ig_id: str) -> PublishingQuota | None:
        """content_publishing_limit; None when it cannot be read (media_publish will then say so itself)."""
        try:
            body = await call.get(
                f"{ig_id}/content_publishing_limit", "read publishing limit", {"fields": "quota_usage,config"}
            )
        except (Permanent, PermissionMissing, MetadataMissing):
            return None
        row = (body.get("data") or [{}])[0]
        config = row.get("config") or {}
        return PublishingQuota(
            used=int(row.get("quota_usage") or 0),
            total=int(config.get("quota_total") or DEFAULT_QUOTA),
            window_seconds=int(config.get("quota_duration") or 86400),
        )


@dataclass(frozen=True)
class _Plan:
    """What one delivery becomes on Instagram: an image, a carousel, a reel or a story."""

    kind: Literal["image", "carousel", "reel", "story"]
    media: tuple[MediaItem, ...]
    caption: str

    @classmethod
    def of(cls, request: PublishRequest) -> _Plan:
        """The plan, or a plain Permanent error for what Instagram cannot take."""
        media, surface = request.media, request.surface
        if not media:
            raise _refuse("Instagram needs a photo or video; this post has none.", "Add a photo or video.")
        if len(request.text) > CAPTION_LIMIT and surface != "story":
            raise _refuse("The caption is too long for Instagram (2,200 characters at most).", "Shorten the text.")
        if surface == "story":
            if len(media) > 1:
                raise _refuse("An Instagram story takes one photo or video.", "Keep one photo or video.")
            return cls("story", media, "")
        if surface == "reel" or (len(media) == 1 and media[0].kind == "video"):
            if len(media) > 1 or media[0].kind != "video":
                raise _refuse("An Instagram reel needs exactly one video.", "Keep a single video for the reel.")
            return cls("reel", media, request.text)
        if len(media) == 1:
            return cls("image", media, request.text)
        if len(media) > MAX_CAROUSEL:
            raise _refuse("An Instagram carousel takes at most 10 photos or videos.", "Remove some of them.")
        return cls("carousel", media, request.text)

    @property
    def has_video(self) -> bool:
        return any(m.kind == "video" for m in self.media)

    @property
    def sent(self) -> str:
        """What the post carries, in the words its errors use: "photo", "video", or "photo or video"."""
        nouns = {_noun(m) for m in self.media}
        return nouns.pop() if len(nouns) == 1 else ANY_MEDIA

    def wait(self, checks: int) -> float:
        """Seconds until the next status check: videos take longer; back off as checks pile up."""
        base = VIDEO_WAIT if self.has_video else IMAGE_WAIT
        return float(min(base * 1.5**checks, MAX_WAIT))

    def form(self, children: list[str] | None) -> dict[str, str]:
        """The container's parameters (docs/providers.md#instagram-containers)."""
        item = self.media[0]
        if self.kind == "carousel":
            return {"media_type": "CAROUSEL", "children": ",".join(children or []), "caption": self.caption}
        if self.kind == "story":
            key = "video_url" if item.kind == "video" else "image_url"
            return {"media_type": "STORIES", key: item.url}
        if self.kind == "reel":
            form = {"media_type": "REELS", "video_url": item.url, "caption": self.caption}
            return form | ({"cover_url": item.poster_url} if item.poster_url else {})
        return {"image_url": item.url, "caption": self.caption}


def _item_form(item: MediaItem) -> dict[str, str]:
    if item.kind == "video":
        return {"media_type": "VIDEO", "video_url": item.url, "is_carousel_item": "true"}
    return {"image_url": item.url, "is_carousel_item": "true"}


def _refuse(message: str, remedy: str) -> Permanent:
    return Permanent(message, provider=Provider.instagram.value, remedy=remedy)


def _noun(item: MediaItem) -> str:
    return "video" if item.kind == "video" else "photo"


def _container_error(status: str, sent: str, prefix: str = "") -> Permanent:
    """A container that ended in ERROR, in plain words from the subcode in its status text, about what was sent."""
    subcode = subcode_in(status)
    message, remedy = instagram_reason(subcode, sent)
    return Permanent(
        prefix + message,
        provider=Provider.instagram.value,
        code="ERROR",
        subcode=subcode,
        remedy=remedy,
        raw={"status_code": "ERROR", "status": status},
    )


def _parse_time(value: str) -> datetime:
    """Graph's "2026-11-05T10:00:00+0000" or our own ISO times; the distant past when unreadable."""
    for parse in (lambda v: datetime.strptime(v, "%Y-%m-%dT%H:%M:%S%z"), datetime.fromisoformat):
        try:
            parsed = parse(value)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)
