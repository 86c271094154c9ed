"""The Slack twin: slack.com/api (Web API), the install page, upload URLs and response_urls on one loopback origin.

`create_slack_twin()` builds the Litestar app and its state; `running_slack_twin()` serves it inside the current
event loop and yields (url, control, state). Point slack_sdk at it with `AsyncWebClient(base_url=f"{url}/api/")`
(the trailing slash matters) and the install page at `f"{url}/oauth/v2/authorize"`. `/_twin/…` is the control
and inspection interface `SlackTwinControl` drives over HTTP; docs/slack-twin.md describes it all.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import httpx
from litestar import Litestar, Request, Response, get, post, route
from litestar.datastructures import State, UploadFile
from litestar.enums import MediaType

from sandbox.clock import TwinClock
from sandbox.control import TwinControl
from sandbox.persist import kept
from sandbox.server import TwinServer
from sandbox.slack.api import ApiRequest, call
from sandbox.slack.model import CallRecord, Fault, SlackError
from sandbox.slack.oauth import PageAnswer, authorize_decision, authorize_page
from sandbox.slack.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SIGNING_SECRET,
    DEV_BOT_TOKEN,
    SlackTwinState,
    default_scenario,
)

AnyRequest = Request[Any, Any, Any]
Body = dict[str, Any]
DROP_HEADER = "x-sandbox-slack-drop"  # set by a handler; the ASGI wrapper then cuts the answer off mid-body


def _twin(request: AnyRequest) -> SlackTwinState:
    return cast(SlackTwinState, request.app.state.slack_twin)


def jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and containers as plain JSON values (for the inspection API)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


# -- the public protocol ----------------------------------------------------------------------------


async def _arguments(request: AnyRequest) -> tuple[dict[str, Any], str | None]:
    """Query string plus body (JSON keeps its types; form values are strings), and where a `token` argument
    came from ("body" or "query"; a token in the query string is recorded as one in the URL)."""
    query: dict[str, Any] = dict(request.query_params.items())
    body: dict[str, Any] = {}
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and "json" in content_type:
        raw = await request.json()
        body = raw if isinstance(raw, dict) else {}
    elif request.method == "POST" and "form" in content_type:
        body = {k: v for k, v in (await request.form()).items() if not isinstance(v, UploadFile)}
    source = "body" if body.get("token") else "query" if query.get("token") else None
    return query | body, source


def _credentials(
    request: AnyRequest, params: dict[str, Any], token_source: str | None
) -> tuple[str | None, str | None, tuple[str, str] | None]:
    """(token, where it came from, Basic client credentials): the Authorization header wins, as on Slack."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "header", None
    if scheme.lower() == "basic" and value.strip():
        try:
            client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None, None
        return None, "basic", (client_id, secret)
    if token_source is not None:
        return str(params["token"]), token_source, None
    return None, None, None


def _json(body: Body, status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers or {})


@route("/api/{method:str}", http_method=["GET", "POST"], status_code=200, include_in_schema=False)
async def web_api(request: AnyRequest, method: str) -> Response[Any]:
    """Every Web API call: parse it the ways Slack accepts, apply faults and pacing, run the method."""
    state = _twin(request)
    params, token_source = await _arguments(request)
    token, source, client = _credentials(request, params, token_source)
    record = CallRecord(
        method=method,
        http_method=request.method,
        content_type=request.headers.get("content-type", ""),
        token_source=source,
        token_in_url=source == "query",
        at=state.now().isoformat(),
    )
    state.calls.append(record)
    base_url = f"{request.url.scheme}://{request.url.netloc}"
    try:
        fault = state.take_fault(method)
        if fault is not None:
            await _strike_before(fault)
        body = call(state, ApiRequest(method, params, token, client, base_url))
    except SlackError as exc:
        record.status, record.error = exc.status, exc.code
        return _json(exc.body(), exc.status, exc.headers)
    lost = state.take_fault(method, after=True)
    if lost is not None:
        record.status, record.error = 500, "answer_lost"
        if lost.how == "hang":
            await asyncio.sleep(lost.seconds)
            return _json(body)
        if lost.how == "drop":
            return _json(body, headers={DROP_HEADER: "1"})
        return _json({"ok": False, "error": lost.error}, lost.status)
    return _json(body)


