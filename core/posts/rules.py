"""What each provider accepts, checked before a post is accepted (docs/providers.md).

Plain data in, a list of `Problem`s out (empty means fine); no database and no I/O. Each problem names
the request field it belongs to (`captions.instagram`, `media`, `google.event_title`), a machine rule
(`instagram.hashtags`) and a plain-English message the venue can act on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.media.platforms import unusable_on
from core.settings import Settings
from providers.publishing import GoogleOptions, Surface
from storage.enums import MediaKind, MediaStatus, Provider

HASHTAG = re.compile(r"(?<![\w&])#\w+")
MENTION = re.compile(r"(?<![\w.])@[\w.]+")
CTA_TYPES = ("BOOK", "ORDER", "SHOP", "LEARN_MORE", "SIGN_UP", "CALL")
TOPIC_TYPES = ("STANDARD", "EVENT", "OFFER")
NAMES = {Provider.facebook: "Facebook", Provider.instagram: "Instagram", Provider.google_business: "Business Profile"}


@dataclass(frozen=True)
class DraftMedia:
    """One library asset attached to a draft, as far as the rules need to know it."""

    asset_id: int
    kind: MediaKind
    status: MediaStatus
    width: int | None
    height: int | None
    duration: float | None
    filename: str


@dataclass(frozen=True)
class DraftTarget:
    """What a draft would publish to one connection."""

    provider: Provider
    caption: str
    surface: Surface = "feed"
    link: str | None = None
    media: tuple[DraftMedia, ...] = ()
    google: GoogleOptions | None = None


@dataclass(frozen=True)
class Problem:
    """One reason the draft cannot go out as it is."""

    field: str
    rule: str
    message: str


@dataclass(frozen=True)
class RuleLimits:
    """Provider limits; the unverified ones (hashtags 30 or 5, story length) are meant to be tuned."""

    instagram_caption: int = 2200
    instagram_hashtags: int = 30
    instagram_mentions: int = 20
    instagram_carousel: int = 10
    facebook_text: int = 63206
    google_summary: int = 1500
    google_event_title: int = 58
    google_photos: int = 1
    ig_min_video_s: float = 3.0
    ig_max_video_s: float = 900.0
    ig_max_story_video_s: float = 60.0  # unverified (docs/providers.md#instagram-media-rules)


def configured_limits(settings: Settings) -> RuleLimits:
    """The limits every front door checks (API, chat, weekly plan, planner): the defaults with this deployment's
    Instagram hashtag limit (CHEERS_INSTAGRAM_HASHTAG_LIMIT)."""
    return RuleLimits(instagram_hashtags=settings.cheers_instagram_hashtag_limit)


def check_all(targets: Sequence[DraftTarget], limits: RuleLimits = RuleLimits()) -> list[Problem]:
    """Every problem of every target, in order, each reported once (a failed file is named once)."""
    seen: dict[Problem, None] = {}
    for target in targets:
        for problem in check_target(target, limits):
            seen.setdefault(problem, None)
    return list(seen)


def check_target(target: DraftTarget, limits: RuleLimits = RuleLimits()) -> list[Problem]:
    """Every problem that would stop `target` from publishing."""
    found = _Found()
    for m in target.media:
        if m.status == MediaStatus.failed:
            found.add(
                "media",
                "media.failed",
                f"{m.filename} couldn't be prepared (its status is {m.status.value}): "
                "see the media library for why, or choose another file.",
            )
        elif m.kind == MediaKind.image:
            _photo_size(found, target, m)
    if target.provider == Provider.instagram:
        _instagram(found, target, limits)
    elif target.provider == Provider.facebook:
        _facebook(found, target, limits)
    elif target.provider == Provider.google_business:
        _google(found, target, target.google or GoogleOptions(), limits)
    return list(found)


def _photo_size(found: _Found, target: DraftTarget, m: DraftMedia) -> None:
    # A photo too small for one platform is ready for the others; only a target that sends it there is refused.
    short = unusable_on(target.provider, target.surface, m.width, m.height)
    if short is not None:
        found.add(
            "media",
            f"{target.provider.value}.photo_size",
            f"{m.filename} can't go to {short.platform}. {short.reason} To post it there, {short.remedy}; "
            f"or leave {short.platform} out of this post.",
        )


class _Found(list[Problem]):
    """The problems found so far."""

    def add(self, field: str, rule: str, message: str) -> None:
        self.append(Problem(field, rule, message))

    def at_most(self, field: str, rule: str, what: str, limit: int, count: int, unit: str = "characters") -> None:
        if count > limit:
            self.add(
                field,
                rule,
                f"{what} can {'be' if unit == 'characters' else 'have'} at most {limit} {unit}; this one has {count}.",
            )


def _caption_field(target: DraftTarget) -> str:
    return f"captions.{target.provider.value}"


def _count(items: Sequence[DraftMedia], kind: MediaKind) -> int:
    return sum(1 for m in items if m.kind == kind)


def _describe(items: Sequence[DraftMedia]) -> str:
    parts = [_plural(_count(items, MediaKind.image), "photo"), _plural(_count(items, MediaKind.video), "video")]
    return " and ".join(p for p in parts if p) or "nothing attached"


def _plural(n: int, noun: str) -> str:
    return "" if n == 0 else f"{n} {noun}" + ("" if n == 1 else "s")


def _is_web_url(value: str) -> bool:
    if any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _instagram(found: _Found, target: DraftTarget, limits: RuleLimits) -> None:
    field, caption, media = _caption_field(target), target.caption, target.media
    found.at_most(field, "instagram.caption_length", "Instagram captions", limits.instagram_caption, len(caption))
    hashtags, mentions = len(HASHTAG.findall(caption)), len(MENTION.findall(caption))
    found.at_most(field, "instagram.hashtags", "Instagram captions", limits.instagram_hashtags, hashtags, "hashtags")
    found.at_most(field, "instagram.mentions", "Instagram captions", limits.instagram_mentions, mentions, "@mentions")
    if target.surface not in ("feed", "story", "reel"):
        found.add(
            "surface",
            "instagram.surface",
            f"Instagram posts go to the feed, a story or a reel, not '{target.surface}'.",
        )
    if not media:
        found.add("media", "instagram.media_required", "Instagram posts need a photo or a video.")
        return
    # Feed images outside 4:5..1.91:1 are not refused: the Instagram derivatives crop them into range.
    if target.surface == "story" and len(media) != 1:
        found.add(
            "media",
            "instagram.story_media",
            f"Instagram stories take exactly one photo or video; this one has {_describe(media)}.",
        )
    elif target.surface == "reel" and (len(media) != 1 or media[0].kind != MediaKind.video):
        found.add("media", "instagram.reel_media", f"Reels need exactly one video; this one has {_describe(media)}.")
    elif target.surface == "feed":
        found.at_most(
            "media",
            "instagram.carousel_size",
            "Instagram carousels",
            limits.instagram_carousel,
            len(media),
            "photos or videos",
        )
    # Videos last 3 s to 15 min (stories at most a minute); a duration we don't know yet passes.
    story = target.surface == "story"
    where = {"story": "stories", "reel": "reels"}.get(target.surface, "posts")
    longest = limits.ig_max_story_video_s if story else limits.ig_max_video_s
    for m in media:
        if m.kind != MediaKind.video or m.duration is None or limits.ig_min_video_s <= m.duration <= longest:
            continue
        found.add(
            "media",
            "instagram.video_duration",
            f"Videos in Instagram {where} must last "
            f"{_seconds(limits.ig_min_video_s)} to {_seconds(longest)}; {m.filename} lasts {_seconds(m.duration)}.",
        )


def _seconds(value: float) -> str:
    if value >= 60 and value % 60 == 0:
        return _plural(int(value // 60), "minute")
    return "1 second" if value == 1 else f"{value:g} seconds"


def _facebook(found: _Found, target: DraftTarget, limits: RuleLimits) -> None:
    field, text, media = _caption_field(target), target.caption, target.media
    if target.surface != "feed":
        found.add(
            "surface", "facebook.surface", f"CheersAI posts to the Facebook feed only, not as a {target.surface}."
        )
    if not text.strip() and not media and not target.link:
        found.add(field, "facebook.empty", "Facebook posts need some text, a photo, a video or a link.")
    found.at_most(field, "facebook.text_length", "Facebook posts", limits.facebook_text, len(text))
    if target.link is not None and not _is_web_url(target.link):
        found.add(
            "link", "facebook.link", f"The link must be a web address starting with https://, not '{target.link}'."
        )
    if _count(media, MediaKind.video) and len(media) > 1:
        # Photos go out as one multi-photo post (attached_media); a video is a post of its own (/videos).
        found.add(
            "media",
            "facebook.video_alone",
            f"A Facebook post can have several photos or one video, not both; this one has {_describe(media)}.",
        )


def _google(found: _Found, target: DraftTarget, options: GoogleOptions, limits: RuleLimits) -> None:
    field, summary, media = _caption_field(target), target.caption, target.media
    if target.surface != "feed":
        found.add("surface", "google.surface", f"Business Profile posts have no {target.surface}; use the feed.")
    if options.topic_type == "STANDARD" and not summary.strip():
        # Events and offers carry their title; an update without text says nothing.
        found.add(field, "google.summary_required", "Business Profile updates need some text.")
    found.at_most(field, "google.summary_length", "Business Profile posts", limits.google_summary, len(summary))
    if _count(media, MediaKind.video):
        found.add("media", "google.video", "Business Profile posts can't include a video; choose a photo instead.")
    found.at_most(
        "media",
        "google.photos",
        "Business Profile posts",
        limits.google_photos,
        _count(media, MediaKind.image),
        "photos" if limits.google_photos != 1 else "photo",
    )
    _google_topic(found, options, limits)
    _google_cta(found, options)


def _google_topic(found: _Found, options: GoogleOptions, limits: RuleLimits) -> None:
    topic = options.topic_type
    if topic not in TOPIC_TYPES:
        found.add(
            "google.topic_type",
            "google.topic_type",
            f"The Business Profile post type must be STANDARD, EVENT or OFFER, not '{topic}'.",
        )
        return
    if topic == "STANDARD":
        return
    what = "Events" if topic == "EVENT" else "Offers"
    title = (options.event_title or "").strip()
    if not title:
        found.add("google.event_title", "google.event_title_required", f"{what} on Business Profile need a title.")
    found.at_most(
        "google.event_title",
        "google.event_title_length",
        f"Business Profile {topic.lower()} titles",
        limits.google_event_title,
        len(title),
    )
    start, end = options.event_start, options.event_end
    for name, label, value in (("event_start", "a start", start), ("event_end", "an end", end)):
        if value is None:
            found.add(f"google.{name}", f"google.{name}_required", f"{what} on Business Profile need {label} time.")
    # Both are the venue's wall-clock time (Google has no zones), so compare them as such.
    if start is not None and end is not None and start.replace(tzinfo=None) >= end.replace(tzinfo=None):
        found.add("google.event_end", "google.event_order", f"{what} on Business Profile must end after they start.")
    if topic == "OFFER" and options.redeem_url and not _is_web_url(options.redeem_url):
        found.add(
            "google.redeem_url",
            "google.redeem_url",
            f"The redeem link must be a web address starting with https://, not '{options.redeem_url}'.",
        )


def _google_cta(found: _Found, options: GoogleOptions) -> None:
    cta, url = options.cta_type, options.cta_url
    if not cta and not url:
        return
    if options.topic_type == "OFFER":
        found.add(
            "google.cta_type",
            "google.offer_cta",
            "Business Profile offers come with Google's own button; remove the button and its link.",
        )
    elif not cta:
        found.add("google.cta_type", "google.cta_required", "Choose a button type for the button link.")
    elif cta not in CTA_TYPES:
        found.add(
            "google.cta_type", "google.cta_type", f"The button type must be one of {', '.join(CTA_TYPES)}, not '{cta}'."
        )
    elif cta == "CALL":
        if url:
            found.add(
                "google.cta_url",
                "google.call_url",
                "A Call button rings the phone number on your Business Profile; remove its link.",
            )
    elif not url or not _is_web_url(url):
        shown = f", not '{url}'" if url else ""
        found.add(
            "google.cta_url",
            "google.cta_url",
            f"The {cta.replace('_', ' ').title()} button needs a web address starting with https://{shown}.",
        )
