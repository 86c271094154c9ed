"""The planner's post detail: each delivery's status, attempts and remedies, and the post's time edit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import structlog
from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from api.planner.auth import Viewer, require_role
from api.planner.render import PAGE_HEADERS, is_htmx, outcome, render, route_path
from api.planner.week import STATUS_WORDS
from bot.render import DELIVERY_OFFERS
from core.access.policy import VenueAccess
from core.chat import connections as chat_connections
from core.errors import Conflict, DomainError, Invalid, NotFound
from core.notifications.actions import LABELS, Action
from core.posts import approval as approval_core
from core.posts import service as posts_core
from core.posts import views
from core.posts.times import Fold, PostTimeInvalid, format_local, resolve_when, zone
from core.posts.views import DeliveryView, PostView
from core.publishing import actions as delivery_actions
from core.publishing import packages as packages_core
from core.publishing.actions import RetryResult
from core.runtime import Runtime
from storage.models import Role
from storage.models.posts import EDITABLE
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

# Who may press each remedy: the same role the API's endpoint for it asks (the package link is an editor's here:
# it is for posting by hand, which a viewer does not do; docs/decisions.md).
REMEDY_ROLE = {
    Action.retry: Role.editor,
    Action.mark_published: Role.editor,
    Action.publish_again: Role.editor,
    Action.manual_package: Role.editor,
    Action.reconnect: Role.admin,
}
# Remedies that end on another page (the download, the platform's consent): a plain form post, not an htmx swap.
NAVIGATING = frozenset({Action.manual_package, Action.reconnect})
WALL_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows


@dataclass(frozen=True)
class Remedy:
    action: str
    label: str
    url: str
    htmx: bool


@dataclass(frozen=True)
class Delivery:
    """A delivery as the detail page shows it: the view, its words and the remedies this person may press."""

    view: DeliveryView
    words: str
    tone: str
    remedies: tuple[Remedy, ...]


@dataclass(frozen=True)
class Approval:
    """A post's approval in plain words, and (admins, while it waits) where Approve and Reject post."""

    badge: str
    tone: str
    words: str
    approve_url: str | None = None
    reject_url: str | None = None


def post_path(post_id: int) -> str:
    return f"/planner/posts/{post_id}"


def _sentence(text: str) -> str:
    text = text.strip()
    return f"{text[:1].upper()}{text[1:]}" + ("" if text.endswith((".", "!", "?")) else ".")


def refusal(exc: DomainError) -> str:
    """A refusal in plain words: why, then what to do (when core named a remedy)."""
    return _sentence(exc.message) + (f" {_sentence(exc.remedy)}" if exc.remedy else "")


def _remedies(d: DeliveryView, post_id: int, viewer: Viewer) -> tuple[Remedy, ...]:
    made = []
    for action in DELIVERY_OFFERS.get(d.status, ()):
        if not viewer.can(REMEDY_ROLE[action]):
            continue
        if action is Action.reconnect:
            url = f"{post_path(post_id)}/connections/{d.connection_id}/reconnect"
        else:
            url = f"{post_path(post_id)}/deliveries/{d.target_id}/{action.value.replace('_', '-')}"
        made.append(Remedy(action.value, LABELS[action], url, action not in NAVIGATING))
    return tuple(made)


def _deliveries(view: PostView, viewer: Viewer) -> list[Delivery]:
    return [Delivery(d, *STATUS_WORDS[d.status], remedies=_remedies(d, view.id, viewer)) for d in view.deliveries]


async def _approval(
    request: Request[Any, Any, Any], viewer: Viewer, uow: UnitOfWork, view: PostView, now: datetime
) -> Approval | None:
    """What the post's approval is (core.posts.approval's states), said for everyone; None when it needs none."""
    if view.approval is None:
        return None
    if view.approval == approval_core.PENDING:
        names = await approval_core.approvers(uow.session, viewer.access)
        who = " or ".join(names) if names else "an admin or owner of the venue"
        words = (
            f"Waiting for approval by {who}. It is not sent until approved; still waiting at its time, it is missed."
        )
        if not viewer.can(Role.admin):
            return Approval("Waiting for approval", "warning", words)
        # The Weekly plan page's own Approve / Reject routes (core.posts.approval.approve / reject).
        return Approval(
            "Waiting for approval",
            "warning",
            words,
            route_path(request, "planner.approve", post_id=view.id),
            route_path(request, "planner.reject", post_id=view.id),
        )
    who = await approval_core.decided_by(uow.session, view.approval_decided_by_user_id)
    at = view.approval_decided_at
    when = f" on {format_local(at, view.timezone, now=now)}" if at is not None else ""
    if view.approval == approval_core.APPROVED:
        return Approval("Approved", "ok", f"Approved by {who}{when}.")
    note = f": “{view.approval_note}”" if view.approval_note else ""
    return Approval("Rejected", "error", f"Rejected by {who}{when}{note}. It will not be sent.")


