"""The planner's Connections page: the venue's connected places and their health; connect, reconnect, diagnose,
disconnect, and (admins) masked tokens with an audited reveal. Every action is the API's own use-case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from api.planner.auth import Viewer, require_role
from api.planner.posts import refusal
from api.planner.render import PAGE_HEADERS, outcome, render
from core.chat import connections as chat_connections
from core.connections import expiry, oauth
from core.connections import lifecycle as connections_core
from core.errors import Conflict, Invalid, NotFound
from core.posts.times import format_local
from core.publishing.labels import label_for
from core.runtime import Runtime
from storage.models import Connection, ConnectionStatus, Provider, Role
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

PAGE = "/planner/connections"
# A connection's health as people read it, and the badge's tone (colour is never the only signal: the words are).
HEALTH_WORDS: dict[ConnectionStatus, tuple[str, str]] = {
    ConnectionStatus.active: ("Working", "ok"),
    ConnectionStatus.expiring: ("Access lapses soon: reconnect to renew it", "warning"),
    ConnectionStatus.needs_reconnect: ("Needs reconnecting", "error"),
    ConnectionStatus.revoked: ("Access removed at the platform: reconnect it", "error"),
    ConnectionStatus.disconnected: ("Disconnected", "off"),
}
# The masked tokens an admin sees, in the words of the page (core.connections.lifecycle.SECRET_NAMES).
TOKEN_WORDS = {
    "access_token": "Publishing token",
    "refresh_token": "Refresh token",
    "user_token": "Login token",
}
CONNECT_WORDS = {
    Provider.facebook: "Connect a Facebook Page",
    Provider.instagram: "Connect an Instagram account",
    Provider.google_business: "Connect a Google Business Profile location",
}


@dataclass(frozen=True)
class Token:
    which: str
    words: str
    hint: str


@dataclass(frozen=True)
class Finding:
    ok: bool
    message: str
    remedy: str | None


@dataclass(frozen=True)
class Card:
    """One connection as the page shows it (plain values: the page may render after a rollback)."""

    id: int
    label: str
    provider: str
    name: str
    status: str
    words: str
    tone: str
    reason: str | None
    where: tuple[tuple[str, str], ...]
    scopes: tuple[str, ...]
    lapses: str | None
    checked: str | None
    healthy: bool | None
    findings: tuple[Finding, ...]
    tokens: tuple[Token, ...]

    @property
    def live(self) -> bool:
        return self.status != ConnectionStatus.disconnected.value


def _when(value: Any, tz: str, now: datetime) -> str | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_local(value, tz, now=now) if isinstance(value, datetime) else None


def _card(c: Connection, tz: str, now: datetime, *, admin: bool) -> Card:
    words, tone = HEALTH_WORDS[c.status]
    where = tuple(
        (name, value)
        for name, value in (
            ("Page id", c.page_id),
            ("Instagram account id", c.ig_business_id),
            ("Location", c.location_name),
            ("Id at the platform", c.external_id),
        )
        if value
    )
    doc = c.last_diagnosis or {}
    findings = tuple(
        Finding(bool(f.get("ok")), str(f.get("message", "")), f.get("remedy")) for f in doc.get("findings", [])
    )
    tokens = (
        tuple(
            Token(which, TOKEN_WORDS[which], hint)
            for which in connections_core.SECRET_NAMES
            if (hint := getattr(c, f"{which}_hint")) is not None
        )
        if admin
        else ()
    )
    lapses = expiry.lapses_at(c)
    return Card(
        id=c.id,
        label=label_for(c),
        provider=c.provider.value,
        name=c.display_name,
        status=c.status.value,
        words=words,
        tone=tone,
        reason=c.status_reason if c.status is not ConnectionStatus.active else None,
        where=where,
        scopes=tuple(c.scopes),
        lapses=_when(lapses, tz, now) if lapses and c.status is not ConnectionStatus.disconnected else None,
        checked=_when(doc.get("at"), tz, now),
        healthy=doc.get("healthy") if doc else None,
        findings=findings,
        tokens=tokens,
    )


async def _page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    runtime: Runtime,
    uow: UnitOfWork,
    *,
    status_code: int = 200,
    confirm: int | None = None,
    revealed: dict[str, str] | None = None,
) -> Template:
    admin = viewer.can(Role.admin)
    now = runtime.clock.now()
    rows = await connections_core.list_connections(uow.session, viewer.access)
    cards = [_card(c, viewer.venue.timezone, now, admin=admin) for c in rows]
    confirming = next((c for c in cards if c.id == confirm and c.live), None)
    if confirm is not None and confirming is None:
        raise NotFound(f"connection {confirm} not found or already disconnected")
    waiting = await connections_core.deliveries_waiting(uow.session, viewer.access, confirming.id) if confirming else 0
    return render(
        request,
        "planner/connections.html",
        title="Disconnect?" if confirming else "Connections",
        status_code=status_code,
        live=[c for c in cards if c.live],
        gone=[c for c in cards if not c.live],
        admin=admin,
        editor=viewer.can(Role.editor),
        providers=[(p.value, words) for p, words in CONNECT_WORDS.items()],
        confirming=confirming,
        waiting=waiting,
        revealed=revealed,
    )


@get("/connections", name="planner.connections", summary="The venue's connections and their health")
async def connections_page(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Template:
    """Each connected place with its health, last diagnosis and the buttons this person may press."""
    return await _page(request, viewer, runtime, uow)


def _consent(url: str) -> Redirect:
    """On to our consent confirmation page (then the platform), which comes back to this page."""
    return Redirect(url, status_code=303, headers=PAGE_HEADERS)


@post("/connections/connect", name="planner.connect", status_code=303)
async def connect(request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork) -> Response[Any]:
    """Start connecting a platform (as POST /api/connections/{provider}/authorize), coming back here."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    raw = (await request.form()).get("provider")
    try:
        provider = Provider(raw if isinstance(raw, str) else "")
    except ValueError:
        raise Invalid("choose Facebook, Instagram or Google Business Profile", field="provider") from None
    link = await oauth.start(
        uow.session, runtime.clock, runtime.settings, runtime.cipher(), runtime.providers[provider], access,
        return_to=PAGE,
    )  # fmt: skip
    log.info("planner_connect", provider=provider.value, account_id=access.account_id)
    return _consent(link.url)


