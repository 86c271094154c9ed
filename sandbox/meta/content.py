"""The Meta twin's published content: Page posts, photos and videos, Instagram containers and media.

Plain data and the rules that only need the twin's clock (visibility, container status, the rolling
publish quota, duplicate detection). The Graph endpoints that change it are in sandbox/meta/publish.py;
the numbers Meta does not document firmly live in `PublishSettings` (docs/providers.md#what-the-twins-imitate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sandbox.clock import TwinClock
from sandbox.meta.model import GraphError

ContainerStatus = Literal["IN_PROGRESS", "FINISHED", "PUBLISHED", "ERROR", "EXPIRED"]
PostKind = Literal["status", "link", "photo", "album", "video"]
STATUS_TEXT = {  # [UNVERIFIED] wording except ERROR's (Postiz PR #1992)
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "EXPIRED": "Expired: Media was not published within 24 hours.",
}
VIDEO_TYPES = frozenset({"VIDEO", "REELS"})


def graph_time(value: datetime) -> str:
    """Graph's timestamp format, e.g. 2026-11-05T10:00:00+0000."""
    return value.strftime("%Y-%m-%dT%H:%M:%S+0000")


def wanted_fields(p: dict[str, str]) -> set[str]:
    """The flat `fields` parameter as a set (publishing objects have no nested fields)."""
    return {f.strip() for f in p.get("fields", "").split(",") if f.strip()}