async def _page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    runtime: Runtime,
    uow: UnitOfWork,
    post_id: int,
    *,
    status_code: int = 200,
    time_error: Invalid | Conflict | None = None,
    when: str | None = None,
) -> Template:
    view = await views.get_post(uow.session, viewer.access, post_id, with_attempts=True, clock=runtime.clock)
    tz = view.timezone
    now = runtime.clock.now()
    editable = viewer.can(Role.editor) and not view.cancelled and all(d.status in EDITABLE for d in view.deliveries)
    # The two readings core offers for a time that happens twice, as the venue reads them ("… 01:30 BST").
    raw_choices = time_error.extra.get("choices", []) if time_error is not None else []
    choices = [format_local(datetime.fromisoformat(c), tz, now=now) for c in raw_choices]
    return render(
        request,
        "planner/post.html",
        title=view.excerpt or f"Post {view.id}",
        status_code=status_code,
        post=view,
        approval=await _approval(request, viewer, uow, view, now),
        headline=STATUS_WORDS[view.status],
        deliveries=_deliveries(view, viewer),
        local=lambda instant: format_local(instant, tz, now=now),
        editable=editable,
        when=when or view.scheduled_at.astimezone(zone(tz)).strftime(WALL_FORMAT),
        week_of=view.scheduled_at.astimezone(zone(tz)).date(),
        time_error=time_error,
        ambiguous=isinstance(time_error, PostTimeInvalid) and time_error.reason == "ambiguous",
        choices=choices,
    )