async def _strike_before(fault: Fault) -> None:
    """A fault that strikes before anything is done (the call has no effect, except `delay`)."""
    if fault.kind == "rate_limit":
        raise SlackError("ratelimited", status=429, headers={"Retry-After": str(fault.retry_after)})
    if fault.kind == "server_error":
        raise SlackError(fault.error, status=fault.status)
    if fault.kind == "error":
        raise SlackError(fault.error)
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)


@post("/upload/v1/{upload_id:str}", status_code=200, include_in_schema=False)
async def upload(request: AnyRequest, upload_id: str) -> Response[Any]:
    """The upload URL files.getUploadURLExternal handed out: raw bytes, or a multipart form's first file."""
    state = _twin(request)
    file_id = state.uploads.get(upload_id)
    if file_id is None:
        return Response("Not Found - upload URL unknown", status_code=404, media_type=MediaType.TEXT)
    content_type = request.headers.get("content-type", "")
    if "multipart/form-data" in content_type:
        form = await request.form()
        part = next((v for v in form.values() if isinstance(v, UploadFile)), None)
        data = await part.read() if part is not None else b""
        content_type = part.content_type if part is not None else content_type
    else:
        data = await request.body()
    record = state.file_store[file_id]
    record.content_b64 = base64.b64encode(data).decode()
    record.uploaded_bytes = len(data)
    record.content_type = content_type or None
    return Response(f"OK - {len(data)}", status_code=200, media_type=MediaType.TEXT)


def _page(answer: PageAnswer) -> Response[Any]:
    if answer.location is not None:
        return Response(b"", status_code=answer.status, headers={"Location": answer.location})
    return Response(answer.html or "", status_code=answer.status, media_type=MediaType.HTML)


@get("/oauth/v2/authorize", include_in_schema=False)
async def authorize(request: AnyRequest) -> Response[Any]:
    return _page(authorize_page(_twin(request), dict(request.query_params.items())))


@post("/oauth/v2/authorize", status_code=200, include_in_schema=False)
async def authorize_post(request: AnyRequest) -> Response[Any]:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return _page(authorize_decision(_twin(request), form))


@post("/actions/{rid:str}", status_code=200, include_in_schema=False)
async def response_url(request: AnyRequest, rid: str) -> Response[Any]:
    """A response_url: the app's JSON answer to a slash command or interaction is recorded and applied."""
    state = _twin(request)
    try:
        raw = await request.json()
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        return _json({"ok": False, "error": "invalid_payload"}, 400)
    try:
        state.respond(rid, raw)
    except SlackError as exc:
        return _json(exc.body(), 400 if exc.status == 200 else exc.status)
    return _json({"ok": True})


# -- control and inspection ---------------------------------------------------------------------------


@post("/_twin/reset", status_code=200)
async def reset(request: AnyRequest) -> Body:
    _twin(request).reset()
    return {"ok": True}


