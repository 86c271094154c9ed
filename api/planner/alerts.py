"""The planner's Alerts page: the venue's notifications with filters, read marks, remedies and the export links."""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter
from typing import Any
from urllib.parse import urlencode

import structlog
from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Template

from api.planner.auth import Viewer, here, safe_next
from api.planner.connections import TOKEN_WORDS
from api.planner.render import outcome, render, route_path
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
# A connection remedy and the Connections page route that performs it: (route, role it needs there, answered by a
# toast in place). Reconnect ends on the platform's consent page, so it is a plain form post.
CONNECTION_REMEDIES: dict[Action, tuple[str, Role, bool]] = {
    Action.reconnect: ("planner.connection_reconnect", Role.admin, False),
    Action.diagnose: ("planner.connection_diagnose", Role.editor, True),
}
# A decision on a post waiting for approval and the Weekly plan page's route that makes it (admins and owners).
APPROVAL_REMEDIES: dict[Action, str] = {Action.approve: "planner.approve", Action.reject: "planner.reject"}
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
# A person's own audited planner actions in plain words: their outcome history (the toasts they saw, kept). The
# action names are the ones core records (`access.record(...)`); an unknown one is shown as its name.
HISTORY_WORDS = {
    "delivery_retried": "Retried a delivery",
    "delivery_published_again": "Published a delivery again",
    "delivery_marked_published": "Marked a delivery as published",
    "post_created": "Scheduled a post",
    "post_updated": "Changed a post",
    "post_cancelled": "Cancelled a post",
    "post_approved": "Approved a post",
    "post_rejected": "Rejected a post",
    "weekly_post_skipped": "Skipped this week's post from the weekly plan",
    "media_uploaded": "Uploaded a file to the library",
    "media_retried": "Asked to prepare a file again",
    "media_focal_point_set": "Set a photo's focal point",
    "media_deleted": "Deleted a file from the library",
    "reconnect_started": "Started a reconnect",
    "connect_started": "Started connecting an account",
    "connection_diagnosed": "Diagnosed a connection",
    "connection_disconnected": "Disconnected a connection",
    "token_revealed": "Revealed a connection's token",
    "member_invited": "Invited someone to the venue",
    "invitation_revoked": "Withdrew an invitation",
    "role_changed": "Changed someone's role",
    "member_removed": "Removed someone from the venue",
    "alert_via_changed": "Chose how your own alerts reach you",
    "chat_link_code_created": "Got a code to link a chat account",
    "chat_alerts_on": "Turned alerts on in a chat",
    "chat_alerts_muted": "Muted alerts in a chat",
    "chat_alerts_off": "Turned alerts off in a chat",
    "chat_quiet_hours_set": "Set a chat's quiet hours",
    "weekly_slot_created": "Added a slot to the weekly plan",
    "weekly_slot_updated": "Changed a slot of the weekly plan",
    "weekly_slot_paused": "Paused a slot of the weekly plan",
    "weekly_slot_resumed": "Resumed a slot of the weekly plan",
    "weekly_slot_deleted": "Removed a slot from the weekly plan",
    "account_approvals_changed": "Changed which posts wait for approval",
}
# The same, with what the entry's details name (used when every field is there): "Uploaded quiz.jpg to the library".
HISTORY_DETAILS = {
    "post_rejected": "Rejected a post: {reason}",
    "media_uploaded": "Uploaded {filename} to the library",
    "media_retried": "Asked to prepare {filename} again",
    "media_focal_point_set": "Set the focal point of {filename}",
    "media_deleted": "Deleted {filename} from the library",
    "token_revealed": "Revealed a connection's {which}",
    "member_invited": "Invited {email} as {role}",
    "role_changed": "Changed someone's role from {before} to {after}",
    "member_removed": "Removed someone ({role}) from the venue",
    "alert_via_changed": "Chose to get your own alerts by {after}",
    "weekly_slot_created": "Added “{name}” to the weekly plan",
    "weekly_slot_updated": "Changed a slot of the weekly plan ({changed})",
    "weekly_slot_deleted": "Removed “{name}” from the weekly plan",
}
# Where an entry's object is shown, by its subject type: (route name, anchor on that page with {id}).
HISTORY_PAGES = {
    "media_asset": ("planner.library", "asset-{id}"),
    "connection": ("planner.connections", "connection-{id}"),
    "invitation": ("planner.team", "invitation-{id}"),
    "user": ("planner.team", "member-{id}"),
    "chat_destination": ("planner.chat", "chat-{id}"),
    "weekly_slot": ("planner.weekly", "slot-{id}"),
    "account": ("planner.weekly", "approvals"),
}
# What the link to that page reads.
PAGE_WORDS = {
    "planner.post": "the post",
    "planner.library": "the library",
    "planner.connections": "the connections",
    "planner.team": "the team",
    "planner.chat": "chat settings",
    "planner.weekly": "the weekly plan",
}
# Actions whose object is gone afterwards: their entry links the page, not the object's place on it.
GONE = frozenset({"media_deleted", "weekly_slot_deleted", "invitation_revoked", "member_removed"})
# Actions about the person's own settings (subject: the person), shown on the Chat page rather than the Team page.
OWN_SETTINGS = {"alert_via_changed": ("planner.chat", "alert-via"), "chat_link_code_created": ("planner.chat", "link")}
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
    """An offered remedy: a POST form (htmx: answered by a toast in place; reason: Reject asks why first), or a link."""

    label: str
    url: str
    action: str
    htmx: bool = True
    reason: bool = False
    link: bool = False
    back: bool = False  # its route honours `next`: without JS the browser comes back to this page


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
    connection_url: str | None
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


