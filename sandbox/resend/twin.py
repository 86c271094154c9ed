"""The Resend twin: POST /emails and GET /emails/{id} as Resend answers them, an HTML inbox at `/`, and the
control interface `/_twin/…` that `ResendTwinControl` (sandbox/resend/control.py) drives.

`create_resend_twin()` builds the ASGI app and its state; `running_resend_twin()` serves it on loopback inside the
current event loop and yields (url, control, state). Point the client at it with CHEERS_RESEND_API_URL=<url> and
CHEERS_RESEND_API_KEY=DEV_API_KEY (docs/resend-twin.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException

from sandbox.clock import TwinClock
from sandbox.persist import kept
from sandbox.resend.api import Accepted, ResendError, check_idempotency_key, check_key, rate_limited, send_email
from sandbox.resend.control import ResendTwinControl
from sandbox.resend.inbox import inbox_page
from sandbox.resend.state import DEV_API_KEY, Fault, RequestRecord, ResendTwinState
from sandbox.server import TwinServer

log = structlog.get_logger(__name__)

AnyRequest = Request[Any, Any, Any]
Body = dict[str, Any]


def _twin(request: AnyRequest) -> ResendTwinState:
    return cast(ResendTwinState, request.app.state.resend_twin)


def _json(body: Body, status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _error(exc: ResendError) -> Response[Any]:
    return _json(exc.body(), exc.status, exc.headers)


# -- the public API ------------------------------------------------------------------------------------


@post("/emails", status_code=200, include_in_schema=False)
async def emails(request: AnyRequest) -> Response[Any]:
    """Send an e-mail: API key, Idempotency-Key, armed faults, the fields, then store it (or replay the key's)."""
    state = _twin(request)
    key = request.headers.get("idempotency-key")
    entry = RequestRecord(at=state.now().isoformat(), status=200, idempotency_key=key)
    state.record(entry)
    fault: Fault | None = None
    try:
        check_key(state, request.headers.get("authorization"))
        check_idempotency_key(key)
        fault = state.take_fault()
        if fault is not None:
            entry.fault = fault.kind
            await _strike_before(state, fault)
        try:
            raw = await request.json()
        except ValueError:
            raise ResendError(422, "validation_error", "The request body is not valid JSON.") from None
        accepted = send_email(state, raw, key)
    except ResendError as exc:
        entry.status, entry.name = exc.status, exc.name
        log.info("resend_twin_refused", status=exc.status, name=exc.name, fault=entry.fault)
        return _error(exc)
    entry.email_id, entry.replayed = accepted.email.id, accepted.replayed
    log.info("resend_twin_email", email_id=accepted.email.id, replayed=accepted.replayed, fault=entry.fault)
    if fault is not None and fault.kind == "lose_answer":
        return await _lose(state, fault, entry, accepted)
    return _json({"id": accepted.email.id})


async def _strike_before(state: ResendTwinState, fault: Fault) -> None:
    """A fault that strikes before anything is done (nothing stored)."""
    if fault.kind == "rate_limit":
        raise rate_limited(fault.retry_after)
    if fault.kind == "server_error":
        raise ResendError(fault.status, "application_error", "An unexpected error occurred.")
    if fault.kind == "hang":
        await _hold(state, fault.seconds)
        raise ResendError(500, "application_error", "An unexpected error occurred.")


async def _lose(state: ResendTwinState, fault: Fault, entry: RequestRecord, accepted: Accepted) -> Response[Any]:
    """The e-mail is stored (it would go out), but its answer comes too late for the client, or as an error."""
    await _hold(state, fault.seconds)
    entry.status = fault.status
    return _error(ResendError(fault.status, "application_error", "An unexpected error occurred."))


async def _hold(state: ResendTwinState, seconds: float) -> None:
    """Wait `seconds`, or until the twin is reset or stopped (so a test's twin never outlives it)."""
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.hangs().wait(), seconds)


@get("/emails/{email_id:str}", include_in_schema=False)
async def read_email(request: AnyRequest, email_id: str) -> Response[Any]:
    """Resend's retrieve-an-e-mail (GET /emails/{id})."""
    state = _twin(request)
    try:
        check_key(state, request.headers.get("authorization"))
    except ResendError as exc:
        return _error(exc)
    found = state.find(email_id)
    if found is None:
        return _error(ResendError(404, "not_found", "Email not found."))
    return _json(found.as_resend())


