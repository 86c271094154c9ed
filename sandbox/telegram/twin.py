"""The Telegram twin: the Bot API (`/bot<token>/<method>`), file downloads (`/file/bot<token>/<path>`) and webhook
delivery of updates, on one loopback origin.

`create_telegram_twin()` builds the ASGI app and its state; `running_telegram_twin()` serves it inside the
current event loop and yields (url, control, state). Point python-telegram-bot at it with
`Bot(token, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot")`. `/_twin/…` is the control and inspection
interface `TelegramTwinControl` (sandbox/telegram/control.py) drives over HTTP; docs/telegram-twin.md has it all.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import httpx
import structlog
from litestar import Litestar, Request, Response, get, post, route
from litestar.datastructures import State, UploadFile
from litestar.enums import MediaType

from sandbox.clock import TwinClock
from sandbox.persist import kept
from sandbox.server import TwinServer
from sandbox.telegram.api import ApiCall, Upload, call, flag, integer, structured
from sandbox.telegram.control import TelegramTwinControl
from sandbox.telegram.model import MAX_CALLS_KEPT, CallRecord, Delivery, Fault, TelegramError, Update, WebhookPolicy
from sandbox.telegram.state import (
    DEV_BOT_TOKEN,
    DEV_BOT_USERNAME,
    DEV_WEBHOOK_SECRET,
    TelegramTwinState,
)

log = structlog.get_logger(__name__)

AnyRequest = Request[Any, Any, Any]
Body = dict[str, Any]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_BOT_PATH = re.compile(r"^/bot([^/]+)/([^/]+)/?$")
_FILE_PATH = re.compile(r"^/file/bot([^/]+)/(.+)$")


def _twin(request: AnyRequest) -> TelegramTwinState:
    return cast(TelegramTwinState, request.app.state.telegram_twin)


def _json(body: Body, status: int = 200) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON)


def _error(exc: TelegramError) -> Response[Any]:
    return _json(exc.body(), exc.code)


# -- the public protocol ----------------------------------------------------------------------------


async def _arguments(request: AnyRequest) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Query string plus body, the ways Telegram takes them: JSON, urlencoded or multipart (files kept apart)."""
    params: dict[str, Any] = dict(request.query_params.items())
    uploads: dict[str, Upload] = {}
    content_type = request.headers.get("content-type", "")
    if request.method != "POST":
        return params, uploads
    if "json" in content_type:
        try:
            raw = await request.json()
        except ValueError:
            raise TelegramError(400, "Bad Request: can't parse JSON object") from None
        params |= raw if isinstance(raw, dict) else {}
    elif "form" in content_type:
        for name, value in (await request.form()).multi_items():
            if isinstance(value, UploadFile):
                uploads[name] = Upload(name, value.filename, value.content_type, await value.read())
            else:
                params[name] = value
    return params, uploads


def _loggable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: structured(v) if k in ("reply_markup", "allowed_updates", "commands") else v for k, v in params.items()}


@route("/_api/{token:str}/{method:str}", http_method=["GET", "POST"], status_code=200, include_in_schema=False)
async def bot_api(request: AnyRequest, token: str, method: str) -> Response[Any]:
    """Every Bot API call (reached as /bot<token>/<method>): token, faults, then the method."""
    state = _twin(request)
    try:
        state.check_token(token)
    except TelegramError as exc:
        return _error(exc)
    try:
        params, uploads = await _arguments(request)
    except TelegramError as exc:
        return _error(exc)
    record = CallRecord(method, request.method, _loggable(params), state.now().isoformat())
    record.params |= {name: {"file_name": u.filename, "size": len(u.data)} for name, u in uploads.items()}
    state.calls.append(record)
    if len(state.calls) > MAX_CALLS_KEPT:
        del state.calls[: len(state.calls) - MAX_CALLS_KEPT]
    try:
        fault = state.take_fault(method)
        if fault is not None:
            await _strike(fault)
        if method.lower() == "getupdates":
            result: Any = await get_updates(state, params)
        else:
            result = call(state, ApiCall(method, params, uploads))
    except TelegramError as exc:
        record.status, record.description = exc.code, exc.description
        return _error(exc)
    body: Body = {"ok": True, "result": result}
    if method.lower() == "setwebhook":
        body["description"] = "Webhook was set" if params.get("url") else "Webhook was deleted"
    elif method.lower() == "deletewebhook":
        body["description"] = "Webhook was deleted"
    return _json(body)


