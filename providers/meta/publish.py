"""What Facebook and Instagram publishing share: recorded Graph calls and plain words for their errors.

`PublishCall` makes every call of one delivery with the Page token, records it, and rewrites Graph's
errors into messages a pub manager understands (docs/providers.md#graph-errors and below), with a remedy
when there is one. Which calls may publish decides `Transient.sent` (see providers/publishing.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from providers.base import StoredCredentials
from providers.errors import (
    MetadataMissing,
    Permanent,
    PermissionMissing,
    ProviderError,
    RateLimited,
    Transient,
)
from providers.meta.graph import RECONNECT, GraphClient
from providers.publishing import Recorder

NOT_READY = 2207027  # media_publish on a container that is not FINISHED yet
DAILY_LIMIT = 2207042  # Instagram's rolling 24 h publishing quota (code 9)
EXPIRED_CONTAINER = frozenset({2207008, 2207020})
POSTING_TOO_FAST = 1390008  # code 368 with this subcode: Facebook's "slow down", not a duplicate
QUOTA_RETRY_AFTER = 3600.0  # content_publishing_limit does not say when the oldest post leaves the window
POLICY_BLOCK_RETRY_AFTER = 3600.0
SLOW_DOWN_RETRY_AFTER = 600.0
DUPLICATE = "Facebook refused a duplicate: this Page already has a post with exactly this text."
DUPLICATE_REMEDY = "Change the wording a little, then publish it again."
TRY_LATER = "Try again later; if it keeps failing, try different media."
INSTAGRAM_MEDIA = "Instagram could not use the photo or video"

# Facebook subcodes (docs/providers.md#facebook-errors): plain message and remedy.
FACEBOOK_SUBCODES: dict[int, tuple[str, str]] = {
    1366046: (
        "Facebook rejected the photo: it must be a JPG or PNG smaller than 4 MB.",
        "Use a smaller JPG or PNG, then publish again.",
    ),
    1346003: ("Facebook blocked this post as abusive.", "Change the text or the picture, then publish again."),
    1404102: (
        "Facebook says this post goes against its Community Standards.",
        "Change the text or the picture, then publish again.",
    ),
    1404078: (
        "Facebook wants this Page to complete Page Publishing Authorization before it can post.",
        "A Page admin should complete it in Meta Business Suite (Settings → Page publishing authorization), "
        "then reconnect.",
    ),
    1366051: ("Facebook says these photos were already posted.", "Choose different photos, then publish again."),
    1609008: ("Facebook does not allow posts that link to facebook.com.", "Remove the facebook.com link."),
    2061006: ("Facebook could not use the link in this post.", "Check that the link opens in a browser."),
    4854002: (
        "Facebook wants the person who connected the Page to confirm their identity first.",
        "Log in on facebook.com and follow Facebook's identity check, then publish again.",
    ),
}

# Instagram subcodes (docs/providers.md#instagram-errors): plain message and remedy.
INSTAGRAM_SUBCODES: dict[int, tuple[str, str]] = {
    2207001: ("Instagram flagged this post as spam.", "Change the caption, then publish again."),
    2207003: ("Instagram timed out downloading the photo or video.", TRY_LATER),
    2207004: ("The picture is too large for Instagram (8 MB at most).", "Use a smaller picture."),
    2207005: ("Instagram does not accept this picture's format; it needs a JPEG.", "Use a JPEG picture."),
    2207006: ("Instagram could not find the photo or video to publish.", TRY_LATER),
    2207009: (
        "The picture's shape does not suit Instagram: it must be between 4:5 (portrait) and 1.91:1 (landscape).",
        "Crop the picture to a square or 4:5 portrait, then publish again.",
    ),
    2207010: ("The caption is too long for Instagram (2,200 characters at most).", "Shorten the caption."),
    2207023: ("Instagram did not recognise the kind of media.", "Use a JPEG photo or an MP4 video."),
    2207026: ("Instagram does not accept this video's format.", "Use an MP4 video (H.264 picture, AAC sound)."),
    2207028: (
        "Instagram refused the carousel: it needs 2 to 10 photos or videos.",
        "Use between 2 and 10 photos or videos.",
    ),
    2207032: ("Instagram could not create the post.", TRY_LATER),
    2207050: (
        "Instagram has restricted this account.",
        "Open the Instagram app, clear any warning shown there, then publish again.",
    ),
    2207051: ("Instagram blocked this post.", "Change the caption or media; Instagram may think it breaks its rules."),
    2207052: ("Instagram could not download the photo or video from CheersAI.", TRY_LATER),
    2207053: ("Instagram had an unknown problem with the upload.", TRY_LATER),
    2207057: ("Instagram could not take the cover frame from the video.", "Choose another cover picture."),
    2207077: ("Instagram could not download the video.", TRY_LATER),
    2207082: (
        "Instagram could not process the video.",
        "Try again; if it keeps failing, export the video again as MP4 (H.264 picture, AAC sound).",
    ),
    2207085: ("Instagram could not process the video.", "Export the video again as MP4 (H.264 picture, AAC sound)."),
    36001: ("The picture's resolution does not suit Instagram.", "Use a picture at least 320 pixels wide."),
    36003: (
        "The picture's shape does not suit Instagram: it must be between 4:5 (portrait) and 1.91:1 (landscape).",
        "Crop the picture to a square or 4:5 portrait, then publish again.",
    ),
}
RETRYABLE_INSTAGRAM = frozenset({2207003, 2207052, 2207053, 2207077})  # Meta failed to fetch: try again later
ANY_MEDIA = "photo or video"
PHOTO_REMEDY = "save the photo again as a JPEG under 8 MB, between 4:5 portrait and 1.91:1 landscape, and use that"
# Instagram reuses its processing subcodes for photos: advice about MP4 would send a photo's owner the wrong way.
PHOTO_INSTEAD: dict[int, tuple[str, str]] = {
    2207026: ("Instagram does not accept this photo's format.", PHOTO_REMEDY.capitalize() + "."),
    2207077: ("Instagram could not download the photo.", TRY_LATER),
    2207082: ("Instagram could not process the photo.", f"Try again; if it keeps failing, {PHOTO_REMEDY}."),
    2207085: ("Instagram could not process the photo.", PHOTO_REMEDY.capitalize() + "."),
}
# And the picture subcodes for a video: the remedy is a re-export, not a JPEG.
VIDEO_INSTEAD: dict[int, tuple[str, str]] = {
    2207004: ("The video is too large for Instagram.", "Export a shorter or smaller MP4 (H.264 picture, AAC sound)."),
    2207005: ("Instagram does not accept this video's format.", "Use an MP4 video (H.264 picture, AAC sound)."),
}


def instagram_reason(subcode: int | None, sent: str = ANY_MEDIA) -> tuple[str, str]:
    """Plain message and remedy for an Instagram subcode, about what was sent: "photo", "video" or both."""
    code = subcode or 0
    instead = {"photo": PHOTO_INSTEAD, "video": VIDEO_INSTEAD}.get(sent, {})
    message, remedy = instead.get(code) or INSTAGRAM_SUBCODES.get(
        code, ("Instagram could not prepare the post.", TRY_LATER)
    )
    return message.replace(ANY_MEDIA, sent), remedy.replace(ANY_MEDIA, sent)


def subcode_in(text: str) -> int | None:
    """The error code inside a container's status text ("… failed with error code 2207082")."""
    found = re.search(r"\b(\d{4,})\b", text or "")
    return int(found.group(1)) if found else None