def _button(request: Request[Any, Any, Any], viewer: Viewer, offered: Offer, post_id: int | None) -> Button | None:
    """One offer as a button performing it through the planner page that owns the action, or None when this person
    may not press it or no planner page does it (no dead buttons: the chat that sent it still offers it)."""
    action = offered.action
    if action in DELIVERY_REMEDIES and post_id is not None and offered.target_id is not None:
        name, role = DELIVERY_REMEDIES[action]
        url = route_path(request, name, post_id=post_id, target_id=offered.target_id) if viewer.can(role) else None
        return Button(offered.label, url, action.value) if url else None
    if action in CONNECTION_REMEDIES and offered.connection_id is not None:
        name, role, htmx = CONNECTION_REMEDIES[action]
        url = route_path(request, name, connection_id=offered.connection_id) if viewer.can(role) else None
        return Button(offered.label, url, action.value, htmx=htmx) if url else None
    if action in APPROVAL_REMEDIES and offered.post_id is not None:
        decides = viewer.can(Role.admin)  # admins and owners decide approvals
        url = route_path(request, APPROVAL_REMEDIES[action], post_id=offered.post_id) if decides else None
        return Button(offered.label, url, action.value, reason=action is Action.reject, back=True) if url else None
    if action is Action.edit and offered.post_id is not None and viewer.can(Role.editor):
        url = route_path(request, "planner.post", post_id=offered.post_id)
        return Button(offered.label, f"{url}#time-title", action.value, link=True) if url else None
    return None


def _buttons(request: Request[Any, Any, Any], viewer: Viewer, n: Notification, post_id: int | None) -> list[Button]:
    """The alert's offered remedies this person may press, each through the route of the page that owns it."""
    actions = n.payload.get("actions")
    if not isinstance(actions, list):
        return []
    buttons: list[Button] = []
    for raw in actions:
        try:
            offered = Offer.from_payload(raw, notification_id=n.id)
        except (ValueError, TypeError, AttributeError):
            continue  # an offer this version does not know: the chat that sent it still shows it
        button = _button(request, viewer, offered, post_id)
        if button is not None:
            buttons.append(button)
    return buttons


def _subject_id(n: Notification, key: str) -> int | None:
    raw = n.subject.get(key)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def _card(request: Request[Any, Any, Any], viewer: Viewer, item: notifications_core.FeedItem) -> AlertCard:
    n = item.notification
    post_id = _subject_id(n, "post_id")
    connection_id = _subject_id(n, "connection_id")
    connections = route_path(request, "planner.connections") if connection_id is not None else None
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
        post_url=route_path(request, "planner.post", post_id=post_id) if post_id is not None else None,
        connection_url=f"{connections}#connection-{connection_id}" if connections else None,
        buttons=tuple(_buttons(request, viewer, n, post_id)),
    )


@dataclass(frozen=True)
class Done:
    """One outcome in the person's history: when, what, and a link to the page of what it was about (if any)."""

    when: str
    words: str
    url: str | None
    link_words: str


def _detail(value: Any) -> str | None:
    if isinstance(value, list):
        value = ", ".join(str(v).replace("_", " ") for v in value)
    text = str(value).replace("_", " ") if value is not None else ""
    return text or None


def _history_words(entry: AuditEntry) -> str:
    """The entry in plain words, naming what its details name when they are all there."""
    template = HISTORY_DETAILS.get(entry.action)
    if template is not None:
        fields = [name for _, name, _, _ in Formatter().parse(template) if name]
        values = {name: _detail(entry.details.get(name)) for name in fields}
        if entry.action == "token_revealed" and entry.details.get("which") in TOKEN_WORDS:
            values["which"] = TOKEN_WORDS[str(entry.details["which"])].lower()
        if all(values.values()):
            return template.format(**values)
    return HISTORY_WORDS.get(entry.action, entry.action.replace("_", " ").capitalize())


def _history_link(request: Request[Any, Any, Any], entry: AuditEntry) -> tuple[str | None, str]:
    """Where the entry's object is shown (the post, the library's file, the connection, ...) and the link's words."""
    raw = entry.details.get("post_id")
    if raw is None and entry.subject_type == "post" and entry.subject_id and entry.subject_id.isdigit():
        raw = int(entry.subject_id)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return route_path(request, "planner.post", post_id=raw), PAGE_WORDS["planner.post"]
    page = HISTORY_PAGES.get(entry.subject_type or "")
    if page is None:
        return None, ""
    name, anchor = OWN_SETTINGS.get(entry.action, page)
    url = route_path(request, name)
    if url is None:
        return None, ""
    if entry.action not in GONE and ("{id}" not in anchor or entry.subject_id):
        url += "#" + anchor.format(id=entry.subject_id)
    return url, PAGE_WORDS[name]


def _done(request: Request[Any, Any, Any], entry: AuditEntry) -> Done:
    url, link_words = _history_link(request, entry)
    return Done(
        when=entry.at.strftime("%Y-%m-%d %H:%M UTC"), words=_history_words(entry), url=url, link_words=link_words
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
        here_url=here(request),
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
