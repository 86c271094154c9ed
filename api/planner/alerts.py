"""The planner's Alerts page: the venue's notifications with filters, read marks, remedies and the export links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import structlog
from litestar import Request, Response, get, post
from litestar.exceptions import NoRouteMatchFoundException
from litestar.params import Parameter
from litestar.response import Template

from api.planner.auth import Viewer, safe_next
from api.planner.render import outcome, render
from core.access import audit as audit_core
from core.errors import Invalid
from core.notifications import outbox as notifications_core
from core.notifications.actions import Action, Offer
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from storage.models import AuditEntry, Channel, Notification, Role, Severity
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

ALERTS_PATH = "/planner/alerts"
PAGE_SIZE = 50
# A delivery remedy offered on an alert and the post-detail route that performs it (with the role it needs there).
DELIVERY_REMEDIES: dict[Action, tuple[str, Role]] = {
    Action.retry: ("planner.retry", Role.editor),
    Action.mark_published: ("planner.mark_published", Role.editor),
    Action.publish_again: ("planner.publish_again", Role.editor),
    Action.manual_package: ("planner.package", Role.editor),
}
# What each field of a connection_metadata_updated diff is, in plain words.
FIELD_WORDS = {
    "external_id": "Platform id",
    "display_name": "Name",
    "page_id": "Facebook Page id",
    "ig_business_id": "Instagram account id",
    "location_name": "Google location",
    "provider_user_id": "Signed-in platform user",
    "scopes": "Permissions",
    "token_expires_at": "Access expires",
    "user_token_expires_at": "Login expires",
    "data_access_expires_at": "Data access expires",
    "status": "Status",
}
KIND_VALUES = [k.value for k in NotificationKind]
SEVERITY_VALUES = [s.value for s in Severity]
HISTORY_SIZE = 20
# A person's own audited planner actions in plain words: their outcome history (the toasts they saw, kept).
HISTORY_WORDS = {
    "delivery_retried": "Retried a delivery",
    "delivery_published_again": "Published a delivery again",
    "delivery_marked_published": "Marked a delivery as published",
    "post_created": "Scheduled a post",
    "post_updated": "Changed a post",
    "post_cancelled": "Cancelled a post",
    "reconnect_started": "Started a reconnect",
    "connect_started": "Started connecting an account",
}
SEVERITY_TONE = {
    Severity.info: "info",
    Severity.success: "ok",
    Severity.warning: "warning",
    Severity.error: "error",
    Severity.critical: "error",
}


@dataclass(frozen=True)
class Change:
    """One field of a connection's metadata before and after (lists also say what was added and removed)."""

    field: str
    before: str
    after: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Button:
    label: str
    url: str


@dataclass(frozen=True)
class AlertCard:
    """A notification as the page shows it."""

    id: int
    when: str
    kind: str
    severity: str
    tone: str
    title: str
    read: bool
    changes: tuple[Change, ...]
    source: str | None
    post_url: str | None
    buttons: tuple[Button, ...]