async def _strike(fault: Fault) -> None:
    """A fault that strikes before anything is done (the call has no effect, except `delay`, which carries it out
    after waiting)."""
    if fault.kind == "rate_limit":
        raise TelegramError(429, f"Too Many Requests: retry after {fault.retry_after}", retry_after=fault.retry_after)
    if fault.kind == "server_error":
        try:
            phrase = HTTPStatus(fault.status).phrase
        except ValueError:
            phrase = "Server Error"
        raise TelegramError(fault.status, phrase)
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)


async def get_updates(state: TelegramTwinState, params: dict[str, Any]) -> list[Body]:
    """getUpdates: confirm everything before `offset`, then answer what is pending, waiting up to `timeout`
    seconds for something to come (long polling). A newer getUpdates ends an older one with 409, as on Telegram."""
    if state.webhook.url:
        raise TelegramError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
            "webhook first",
        )
    offset = integer(params, "offset")
    limit = min(max(integer(params, "limit") or 100, 1), 100)
    timeout = max(0, integer(params, "timeout") or 0)
    allowed = structured(params.get("allowed_updates"))
    allowed_kinds = list(allowed) if isinstance(allowed, list) and allowed else None
    if offset is not None:
        if offset < 0:
            keep = {u.update_id for u in state.pending()[offset:]}
            for update in state.pending():
                update.confirmed = update.update_id not in keep
        else:
            for update in state.updates:
                if update.update_id < offset:
                    update.confirmed = True
    state.poller += 1
    mine = state.poller
    state.arrived().set()  # wake an older poller so it notices it was replaced
    await asyncio.sleep(0)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if state.poller != mine:
            raise TelegramError(
                409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
            )
        found = state.pending(allowed_kinds)[:limit]
        left = deadline - asyncio.get_running_loop().time()
        if found or left <= 0:
            return [u.payload for u in found]
        event = state.arrived()
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), left)
        except TimeoutError:
            continue


@get("/_file/{token:str}/{file_path:path}", include_in_schema=False)
async def download(request: AnyRequest, token: str, file_path: str) -> Response[Any]:
    """A file getFile handed out (reached as /file/bot<token>/<file_path>)."""
    state = _twin(request)
    try:
        state.check_token(token)
    except TelegramError as exc:
        return _error(exc)
    stored = state.file_by_path(file_path.lstrip("/"))
    if stored is None:
        return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
    return Response(
        base64.b64decode(stored.content_b64),
        media_type=stored.mime_type or "application/octet-stream",
        status_code=200,
    )


# -- webhook delivery -----------------------------------------------------------------------------------


async def deliver(state: TelegramTwinState, update: Update) -> list[Delivery]:
    """POST the update to the webhook with the secret header; on no answer or a non-2xx one, resend it like
    Telegram does (up to `policy.resend_attempts` POSTs in all). Returns this round's deliveries."""
    webhook, policy = state.webhook, state.policy
    if not webhook.url:
        return []
    if webhook.allowed_updates and update.kind not in webhook.allowed_updates:
        update.confirmed = True  # Telegram never sends what the bot did not ask for
        return []
    headers = {SECRET_HEADER: webhook.secret_token} if webhook.secret_token else {}
    done: list[Delivery] = []
    # No proxies from the environment: the webhook is on loopback (or wherever the test put it), never behind one.
    async with httpx.AsyncClient(timeout=policy.timeout, trust_env=False) as client:
        for attempt in range(max(1, policy.resend_attempts)):
            if attempt:
                await asyncio.sleep(policy.resend_interval)
            status: int | None = None
            error: str | None = None
            try:
                response = await client.post(webhook.url, json=update.payload, headers=headers)
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {_phrase(status)}"
            except httpx.TimeoutException:
                error = "Read timeout expired"
            except httpx.HTTPError as exc:
                error = f"Connection failed: {type(exc).__name__}"
            delivery = Delivery(state.now().isoformat(), webhook.url, status, error)
            update.deliveries.append(delivery)
            done.append(delivery)
            log.info("telegram_twin_webhook", update_id=update.update_id, status=status, error=error)
            if error is None:
                update.confirmed = True
                return done
            webhook.last_error_date, webhook.last_error_message = state.epoch(), error
    return done


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


