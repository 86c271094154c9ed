"""The planner's Weekly plan: the venue's recurring slots (add, edit, pause, remove), its approval settings and the
queue of posts waiting for approval (Approve, Reject with a reason, Approve all), each through the API's use-cases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog
from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.response import Template

from api.planner.auth import Viewer, require_role, safe_next
from api.planner.posts import post_path, refusal
from api.planner.render import ToastKind, outcome, render, route_path
from api.planner.week import STATUS_WORDS
from core.access import accounts as accounts_core
from core.access.policy import VenueAccess
from core.connections import lifecycle as connections_core
from core.connections.lifecycle import PROVIDER_LABEL
from core.errors import Conflict, Invalid, NotFound
from core.media import library as media_core
from core.posts import approval as approval_core
from core.posts import views
from core.posts.approval import Decision
from core.posts.views import PostView
from core.runtime import Runtime
from core.weekly import slots as slots_core
from core.weekly.slots import WEEKDAYS, SlotView
from storage.models import ConnectionStatus, DeliveryStatus, Provider, Role
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

WEEKLY_PATH = "/planner/weekly"
MEDIA_CHOICES = 50  # the newest library items offered as checkboxes (a slot's own older media stay listed too)
# The template help shown under the text field (core.weekly.template is the one that checks it).
TEMPLATE_HELP = "{date} becomes the post's date (Tuesday 8 December); {date:%A %d %B} picks the format."
STATE_WORDS = {
    "active": ("Active", "ok"),
    "paused": ("Paused", "off"),
    "not started": ("Not started yet", "info"),
    "ended": ("Ended", "off"),
}


@dataclass(frozen=True)
class Choice:
    """A checkbox: a connection or a library item a slot may use."""

    id: int
    label: str
    thumbnail: str | None = None
    unusable: bool = False  # a disconnected connection: core refuses it (shown so a slot that has it can drop it)


@dataclass(frozen=True)
class SlotForm:
    """What one slot form shows: the saved slot's values, or the values just sent with why they were refused."""

    key: str  # "new" or the slot's id: unique ids for the form's fields
    action: str
    name: str = ""
    weekday: int = 0
    local_time: str = ""
    text_template: str = ""
    connection_ids: frozenset[int] = frozenset()
    media_asset_ids: frozenset[int] = frozenset()
    captions: dict[str, str] = field(default_factory=dict)
    active_from: str = ""
    active_until: str = ""
    error: Invalid | NotFound | None = None


@dataclass(frozen=True)
class SlotCard:
    view: SlotView
    words: str
    tone: str
    form: SlotForm


@dataclass(frozen=True)
class Waiting:
    """A post in the approvals queue: the post and where it would go."""

    post: PostView
    targets: tuple[str, ...]
    waits: str  # what its deliveries' badge says


def _dates(view: SlotView) -> tuple[str, str]:
    return (
        view.active_from.isoformat() if view.active_from else "",
        view.active_until.isoformat() if view.active_until else "",
    )


def _saved_form(view: SlotView) -> SlotForm:
    active_from, active_until = _dates(view)
    return SlotForm(
        key=str(view.id),
        action=f"{WEEKLY_PATH}/slots/{view.id}",
        name=view.name,
        weekday=view.weekday,
        local_time=view.local_time,
        text_template=view.text_template,
        connection_ids=frozenset(view.connection_ids),
        media_asset_ids=frozenset(view.media_asset_ids),
        captions=dict(view.captions),
        active_from=active_from,
        active_until=active_until,
    )


def _sent_form(key: str, action: str, form: FormMultiDict, error: Invalid | NotFound) -> SlotForm:
    """The form as it was sent, so a refusal keeps every value typed."""
    weekday = _text(form, "weekday")
    return SlotForm(
        key=key,
        action=action,
        name=_text(form, "name"),
        weekday=int(weekday) if weekday.isdigit() and int(weekday) < len(WEEKDAYS) else 0,
        local_time=_text(form, "local_time"),
        text_template=_text(form, "text_template", strip=False),
        connection_ids=frozenset(_ids(form, "connection_ids")),
        media_asset_ids=frozenset(_ids(form, "media_asset_ids")),
        captions={p.value: _text(form, f"caption_{p.value}", strip=False) for p in Provider},
        active_from=_text(form, "active_from"),
        active_until=_text(form, "active_until"),
        error=error,
    )


