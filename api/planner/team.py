"""The planner's Team page: the venue's people and roles; admins invite (the link is shown once), withdraw pending
invitations, change roles and remove people, through the same core use-cases as the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from litestar import Request, Response, get, post
from litestar.response import Template

from api.planner.auth import Viewer, require_role
from api.planner.posts import refusal
from api.planner.render import outcome, render
from api.routes.invitations import ROLE_WORDS
from core.access import accounts as accounts_core
from core.access import invitations as invitations_core
from core.access.accounts import check_can_manage
from core.access.policy import VenueAccess
from core.errors import Conflict, Invalid, NotFound, PermissionDenied
from core.posts.times import format_local
from core.runtime import Runtime
from storage.models import Role
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

PAGE = "/planner/team"


@dataclass(frozen=True)
class Member:
    """One person in the venue as the page shows them, with what this viewer may do to them."""

    user_id: int
    name: str
    email: str | None
    role: str
    since: str
    you: bool
    manageable: bool


@dataclass(frozen=True)
class Pending:
    id: int
    email: str
    role: str
    expires: str
    withdrawable: bool


@dataclass(frozen=True)
class NewLink:
    email: str
    role: str
    url: str
    expires: str


def _may(access: VenueAccess, role: Role) -> bool:
    """Whether core would let this person manage someone with `role` (admins: editors and viewers; owners: all)."""
    try:
        check_can_manage(access, role, "change")
    except PermissionDenied:
        return False
    return True


async def _page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    runtime: Runtime,
    uow: UnitOfWork,
    *,
    status_code: int = 200,
    issued: NewLink | None = None,
    error: str | None = None,
    email: str = "",
    chosen_role: str = Role.editor.value,
    removing: int | None = None,
) -> Template:
    access, tz, now = viewer.access, viewer.venue.timezone, runtime.clock.now()
    admin = viewer.can(Role.admin)
    members = [
        Member(
            user_id=u.id,
            name=u.name,
            email=u.email,
            role=m.role.value,
            since=format_local(m.created_at, tz, now=now),
            you=u.id == viewer.user.id,
            manageable=admin and _may(access, m.role),
        )
        for m, u in await accounts_core.members(uow.session, access)
    ]
    pending = (
        [
            Pending(i.id, i.email, i.role.value, format_local(i.expires_at, tz, now=now), _may(access, i.role))
            for i in await invitations_core.pending(uow.session, runtime.clock, access)
        ]
        if admin
        else []
    )
    confirming = next((m for m in members if m.user_id == removing and m.manageable), None)
    if removing is not None and confirming is None:
        raise NotFound(f"person {removing} is not someone you can remove from this venue")
    grantable = [r for r in Role if admin and _may(access, r)]
    return render(
        request,
        "planner/team.html",
        title=f"Remove {confirming.name}?" if confirming else "Team",
        status_code=status_code,
        members=members,
        pending=pending,
        admin=admin,
        grantable=[(r.value, ROLE_WORDS[r]) for r in grantable],
        issued=issued,
        error=error,
        email=email,
        chosen_role=chosen_role,
        confirming=confirming,
    )


@get("/team", name="planner.team", summary="The venue's people, their roles and invitations")
async def team_page(request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork) -> Template:
    """Everyone in the venue with their role; admins also see pending invitations and the forms to manage people."""
    return await _page(request, viewer, runtime, uow)


async def _field(request: Request[Any, Any, Any], name: str) -> str:
    value = (await request.form()).get(name)
    return value.strip() if isinstance(value, str) else ""


def _role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise Invalid("choose a role: viewer, editor, admin or owner", field="role") from None


@post("/team/invitations", name="planner.invite", status_code=200)
async def invite(request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork) -> Template:
    """Invite an address with a role (core.access.invitations.invite); the page shows the link once, to hand over."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    email, raw_role = await _field(request, "email"), await _field(request, "role")
    try:
        issued = await invitations_core.invite(
            uow.session, runtime.clock, runtime.settings, access, email=email, role=_role(raw_role)
        )
    except (Invalid, Conflict, PermissionDenied) as exc:
        await uow.rollback()
        log.info("planner_invite_refused", account_id=access.account_id, code=exc.code)
        status = 403 if isinstance(exc, PermissionDenied) else 409 if isinstance(exc, Conflict) else 422
        message = refusal(exc)  # a PermissionDenied may name no remedy: refusal leaves it out
        return await _page(
            request, viewer, runtime, uow, status_code=status, error=message, email=email[:320], chosen_role=raw_role
        )
    invitation = issued.invitation
    log.info("planner_invited", invitation_id=invitation.id, account_id=access.account_id, role=invitation.role.value)
    link = NewLink(
        email=invitation.email,
        role=invitation.role.value,
        url=issued.url,
        expires=format_local(invitation.expires_at, viewer.venue.timezone, now=runtime.clock.now()),
    )
    return await _page(request, viewer, runtime, uow, issued=link)


@post("/team/invitations/{invitation_id:int}/revoke", name="planner.invitation_revoke", status_code=303)
async def revoke(
    request: Request[Any, Any, Any], invitation_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Withdraw a pending invitation: its link then says so (core.access.invitations.revoke, audited)."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    await invitations_core.revoke(uow.session, runtime.clock, access, invitation_id=invitation_id)
    log.info("planner_invitation_revoked", invitation_id=invitation_id, account_id=access.account_id)
    return outcome(request, "Invitation withdrawn: its link no longer works.", redirect_to=PAGE)


@post("/team/members/{user_id:int}/role", name="planner.member_role", status_code=303)
async def change_role(
    request: Request[Any, Any, Any], user_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Change a member's role here (core.access.accounts.change_role: applies at their next request, audited)."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    role = _role(await _field(request, "role"))
    try:
        await accounts_core.change_role(uow.session, runtime.clock, access, user_id=user_id, role=role)
    except Conflict as exc:
        await uow.rollback()
        log.info("planner_role_refused", user_id=user_id, code=exc.code)
        return outcome(request, refusal(exc), redirect_to=PAGE, kind="error")
    person = await accounts_core.get_user(uow.session, user_id)
    log.info("planner_role_changed", user_id=user_id, account_id=access.account_id, role=role.value)
    return outcome(request, f"{person.name} is now {role.value} here.", redirect_to=PAGE)


@get("/team/members/{user_id:int}/remove", name="planner.member_remove_confirm")
async def confirm_remove(
    request: Request[Any, Any, Any], user_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Template:
    """The confirm step before taking someone out of the venue."""
    await require_role(request, viewer, runtime, uow, Role.admin)
    return await _page(request, viewer, runtime, uow, removing=user_id)


@post("/team/members/{user_id:int}/remove", name="planner.member_remove", status_code=303)
async def remove(
    request: Request[Any, Any, Any], user_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Take a person out of this venue (core.access.accounts.remove_member; their other venues are untouched)."""
    access = await require_role(request, viewer, runtime, uow, Role.admin)
    try:
        await accounts_core.remove_member(uow.session, runtime.clock, access, user_id=user_id)
    except Conflict as exc:
        await uow.rollback()
        log.info("planner_remove_refused", user_id=user_id, code=exc.code)
        return outcome(request, refusal(exc), redirect_to=PAGE, kind="error")
    name = (await accounts_core.get_user(uow.session, user_id)).name
    log.info("planner_member_removed", user_id=user_id, account_id=access.account_id)
    return outcome(request, f"{name} no longer has access to {viewer.venue.name}.", redirect_to=PAGE)


routes = [team_page, invite, revoke, change_role, confirm_remove, remove]