async def _handed(state: TelegramTwinState, update: Update | None) -> Body:
    """An update the control made, delivered to the webhook when one is set (else left for getUpdates); None is a
    group message privacy mode keeps from the bot."""
    if update is None:
        return {
            "update_id": None,
            "update": None,
            "via": "privacy",
            "delivered": False,
            "status": None,
            "statuses": [],
            "errors": [],
        }
    deliveries = await deliver(state, update)
    statuses = [d.status for d in deliveries]
    return {
        "update_id": update.update_id,
        "update": update.payload,
        "via": "webhook" if state.webhook.url else "getUpdates",
        "delivered": update.confirmed and bool(deliveries),
        "status": statuses[-1] if statuses else None,
        "statuses": statuses,
        "errors": [d.error for d in deliveries if d.error],
    }


# -- control and inspection ---------------------------------------------------------------------------


def _refused(exc: Exception) -> Response[Any]:
    kind = "lookup" if isinstance(exc, LookupError) else "value"
    return _json({"ok": False, "error": str(exc), "kind": kind}, 400)


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


@post("/_twin/reset", status_code=200)
async def reset(request: AnyRequest) -> Body:
    _twin(request).reset()
    return {"ok": True}


@post("/_twin/updates/message", status_code=200)
async def says(request: AnyRequest, data: Body) -> Response[Any]:
    state = _twin(request)
    try:
        update = state.user_says(
            str(data["text"]),
            user_id=int(data["user_id"]),
            chat_id=_int_or_none(data.get("chat_id")),
            chat_type=str(data.get("chat_type") or "private"),
            user_name=data.get("user_name"),
            chat_title=data.get("chat_title"),
            reply_to_message_id=_int_or_none(data.get("reply_to_message_id")),
        )
    except (LookupError, ValueError) as exc:
        return _refused(exc)
    return _json(await _handed(state, update))


@post("/_twin/updates/photo", status_code=200)
async def sends_photo(request: AnyRequest, data: Body) -> Response[Any]:
    state = _twin(request)
    try:
        update = state.user_sends_photo(
            base64.b64decode(str(data["data_b64"])),
            user_id=int(data["user_id"]),
            chat_id=_int_or_none(data.get("chat_id")),
            caption=data.get("caption"),
            user_name=data.get("user_name"),
            reply_to_message_id=_int_or_none(data.get("reply_to_message_id")),
        )
    except TelegramError as exc:
        return _refused(ValueError(exc.description))
    except (LookupError, ValueError) as exc:
        return _refused(exc)
    return _json(await _handed(state, update))


@post("/_twin/updates/click", status_code=200)
async def clicks(request: AnyRequest, data: Body) -> Response[Any]:
    state = _twin(request)
    try:
        found = state.user_clicks(
            str(data["label"]),
            user_id=int(data["user_id"]),
            chat_id=int(data["chat_id"]),
            message_id=_int_or_none(data.get("message_id")),
        )
    except (LookupError, ValueError) as exc:
        return _refused(exc)
    if isinstance(found, str):
        return _json(
            {
                "update_id": None,
                "update": None,
                "url": found,
                "delivered": False,
                "status": None,
                "statuses": [],
                "errors": [],
                "via": "url",
            }
        )
    return _json(await _handed(state, found))


@post("/_twin/updates/bot-added", status_code=200)
async def added(request: AnyRequest, data: Body) -> Response[Any]:
    state = _twin(request)
    try:
        update = state.bot_added(
            int(data["chat_id"]),
            title=str(data["title"]),
            by_user_id=int(data["by_user_id"]),
            user_name=data.get("user_name"),
        )
    except (LookupError, ValueError) as exc:
        return _refused(exc)
    return _json(await _handed(state, update))


@post("/_twin/updates/resend", status_code=200)
async def resend(request: AnyRequest, data: Body) -> Response[Any]:
    """The same update again (what Telegram does when it believes the bot did not get it)."""
    state = _twin(request)
    try:
        update = state.update(int(data["update_id"]))
    except (LookupError, ValueError) as exc:
        return _refused(exc)
    update.confirmed = False
    if not state.webhook.url:
        state.arrived().set()
    return _json(await _handed(state, update))