def _text(form: FormMultiDict, name: str, *, strip: bool = True) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value.replace("\r\n", "\n")


def _ids(form: FormMultiDict, name: str) -> list[int]:
    """Checked ids of a checkbox group (anything that is not an id is left out)."""
    return [int(v) for v in form.getall(name, []) if isinstance(v, str) and v.isdigit() and int(v) < 2**63]


def _date(form: FormMultiDict, name: str) -> date | None:
    raw = _text(form, name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"'{raw}' is not a date", field=name, remedy="pick a date, like 2026-12-24") from None


def slot_draft(form: FormMultiDict) -> slots_core.SlotDraft:
    """A slot form as core's draft: every field is sent, an empty date clears it and an empty caption drops it."""
    active_from, active_until = _date(form, "active_from"), _date(form, "active_until")
    return slots_core.SlotDraft(
        name=_text(form, "name"),
        weekday=_text(form, "weekday"),
        local_time=_text(form, "local_time"),
        text_template=_text(form, "text_template", strip=False),
        media_asset_ids=_ids(form, "media_asset_ids"),
        connection_ids=_ids(form, "connection_ids"),
        captions={p.value: c for p in Provider if (c := _text(form, f"caption_{p.value}", strip=False)).strip()},
        active_from=active_from,
        active_until=active_until,
        clear_active_from=active_from is None,
        clear_active_until=active_until is None,
    )


async def _choices(
    runtime: Runtime, uow: UnitOfWork, access: VenueAccess, slots: Sequence[SlotView]
) -> tuple[list[Choice], list[Choice]]:
    """The venue's connections and newest library items as checkboxes, plus any older item a slot already uses."""
    connections = [
        Choice(
            c.id,
            f"{PROVIDER_LABEL[c.provider]} {c.display_name}"
            + (" (disconnected)" if c.status is ConnectionStatus.disconnected else ""),
            unusable=c.status is ConnectionStatus.disconnected,
        )
        for c in await connections_core.list_connections(uow.session, access)
    ]
    assets = await media_core.list_assets(runtime, uow, access, limit=MEDIA_CHOICES)
    media = [Choice(a.asset.id, f"{a.asset.filename} (#{a.asset.id})", a.preview_url) for a in assets]
    shown = {m.id for m in media}
    for used in sorted({i for s in slots for i in s.media_asset_ids} - shown):
        media.append(Choice(used, f"Library item #{used}"))
    return connections, media


async def _queue(runtime: Runtime, uow: UnitOfWork, access: VenueAccess) -> list[Waiting]:
    """Posts waiting for approval, earliest first (the same listing as GET /api/posts?status=pending_approval)."""
    posts = await views.list_posts(uow.session, access, status=DeliveryStatus.pending_approval, clock=runtime.clock)
    return [
        Waiting(p, tuple(d.connection_label for d in p.deliveries), STATUS_WORDS[DeliveryStatus.pending_approval][0])
        for p in posts
        if p.approval == approval_core.PENDING
    ]


