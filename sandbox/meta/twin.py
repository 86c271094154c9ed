"""The Meta twin: www.facebook.com (login dialog) and graph.facebook.com on one loopback origin.

`create_meta_twin()` builds the Litestar app and its state; `/_twin/…` is the control interface
(scenario, consent behaviour, faults, clock, state) that `MetaTwinControl` drives over HTTP;
`running_meta_twin()` serves it inside the current event loop for tests and `make dev`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import httpx
from litestar import Litestar, Request, Response, Router, get, post, route
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException

from sandbox.clock import TwinClock
from sandbox.meta.graph import handle
from sandbox.meta.model import Answer, CallRecord, Consent, Fault, FaultKind, GraphRequest
from sandbox.meta.publish_control import PUBLISHING_HANDLERS, PublishingControl
from sandbox.meta.state import MetaTwinState, default_scenario
from sandbox.persist import kept
from sandbox.server import TwinServer

DEFAULT_APP_ID = "sandbox-facebook-app"
DEFAULT_APP_SECRET = "sandbox-facebook-secret"  # the sandbox app's well-known secret

AnyRequest = Request[Any, Any, Any]
Body = dict[str, Any]


def _twin(request: AnyRequest) -> MetaTwinState:
    return cast(MetaTwinState, request.app.state.meta_twin)


def _user_id(state: MetaTwinState, data: Body) -> str:
    user_id = str(data.get("user_id") or state.default_user().id)
    if user_id not in state.users:
        raise NotFoundException(f"no sandbox user {user_id}")
    return user_id


def _page_id(state: MetaTwinState, data: Body) -> str:
    page_id = str(data.get("page_id", ""))
    if page_id not in state.pages:
        raise NotFoundException(f"no sandbox page {page_id}")
    return page_id


# -- the public protocol ----------------------------------------------------------------------------


@route("/{path:path}", http_method=["GET", "POST", "DELETE"], status_code=200, include_in_schema=False)
async def graph_entry(request: AnyRequest, path: str) -> Response[Any]:
    """Every non-control request: parse token and parameters the ways Graph accepts, then answer."""
    state = _twin(request)
    params = {k: v for k, v in request.query_params.items()}
    body: dict[str, str] = {}
    content_type = request.headers.get("content-type", "")
    if request.method in ("POST", "DELETE") and "json" in content_type:
        raw = await request.json()
        body = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (raw or {}).items()}
    elif request.method in ("POST", "DELETE") and "form" in content_type:
        body = {k: str(v) for k, v in (await request.form()).items()}
    params |= body
    token, source = None, None
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "oauth") and credentials:
        token, source = credentials.strip(), "header"
    elif params.get("access_token"):
        token, source = params["access_token"], "form" if "access_token" in body else "query"
    url = str(request.url)
    decoded = unquote(url)  # once per request, not once per known secret (benchmarks hold thousands of tokens)
    record = CallRecord(
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        token_source=source,
        form_keys=sorted(body),
        secret_in_url=any(s in url or s in decoded for s in state.secret_values()),
        at=state.now().isoformat(),
    )
    state.calls.append(record)
    answer = await handle(state, GraphRequest(request.method, path, params, token, url))
    record.status = answer.status
    return _respond(answer)


def _respond(answer: Answer) -> Response[Any]:
    if answer.location is not None:
        return Response(b"", status_code=answer.status, headers={"Location": answer.location, **answer.headers})
    if answer.html is not None:
        return Response(answer.html, status_code=answer.status, media_type=MediaType.HTML, headers=answer.headers)
    return Response(answer.json, status_code=answer.status, media_type=MediaType.JSON, headers=answer.headers)


# -- the control interface --------------------------------------------------------------------------


@post("/_twin/reset", status_code=200)
async def reset(request: AnyRequest) -> Body:
    _twin(request).reset()
    return {"ok": True}


@post("/_twin/scenario", status_code=200)
async def scenario(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.load_scenario(data)
    state.consent = Consent()
    return {"ok": True, "users": list(state.users), "pages": list(state.pages), "instagram": list(state.instagram)}


@post("/_twin/consent", status_code=200)
async def consent(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    user_id = _user_id(state, data) if data.get("user_id") else None
    page_ids = data.get("page_ids")
    state.consent = Consent(
        user_id=user_id,
        page_ids=[str(p) for p in page_ids] if page_ids is not None else None,
        denied_scopes=list(data.get("denied_scopes") or []),
        deny=bool(data.get("deny", False)),
    )
    return {"ok": True}


@post("/_twin/settings", status_code=200)
async def settings(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    if "code_expires_in" in data:
        state.code_expires_in = int(data["code_expires_in"])
    if "usage" in data:
        state.usage = data["usage"]
    return {"ok": True}


@post("/_twin/faults/expire-token", status_code=200)
async def expire_token(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    # No token named: every token of the user (the default user when none is named either).
    user_id = _user_id(state, data) if data.get("user_id") or not data.get("token") else None
    return {"ok": True, "expired": state.expire_tokens(token=data.get("token"), user_id=user_id)}


@post("/_twin/faults/revoke-app", status_code=200)
async def revoke_app(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.revoke_app(_user_id(state, data))
    return {"ok": True}


@post("/_twin/faults/password-change", status_code=200)
async def password_change(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.change_password(_user_id(state, data))
    return {"ok": True}


@post("/_twin/faults/role-loss", status_code=200)
async def role_loss(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.lose_role(_user_id(state, data), _page_id(state, data))
    return {"ok": True}


@post("/_twin/faults/drop-scope", status_code=200)
async def drop_scope(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.drop_scope(_user_id(state, data), str(data["scope"]))
    return {"ok": True}


@post("/_twin/faults/unlink-instagram", status_code=200)
async def unlink_instagram(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.unlink_instagram(_page_id(state, data))
    return {"ok": True}


def _arm(request: AnyRequest, kind: FaultKind, data: Body, default_code: int) -> Body:
    fault = Fault(
        kind=kind,
        remaining=int(data.get("count", 1)),
        code=int(data.get("code", default_code)),
        seconds=float(data.get("seconds", 0.0)),
        path_contains=data.get("path_contains"),
        regain_minutes=int(data.get("regain_minutes", 5)),
        is_transient=data.get("is_transient"),
        retry_after=data.get("retry_after"),
    )
    _twin(request).faults.append(fault)
    return {"ok": True}


@post("/_twin/faults/rate-limit", status_code=200)
async def rate_limit(request: AnyRequest, data: Body) -> Body:
    return _arm(request, "rate_limit", data, 4)


@post("/_twin/faults/server-error", status_code=200)
async def server_error(request: AnyRequest, data: Body) -> Body:
    return _arm(request, "server_error", data, 2)


@post("/_twin/faults/delay", status_code=200)
async def delay(request: AnyRequest, data: Body) -> Body:
    return _arm(request, "delay", data, 0)


@post("/_twin/faults/clear", status_code=200)
async def clear_faults(request: AnyRequest) -> Body:
    _twin(request).faults.clear()
    _twin(request).content.container_faults.clear()
    return {"ok": True}


@post("/_twin/clock", status_code=200)
async def clock(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.clock.advance(float(data.get("advance_seconds", 0)))
    return {"ok": True, "now": state.now().isoformat()}


@get("/_twin/state")
async def read_state(request: AnyRequest) -> Body:
    return _twin(request).snapshot()


CONTROL_HANDLERS = [
    reset,
    scenario,
    consent,
    settings,
    expire_token,
    revoke_app,
    password_change,
    role_loss,
    drop_scope,
    unlink_instagram,
    rate_limit,
    server_error,
    delay,
    clear_faults,
    clock,
    read_state,
]


def create_meta_twin(
    *,
    app_id: str = DEFAULT_APP_ID,
    app_secret: str = DEFAULT_APP_SECRET,
    clock: TwinClock | None = None,
    path_prefix: str = "",
) -> tuple[Litestar, MetaTwinState]:
    """The twin app and its state, starting from the default scenario; `path_prefix` mounts it below a path."""
    state = MetaTwinState(app_id=app_id, app_secret=app_secret, clock=clock)
    router = Router(path=path_prefix or "/", route_handlers=[*CONTROL_HANDLERS, *PUBLISHING_HANDLERS, graph_entry])
    app = Litestar(
        route_handlers=[router],
        state=State({"meta_twin": state}),
        openapi_config=None,
        logging_config=None,  # the host process owns logging (twins run inside `make dev`)
        debug=False,
    )
    return app, state


class MetaTwinControl(PublishingControl):
    """Typed client for the control interface (tests and `make dev`); publishing methods are inherited."""

    async def reset(self) -> None:
        """Back to the default scenario: no tokens, faults or calls; clock at real time."""
        await self._post("reset")

    async def scenario(self, users: Sequence[Body]) -> Body:
        """Replace the world: `[{"name", "id"?, "pages": [{"name", "id"?, "tasks"?, "instagram"?: {...}}]}]`."""
        return await self._post("scenario", {"users": list(users)})

    async def consent(
        self,
        *,
        user_id: str | None = None,
        page_ids: Sequence[str] | None = None,
        denied_scopes: Sequence[str] = (),
        deny: bool = False,
    ) -> None:
        """How the dialog answers next: who consents, which Pages are ticked, which scopes declined."""
        body: Body = {"user_id": user_id, "denied_scopes": list(denied_scopes), "deny": deny}
        body["page_ids"] = list(page_ids) if page_ids is not None else None
        await self._post("consent", body)

    async def settings(self, *, code_expires_in: int | None = None, usage: dict[str, int] | None = None) -> None:
        """Lifetime of code-exchange tokens; an `X-App-Usage` value sent with every Graph answer."""
        body: Body = {"usage": usage}
        if code_expires_in is not None:
            body["code_expires_in"] = code_expires_in
        await self._post("settings", body)

    async def expire_token(self, *, token: str | None = None, user_id: str | None = None) -> int:
        """Make one token, or every token of a user (default: the first), lapse now: 190/463. Returns how many."""
        return int((await self._post("faults/expire-token", {"token": token, "user_id": user_id}))["expired"])

    async def revoke_app(self, user_id: str | None = None) -> None:
        """The user removes the app in Facebook settings: 190/458 everywhere."""
        await self._post("faults/revoke-app", {"user_id": user_id})

    async def password_change(self, user_id: str | None = None) -> None:
        """The user changes their password: their tokens answer 190/460."""
        await self._post("faults/password-change", {"user_id": user_id})

    async def role_loss(self, page_id: str, user_id: str | None = None) -> None:
        """The user loses their role on a Page: its Page tokens answer 190/492."""
        await self._post("faults/role-loss", {"user_id": user_id, "page_id": page_id})

    async def drop_scope(self, scope: str, user_id: str | None = None) -> None:
        """Remove one permission from the user's grant (as if unticked in settings)."""
        await self._post("faults/drop-scope", {"user_id": user_id, "scope": scope})

    async def unlink_instagram(self, page_id: str) -> None:
        await self._post("faults/unlink-instagram", {"page_id": page_id})

    async def rate_limit(
        self,
        count: int = 1,
        *,
        code: int = 4,
        path_contains: str | None = None,
        regain_minutes: int = 5,
        retry_after: int | None = None,
    ) -> None:
        """Throttle the next `count` Graph calls with `code` (4/17/32/613/80001/80002), usage headers at 100%
        and, when given, a Retry-After header."""
        body = {"count": count, "code": code, "path_contains": path_contains, "regain_minutes": regain_minutes}
        await self._post("faults/rate-limit", {**body, "retry_after": retry_after})

    async def server_error(
        self, count: int = 1, *, code: int = 2, path_contains: str | None = None, is_transient: bool | None = None
    ) -> None:
        """Answer the next `count` Graph calls with HTTP 500 and code 1 or 2 (nothing is carried out)."""
        body = {"count": count, "code": code, "path_contains": path_contains, "is_transient": is_transient}
        await self._post("faults/server-error", body)

    async def delay(self, seconds: float, count: int = 1, *, path_contains: str | None = None) -> None:
        """Hold the next `count` Graph calls for `seconds` before answering (client timeouts)."""
        await self._post("faults/delay", {"count": count, "seconds": seconds, "path_contains": path_contains})

    async def clear_faults(self) -> None:
        await self._post("faults/clear")

    async def advance_clock(self, seconds: float) -> None:
        """Move the twin's clock forward (tokens and codes age with it)."""
        await self._post("clock", {"advance_seconds": seconds})

    async def state(self) -> Body:
        """Users, Pages, grants, tokens (with validity), revocations, armed faults and calls received."""
        response = await self._client.get(f"{self.base_url}/_twin/state")
        response.raise_for_status()
        return cast(Body, response.json())

    async def calls(self) -> list[Body]:
        return cast(list[Body], (await self.state())["calls"])


@asynccontextmanager
async def running_meta_twin(
    *,
    app_id: str = DEFAULT_APP_ID,
    app_secret: str = DEFAULT_APP_SECRET,
    clock: TwinClock | None = None,
    path_prefix: str = "",
    port: int | None = None,
    state_file: Path | None = None,
) -> AsyncIterator[tuple[str, MetaTwinControl, MetaTwinState]]:
    """Serve the twin on loopback (`port`, or a free one); yields (base URL incl. prefix, control, state).

    With `state_file` the twin starts from the state saved there and saves after every request (`make dev`);
    without one its state lives in memory only (tests)."""
    app, state = create_meta_twin(app_id=app_id, app_secret=app_secret, clock=clock, path_prefix=path_prefix)
    served, keeper = kept(app, state_file, twin="meta", dump=state.durable, restore=state.restore)
    server = TwinServer(served, port=port)
    url = (await server.start()) + path_prefix.rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            yield url, MetaTwinControl(url, client), state
    finally:
        await server.stop()
        if keeper is not None:
            keeper.save()  # changes made directly on `state`, not through a request


__all__ = ["MetaTwinControl", "MetaTwinState", "create_meta_twin", "default_scenario", "running_meta_twin"]
