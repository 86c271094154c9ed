"""Invitations: admins invite an e-mail address; the person opens the link and accepts (browser or API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from litestar import Request, Response, delete, get, post
from pydantic import BaseModel, Field

from api.deps import SESSION_COOKIE, require
from api.html import page
from api.origin import require_same_origin
from api.routes.login import session_cookies
from core.access import accounts as accounts_core
from core.access import auth as auth_core
from core.access import invitations as invitations_core
from core.access.audit import Actor
from core.access.invitations import InvitationState, InvitationView
from core.access.policy import VenueAccess
from core.errors import AuthenticationRequired, Conflict, DomainError, Invalid, PermissionDenied
from core.runtime import Runtime
from storage.models import Channel, Invitation, Role, User
from storage.uow import UnitOfWork

ROLE_WORDS = {
    Role.viewer: "can see the venue's posts and notifications",
    Role.editor: "can write and schedule posts",
    Role.admin: "can also manage connections and invite people",
    Role.owner: "can do everything, including managing admins and owners",
}


class InvitationIn(BaseModel):
    email: str = Field(max_length=320, description="The address of the person to invite")
    role: Role


class NewInvitationOut(BaseModel):
    id: int
    email: str
    role: str
    expires_at: datetime
    url: str = Field(description="Hand this link to the person (shown once; only its hash is kept)")


class InvitationOut(BaseModel):
    id: int
    email: str
    role: str
    expires_at: datetime
    created_at: datetime
    invited_by_user_id: int | None


class AcceptedOut(BaseModel):
    account_id: int
    account_name: str
    role: str
    user_id: int


def _invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role.value,
        expires_at=invitation.expires_at,
        created_at=invitation.created_at,
        invited_by_user_id=invitation.invited_by_user_id,
    )


@post(
    "/api/accounts/{account_id:int}/invitations",
    tags=["accounts"],
    summary="Invite an e-mail address to the venue with a role (returns the link to hand over)",
    dependencies={"access": require(Role.admin)},
)
async def create_invitation(
    account_id: int, data: InvitationIn, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> NewInvitationOut:
    issued = await invitations_core.invite(
        uow.session, runtime.clock, runtime.settings, access, email=data.email, role=data.role
    )
    invitation = issued.invitation
    return NewInvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role.value,
        expires_at=invitation.expires_at,
        url=issued.url,
    )


@get(
    "/api/accounts/{account_id:int}/invitations",
    tags=["accounts"],
    summary="The venue's invitations waiting to be accepted",
    dependencies={"access": require(Role.admin)},
)
async def list_invitations(
    account_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> list[InvitationOut]:
    return [_invitation_out(i) for i in await invitations_core.pending(uow.session, runtime.clock, access)]


@delete(
    "/api/accounts/{account_id:int}/invitations/{invitation_id:int}",
    tags=["accounts"],
    summary="Withdraw a pending invitation (its link stops working)",
    dependencies={"access": require(Role.admin)},
    status_code=204,
)
async def revoke_invitation(
    account_id: int, invitation_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> None:
    await invitations_core.revoke(uow.session, runtime.clock, access, invitation_id=invitation_id)


@post(
    "/api/invitations/{token:str}/accept",
    tags=["accounts"],
    summary="Accept an invitation as the signed-in person (API token or session)",
    status_code=200,
)
async def accept_invitation_api(token: str, actor: Actor, runtime: Runtime, uow: UnitOfWork) -> AcceptedOut:
    assert actor.user_id is not None  # the actor dependency always names a person
    user = await accounts_core.get_user(uow.session, actor.user_id)
    accepted = await invitations_core.accept(
        uow.session, runtime.clock, runtime.settings, token, signed_in=user, channel=actor.channel
    )
    return AcceptedOut(
        account_id=accepted.account_id,
        account_name=accepted.account_name,
        role=accepted.role.value,
        user_id=accepted.user.id,
    )


@dataclass(frozen=True)
class _Offer:
    """An invitation's page text, copied out of the session so it can be shown after a rollback."""

    venue: str
    role: Role
    email: str
    invited_by: str
    expires_at: datetime

    @classmethod
    def of(cls, view: InvitationView) -> _Offer:
        assert view.invitation is not None  # only valid invitations are offered
        invitation = view.invitation
        return cls(view.account_name, invitation.role, invitation.email, view.invited_by, invitation.expires_at)


@dataclass(frozen=True)
class _Viewer:
    """The signed-in person, copied out of the session like `_Offer`."""

    name: str
    email: str | None


