"""Typed media failures: the derivatives job retries `MediaTransient`, fails at once on `MediaRejected`,
and marks the asset skipped on `VideoToolsMissing`. Messages are written for the venue's staff."""

from __future__ import annotations

from typing import Any

from core.errors import DomainError, Invalid


class MediaError(DomainError):
    """Base of every media failure; `reason` is a short machine code (`too_many_pixels`, `corrupt`, ...)."""

    code = "media_error"

    def __init__(self, message: str, *, reason: str = "unknown", remedy: str | None = None, **extra: Any) -> None:
        super().__init__(message, remedy=remedy, reason=reason, **extra)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised inside ProcessPoolExecutor workers: must survive pickling with reason and remedy intact.
        extra = {k: v for k, v in self.extra.items() if k != "reason"}
        return (_rebuild, (type(self), self.message, self.reason, self.remedy, extra))


def _rebuild(cls: type[MediaError], message: str, reason: str, remedy: str | None, extra: dict[str, Any]) -> MediaError:
    return cls(message, reason=reason, remedy=remedy, **extra)


class MediaRejected(MediaError, Invalid):
    """Permanent: the file itself is bad (corrupt, not an image, too many pixels, unsupported, too small, too long)."""

    code = "media_rejected"


class MediaTransient(MediaError):
    """Retryable: reading the source failed, the worker pool broke, the machine ran out of disk or memory."""

    code = "media_transient"


class VideoToolsMissing(MediaError):
    """ffmpeg or ffprobe is not installed: skip video derivatives and publish the original where allowed."""

    code = "video_tools_missing"


class MediaTooLarge(MediaRejected):
    """The upload passed the size limit while streaming; nothing was stored (HTTP 413)."""

    code = "media_too_large"


class MediaUnsupportedType(MediaRejected):
    """The upload is neither a photo nor a video we accept, whatever its name says (HTTP 415)."""

    code = "unsupported_media_type"


class UploadMalformed(MediaError):
    """The upload's form could not be read, or it has no file in it (HTTP 400: a plain DomainError status)."""

    code = "malformed_upload"
