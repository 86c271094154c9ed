"""The Google twin's v4 local posts and request meters: pure bookkeeping on the twin clock.

A post answers PROCESSING until `live_after_seconds` have passed on the twin clock, then LIVE (or
REJECTED when its summary holds a phone number, or a fault says so). HTTP lives in
`sandbox.google.posts_api`; the rules a create body must pass live in `sandbox.google.posts_rules`.
"""

from __future__ import annotations

import copy
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import TwinClock

# Fields of the LocalPost resource a create body may carry and the twin echoes back.
ECHOED_FIELDS = ("languageCode", "summary", "callToAction", "event", "topicType", "alertType", "offer")
FIRST_POST_ID = 7_000_000_000_000_000_000  # Google's ids are int64-sized decimal strings
RECEIVED_LIMIT = 5000  # `make dev` runs for days; keep the recent create bodies only
# A run of digits with single separators: 10-15 digits reads as a phone number (UK, US, E.164).
# [UNVERIFIED] Google's real detector is unknown; `PostSettings.reject_phone_numbers` switches this off.
PHONE_RUN = re.compile(r"\+?\(?\d+(?:[\s.\-()]{1,2}\d+)*")


def has_phone_number(text: str) -> bool:
    """True when `text` holds something that reads as a phone number."""
    return any(10 <= sum(c.isdigit() for c in m.group()) <= 15 for m in PHONE_RUN.finditer(text))


def rfc3339(moment: datetime) -> str:
    """Google's timestamp shape: UTC, microseconds, a trailing Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class PostSettings:
    """The twin's [UNVERIFIED] post behaviour and limits, set through `PUT /_twin/posts/settings`."""

    live_after_seconds: float = 15.0  # PROCESSING → LIVE/REJECTED after this long on the twin clock
    edits_per_minute: int = 10  # creates per location per minute (Google: cannot be raised)
    requests_per_minute: int = 300  # per business API, the project's default quota
    reject_phone_numbers: bool = True
    max_summary: int = 1500
    max_event_title: int = 58


class SlidingWindow:
    """Events in the last `seconds` on the twin clock."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.span = timedelta(seconds=seconds)
        self.hits: deque[datetime] = deque()

    def count(self, now: datetime) -> int:
        while self.hits and self.hits[0] <= now - self.span:
            self.hits.popleft()
        return len(self.hits)

    def add(self, now: datetime) -> None:
        self.hits.append(now)


@dataclass
class LocalPost:
    """One post as the twin keeps it; `body` is the create request exactly as received."""

    id: str
    account_id: str
    location_id: str
    body: dict[str, Any]
    created_at: datetime
    settles_at: datetime | None  # when it leaves PROCESSING (None: stuck for ever)
    outcome: str  # the state after PROCESSING: LIVE or REJECTED

    @property
    def name(self) -> str:
        return f"accounts/{self.account_id}/locations/{self.location_id}/localPosts/{self.id}"

    def state(self, now: datetime) -> str:
        if self.settles_at is None or now < self.settles_at:
            return "PROCESSING"
        return self.outcome

    def resource(self, now: datetime) -> dict[str, Any]:
        """The LocalPost as Google answers it right now."""
        out: dict[str, Any] = {"name": self.name}
        out.update({k: copy.deepcopy(self.body[k]) for k in ECHOED_FIELDS if k in self.body})
        media = self.body.get("media") or []
        if media:
            out["media"] = [
                {**item, "googleUrl": f"https://lh3.googleusercontent.com/p/sandbox-{self.id}-{i}"}
                for i, item in enumerate(media)
            ]
        settled = self.settles_at is not None and now >= self.settles_at
        out["createTime"] = rfc3339(self.created_at)
        out["updateTime"] = rfc3339(self.settles_at if settled and self.settles_at else self.created_at)
        out["state"] = self.state(now)
        out["searchUrl"] = f"https://local.google.com/place?id={self.location_id}&use=posts&lpsid={self.id}"
        return out


@dataclass
class ReceivedPost:
    """A create body that reached the handler (valid or not): what tests compare byte for byte."""

    location_id: str
    body: Any
    at: datetime


@dataclass
class PostStore:
    """Every location's posts, the create bodies received, and the per-minute meters."""

    clock: TwinClock
    settings: PostSettings = field(default_factory=PostSettings)
    posts: list[LocalPost] = field(default_factory=list)  # creation order
    received: list[ReceivedPost] = field(default_factory=list)
    edits: dict[str, SlidingWindow] = field(default_factory=dict)  # location id → creates
    requests: dict[str, SlidingWindow] = field(default_factory=dict)  # API host → calls

    def admit_request(self, api: str) -> bool:
        """Count one call against the API's per-minute quota; False when it is already used up."""
        now = self.clock.now()
        window = self.requests.setdefault(api, SlidingWindow())
        if window.count(now) >= self.settings.requests_per_minute:
            return False
        window.add(now)
        return True

    def edit_allowed(self, location_id: str) -> bool:
        """Another create at this location stays within the edits-per-minute limit."""
        window = self.edits.setdefault(location_id, SlidingWindow())
        return window.count(self.clock.now()) < self.settings.edits_per_minute

    def receive(self, location_id: str, body: Any) -> None:
        if len(self.received) >= RECEIVED_LIMIT:
            del self.received[: RECEIVED_LIMIT // 10]
        self.received.append(ReceivedPost(location_id, copy.deepcopy(body), self.clock.now()))

    def create(
        self, account_id: str, location_id: str, body: dict[str, Any], *, stuck: bool, rejected: bool
    ) -> LocalPost:
        """Commit a post (it counts as an edit); it settles after `live_after_seconds` unless stuck."""
        now = self.clock.now()
        self.edits.setdefault(location_id, SlidingWindow()).add(now)
        summary = str(body.get("summary") or "")
        rejected = rejected or (self.settings.reject_phone_numbers and has_phone_number(summary))
        post = LocalPost(
            id=str(FIRST_POST_ID + len(self.posts) + 1),
            account_id=account_id,
            location_id=location_id,
            body=copy.deepcopy(body),
            created_at=now,
            settles_at=None if stuck else now + timedelta(seconds=self.settings.live_after_seconds),
            outcome="REJECTED" if rejected else "LIVE",
        )
        self.posts.append(post)
        return post

    def of_location(self, location_id: str) -> list[LocalPost]:
        """The location's posts, newest first (the order localPosts.list answers in)."""
        return [p for p in reversed(self.posts) if p.location_id == location_id]

    def find(self, account_id: str, location_id: str, post_id: str) -> LocalPost | None:
        return next(
            (p for p in self.posts if (p.id, p.location_id, p.account_id) == (post_id, location_id, account_id)),
            None,
        )

    def visible_count(self, location_id: str) -> int:
        """Posts that are or will be public at the location: every post except REJECTED ones."""
        now = self.clock.now()
        return sum(p.state(now) != "REJECTED" for p in self.of_location(location_id))