async def _signed_in(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> User | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        _, user = await auth_core.resolve_session(uow.session, runtime.clock, raw)
    except DomainError:
        return None  # an ended session is no session
    return user


def _unusable_page(state: InvitationState) -> Response[str]:
    return page(
        "Invitation",
        f"<p>{escape(invitations_core.STATE_MESSAGES[state])}</p>"
        f"<p>To join the venue, {escape(invitations_core.STATE_REMEDY)}.</p>",
        status=400 if state is InvitationState.invalid else 410,
    )


def _viewer(user: User | None) -> _Viewer | None:
    return None if user is None else _Viewer(user.name, user.email)


def _offer_page(offer: _Offer, user: _Viewer | None, *, error: str = "", status: int = 200) -> Response[str]:
    venue, role = escape(offer.venue), offer.role.value
    body = (
        f"<p>{escape(offer.invited_by)} invited <strong>{escape(offer.email)}</strong> to join "
        f"<strong>{venue}</strong> as <strong>{role}</strong> ({escape(ROLE_WORDS[offer.role])}).</p>"
    )
    if error:
        body += f'<p role="alert"><strong>{escape(error)}</strong></p>'
    if user is not None and user.email and user.email.lower() != offer.email:
        body += (
            f"<p>This invitation is for {escape(offer.email)}; you are signed in as {escape(user.email)}.</p>"
            f'<p class="muted">Sign out and open the link again, or ask for an invitation to {escape(user.email)}.</p>'
        )
    elif user is not None:
        body += (
            f'<form method="post"><p>You are signed in as {escape(user.name)}.</p>'
            f'<button type="submit">Join {venue}</button></form>'
        )
    else:
        body += (
            '<form method="post"><p><label>Your name <input name="name" maxlength="200" required '
            'autocomplete="name"></label></p>'
            f'<button type="submit">Join {venue}</button></form>'
            '<p class="muted">Already use CheersAI? Sign in first with your login link, then open this link again.</p>'
        )
    body += (
        f'<p class="muted">The invitation works once, until {offer.expires_at:%d %b %Y %H:%M} UTC. '
        "Not expecting it? Close this page: nothing has changed.</p>"
    )
    return page(f"Join {offer.venue}", body, status=status)


@get(
    "/invite/{token:str}",
    tags=["auth"],
    summary="An invitation's page: the venue, the role, who invited (opening it changes nothing)",
    include_in_schema=False,
)
async def invitation_page(
    token: str, request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork
) -> Response[str]:
    # Link previews, chat unfurlers and mail scanners fetch with GET: it must never use the invitation.
    view = await invitations_core.inspect(uow.session, runtime.clock, token)
    if view.state is not InvitationState.valid:
        return _unusable_page(view.state)
    return _offer_page(_Offer.of(view), _viewer(await _signed_in(request, runtime, uow)))


_STATUSES: tuple[tuple[type[DomainError], int], ...] = (
    (AuthenticationRequired, 401),
    (PermissionDenied, 403),
    (Conflict, 409),
)


def _refusal_page(offer: _Offer, user: _Viewer | None, exc: DomainError) -> Response[str]:
    state = exc.extra.get("invitation_state")
    if state is not None:
        return _unusable_page(InvitationState(state))
    if isinstance(exc, Invalid):  # the name: ask again on the same form
        return _offer_page(offer, user, error=exc.message, status=422)
    status = next((code for kind, code in _STATUSES if isinstance(exc, kind)), 400)
    remedy = f'<p class="muted">{escape(exc.remedy)}</p>' if exc.remedy else ""
    return page(f"Join {offer.venue}", f"<p>{escape(exc.message)}.</p>{remedy}", status=status)


@post(
    "/invite/{token:str}",
    tags=["auth"],
    summary="Accept an invitation in the browser",
    include_in_schema=False,
    status_code=200,
)
async def invitation_accept(
    token: str, request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork
) -> Response[str]:
    # Another site posting the form would make this browser's person join (or sign a new person in here).
    require_same_origin(request, runtime.settings)
    view = await invitations_core.inspect(uow.session, runtime.clock, token)
    if view.state is not InvitationState.valid:
        return _unusable_page(view.state)
    offer = _Offer.of(view)
    user = await _signed_in(request, runtime, uow)
    viewer = _viewer(user)
    form = await request.form()
    try:
        accepted = await invitations_core.accept(
            uow.session,
            runtime.clock,
            runtime.settings,
            token,
            signed_in=user,
            channel=Channel.web,
            new_person_name=str(form.get("name") or ""),
        )
    except DomainError as exc:
        # Nothing of a refused acceptance is kept (a person created before a lost race, for one).
        await uow.rollback()
        return _refusal_page(offer, viewer, exc)
    response = page(
        f"Welcome to {accepted.account_name}",
        f"<p>You joined <strong>{escape(accepted.account_name)}</strong> as <strong>{accepted.role.value}</strong>, "
        f"signed in as {escape(accepted.user.name)}.</p>"
        '<p><a href="/">Go to CheersAI</a></p>',
    )
    if accepted.new_session is not None:
        for cookie in session_cookies(runtime, accepted.new_session):
            response.set_cookie(cookie)
    return response


routes = [
    create_invitation,
    list_invitations,
    revoke_invitation,
    accept_invitation_api,
    invitation_page,
    invitation_accept,
]