def _shown(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def diff_changes(payload: dict[str, Any]) -> tuple[Change, ...]:
    """A connection_metadata_updated payload's `diff` ({field: [before, after]}) as rows; malformed entries skipped."""
    diff = payload.get("diff")
    if not isinstance(diff, dict):
        return ()
    rows: list[Change] = []
    # JSONB keeps no key order: show the fields in one fixed order (known ones first, as FIELD_WORDS lists them).
    order = {name: i for i, name in enumerate(FIELD_WORDS)}
    for name, pair in sorted(diff.items(), key=lambda item: (order.get(str(item[0]), len(order)), str(item[0]))):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        before, after = pair
        added: tuple[str, ...] = ()
        removed: tuple[str, ...] = ()
        if isinstance(before, list) and isinstance(after, list):
            added = tuple(str(v) for v in after if v not in before)
            removed = tuple(str(v) for v in before if v not in after)
        rows.append(Change(FIELD_WORDS.get(str(name), str(name)), _shown(before), _shown(after), added, removed))
    return tuple(rows)


def _reverse(request: Request[Any, Any, Any], name: str, **params: int) -> str | None:
    """A planner route's path, or None while that page is not part of the app (no dead buttons)."""
    try:
        return request.app.route_reverse(name, **params)
    except NoRouteMatchFoundException:
        return None


def _buttons(request: Request[Any, Any, Any], viewer: Viewer, n: Notification, post_id: int | None) -> list[Button]:
    """The alert's delivery remedies this person may press, as posts to the post page's own remedy routes."""
    actions = n.payload.get("actions")
    if post_id is None or not isinstance(actions, list):
        return []
    buttons: list[Button] = []
    for raw in actions:
        try:
            offered = Offer.from_payload(raw, notification_id=n.id)
        except (ValueError, TypeError, AttributeError):
            continue  # an offer this version does not know: the chat that sent it still shows it
        route = DELIVERY_REMEDIES.get(offered.action)
        if route is None or offered.target_id is None or not viewer.can(route[1]):
            continue
        url = _reverse(request, route[0], post_id=post_id, target_id=offered.target_id)
        if url is not None:
            buttons.append(Button(offered.label, url))
    return buttons


def _card(request: Request[Any, Any, Any], viewer: Viewer, item: notifications_core.FeedItem) -> AlertCard:
    n = item.notification
    raw_post = n.subject.get("post_id")
    post_id = raw_post if isinstance(raw_post, int) and not isinstance(raw_post, bool) else None
    is_diff = n.kind == NotificationKind.connection_metadata_updated.value
    source = n.payload.get("source") if is_diff else None
    return AlertCard(
        id=n.id,
        when=n.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        kind=n.kind.replace("_", " "),
        severity=n.severity.value,
        tone=SEVERITY_TONE.get(n.severity, "info"),
        title=n.title,
        read=item.read,
        changes=diff_changes(n.payload) if is_diff else (),
        source=str(source) if source else None,
        post_url=_reverse(request, "planner.post", post_id=post_id) if post_id is not None else None,
        buttons=tuple(_buttons(request, viewer, n, post_id)),
    )


@dataclass(frozen=True)
class Done:
    """One outcome in the person's history: when, what, and the post it was about (when there is one)."""

    when: str
    words: str
    post_url: str | None


def _done(request: Request[Any, Any, Any], entry: AuditEntry) -> Done:
    raw = entry.details.get("post_id")
    if raw is None and entry.subject_type == "post" and entry.subject_id and entry.subject_id.isdigit():
        raw = int(entry.subject_id)
    post_id = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    words = HISTORY_WORDS.get(entry.action, entry.action.replace("_", " ").capitalize())
    return Done(
        when=entry.at.strftime("%Y-%m-%d %H:%M UTC"),
        words=words,
        post_url=_reverse(request, "planner.post", post_id=post_id) if post_id is not None else None,
    )


def _filters(kind: list[str] | None, severity: list[str] | None, unread: bool) -> list[tuple[str, str]]:
    pairs = [("kind", k) for k in kind or []] + [("severity", s) for s in severity or []]
    return pairs + ([("unread", "true")] if unread else [])


@get("/alerts", name="planner.alerts")
async def alerts_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    uow: UnitOfWork,
    kind: list[str] | None = Parameter(default=None),
    severity: list[str] | None = Parameter(default=None),
    unread: bool = False,
    cursor: str | None = None,
) -> Template:
    """The newest 50 alerts matching the filters, then older pages through the feed's cursor."""
    kinds = [k for k in kind or [] if k]  # the form's "any kind" option sends an empty value
    severities = [s for s in severity or [] if s]
    error: str | None = None
    try:
        page = await notifications_core.feed(
            uow.session,
            viewer.access,
            cursor=cursor or None,
            limit=PAGE_SIZE,
            kinds=kinds,
            since=None,
            unread_only=unread,
            severities=severities,
        )
    except Invalid as exc:
        # Shown on the page itself, so the filter form stays at hand to correct it (a hand-edited address).
        log.info("planner_alerts_bad_filter", account_id=viewer.account_id, detail=exc.message)
        page, error = notifications_core.FeedPage(items=[], next_cursor=None), exc.message
        kinds, severities = [k for k in kinds if k in KIND_VALUES], [s for s in severities if s in SEVERITY_VALUES]
    history = await audit_core.own_entries(
        uow.session, viewer.account_id, user_id=viewer.user.id, channel=Channel.web, limit=HISTORY_SIZE
    )
    filters = _filters(kinds, severities, unread)
    query = urlencode(filters)
    export_base = [("account", str(viewer.account_id)), *[p for p in filters if p[0] != "unread"]]
    return render(
        request,
        "planner/alerts.html",
        title="Alerts",
        status_code=400 if error else 200,
        error=error,
        cards=[_card(request, viewer, item) for item in page.items],
        history=[_done(request, entry) for entry in history],
        kinds=KIND_VALUES,
        severities=SEVERITY_VALUES,
        chosen_kinds=kinds,
        chosen_severities=severities,
        unread=unread,
        first_page=not cursor,
        newest_url=f"{ALERTS_PATH}?{query}" if query else ALERTS_PATH,
        older_url=f"{ALERTS_PATH}?{urlencode([*filters, ('cursor', page.next_cursor)])}" if page.next_cursor else None,
        here_url=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        export_csv=f"/api/notifications/export?{urlencode([('format', 'csv'), *export_base])}",
        export_jsonl=f"/api/notifications/export?{urlencode([('format', 'jsonl'), *export_base])}",
    )


@post("/alerts/read", name="planner.alerts_read", status_code=303)
async def mark_alerts_read(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Mark one alert (`id`) or every alert (`all`) read for this person; back to the page they were on."""
    form = await request.form()
    back = safe_next(str(form.get("next") or ALERTS_PATH))
    raw_id = form.get("id")
    if form.get("all"):
        ids = None
    elif isinstance(raw_id, str) and raw_id.isdigit() and int(raw_id) < 2**63:
        ids = [int(raw_id)]
    else:
        raise Invalid("say which alert to mark read, or mark them all", field="id")
    marked = await notifications_core.mark_read(uow.session, runtime.clock, viewer.access, ids=ids)
    log.info(
        "planner_alerts_read", account_id=viewer.account_id, user_id=viewer.user.id, all=ids is None, marked=marked
    )
    if ids is None:
        message = f"Marked {marked} alert{'' if marked == 1 else 's'} read." if marked else "Nothing left unread."
    else:
        message = "Marked read." if marked else "It was read already."
    return outcome(request, message, redirect_to=back, kind="ok" if marked else "info")


routes = [alerts_page, mark_alerts_read]