@get("/", include_in_schema=False)
async def inbox(request: AnyRequest) -> Response[str]:
    """The inbox page for `make dev`: newest first."""
    return Response(inbox_page(_twin(request).emails), media_type=MediaType.HTML)


# -- control and inspection ---------------------------------------------------------------------------


@get("/_twin/emails")
async def read_emails(request: AnyRequest, to: str | None = None) -> Body:
    found = [e for e in _twin(request).emails if to is None or any(to.lower() in a.lower() for a in e.to)]
    return {"emails": [dataclasses.asdict(e) for e in found]}


@get("/_twin/requests")
async def read_requests(request: AnyRequest) -> Body:
    return {"requests": [dataclasses.asdict(r) for r in _twin(request).requests]}


@get("/_twin/state")
async def read_state(request: AnyRequest) -> Body:
    return _twin(request).snapshot()


@post("/_twin/reset", status_code=200)
async def reset(request: AnyRequest) -> Body:
    _twin(request).reset()
    return {"ok": True}


def _arm(request: AnyRequest, data: Body, kind: str) -> Body:
    known = {f.name for f in dataclasses.fields(Fault)} - {"kind", "remaining"}
    values = {k: v for k, v in data.items() if k in known}
    fault = Fault(kind=kind, remaining=int(data.get("times", 1)), **values)  # type: ignore[arg-type]
    _twin(request).faults.append(fault)
    return {"ok": True, "fault": dataclasses.asdict(fault)}


# The Fault kinds the control client arms at /_twin/faults/<kind, dashed> (sandbox/resend/control.py).
FAULT_KINDS = frozenset({"server_error", "lose_answer", "hang", "rate_limit"})


@post("/_twin/faults/{route:str}", status_code=200)
async def fault_arm(request: AnyRequest, route: str, data: Body) -> Body:
    kind = route.replace("-", "_")
    if "_" in route or kind not in FAULT_KINDS:
        raise NotFoundException(f"no fault {route!r}")
    return _arm(request, data, kind)


@post("/_twin/faults/refuse", status_code=200)
async def fault_refuse(request: AnyRequest, data: Body) -> Body:
    _twin(request).refused.add(str(data["address"]).strip().lower())
    return {"ok": True}


@post("/_twin/faults/clear", status_code=200)
async def fault_clear(request: AnyRequest) -> Body:
    state = _twin(request)
    state.faults.clear()
    state.refused.clear()
    state.release_hangs()
    return {"ok": True}


CONTROL_HANDLERS = [
    read_emails,
    read_requests,
    read_state,
    reset,
    fault_arm,
    fault_refuse,
    fault_clear,
]


def create_resend_twin(
    *, api_keys: tuple[str, ...] = (DEV_API_KEY,), clock: TwinClock | None = None
) -> tuple[Any, ResendTwinState]:
    """The twin's ASGI app and its state (no e-mails; `api_keys` are accepted)."""
    state = ResendTwinState(api_keys=api_keys, clock=clock)
    app = Litestar(
        route_handlers=[*CONTROL_HANDLERS, emails, read_email, inbox],
        state=State({"resend_twin": state}),
        openapi_config=None,
        logging_config=None,  # the host process owns logging (twins run inside `make dev`)
        debug=False,
    )
    return app, state


@contextlib.asynccontextmanager
async def running_resend_twin(
    *,
    api_keys: tuple[str, ...] = (DEV_API_KEY,),
    clock: TwinClock | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    state_file: Path | None = None,
) -> AsyncIterator[tuple[str, ResendTwinControl, ResendTwinState]]:
    """Serve the twin on loopback (`port`, or a free one); yields (base URL, control, state).

    With `state_file` the e-mails survive a restart (`make dev`); without one the state lives in memory (tests).
    """
    app, state = create_resend_twin(api_keys=api_keys, clock=clock)
    served, keeper = kept(app, state_file, twin="resend", dump=state.durable, restore=state.restore)
    server = TwinServer(served, host=host, port=port or None)
    url = await server.start()
    try:
        async with httpx.AsyncClient(timeout=60.0, trust_env=False) as client:
            yield url, ResendTwinControl(url, client), state
    finally:
        state.release_hangs()  # held answers end, so the server stops at once
        await server.stop()
        if keeper is not None:
            keeper.save()


__all__ = ["DEV_API_KEY", "ResendTwinControl", "ResendTwinState", "create_resend_twin", "running_resend_twin"]