@get("/_twin/updates")
async def read_updates(request: AnyRequest) -> Body:
    state = _twin(request)
    return {
        "updates": [
            {
                "update_id": u.update_id,
                "kind": u.kind,
                "confirmed": u.confirmed,
                "update": u.payload,
                "deliveries": [dataclasses.asdict(d) for d in u.deliveries],
            }
            for u in state.updates
        ]
    }


@get("/_twin/messages")
async def read_messages(request: AnyRequest, chat_id: int) -> Body:
    return {"messages": _twin(request).bot_messages(chat_id)}


@get("/_twin/callback-answers")
async def read_callback_answers(request: AnyRequest) -> Body:
    return {"answers": _twin(request).callback_answers()}


@get("/_twin/calls")
async def read_calls(request: AnyRequest, method: str | None = None) -> Body:
    calls = [c for c in _twin(request).calls if method is None or c.method.lower() == method.lower()]
    return {"calls": [dataclasses.asdict(c) for c in calls]}


@get("/_twin/webhook")
async def read_webhook(request: AnyRequest) -> Body:
    state = _twin(request)
    return {
        **state.webhook_info(),
        "secret_token": state.webhook.secret_token,
        "policy": dataclasses.asdict(state.policy),
    }


@post("/_twin/webhook", status_code=200)
async def write_webhook(request: AnyRequest, data: Body) -> Response[Any]:
    """Set (or with an empty url, delete) the webhook as setWebhook would, without the bot's token."""
    state = _twin(request)
    allowed = data.get("allowed_updates")
    try:
        state.set_webhook(
            str(data.get("url") or ""),
            data.get("secret"),
            list(allowed) if allowed else None,
            drop=flag(data.get("drop_pending_updates", False)),
        )
    except TelegramError as exc:
        return _refused(ValueError(exc.description))
    return _json({"ok": True, **state.webhook_info()})