@get("/posts/{post_id:int}", name="planner.post", summary="A post: each delivery, its attempts and its remedies")
async def post_page(
    request: Request[Any, Any, Any], post_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Template:
    """The post with each delivery's status, reason, remedy, attempts and the buttons this person may press."""
    return await _page(request, viewer, runtime, uow, post_id)


async def _field(request: Request[Any, Any, Any], name: str) -> str | None:
    value = (await request.form()).get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


@post("/posts/{post_id:int}/time", name="planner.post_time", status_code=303)
async def change_time(
    request: Request[Any, Any, Any], post_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Reschedule through the API's own use-case; a refused time re-shows the form with why and the choices."""
    access = await require_role(request, viewer, runtime, uow, Role.editor)
    when = await _field(request, "when")
    fold = await _field(request, "fold")
    if when is None:
        error = Invalid("choose a date and time", field="when")
        return await _page(request, viewer, runtime, uow, post_id, status_code=422, time_error=error)
    try:
        saved = await posts_core.update_post(
            runtime, uow.session, access, post_id, posts_core.PostDraft(when=when, fold=fold)
        )
    except (Invalid, Conflict) as exc:
        await uow.rollback()  # nothing of a refused edit may be committed with the page's transaction
        log.info("planner_time_refused", post_id=post_id, account_id=access.account_id, code=exc.code)
        if is_htmx(request):  # a card dropped on the week: the refusal is a toast there (the card goes back)
            return outcome(request, refusal(exc), redirect_to=post_path(post_id), kind="error")
        code = 409 if isinstance(exc, Conflict) else 422
        return await _page(request, viewer, runtime, uow, post_id, status_code=code, time_error=exc, when=when)
    log.info("planner_time_changed", post_id=post_id, account_id=access.account_id)
    return outcome(request, saved.message, redirect_to=post_path(post_id))


@get("/posts/{post_id:int}/time-check", name="planner.post_time_check")
async def check_time(
    request: Request[Any, Any, Any],
    post_id: int,
    viewer: Viewer,
    runtime: Runtime,
    uow: UnitOfWork,
    when: Annotated[str, QueryParameter(name="when")] = "",
    fold: Annotated[str | None, QueryParameter(name="fold")] = None,
) -> Template:
    """What a typed time means in the venue's zone, before saving (the clocks' gaps and overlaps explained)."""
    view = await views.get_post(uow.session, viewer.access, post_id, clock=runtime.clock)
    return time_check(when, fold, view.timezone, runtime.clock.now())


def time_check(when: str, fold: str | None, tz: str, now: datetime) -> Template:
    """The time-check fragment: when `when` (with its `fold`) goes out in zone `tz`, or why it can't and what to do
    (the post page's and the composer's check as the person types)."""
    message, ok = "", False
    try:
        chosen: Fold | None = "earlier" if fold == "earlier" else "later" if fold == "later" else None
        instant = resolve_when(when, tz, now=now, fold=chosen)
        message, ok = f"Goes out {format_local(instant, tz, now=now)}.", True
    except PostTimeInvalid as exc:
        message = refusal(exc)
    return Template(
        template_name="planner/_time_check.html",
        context={"message": message, "ok": ok},
        headers=PAGE_HEADERS,
        media_type="text/html",
    )


async def _delivery_of(viewer: Viewer, runtime: Runtime, uow: UnitOfWork, post_id: int, target_id: int) -> None:
    """404 unless `target_id` is a delivery of the venue's post `post_id` (another venue's post is not found)."""
    view = await views.get_post(uow.session, viewer.access, post_id, clock=runtime.clock)
    if target_id not in {d.target_id for d in view.deliveries}:
        raise NotFound(f"delivery {target_id} not found on post {post_id}")


Decide = Callable[[VenueAccess], Awaitable[RetryResult]]


async def _decided(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork, post_id: int, target_id: int,
    action: Action, decide: Decide,
) -> Response[Any]:  # fmt: skip
    """Perform one delivery remedy; a refusal (already live, being checked, ...) is a toast saying what to do."""
    access = await require_role(request, viewer, runtime, uow, REMEDY_ROLE[action])
    await _delivery_of(viewer, runtime, uow, post_id, target_id)
    try:
        result = await decide(access)
    except (Invalid, Conflict) as exc:
        await uow.rollback()
        log.info("planner_remedy_refused", action=action.value, target_id=target_id, code=exc.code)
        return outcome(request, refusal(exc), redirect_to=post_path(post_id), kind="error")
    log.info("planner_remedy", action=action.value, target_id=target_id, changed=result.changed)
    return outcome(request, result.message, redirect_to=post_path(post_id), kind="ok" if result.changed else "info")


@post("/posts/{post_id:int}/deliveries/{target_id:int}/retry", name="planner.retry", status_code=303)
async def retry(
    request: Request[Any, Any, Any], post_id: int, target_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Send a failed or missed delivery again now (idempotent: a queued one is left as it is)."""

    async def decide(access: VenueAccess) -> RetryResult:
        return await delivery_actions.retry_target(runtime, uow.session, access, target_id)

    return await _decided(request, viewer, runtime, uow, post_id, target_id, Action.retry, decide)


@post("/posts/{post_id:int}/deliveries/{target_id:int}/publish-again", name="planner.publish_again", status_code=303)
async def publish_again(
    request: Request[Any, Any, Any], post_id: int, target_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """A person's word that a delivery in doubt did not go out: send it again now."""

    async def decide(access: VenueAccess) -> RetryResult:
        return await delivery_actions.publish_again(runtime, uow.session, access, target_id)

    return await _decided(request, viewer, runtime, uow, post_id, target_id, Action.publish_again, decide)


@post("/posts/{post_id:int}/deliveries/{target_id:int}/mark-published", name="planner.mark_published", status_code=303)
async def mark_published(
    request: Request[Any, Any, Any], post_id: int, target_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """A person's word that a delivery is live after all (or posted by hand), with its link if they have it."""
    permalink = await _field(request, "permalink")

    async def decide(access: VenueAccess) -> RetryResult:
        return await delivery_actions.mark_published(runtime, uow.session, access, target_id, permalink)

    return await _decided(request, viewer, runtime, uow, post_id, target_id, Action.mark_published, decide)


def _go(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """Send the browser on to `url` (htmx would fetch it into the page: HX-Redirect makes it navigate instead)."""
    if is_htmx(request):
        return Response(None, status_code=204, headers={**PAGE_HEADERS, "HX-Redirect": url})
    return Redirect(url, status_code=303, headers=PAGE_HEADERS)


@post("/posts/{post_id:int}/deliveries/{target_id:int}/manual-package", name="planner.package", status_code=303)
async def manual_package(
    request: Request[Any, Any, Any], post_id: int, target_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """The signed download link of the delivery's manual package, followed at once (the zip downloads)."""
    access = await require_role(request, viewer, runtime, uow, REMEDY_ROLE[Action.manual_package])
    await _delivery_of(viewer, runtime, uow, post_id, target_id)
    try:
        link = await packages_core.package_link(runtime, uow.session, access, target_id)
    except Conflict as exc:
        await uow.rollback()
        return outcome(request, refusal(exc), redirect_to=post_path(post_id), kind="error")
    log.info("planner_package", target_id=target_id, account_id=access.account_id)
    return _go(request, link.url)


@post("/posts/{post_id:int}/connections/{connection_id:int}/reconnect", name="planner.reconnect", status_code=303)
async def reconnect(
    request: Request[Any, Any, Any], post_id: int, connection_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Start the platform's consent for this connection (as the API's reconnect), coming back to this post."""
    access = await require_role(request, viewer, runtime, uow, REMEDY_ROLE[Action.reconnect])
    view = await views.get_post(uow.session, viewer.access, post_id, clock=runtime.clock)
    if connection_id not in {d.connection_id for d in view.deliveries}:
        raise NotFound(f"connection {connection_id} not found on post {post_id}")
    consent = await chat_connections.reconnect_connection(
        runtime, uow.session, access, connection_id, return_to=post_path(post_id)
    )
    log.info("planner_reconnect", connection_id=connection_id, account_id=access.account_id)
    return _go(request, consent.link.url)


routes = [post_page, change_time, check_time, retry, publish_again, mark_published, manual_package, reconnect]