@post("/_twin/scenario", status_code=200)
async def scenario(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.load_scenario(data)
    return {"ok": True, "teams": list(state.teams), "users": list(state.users), "channels": list(state.channels)}


@post("/_twin/install", status_code=200)
async def install(request: AnyRequest, data: Body) -> Body:
    """A bot token for a workspace without going through OAuth (single-workspace mode)."""
    state = _twin(request)
    team_id = str(data.get("team_id") or state.default_team().id)
    grant = state.install(team_id, scopes=data.get("scopes"), token=data.get("token"))
    return {"ok": True, "token": grant.token, "team_id": team_id, "bot_user_id": grant.bot_user_id}


def _arm(request: AnyRequest, data: Body, **fixed: Any) -> Body:
    known = {f.name for f in dataclasses.fields(Fault)}
    values = {k: v for k, v in data.items() if k in known and k not in ("kind", "remaining")}
    fault = Fault(remaining=int(data.get("count", 1)), **{**values, **fixed})
    _twin(request).faults.append(fault)
    return {"ok": True}


@post("/_twin/faults/rate-limit", status_code=200)
async def fault_rate_limit(request: AnyRequest, data: Body) -> Body:
    return _arm(request, data, kind="rate_limit")


@post("/_twin/faults/server-error", status_code=200)
async def fault_server_error(request: AnyRequest, data: Body) -> Body:
    return _arm(request, data, kind="server_error")


@post("/_twin/faults/delay", status_code=200)
async def fault_delay(request: AnyRequest, data: Body) -> Body:
    return _arm(request, data, kind="delay")


@post("/_twin/faults/error", status_code=200)
async def fault_error(request: AnyRequest, data: Body) -> Body:
    return _arm(request, data, kind="error")


@post("/_twin/faults/lost", status_code=200)
async def fault_lost(request: AnyRequest, data: Body) -> Body:
    return _arm(request, data, kind="lost")


@post("/_twin/faults/clear", status_code=200)
async def fault_clear(request: AnyRequest) -> Body:
    _twin(request).faults.clear()
    return {"ok": True}


@post("/_twin/revoke", status_code=200)
async def revoke(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    team_id = data.get("team_id") if data.get("team_id") or data.get("token") else state.default_team().id
    return {"ok": True, "revoked": state.revoke(token=data.get("token"), team_id=team_id)}


@post("/_twin/channels/archive", status_code=200)
async def archive(request: AnyRequest, data: Body) -> Body:
    _twin(request).archive(str(data["channel"]))
    return {"ok": True}


@post("/_twin/channels/delete", status_code=200)
async def delete_channel(request: AnyRequest, data: Body) -> Body:
    _twin(request).delete_channel(str(data["channel"]))
    return {"ok": True}


@post("/_twin/deactivate", status_code=200)
async def deactivate(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.deactivate(str(data.get("team_id") or state.default_team().id))
    return {"ok": True}


@post("/_twin/pacing", status_code=200)
async def pacing(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    for name in ("enabled", "per_second", "burst"):
        if name in data:
            setattr(state.pacing, name, type(getattr(state.pacing, name))(data[name]))
    return {"ok": True, "pacing": dataclasses.asdict(state.pacing)}


@post("/_twin/consent", status_code=200)
async def consent(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.auto_approve = bool(data.get("auto_approve", False))
    state.consent_user = data.get("user_id")
    state.consent_team = data.get("team_id")
    return {"ok": True}


@post("/_twin/clock", status_code=200)
async def clock(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.clock.advance(float(data.get("advance_seconds", 0)))
    return {"ok": True, "now": state.now().isoformat()}


@post("/_twin/interactions", status_code=200)
async def interactions(request: AnyRequest, data: Body) -> Body:
    """A trigger_id and response_url for a request the sender is about to make, with the names Slack sends."""
    state = _twin(request)
    team = state.teams[str(data.get("team_id") or state.default_team().id)]
    user = state.users.get(str(data.get("user_id") or state.first_admin(team.id).id))
    if user is None:
        return {"ok": False, "error": "user_not_found"}
    channel_id = data.get("channel_id")
    if not channel_id and data.get("any_channel"):  # a slash command is always typed somewhere
        channel_id = next(
            (c.id for c in state.channels.values() if c.team_id == team.id and not c.is_private and not c.is_archived),
            None,
        )
    channel = state.channels.get(str(channel_id)) if channel_id else None
    if channel_id and channel is None:
        return {"ok": False, "error": "channel_not_found"}
    trigger, answer_url = state.mint_interaction(
        team_id=team.id, user_id=user.id, channel_id=channel.id if channel else None, message_ts=data.get("message_ts")
    )
    base_url = f"{request.url.scheme}://{request.url.netloc}"
    message = None
    if channel is not None and data.get("message_ts"):
        found = next((m for m in state.messages.get(channel.id, []) if m.ts == data["message_ts"]), None)
        message = found.as_slack(team.id) if found else None
    return {
        "ok": True,
        "trigger_id": trigger.id,
        "response_url": f"{base_url}/actions/{answer_url.id}",
        "response_url_id": answer_url.id,
        "api_app_id": state.app.id,
        "team": {"id": team.id, "domain": team.domain},
        "user": {"id": user.id, "name": user.name, "team_id": team.id},
        "channel": {"id": channel.id, "name": channel.name if not channel.is_im else "directmessage"}
        if channel
        else None,
        "message": message,
        "view": _view_for(state, data.get("view_id")),
    }


def _view_for(state: SlackTwinState, view_id: Any) -> Body | None:
    """A view as Slack shows it in a view_submission payload (state.values filled in by the sender)."""
    view = state.views.get(str(view_id)) if view_id else None
    if view is None:
        return None
    team = state.teams[view.team_id]
    return view.as_slack(state.app.id, team.bot_id)


@get("/_twin/workspace")
async def workspace(request: AnyRequest, team_id: str | None = None) -> Body:
    """A workspace's ids as events carry them: team, bot user, app, and the verification token."""
    state = _twin(request)
    team = state.teams.get(team_id or "") or state.default_team()
    return {"team_id": team.id, "domain": team.domain, "bot_user_id": team.bot_user_id, "api_app_id": state.app.id}


@get("/_twin/state")
async def read_state(request: AnyRequest) -> Body:
    return _twin(request).snapshot()


@get("/_twin/messages")
async def read_messages(request: AnyRequest, channel: str, include_deleted: bool = False) -> Body:
    found = _twin(request).channel_messages(channel, include_deleted=include_deleted)
    return {"messages": jsonable(found)}


@get("/_twin/ephemerals")
async def read_ephemerals(request: AnyRequest, user: str | None = None, channel: str | None = None) -> Body:
    return {"ephemerals": jsonable(_twin(request).ephemerals(user, channel))}


@get("/_twin/views")
async def read_views(request: AnyRequest, user: str | None = None, type: str | None = None) -> Body:
    return {"views": jsonable(_twin(request).opened_views(user, type))}


@get("/_twin/activity")
async def read_activity(request: AnyRequest, after: int = 0) -> Body:
    """What the app did after the `after`-th thing, and the cursor to ask from next time."""
    state = _twin(request)
    return {"activity": jsonable(state.activity_after(after)), "next": len(state.activity)}


@get("/_twin/files")
async def read_files(request: AnyRequest) -> Body:
    files = [{k: v for k, v in jsonable(f).items() if k != "content_b64"} for f in _twin(request).files()]
    return {"files": files}


@get("/_twin/answers")
async def read_answers(request: AnyRequest, id: str) -> Body:
    state = _twin(request)
    if id not in state.response_urls:
        return {"answers": []}
    return {"answers": jsonable(state.answers(id))}


CONTROL_HANDLERS = [
    reset,
    scenario,
    install,
    fault_rate_limit,
    fault_server_error,
    fault_delay,
    fault_error,
    fault_lost,
    fault_clear,
    revoke,
    archive,
    delete_channel,
    deactivate,
    pacing,
    consent,
    clock,
    interactions,
    workspace,
    read_state,
    read_messages,
    read_ephemerals,
    read_views,
    read_files,
    read_answers,
    read_activity,
]


def _dropping(app: Any) -> Any:
    """Wrap the app so an answer marked with DROP_HEADER is cut off: headers and half a body, then the
    connection closes (the client sees a broken answer although the call was applied)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        dropping = False

        async def guarded(message: Any) -> None:
            nonlocal dropping
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() != DROP_HEADER]
                dropping = len(headers) != len(message.get("headers", []))
                if dropping:
                    headers = [(k, v) for k, v in headers if k.decode().lower() != "content-length"]
                    await send({**message, "headers": [*headers, (b"content-length", b"4096")]})
                    await send({"type": "http.response.body", "body": b'{"ok": tr', "more_body": True})
                    return
            if dropping:
                return  # the rest never reaches the client; uvicorn closes the unfinished answer
            await send(message)

        await app(scope, receive, guarded)

    return wrapped


def create_slack_twin(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    signing_secret: str = DEFAULT_SIGNING_SECRET,
    clock: TwinClock | None = None,
) -> tuple[Any, SlackTwinState]:
    """The twin's ASGI app and its state, starting from the default scenario with the dev bot token installed."""
    state = SlackTwinState(client_id=client_id, client_secret=client_secret, signing_secret=signing_secret, clock=clock)
    app = Litestar(
        route_handlers=[*CONTROL_HANDLERS, web_api, upload, authorize, authorize_post, response_url],
        state=State({"slack_twin": state}),
        openapi_config=None,
        logging_config=None,  # the host process owns logging (twins run inside `make dev`)
        debug=False,
    )
    return _dropping(app), state


class SlackTwinControl(TwinControl):
    """Typed client for the control and inspection interface (tests, `make dev`, the sender)."""

    async def reset(self) -> None:
        """Back to the default scenario with only the dev bot token; no messages, faults or calls."""
        await self._post("reset")

    async def scenario(self, teams: Sequence[Body]) -> Body:
        """Replace the world: `[{"id"?, "name", "domain"?, "users": [...], "channels": [...]}]`."""
        return await self._post("scenario", {"teams": list(teams)})

    async def install(self, *, team_id: str | None = None, scopes: Sequence[str] | None = None) -> str:
        """Install the app without OAuth; returns the new bot token."""
        body: Body = {"team_id": team_id, "scopes": list(scopes) if scopes is not None else None}
        return str((await self._post("install", body))["token"])

    async def rate_limit(self, count: int = 1, *, method: str | None = None, retry_after: int = 1) -> None:
        """Answer the next `count` calls (of `method`, or any) with 429 ratelimited and Retry-After."""
        await self._post("faults/rate-limit", {"count": count, "method": method, "retry_after": retry_after})

    async def server_error(
        self, count: int = 1, *, method: str | None = None, status: int = 500, error: str = "fatal_error"
    ) -> None:
        """Answer the next `count` calls with HTTP `status` (500, 502, 503 …) and do nothing."""
        await self._post("faults/server-error", {"count": count, "method": method, "status": status, "error": error})

    async def delay(self, seconds: float, count: int = 1, *, method: str | None = None) -> None:
        """Hold the next `count` calls for `seconds`, then carry them out (a slow Slack; client timeouts)."""
        await self._post("faults/delay", {"count": count, "method": method, "seconds": seconds})

    async def error(self, error: str, count: int = 1, *, method: str | None = None) -> None:
        """Answer the next `count` calls with `{"ok": false, "error": error}` (HTTP 200) and do nothing."""
        await self._post("faults/error", {"count": count, "method": method, "error": error})

    async def lose_answer(
        self, count: int = 1, *, method: str | None = None, how: str = "error", seconds: float = 0.0
    ) -> None:
        """Carry out the next `count` calls, then lose the answer: `error` (HTTP 500), `drop` (the connection
        closes mid-answer) or `hang` (hold `seconds`, longer than the client waits)."""
        await self._post("faults/lost", {"count": count, "method": method, "how": how, "seconds": seconds})

    async def clear_faults(self) -> None:
        await self._post("faults/clear")

    async def revoke(self, *, token: str | None = None, team_id: str | None = None) -> int:
        """Revoke one token, or every token of a workspace (default: the first); returns how many."""
        return int((await self._post("revoke", {"token": token, "team_id": team_id}))["revoked"])

    async def archive(self, channel: str) -> None:
        await self._post("channels/archive", {"channel": channel})

    async def delete_channel(self, channel: str) -> None:
        await self._post("channels/delete", {"channel": channel})

    async def deactivate(self, team_id: str | None = None) -> None:
        """The workspace is gone: its tokens answer account_inactive."""
        await self._post("deactivate", {"team_id": team_id})

    async def pacing(
        self, *, enabled: bool | None = None, per_second: float | None = None, burst: int | None = None
    ) -> Body:
        """Per-channel chat.postMessage pacing (default on: 1 a second, bursts of 50)."""
        body = {
            k: v for k, v in {"enabled": enabled, "per_second": per_second, "burst": burst}.items() if v is not None
        }
        return cast(Body, (await self._post("pacing", body))["pacing"])

    async def consent(
        self, *, auto_approve: bool = False, user_id: str | None = None, team_id: str | None = None
    ) -> None:
        """How the install page answers: show Allow (default) or redirect at once; who installs, where."""
        await self._post("consent", {"auto_approve": auto_approve, "user_id": user_id, "team_id": team_id})

    async def advance_clock(self, seconds: float) -> None:
        await self._post("clock", {"advance_seconds": seconds})

    async def workspace(self, team_id: str | None = None) -> Body:
        """Team id and domain, the bot user id and the app id (what events carry)."""
        return await self._get("workspace", **({"team_id": team_id} if team_id else {}))

    async def interaction(
        self,
        *,
        view_id: str | None = None,
        user_id: str | None = None,
        channel_id: str | None = None,
        message_ts: str | None = None,
        team_id: str | None = None,
        any_channel: bool = False,
    ) -> Body:
        """Mint a trigger_id and response_url (and the names Slack sends) for one request from Slack;
        `any_channel`: without a channel_id, the workspace's first open public channel."""
        body: Body = {"user_id": user_id, "channel_id": channel_id, "message_ts": message_ts, "team_id": team_id}
        body |= {"view_id": view_id, "any_channel": any_channel}
        answer = await self._post("interactions", body)
        if not answer.get("ok"):
            raise LookupError(str(answer.get("error")))
        return answer

    async def state(self) -> Body:
        return await self._get("state")

    async def messages(self, channel: str, *, include_deleted: bool = False) -> list[Body]:
        params = {"channel": channel, "include_deleted": "true" if include_deleted else "false"}
        return cast(list[Body], (await self._get("messages", **params))["messages"])

    async def ephemerals(self, *, user: str | None = None, channel: str | None = None) -> list[Body]:
        params = {k: v for k, v in {"user": user, "channel": channel}.items() if v}
        return cast(list[Body], (await self._get("ephemerals", **params))["ephemerals"])

    async def views(self, *, user: str | None = None, type: str | None = None) -> list[Body]:
        params = {k: v for k, v in {"user": user, "type": type}.items() if v}
        return cast(list[Body], (await self._get("views", **params))["views"])

    async def files(self) -> list[Body]:
        return cast(list[Body], (await self._get("files"))["files"])

    async def activity(self, after: int = 0) -> tuple[list[Body], int]:
        """What the app did since cursor `after` (messages, edits, deletes, ephemerals, answers, views, files),
        and the cursor for next time: read it before sending a request, then ask for what came after."""
        answer = await self._get("activity", after=str(after))
        return cast(list[Body], answer["activity"]), int(answer["next"])

    async def answers(self, response_url_id: str) -> list[Body]:
        return cast(list[Body], (await self._get("answers", id=response_url_id))["answers"])


@asynccontextmanager
async def running_slack_twin(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    signing_secret: str = DEFAULT_SIGNING_SECRET,
    clock: TwinClock | None = None,
    scenario: Body | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    state_file: Path | None = None,
) -> AsyncIterator[tuple[str, SlackTwinControl, SlackTwinState]]:
    """Serve the twin on loopback (`port`, or a free one); yields (base URL, control, state).

    With `state_file` the twin starts from the state saved there and saves after every request (`make dev`);
    without one its state lives in memory only (tests)."""
    app, state = create_slack_twin(
        client_id=client_id, client_secret=client_secret, signing_secret=signing_secret, clock=clock
    )
    if scenario is not None:
        state.load_scenario(scenario)
        state.install(state.default_team().id, token=DEV_BOT_TOKEN)
    served, keeper = kept(app, state_file, twin="slack", dump=state.durable, restore=state.restore)
    server = TwinServer(served, host=host, port=port)
    url = await server.start()
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            yield url, SlackTwinControl(url, client), state
    finally:
        await server.stop()
        if keeper is not None:
            keeper.save()  # changes made directly on `state`, not through a request


__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SIGNING_SECRET",
    "DEV_BOT_TOKEN",
    "SlackTwinControl",
    "SlackTwinState",
    "create_slack_twin",
    "default_scenario",
    "jsonable",
    "running_slack_twin",
]