async def _page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    runtime: Runtime,
    uow: UnitOfWork,
    *,
    refused: SlotForm | None = None,
    status_code: int = 200,
) -> Template:
    access = viewer.access
    slots = await slots_core.list_slots(runtime, uow.session, access)
    cards = []
    for view in slots:
        form = refused if refused is not None and refused.key == str(view.id) else _saved_form(view)
        cards.append(SlotCard(view, *STATE_WORDS.get(view.state, (view.state, "info")), form=form))
    new = (
        refused if refused is not None and refused.key == "new" else SlotForm(key="new", action=f"{WEEKLY_PATH}/slots")
    )
    connections, media = await _choices(runtime, uow, access, slots) if viewer.can(Role.editor) else ([], [])
    account = await accounts_core.get_account(uow.session, access)
    connections_url = route_path(request, "planner.connections")  # None: no Connections page in this app, no link
    return render(
        request,
        "planner/weekly.html",
        title="Weekly plan",
        status_code=status_code,
        slots=cards,
        new=new,
        weekdays=list(enumerate(WEEKDAYS)),
        providers=[(p.value, PROVIDER_LABEL[p]) for p in Provider],
        connections=connections,
        connections_url=connections_url,
        media=media,
        template_help=TEMPLATE_HELP,
        editor=viewer.can(Role.editor),
        admin=viewer.can(Role.admin),
        approve_editor_posts=account.approve_editor_posts,
        approve_weekly_posts=account.approve_weekly_posts,
        approvers=await approval_core.approvers(uow.session, access),
        queue=await _queue(runtime, uow, access),
        post_path=post_path,
    )


@get("/weekly", name="planner.weekly")
async def weekly_page(request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork) -> Template:
    """The venue's weekly plan, who approves and how, and the posts waiting for approval."""
    return await _page(request, viewer, runtime, uow)


async def _slot_saved(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork, slot_id: int | None
) -> Response[Any]:
    """Add (`slot_id` None) or edit a slot from its form; a refusal re-shows the page with why and the values kept."""
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    form = await request.form()
    try:
        draft = slot_draft(form)
        if slot_id is None:
            change = await slots_core.create_slot(runtime, uow.session, access, draft)
        else:
            change = await slots_core.update_slot(runtime, uow.session, access, slot_id, draft)
    except (Invalid, NotFound) as exc:
        await uow.rollback()  # nothing of a refused change may be committed with the page's transaction
        if slot_id is not None and isinstance(exc, NotFound) and exc.extra.get("field") is None:
            raise  # the slot itself is not the venue's: a 404 page, like the API
        log.info("planner_slot_refused", account_id=access.account_id, slot_id=slot_id, code=exc.code)
        key = "new" if slot_id is None else str(slot_id)
        action = f"{WEEKLY_PATH}/slots" + ("" if slot_id is None else f"/{slot_id}")
        refused = _sent_form(key, action, form, exc)
        return await _page(request, viewer, runtime, uow, refused=refused, status_code=422)
    log.info("planner_slot_saved", account_id=access.account_id, slot_id=change.view.id, changed=change.changed)
    return outcome(request, change.message, redirect_to=f"{WEEKLY_PATH}#slot-{change.view.id}")


@post("/weekly/slots", name="planner.weekly_add", status_code=303)
async def add_slot(request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork) -> Response[Any]:
    """Add a slot to the weekly plan (core.weekly.slots.create_slot, as POST /api/weekly-slots)."""
    return await _slot_saved(request, viewer, runtime, uow, None)