def explain(exc: ProviderError, brand: str, sent: str = ANY_MEDIA) -> ProviderError:
    """Graph's error for a publishing call, in plain words; `brand` is "Facebook" or "Instagram", `sent` what
    the post carries ("photo", "video", or "photo or video")."""
    code, subcode = exc.code, exc.subcode
    common: dict[str, Any] = {
        "provider": exc.provider,
        "http_status": exc.http_status,
        "code": code,
        "subcode": subcode,
        "raw": exc.raw,
    }
    message = str((exc.raw.get("error") or {}).get("message", ""))
    if code == 506 or (code == 368 and "already posted" in message.lower()):
        return Permanent(DUPLICATE, remedy=DUPLICATE_REMEDY, **common)
    if code == 368 and subcode == POSTING_TOO_FAST:
        return RateLimited("Facebook says the Page is posting too fast.", retry_after=SLOW_DOWN_RETRY_AFTER, **common)
    if code == 368:
        return RateLimited(
            "Facebook has temporarily blocked this Page from posting.",
            retry_after=POLICY_BLOCK_RETRY_AFTER,
            remedy="Check Meta Business Suite for a warning about the Page.",
            **common,
        )
    if subcode == DAILY_LIMIT or code == 9:
        return RateLimited(
            "Instagram's limit of posts per 24 hours is used up for this account.",
            retry_after=QUOTA_RETRY_AFTER,
            remedy="It goes out by itself once the limit frees up; nothing to do unless it is urgent.",
            **common,
        )
    if isinstance(subcode, int) and subcode in FACEBOOK_SUBCODES:
        text, remedy = FACEBOOK_SUBCODES[subcode]
        kind = PermissionMissing if subcode == 1404078 else Permanent
        return kind(text, remedy=remedy, **common)
    if isinstance(subcode, int) and subcode in INSTAGRAM_SUBCODES:
        text, remedy = instagram_reason(subcode, sent)
        if subcode in RETRYABLE_INSTAGRAM:
            return Transient(text, sent=getattr(exc, "sent", False), **common)
        return Permanent(text, remedy=remedy, **common)
    if type(exc) is Permanent and message:
        return Permanent(f"{brand} refused the post: {message}", remedy=exc.remedy, **common)
    if isinstance(exc, Transient | RateLimited | PermissionMissing):
        # Instagram is served by graph.facebook.com; name the service the manager knows.
        exc.message = exc.message.replace("Facebook", brand)
        exc.args = (exc.message,)
    return exc