def flag(raw: str | None, *, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("true", "1", "yes")


def parse_time(raw: str | None) -> datetime | None:
    """A unix timestamp or an ISO-8601 time (Graph accepts both for since/until/scheduled times)."""
    if not raw:
        return None
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw), UTC)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise GraphError(100, f"(#100) Invalid time: {raw}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class PublishSettings:
    """Knobs for behaviour Meta leaves vague; every one settable through /_twin/publishing."""

    image_processing_seconds: float = 0.0  # container IN_PROGRESS → FINISHED for images
    video_processing_seconds: float = 30.0  # … for Reels, video stories and video carousel items
    fb_video_processing_seconds: float = 30.0  # Page video "processing" → "ready"
    container_ttl_seconds: float = 86400.0  # unpublished containers become EXPIRED
    quota_total: int = 50  # Instagram posts per rolling window (Meta: 25, 50 or 100)
    quota_window_seconds: int = 86400
    duplicate_window_seconds: float = 86400.0  # [UNVERIFIED] how long a Page remembers a message
    duplicate_code: int = 506  # 506, 368, or 0 to accept duplicates (Meta is inconsistent)
    min_schedule_seconds: float = 600.0  # scheduled_publish_time window ([UNVERIFIED])
    max_schedule_seconds: float = 30 * 86400.0
    fetch_media: bool = False  # fetch image/video URLs at create time (off: test URLs may not be served)
    latency_ms: float = 0.0  # added before every Graph answer (benchmarks); the control interface is never slowed

    def update(self, values: dict[str, Any]) -> None:
        """Apply the known keys of `values`, coerced to each field's type."""
        for f in fields(self):
            value = values.get(f.name)
            if value is None:
                continue
            if isinstance(getattr(self, f.name), bool):
                setattr(self, f.name, flag(str(value), default=False))
            else:
                setattr(self, f.name, type(getattr(self, f.name))(value))


@dataclass
class PagePost:
    """A post on a Page's timeline (a status, a link, a published photo, an album or a video)."""

    id: str  # "{page}_{n}"
    page_id: str
    kind: PostKind
    message: str
    created_time: datetime
    link: str | None = None
    published: bool = True
    scheduled_publish_time: datetime | None = None
    attached_media: list[str] = field(default_factory=list)
    object_id: str | None = None  # the photo or video behind the post

    @property
    def permalink_url(self) -> str:
        return f"https://www.facebook.com/{self.page_id}/posts/{self.id.split('_', 1)[1]}"


@dataclass
class PagePhoto:
    id: str
    page_id: str
    url: str | None
    caption: str
    published: bool
    created_time: datetime
    post_id: str | None = None
    attached_to: str | None = None  # the album post an unpublished photo went into


@dataclass
class PageVideo:
    id: str
    page_id: str
    file_url: str | None
    description: str
    title: str
    created_time: datetime
    ready_at: datetime
    post_id: str | None = None

    @property
    def permalink_url(self) -> str:
        return f"https://www.facebook.com/{self.page_id}/videos/{self.id}/"


@dataclass
class ContainerFault:
    """What the next matching containers will do instead of finishing normally."""

    outcome: Literal["error", "expired"]  # error: ERROR after `after_seconds`; expired: never finishes
    remaining: int = 1
    subcode: int = 2207082
    after_seconds: float | None = None  # None: the normal processing time
    media_type: str | None = None  # only containers of this type (IMAGE, REELS, STORIES, VIDEO, CAROUSEL)


@dataclass
class Container:
    """An Instagram media container (invisible until media_publish)."""

    id: str
    ig_user_id: str
    media_type: str  # IMAGE, VIDEO, REELS, STORIES, CAROUSEL
    created_at: datetime
    ready_at: datetime | None  # None: never finishes on its own
    caption: str = ""
    image_url: str | None = None
    video_url: str | None = None
    cover_url: str | None = None
    children: list[str] = field(default_factory=list)
    is_carousel_item: bool = False
    error_at: datetime | None = None
    error_subcode: int | None = None
    media_id: str | None = None  # set once published


@dataclass
class IgMedia:
    """A published Instagram post, reel or story: what the account's followers see."""

    id: str
    ig_user_id: str
    container_id: str
    media_type: str  # IMAGE, VIDEO, CAROUSEL_ALBUM
    media_product_type: str  # FEED, REELS, STORY
    caption: str
    permalink: str
    timestamp: datetime


class ContentStore:
    """Everything published (or staged) at the twin, and the rules that depend only on time."""

    def __init__(self, clock: TwinClock) -> None:
        self.clock = clock
        self.settings = PublishSettings()
        self.posts: dict[str, PagePost] = {}
        self.photos: dict[str, PagePhoto] = {}
        self.videos: dict[str, PageVideo] = {}
        self.containers: dict[str, Container] = {}
        self.media: dict[str, IgMedia] = {}
        self.container_faults: list[ContainerFault] = []
        self.publishes: dict[str, list[datetime]] = {}  # ig user → times counted against the quota
        self._seq = 0

    def new_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:011d}"

    def now(self) -> datetime:
        return self.clock.now()

    # -- Facebook ------------------------------------------------------------------------------

    def is_visible(self, post: PagePost) -> bool:
        """Published now, or scheduled and its time has come."""
        if post.published:
            return True
        return post.scheduled_publish_time is not None and post.scheduled_publish_time <= self.now()

    def visible_posts(self, page_id: str | None = None) -> list[PagePost]:
        """Every post people can see, oldest first (what a test counts duplicates in)."""
        return [p for p in self.posts.values() if (page_id is None or p.page_id == page_id) and self.is_visible(p)]

    def duplicate_of(self, page_id: str, message: str) -> PagePost | None:
        """A visible post of the Page with this exact message inside the duplicate window."""
        if not message or not self.settings.duplicate_code:
            return None
        since = self.now() - timedelta(seconds=self.settings.duplicate_window_seconds)
        return next(
            (p for p in self.visible_posts(page_id) if p.message == message and p.created_time >= since),
            None,
        )

    def add_post(self, page_id: str, kind: PostKind, message: str, **extra: Any) -> PagePost:
        post = PagePost(id=f"{page_id}_{self.new_id('1200')}", page_id=page_id, kind=kind, message=message, **extra)
        self.posts[post.id] = post
        return post

    def owner_of(self, object_id: str) -> str | None:
        """The Page or Instagram account a publishing object belongs to (None: not one of ours)."""
        fb = self.posts.get(object_id) or self.photos.get(object_id) or self.videos.get(object_id)
        if fb is not None:
            return fb.page_id
        ig = self.containers.get(object_id) or self.media.get(object_id)
        return ig.ig_user_id if ig is not None else None

    def video_status(self, video: PageVideo) -> str:
        return "ready" if self.now() >= video.ready_at else "processing"

    # -- Instagram -----------------------------------------------------------------------------

    def take_container_fault(self, media_type: str) -> ContainerFault | None:
        for fault in self.container_faults:
            if fault.remaining > 0 and fault.media_type in (None, media_type):
                fault.remaining -= 1
                return fault
        return None

    def processing_seconds(self, media_type: str, video_url: str | None) -> float:
        if media_type in VIDEO_TYPES or video_url:
            return self.settings.video_processing_seconds
        return self.settings.image_processing_seconds

    def status(self, container: Container) -> tuple[ContainerStatus, int | None]:
        """The container's status_code now, and the error subcode when it is ERROR."""
        now = self.now()
        if container.media_id is not None:
            return "PUBLISHED", None
        if now >= container.created_at + timedelta(seconds=self.settings.container_ttl_seconds):
            return "EXPIRED", None
        if container.error_at is not None and now >= container.error_at:
            return "ERROR", container.error_subcode
        if container.ready_at is None or now < container.ready_at:
            return "IN_PROGRESS", None
        children = [self.status(self.containers[c]) for c in container.children]
        if any(code == "ERROR" for code, _ in children):
            return "ERROR", 2207028  # carousel validation failed
        if any(code == "EXPIRED" for code, _ in children):
            return "EXPIRED", None
        if any(code == "IN_PROGRESS" for code, _ in children):
            return "IN_PROGRESS", None
        return "FINISHED", None

    def status_text(self, container: Container) -> tuple[ContainerStatus, str]:
        code, subcode = self.status(container)
        if code == "ERROR":
            return code, f"Error: Media upload has failed with error code {subcode}"
        return code, STATUS_TEXT[code]

    def quota_used(self, ig_user_id: str) -> int:
        since = self.now() - timedelta(seconds=self.settings.quota_window_seconds)
        return sum(1 for at in self.publishes.get(ig_user_id, []) if at > since)

    def exhaust_quota(self, ig_user_id: str) -> None:
        """Fill the rolling window now, as if the account had published up to its limit elsewhere."""
        missing = max(0, self.settings.quota_total - self.quota_used(ig_user_id))
        self.publishes.setdefault(ig_user_id, []).extend([self.now()] * missing)

    def publish(self, container: Container, username: str) -> IgMedia:
        """Turn a FINISHED container into visible media, counting one use of the quota."""
        product = {"REELS": "REELS", "STORIES": "STORY"}.get(container.media_type, "FEED")
        media_type = {"CAROUSEL": "CAROUSEL_ALBUM", "REELS": "VIDEO"}.get(container.media_type, container.media_type)
        if container.media_type == "STORIES":
            media_type = "VIDEO" if container.video_url else "IMAGE"
        media_id = self.new_id("1795")
        permalink = {
            "REELS": f"https://www.instagram.com/reel/C{media_id[-9:]}/",
            "STORY": f"https://www.instagram.com/stories/{username}/{media_id}/",
        }.get(product, f"https://www.instagram.com/p/C{media_id[-9:]}/")
        media = IgMedia(
            id=media_id,
            ig_user_id=container.ig_user_id,
            container_id=container.id,
            media_type=media_type,
            media_product_type=product,
            caption=container.caption,
            permalink=permalink,
            timestamp=self.now(),
        )
        self.media[media.id] = media
        container.media_id = media.id
        for child in container.children:
            self.containers[child].media_id = self.new_id("1795")
        self.publishes.setdefault(container.ig_user_id, []).append(self.now())
        return media

    def visible_media(self, ig_user_id: str | None = None) -> list[IgMedia]:
        """Every published Instagram post, reel and story, oldest first."""
        return [m for m in self.media.values() if ig_user_id is None or m.ig_user_id == ig_user_id]

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: settings, visible posts and media, staged objects, container statuses."""

        def plain(obj: Any) -> dict[str, Any]:
            return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(obj).items()}

        return {
            "settings": asdict(self.settings),
            "posts": [{**plain(p), "visible": self.is_visible(p)} for p in self.posts.values()],
            "photos": [plain(p) for p in self.photos.values()],
            "videos": [{**plain(v), "status": self.video_status(v)} for v in self.videos.values()],
            "containers": [{**plain(c), "status_code": self.status(c)[0]} for c in self.containers.values()],
            "instagram_media": [plain(m) for m in self.media.values()],
            "quota_used": {ig: self.quota_used(ig) for ig in self.publishes},
            "container_faults": [asdict(f) for f in self.container_faults if f.remaining > 0],
        }
