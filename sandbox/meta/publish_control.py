"""The Meta twin's control interface for publishing: settings, commit and container faults, what is visible.

Mounted next to the other `/_twin/…` handlers by sandbox/meta/twin.py; `PublishingControl` is the typed
client half, which `MetaTwinControl` inherits.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import httpx
from litestar import Request, get, post

from sandbox.meta.content import ContainerFault
from sandbox.meta.model import Fault, FaultKind
from sandbox.meta.state import MetaTwinState

Body = dict[str, Any]
AnyRequest = Request[Any, Any, Any]


def _twin(request: AnyRequest) -> MetaTwinState:
    return cast(MetaTwinState, request.app.state.meta_twin)


def _arm_commit(request: AnyRequest, kind: FaultKind, data: Body) -> Body:
    fault = Fault(
        kind=kind,
        remaining=int(data.get("count", 1)),
        code=int(data.get("code", 2)),
        seconds=float(data.get("seconds", 0.0)),
        path_contains=data.get("path_contains"),
        is_transient=data.get("is_transient"),
    )
    _twin(request).faults.append(fault)
    return {"ok": True}


@post("/_twin/publishing", status_code=200)
async def publishing_settings(request: AnyRequest, data: Body) -> Body:
    store = _twin(request).content
    store.settings.update(data)
    return {"ok": True, "settings": store.snapshot()["settings"]}


@post("/_twin/faults/graph-error", status_code=200)
async def graph_error(request: AnyRequest, data: Body) -> Body:
    """Answer the next matching calls with any Graph error (nothing is carried out)."""
    fault = Fault(
        kind="graph_error",
        remaining=int(data.get("count", 1)),
        code=int(data["code"]),
        path_contains=data.get("path_contains"),
        subcode=data.get("subcode"),
        message=data.get("message"),
        status=data.get("status"),
    )
    _twin(request).faults.append(fault)
    return {"ok": True}


@post("/_twin/faults/commit-then-error", status_code=200)
async def commit_then_error(request: AnyRequest, data: Body) -> Body:
    return _arm_commit(request, "commit_then_error", data)


@post("/_twin/faults/commit-then-hang", status_code=200)
async def commit_then_hang(request: AnyRequest, data: Body) -> Body:
    return _arm_commit(request, "commit_then_hang", data)


@post("/_twin/faults/container", status_code=200)
async def container_fault(request: AnyRequest, data: Body) -> Body:
    after = data.get("after_seconds")
    fault = ContainerFault(
        outcome=data.get("outcome", "error"),
        remaining=int(data.get("count", 1)),
        subcode=int(data.get("subcode", 2207082)),
        after_seconds=float(after) if after is not None else None,
        media_type=data.get("media_type"),
    )
    _twin(request).content.container_faults.append(fault)
    return {"ok": True}


@post("/_twin/faults/quota-exhausted", status_code=200)
async def quota_exhausted(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    ig_ids = [str(data["ig_user_id"])] if data.get("ig_user_id") else list(state.instagram)
    for ig_id in ig_ids:
        state.content.exhaust_quota(ig_id)
    return {"ok": True, "quota_used": {ig: state.content.quota_used(ig) for ig in ig_ids}}


@get("/_twin/posts")
async def visible_posts(request: AnyRequest, page_id: str | None = None) -> Body:
    """Every post people can see on a Page (or on every Page), oldest first."""
    content = _twin(request).content.snapshot()
    return {"posts": [p for p in content["posts"] if p["visible"] and page_id in (None, p["page_id"])]}


@get("/_twin/instagram-media")
async def instagram_media(request: AnyRequest, ig_user_id: str | None = None) -> Body:
    """Every published Instagram post, reel and story of an account (or of all), oldest first."""
    media = _twin(request).content.snapshot()["instagram_media"]
    return {"media": [m for m in media if ig_user_id in (None, m["ig_user_id"])]}


PUBLISHING_HANDLERS = [
    publishing_settings,
    graph_error,
    commit_then_error,
    commit_then_hang,
    container_fault,
    quota_exhausted,
    visible_posts,
    instagram_media,
]


class PublishingControl:
    """Typed client for the publishing half of the control interface (MetaTwinControl inherits it)."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client

    async def _post(self, path: str, body: Body | None = None) -> Body:
        response = await self._client.post(f"{self.base_url}/_twin/{path}", json=body or {})
        response.raise_for_status()
        return cast(Body, response.json())

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Body:
        response = await self._client.get(f"{self.base_url}/_twin/{path}", params=params)
        response.raise_for_status()
        return cast(Body, response.json())

    async def publishing(self, **settings: float | int | bool) -> Body:
        """Change PublishSettings (e.g. video_processing_seconds=120, quota_total=25, duplicate_code=368)."""
        return cast(Body, (await self._post("publishing", dict(settings)))["settings"])

    async def graph_error(
        self,
        code: int,
        *,
        subcode: int | None = None,
        message: str | None = None,
        status: int | None = None,
        count: int = 1,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next `count` matching calls with this Graph error (HTTP status as Meta would, or `status`)."""
        body = {"code": code, "subcode": subcode, "message": message, "status": status}
        await self._post("faults/graph-error", {**body, "count": count, "path_contains": path_contains})

    async def commit_then_error(
        self, count: int = 1, *, code: int = 2, path_contains: str | None = None, is_transient: bool | None = None
    ) -> None:
        """Ghost success: the next `count` writes are carried out, then answered HTTP 500 with code 1 or 2."""
        body = {"count": count, "code": code, "path_contains": path_contains, "is_transient": is_transient}
        await self._post("faults/commit-then-error", body)

    async def commit_then_hang(self, seconds: float, count: int = 1, *, path_contains: str | None = None) -> None:
        """The next `count` writes are carried out, then the answer waits `seconds` (past a client timeout)."""
        body = {"count": count, "seconds": seconds, "path_contains": path_contains}
        await self._post("faults/commit-then-hang", body)

    async def container_fault(
        self,
        outcome: Literal["error", "expired"] = "error",
        *,
        count: int = 1,
        subcode: int = 2207082,
        after_seconds: float | None = None,
        media_type: str | None = None,
    ) -> None:
        """The next `count` containers (of `media_type`) stay IN_PROGRESS, then turn ERROR (`subcode`) after
        `after_seconds` (default: the normal processing time), or never finish and expire after 24 h."""
        body = {
            "outcome": outcome,
            "count": count,
            "subcode": subcode,
            "after_seconds": after_seconds,
            "media_type": media_type,
        }
        await self._post("faults/container", body)

    async def exhaust_quota(self, ig_user_id: str | None = None) -> None:
        """Use up the rolling 24 h publishing quota of one Instagram account (default: all of them) now."""
        await self._post("faults/quota-exhausted", {"ig_user_id": ig_user_id})

    async def visible_posts(self, page_id: str | None = None) -> list[Body]:
        """Posts people can see on a Page (every Page when None): count these to find duplicates."""
        params = {"page_id": page_id} if page_id else None
        return cast(list[Body], (await self._get("posts", params))["posts"])

    async def instagram_media(self, ig_user_id: str | None = None) -> list[Body]:
        """Published Instagram media of an account (every account when None)."""
        params = {"ig_user_id": ig_user_id} if ig_user_id else None
        return cast(list[Body], (await self._get("instagram-media", params))["media"])
