"""Control of the twin's local posts (`/_twin/posts…`, `/_twin/faults/post-…`) and its typed client mixin.

"Counted at the twin": `GET /_twin/posts?location_id=…` reports every post with its state now, the
create bodies received, and `visible` (posts that are or will be public: all but REJECTED).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from litestar import Request, get, post, put
from litestar.exceptions import ValidationException

from sandbox.google.faults import CommitFault, ExpireTokensSpec, PostOutcomeFault
from sandbox.google.http import twin_of
from sandbox.google.posts import PostSettings

AnyRequest = Request[Any, Any, Any]
OUTCOMES = ("stuck", "rejected")


@get("/_twin/posts")
async def read_posts(request: AnyRequest) -> dict[str, Any]:
    twin = twin_of(request)
    store, now = twin.posts, twin.now()
    wanted = request.query_params.get("location_id")
    posts = [p for p in store.posts if wanted in (None, p.location_id)]
    locations = sorted({p.location_id for p in posts})
    return {
        "posts": [
            {
                "name": p.name,
                "location_id": p.location_id,
                "state": p.state(now),
                "body": p.body,
                "resource": p.resource(now),
                "created_at": p.created_at.isoformat(),
            }
            for p in posts
        ],
        "received": [
            {"location_id": r.location_id, "body": r.body} for r in store.received if wanted in (None, r.location_id)
        ],
        "visible": {loc: store.visible_count(loc) for loc in locations},
    }


@put("/_twin/posts/settings")
async def post_settings(request: AnyRequest, data: PostSettings) -> dict[str, Any]:
    twin_of(request).posts.settings = data
    return asdict(data)


@post("/_twin/faults/post-commit", status_code=200)
async def post_commit(request: AnyRequest, data: CommitFault) -> dict[str, Any]:
    if data.status != 200 and not 500 <= data.status <= 599:
        raise ValidationException("status must be 200 (with hang_seconds) or a 5xx")
    twin_of(request).faults.post_commit = data
    return {"ok": True}


@post("/_twin/faults/post-outcome", status_code=200)
async def post_outcome(request: AnyRequest, data: PostOutcomeFault) -> dict[str, Any]:
    if data.outcome not in OUTCOMES:
        raise ValidationException(f"outcome must be one of {OUTCOMES}")
    faults = twin_of(request).faults
    if data.outcome == "stuck":
        faults.post_stuck = data
    else:
        faults.post_rejected = data
    return {"ok": True}


@post("/_twin/faults/expire-access-tokens", status_code=200)
async def expire_access_tokens(request: AnyRequest, data: ExpireTokensSpec) -> dict[str, Any]:
    """Access tokens stop working now (401 UNAUTHENTICATED) without moving the clock."""
    twin = twin_of(request)
    user = twin.user_by_email(data.email) if data.email else None
    now = twin.now()
    victims = [
        a
        for a in twin.access_tokens.values()
        if (data.token is None or a.token == data.token) and (user is None or a.sub == user.sub) and a.expires_at > now
    ]
    for access in victims:
        access.expires_at = now
    return {"expired": len(victims)}


POST_CONTROL_ROUTES = [read_posts, post_settings, post_commit, post_outcome, expire_access_tokens]


@dataclass(frozen=True)
class TwinPost:
    """A local post as the twin holds it: the create body as received and the resource as answered now."""

    name: str
    location_id: str
    state: str
    body: dict[str, Any]
    resource: dict[str, Any]
    created_at: datetime


class LocalPostsControl(ABC):
    """GoogleTwinControl's local post methods; every method is one HTTP call."""

    @abstractmethod
    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]: ...

    async def local_posts(self, location_id: str | None = None) -> list[TwinPost]:
        """Every post created (all states), oldest first; one location's when `location_id` is given."""
        raw = await self._call("GET", _posts_path(location_id))
        return [TwinPost(**{**p, "created_at": datetime.fromisoformat(p["created_at"])}) for p in raw["posts"]]

    async def visible_post_count(self, location_id: str) -> int:
        """Posts at the location that are or will be public (PROCESSING or LIVE): the duplicate count."""
        raw = await self._call("GET", _posts_path(location_id))
        return int(raw["visible"].get(location_id, 0))

    async def received_post_bodies(self, location_id: str | None = None) -> list[Any]:
        """Every create body that reached the twin (valid or not), exactly as sent, oldest first."""
        raw = await self._call("GET", _posts_path(location_id))
        return [r["body"] for r in raw["received"]]

    async def configure_posts(self, settings: PostSettings) -> None:
        """Delay before LIVE, edits and requests per minute, phone-number rejection, length limits."""
        await self._call("PUT", "posts/settings", settings)

    async def commit_then_error(self, calls: int = 1, *, status: int = 500) -> None:
        """The next `calls` creates commit the post, then answer `status` (a 5xx)."""
        await self._call("POST", "faults/post-commit", CommitFault(calls, None, status, 0.0))

    async def commit_then_hang(self, calls: int = 1, *, seconds: float = 1.0) -> None:
        """The next `calls` creates commit the post, then hold the answer `seconds` (beyond the client's timeout)."""
        await self._call("POST", "faults/post-commit", CommitFault(calls, None, 200, seconds))

    async def stick_posts(self, calls: int = 1) -> None:
        """The next `calls` posts stay PROCESSING for ever."""
        await self._call("POST", "faults/post-outcome", PostOutcomeFault(calls, None, "stuck"))

    async def reject_posts(self, calls: int = 1) -> None:
        """The next `calls` posts end REJECTED, whatever their text."""
        await self._call("POST", "faults/post-outcome", PostOutcomeFault(calls, None, "rejected"))

    async def expire_access_tokens(self, token: str | None = None, *, email: str | None = None) -> int:
        """Access tokens (one, a user's, or all) expire now: the token expires mid-run. Returns how many."""
        result = await self._call("POST", "faults/expire-access-tokens", ExpireTokensSpec(token, email))
        return int(result["expired"])


def _posts_path(location_id: str | None) -> str:
    return f"posts?location_id={location_id}" if location_id else "posts"