@post("/connections/{connection_id:int}/reconnect", name="planner.connection_reconnect", status_code=303)
async def reconnect(
    request: Request[Any, Any, Any], connection_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Renew this connection in place through the platform's consent (as the API's reconnect), coming back here."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    consent = await chat_connections.reconnect_connection(runtime, uow.session, access, connection_id, return_to=PAGE)
    log.info("planner_connection_reconnect", connection_id=connection_id, account_id=access.account_id)
    return _consent(consent.link.url)


@post("/connections/{connection_id:int}/diagnose", name="planner.connection_diagnose", status_code=303)
async def diagnose(
    request: Request[Any, Any, Any], connection_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Ask the platform what is wrong; the findings stay on the connection, so the page shows them in plain words."""
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    try:
        found = await chat_connections.diagnose(runtime, uow.session, access, connection_id)
    except (Invalid, Conflict) as exc:
        await uow.rollback()
        log.info("planner_diagnose_refused", connection_id=connection_id, code=exc.code)
        return outcome(request, refusal(exc), redirect_to=PAGE, kind="error")
    healthy = bool(found.doc.get("healthy"))
    problems = [f for f in found.doc.get("findings", []) if not f.get("ok")]
    message = f"{found.label}: all checks passed." if healthy else f"{found.label} needs attention: see what to do."
    log.info("planner_diagnosed", connection_id=connection_id, healthy=healthy, problems=len(problems))
    return outcome(request, message, redirect_to=PAGE, kind="ok" if healthy else "warning")


@get("/connections/{connection_id:int}/disconnect", name="planner.connection_disconnect_confirm")
async def confirm_disconnect(
    request: Request[Any, Any, Any], connection_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Template:
    """The confirm step: what disconnecting does, before anything happens."""
    await require_role(request, viewer, runtime, uow, Role.admin)
    return await _page(request, viewer, runtime, uow, confirm=connection_id)


@post("/connections/{connection_id:int}/disconnect", name="planner.connection_disconnect", status_code=303)
async def disconnect(
    request: Request[Any, Any, Any], connection_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Revoke at the platform and stop using it, keeping its history (core.connections.lifecycle.disconnect)."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    connection = await connections_core.get_connection(uow.session, access, connection_id)
    message = await connections_core.disconnect(
        uow.session, runtime.clock, runtime.cipher(), runtime.providers[connection.provider], access, connection_id
    )
    log.info("planner_disconnected", connection_id=connection_id, account_id=access.account_id)
    return outcome(request, message, redirect_to=PAGE)


@post("/connections/{connection_id:int}/reveal", name="planner.connection_reveal", status_code=200)
async def reveal(
    request: Request[Any, Any, Any], connection_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Template:
    """The raw token, once, on this answer only (admins; audited and limited by core, as the API's reveal)."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    which = (await request.form()).get("which")
    which = which if isinstance(which, str) else "access_token"
    token = await connections_core.reveal(uow.session, runtime.clock, runtime.cipher(), access, connection_id, which)
    log.info("planner_token_revealed", connection_id=connection_id, which=which, account_id=access.account_id)
    connection = await connections_core.get_connection(uow.session, access, connection_id)
    shown = {"label": label_for(connection), "words": TOKEN_WORDS.get(which, which), "token": token}
    return await _page(request, viewer, runtime, uow, revealed=shown)


routes = [connections_page, connect, reconnect, diagnose, confirm_disconnect, disconnect, reveal]
