"""The publishing contract between core and the provider adapters: what to post, and how it went.

Publishing is a sequence of *steps*. Core calls `publish(credentials, request, stage, recorder)`; the
adapter either finishes (`Published`), or says the provider is still working (`Pending`) and hands back
the `stage` to pass on the next call (an Instagram container id, an unpublished photo id, a Business
Profile local post name). Core stores that stage in the database and calls again after `check_after`
seconds, so waiting for a provider never holds a worker slot.

Errors are the types in `providers.errors`. One rule matters above all: `Transient.sent` is True only
when *a post may now be visible* (a feed post, a published photo, `media_publish`, a local post create
whose answer was lost). Steps that cannot publish anything on their own (creating an Instagram
container, uploading an unpublished photo, reading a status) raise `Transient(sent=False)` even when the
request went out, because repeating them cannot make a duplicate.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from providers.base import StoredCredentials

# Headers worth keeping in an attempt's snapshot (everything else is noise or a secret).
USEFUL_HEADERS = frozenset(
    {
        "retry-after",
        "x-app-usage",
        "x-business-use-case-usage",
        "x-page-usage",
        "x-fb-trace-id",
        "x-fb-request-id",
        "content-type",
    }
)

Surface = Literal["feed", "story", "reel"]
TopicType = Literal["STANDARD", "EVENT", "OFFER"]


@dataclass(frozen=True)
class MediaItem:
    """One file to publish: a fresh signed URL the provider fetches, plus what we know of it."""

    kind: Literal["image", "video"]
    url: str
    content_type: str
    width: int | None = None
    height: int | None = None
    byte_size: int | None = None
    duration: float | None = None
    poster_url: str | None = None  # a video's cover frame (Reels cover_url), when we have one


@dataclass(frozen=True)
class GoogleOptions:
    """Business Profile extras. Event times are the venue's local wall-clock time (GBP has no zones)."""

    topic_type: TopicType = "STANDARD"
    event_title: str | None = None
    event_start: datetime | None = None  # naive, local to the venue
    event_end: datetime | None = None  # naive, local to the venue
    cta_type: str | None = None  # BOOK, ORDER, SHOP, LEARN_MORE, SIGN_UP, CALL
    cta_url: str | None = None
    coupon_code: str | None = None
    redeem_url: str | None = None
    terms: str | None = None


@dataclass(frozen=True)
class PublishRequest:
    """Everything one delivery publishes, already validated by core and resolved to final text."""

    delivery_id: int  # our post_target id, for logs and twin bookkeeping only
    text: str
    media: tuple[MediaItem, ...] = ()
    link: str | None = None
    surface: Surface = "feed"
    google: GoogleOptions | None = None


@dataclass(frozen=True)
class Published:
    """Live at the provider."""

    external_id: str
    permalink: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pending:
    """The provider is still working; call `publish` again with `stage` after `check_after` seconds.

    `committed` is True once a visible post exists or may exist (a Business Profile post in PROCESSING):
    from then on the delivery must never be started again from scratch.
    """

    stage: dict[str, Any]
    check_after: float
    note: str
    committed: bool = False
    external_id: str | None = None
    permalink: str | None = None


StepOutcome = Published | Pending


@dataclass
class Exchange:
    """A snapshot of one HTTP call with secrets already redacted (what the post detail shows)."""

    step: str
    method: str
    url: str  # without query secrets
    request: dict[str, Any]
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    response: Any = None
    error: str | None = None
    elapsed_ms: float = 0.0
    at: str = ""
    usage_percent: int | None = None  # the highest usage Meta reported on this answer (0-100)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "method": self.method,
            "url": self.url,
            "request": self.request,
            "status": self.status,
            "headers": self.headers,
            "response": self.response,
            "error": self.error,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "at": self.at,
            "usage_percent": self.usage_percent,
        }


class Recorder:
    """Collects the exchanges of one publishing attempt; adapters call `record` once per HTTP call."""

    MAX_BODY_CHARS = 4000

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def record(
        self,
        *,
        step: str,
        method: str,
        url: str,
        request: Mapping[str, Any] | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        response: Any = None,
        error: str | None = None,
        started: float | None = None,
        usage_percent: int | None = None,
    ) -> Exchange:
        """Keep one call. Callers pass bodies already redacted; headers are filtered to USEFUL_HEADERS."""
        kept = {k.lower(): v for k, v in (headers or {}).items() if k.lower() in USEFUL_HEADERS}
        exchange = Exchange(
            step=step,
            method=method,
            url=url.split("?", 1)[0],
            request=dict(request or {}),
            status=status,
            headers=kept,
            response=_truncate(response, self.MAX_BODY_CHARS),
            error=error,
            elapsed_ms=(time.perf_counter() - started) * 1000 if started is not None else 0.0,
            at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            usage_percent=usage_percent,
        )
        self.exchanges.append(exchange)
        return exchange

    @property
    def highest_usage(self) -> int | None:
        seen = [e.usage_percent for e in self.exchanges if e.usage_percent is not None]
        return max(seen) if seen else None

    def snapshots(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.exchanges]


def _truncate(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    return value


@dataclass(frozen=True)
class PublishingQuota:
    """Instagram's content_publishing_limit: posts used in the rolling window and the total allowed."""

    used: int
    total: int
    window_seconds: int = 86400

    @property
    def exhausted(self) -> bool:
        return self.used >= self.total


class Publisher(Protocol):
    """Implemented by each provider adapter next to the connection methods of `providers.base.Connector`."""

    async def publish(
        self,
        credentials: StoredCredentials,
        request: PublishRequest,
        stage: Mapping[str, Any],
        recorder: Recorder,
    ) -> StepOutcome:
        """Run the next step of this delivery (see the module docstring); raises providers.errors types."""
        ...


def ymd(day: date) -> dict[str, int]:
    """A date as Google's {year, month, day}."""
    return {"year": day.year, "month": day.month, "day": day.day}


def redact_values(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of a JSON-ish value with every secret string replaced by [redacted]."""
    hidden = [s for s in secrets if s]
    if isinstance(value, dict):
        return {k: redact_values(v, hidden) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(v, hidden) for v in value]
    if isinstance(value, str):
        for secret in hidden:
            value = value.replace(secret, "[redacted]")
        return value
    return value