@post("/weekly/slots/{slot_id:int}", name="planner.weekly_edit", status_code=303)
async def edit_slot(
    request: Request[Any, Any, Any], slot_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Edit a slot (core.weekly.slots.update_slot, as PATCH /api/weekly-slots/{id})."""
    return await _slot_saved(request, viewer, runtime, uow, slot_id)


@post("/weekly/slots/{slot_id:int}/{change:str}", name="planner.weekly_slot_change", status_code=303)
async def change_slot(
    request: Request[Any, Any, Any], slot_id: int, change: str, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Pause, resume or remove a slot (the API's pause, resume and delete); posts already made stay."""
    actions = {"pause": slots_core.pause_slot, "resume": slots_core.resume_slot, "delete": slots_core.delete_slot}
    act = actions.get(change)
    if act is None:
        raise NotFound(f"no such change to a slot: {change}", remedy="pause, resume or delete")
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    done = await act(runtime, uow.session, access, slot_id)
    log.info("planner_slot_changed", account_id=access.account_id, slot_id=slot_id, change=change)
    anchor = "#slots" if change == "delete" else f"#slot-{slot_id}"
    return outcome(request, done.message, redirect_to=f"{WEEKLY_PATH}{anchor}", kind="ok" if done.changed else "info")


@post("/weekly/approvals", name="planner.weekly_approvals", status_code=303)
async def approval_settings(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Which posts wait for approval (admin, as PATCH /api/accounts/{id}): unchecked boxes send nothing, so off."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    form = await request.form()
    editor_posts, weekly_posts = form.get("approve_editor_posts") == "on", form.get("approve_weekly_posts") == "on"
    await accounts_core.update_account(
        uow.session, runtime.clock, access, name=None, timezone=None,
        approve_editor_posts=editor_posts, approve_weekly_posts=weekly_posts,
    )  # fmt: skip
    log.info(
        "planner_approvals_changed", account_id=access.account_id, editor_posts=editor_posts, weekly_posts=weekly_posts
    )
    words = {True: "wait for approval", False: "go out without approval"}
    message = f"Saved: posts by editors {words[editor_posts]}; weekly-plan posts {words[weekly_posts]}."
    return outcome(request, message, redirect_to=f"{WEEKLY_PATH}#approvals")


async def _decided(
    request: Request[Any, Any, Any], uow: UnitOfWork, post_id: int, decide: Callable[[], Awaitable[Decision]]
) -> Response[Any]:
    """One approver's decision; a post someone already decided (or that needs none) is an error toast saying so.
    Without JS the browser goes back to the form's `next` (a planner page: an alert, the post) or else the queue."""
    raw_next = (await request.form()).get("next")
    back = safe_next(raw_next) if isinstance(raw_next, str) and raw_next else f"{WEEKLY_PATH}#approvals"
    try:
        decision = await decide()
    except (Invalid, Conflict) as exc:
        await uow.rollback()
        log.info("planner_approval_refused", post_id=post_id, code=exc.code)
        return outcome(request, refusal(exc), redirect_to=back, kind="error")
    log.info("planner_approval_decided", post_id=post_id, approval=decision.approval)
    return outcome(request, decision.message, redirect_to=back)


@post("/weekly/posts/{post_id:int}/approve", name="planner.approve", status_code=303)
async def approve(
    request: Request[Any, Any, Any], post_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Approve a waiting post (core.posts.approval.approve: the API's and the chat button's use-case)."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    return await _decided(request, uow, post_id, lambda: approval_core.approve(runtime, uow.session, access, post_id))


@post("/weekly/posts/{post_id:int}/reject", name="planner.reject", status_code=303)
async def reject(
    request: Request[Any, Any, Any], post_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Reject a waiting post with a reason its author is told (core.posts.approval.reject)."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    reason = _text(await request.form(), "reason")
    return await _decided(
        request, uow, post_id, lambda: approval_core.reject(runtime, uow.session, access, post_id, reason)
    )


@post("/weekly/approve-all", name="planner.approve_all", status_code=303)
async def approve_all(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Approve every post the queue showed (`post_id`, repeated) that still waits (core.posts.approval.approve_each);
    one decided meanwhile is named in the answer, the rest approved."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    post_ids = _ids(await request.form(), "post_id")
    try:
        batch = await approval_core.approve_each(runtime, uow.session, access, post_ids)
    except Invalid as exc:
        await uow.rollback()
        return outcome(request, refusal(exc), redirect_to=f"{WEEKLY_PATH}#approvals", kind="error")
    log.info(
        "planner_approve_all", account_id=access.account_id, approved=len(batch.approved), refused=len(batch.refused)
    )
    count = len(batch.approved)
    message = f"Approved {count} post{'' if count == 1 else 's'}: they go out at their times."
    if batch.refused:
        message += " Not approved: " + "; ".join(f"post {post_id}: {why}" for post_id, why in batch.refused) + "."
    kind: ToastKind = "ok" if not batch.refused else "warning" if count else "error"
    return outcome(request, message, redirect_to=f"{WEEKLY_PATH}#approvals", kind=kind)


routes = [weekly_page, add_slot, edit_slot, change_slot, approval_settings, approve, reject, approve_all]