@dataclass
class PublishCall:
    """The Graph calls of one delivery: the Page token, the recorder, and plain error words."""

    graph: GraphClient
    token: str
    recorder: Recorder
    brand: str
    sent: str = ANY_MEDIA  # what the post carries, so Instagram's errors give that media's remedy

    async def get(self, path: str, step: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """A read: never publishes, so a lost answer is Transient(sent=False)."""
        return await self._call("GET", path, step, params=params, may_publish=False)

    async def post(
        self,
        path: str,
        step: str,
        form: dict[str, str],
        *,
        may_publish: bool,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return await self._call("POST", path, step, params=params, form=form, may_publish=may_publish)

    async def best_effort(self, path: str, step: str, field: str) -> str | None:
        """One field of an object, or None when reading it fails (a permalink never fails a publish)."""
        try:
            value = (await self.get(path, step, {"fields": field})).get(field)
        except ProviderError:
            return None
        return str(value) if value else None

    async def _call(
        self,
        method: str,
        path: str,
        step: str,
        *,
        params: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        may_publish: bool,
    ) -> dict[str, Any]:
        try:
            return await self.graph.request(
                method,
                path,
                token=self.token,
                params=params,
                form=form,
                recorder=self.recorder,
                step=step,
                may_publish=may_publish,
            )
        except ProviderError as exc:
            refined = explain(exc, self.brand, self.sent)
            if refined is exc:
                raise
            raise refined from exc


def publish_call(
    graph: GraphClient, credentials: StoredCredentials, recorder: Recorder, brand: str, sent: str = ANY_MEDIA
) -> PublishCall:
    """A PublishCall with the stored Page token, or a plain error when there is none."""
    if not credentials.access_token:
        raise MetadataMissing(
            f"No {brand} access token is stored for this connection.",
            provider=credentials.provider.value,
            remedy=RECONNECT,
        )
    return PublishCall(graph, credentials.access_token, recorder, brand, sent)