@post("/_twin/webhook/policy", status_code=200)
async def write_policy(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    for name in ("resend_attempts", "resend_interval", "timeout"):
        if data.get(name) is not None:
            setattr(state.policy, name, type(getattr(WebhookPolicy(), name))(data[name]))
    return {"ok": True, "policy": dataclasses.asdict(state.policy)}


def _arm(request: AnyRequest, data: Body, kind: str) -> Body:
    known = {f.name for f in dataclasses.fields(Fault)}
    values = {k: v for k, v in data.items() if k in known and k not in ("kind", "remaining")}
    _twin(request).faults.append(Fault(kind=kind, remaining=int(data.get("times", 1)), **values))  # type: ignore[arg-type]
    return {"ok": True}


@post("/_twin/faults/rate-limit", status_code=200)
async def fault_rate_limit(request: AnyRequest, data: Body) -> Body:
    return _arm(request, data, "rate_limit")


@post("/_twin/faults/server-error", status_code=200)
async def fault_server_error(request: AnyRequest, data: Body) -> Body:
    return _arm(request, data, "server_error")


@post("/_twin/faults/delay", status_code=200)
async def fault_delay(request: AnyRequest, data: Body) -> Body:
    return _arm(request, data, "delay")


@post("/_twin/faults/block", status_code=200)
async def fault_block(request: AnyRequest, data: Body) -> Body:
    _twin(request).blocked.add(int(data["user_id"]))
    return {"ok": True}


@post("/_twin/faults/unblock", status_code=200)
async def fault_unblock(request: AnyRequest, data: Body) -> Body:
    _twin(request).blocked.discard(int(data["user_id"]))
    return {"ok": True}


@post("/_twin/faults/kick", status_code=200)
async def fault_kick(request: AnyRequest, data: Body) -> Body:
    _twin(request).kicked.add(int(data["chat_id"]))
    return {"ok": True}


@post("/_twin/faults/clear", status_code=200)
async def fault_clear(request: AnyRequest) -> Body:
    """No armed faults, blocks or kicks."""
    state = _twin(request)
    state.faults.clear()
    state.blocked.clear()
    state.kicked.clear()
    return {"ok": True}


@post("/_twin/privacy", status_code=200)
async def privacy(request: AnyRequest, data: Body) -> Body:
    """BotFather's /setprivacy: with it off the bot gets every group message."""
    state = _twin(request)
    state.privacy_mode = flag(data.get("enabled", True))
    return {"ok": True, "privacy_mode": state.privacy_mode}


@post("/_twin/clock", status_code=200)
async def clock(request: AnyRequest, data: Body) -> Body:
    state = _twin(request)
    state.clock.advance(float(data.get("advance_seconds", 0)))
    return {"ok": True, "now": state.now().isoformat()}


@get("/_twin/state")
async def read_state(request: AnyRequest) -> Body:
    return _twin(request).snapshot()


@get("/_twin/files/{file_id:str}", include_in_schema=False)
async def read_file(request: AnyRequest, file_id: str) -> Response[Any]:
    state = _twin(request)
    if file_id not in state.files:
        return _json({"ok": False, "error": f"no file {file_id}"}, 404)
    return Response(state.file_content(file_id), media_type="application/octet-stream", status_code=200)


CONTROL_HANDLERS = [
    reset,
    says,
    sends_photo,
    clicks,
    added,
    resend,
    read_updates,
    read_messages,
    read_callback_answers,
    read_calls,
    read_webhook,
    write_webhook,
    write_policy,
    fault_rate_limit,
    fault_server_error,
    fault_delay,
    fault_block,
    fault_unblock,
    fault_kick,
    fault_clear,
    privacy,
    clock,
    read_state,
    read_file,
]


def _routing(app: Any) -> Any:
    """Telegram puts the token inside a path segment (`/bot<token>/<method>`), which routers do not match:
    rewrite those paths to the twin's own routes before Litestar sees them."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            path = scope.get("path", "")
            match = _BOT_PATH.match(path)
            target = f"/_api/{match.group(1)}/{match.group(2)}" if match else None
            if target is None and (found := _FILE_PATH.match(path)):
                target = f"/_file/{found.group(1)}/{found.group(2)}"
            if target is not None:
                scope = {**scope, "path": target, "raw_path": target.encode()}
        await app(scope, receive, send)

    return wrapped


def create_telegram_twin(
    *, token: str = DEV_BOT_TOKEN, username: str = DEV_BOT_USERNAME, clock: TwinClock | None = None
) -> tuple[Any, TelegramTwinState]:
    """The twin's ASGI app and its state (an empty world; the bot is `token`)."""
    state = TelegramTwinState(token=token, username=username, clock=clock)
    app = Litestar(
        route_handlers=[*CONTROL_HANDLERS, bot_api, download],
        state=State({"telegram_twin": state}),
        openapi_config=None,
        logging_config=None,  # the host process owns logging (twins run inside `make dev`)
        debug=False,
    )
    return _routing(app), state


@asynccontextmanager
async def running_telegram_twin(
    *,
    token: str = DEV_BOT_TOKEN,
    username: str = DEV_BOT_USERNAME,
    clock: TwinClock | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    state_file: Path | None = None,
) -> AsyncIterator[tuple[str, TelegramTwinControl, TelegramTwinState]]:
    """Serve the twin on loopback (`port`, or a free one); yields (base URL, control, state).

    With `state_file` the twin starts from the state saved there and saves after every request (`make dev`);
    without one its state lives in memory only (tests)."""
    app, state = create_telegram_twin(token=token, username=username, clock=clock)
    served, keeper = kept(app, state_file, twin="telegram", dump=state.durable, restore=state.restore)
    server = TwinServer(served, host=host, port=port or None)
    url = await server.start()
    try:
        async with httpx.AsyncClient(timeout=60.0) as client:
            yield url, TelegramTwinControl(url, client), state
    finally:
        await server.stop()
        if keeper is not None:
            keeper.save()  # changes made directly on `state`, not through a request


__all__ = [
    "DEV_BOT_TOKEN",
    "DEV_BOT_USERNAME",
    "DEV_WEBHOOK_SECRET",
    "SECRET_HEADER",
    "TelegramTwinControl",
    "TelegramTwinState",
    "create_telegram_twin",
    "deliver",
    "running_telegram_twin",
]
