"""Invitations: the only way a person joins a venue they did not create; they accept it themselves.

An admin or owner invites an e-mail address with a role and hands the link over (there is no e-mail sending
yet, as with login links). The link is single use, expires after `INVITATION_TTL`, and only its SHA-256 is
stored. Inviting never looks people up, so its answer is the same whether or not the address has a sign-in.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from core.access import accounts as accounts_core
from core.access import audit
from core.access import auth as auth_core
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.clock import Clock
from core.errors import AuthenticationRequired, Conflict, Invalid, NotFound, PermissionDenied
from core.settings import Settings
from storage.models import Channel, Invitation, Role, User
from storage.queries import accounts as accounts_q
from storage.queries import invitations as invitations_q

INVITATION_TTL = timedelta(days=7)
INVITE_PATH = "/invite/"


class InvitationState(StrEnum):
    valid = "valid"
    accepted = "accepted"
    expired = "expired"
    revoked = "revoked"
    invalid = "invalid"


STATE_MESSAGES = {
    InvitationState.accepted: "This invitation has already been used.",
    InvitationState.expired: "This invitation has expired.",
    InvitationState.revoked: "This invitation was withdrawn by the venue.",
    InvitationState.invalid: "This invitation link is not valid. Check you copied all of it.",
}
STATE_REMEDY = "ask the person who invited you for a new invitation"


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation and its link: the only time the link exists (only its hash is stored)."""

    invitation: Invitation
    url: str


@dataclass(frozen=True)
class InvitationView:
    """What an invitation link shows before anyone accepts it (reading it changes nothing)."""

    state: InvitationState
    invitation: Invitation | None = None
    account_name: str = ""
    invited_by: str = ""


@dataclass(frozen=True)
class Accepted:
    """Who joined which venue with what role; `new_session` when the person was created (and signed in) here."""

    user: User
    account_id: int
    account_name: str
    role: Role
    new_session: auth_core.NewSession | None = None


async def invite(
    session: AsyncSession, clock: Clock, settings: Settings, access: VenueAccess, *, email: str, role: Role
) -> IssuedInvitation:
    """Invite an e-mail address to the venue with a role; a newer invitation to the same address replaces older ones."""
    accounts_core.check_can_manage(access, role, "invite")
    email = accounts_core.validate_email(email)
    # Only this venue's members are looked at, whom an admin can list anyway: nothing about other people leaks.
    if await invitations_q.is_member_by_email(session, access.account_id, email):
        raise Conflict(f"{email} is already a member of this venue", remedy="change their role instead", field="email")
    now = clock.now()
    for older in await invitations_q.pending_of_account(session, access.account_id, now, email=email):
        await invitations_q.mark_revoked(session, invitation_id=older.id, now=now)
        await access.record(
            session, clock, "invitation_revoked", subject_type="invitation", subject_id=older.id, replaced=True
        )
    raw = secrets.token_urlsafe(32)
    invitation = await invitations_q.add_invitation(
        session,
        account_id=access.account_id,
        email=email,
        role=role,
        token_hash=auth_core.hash_token(raw),
        invited_by_user_id=access.actor.user_id,
        expires_at=now + INVITATION_TTL,
    )
    await access.record(
        session,
        clock,
        "member_invited",
        subject_type="invitation",
        subject_id=invitation.id,
        email=email,
        role=role.value,
    )
    return IssuedInvitation(invitation=invitation, url=f"{settings.cheers_public_url}{INVITE_PATH}{raw}")


async def pending(session: AsyncSession, clock: Clock, access: VenueAccess) -> Sequence[Invitation]:
    """The venue's invitations still waiting to be accepted (not used, withdrawn or expired)."""
    return await invitations_q.pending_of_account(session, access.account_id, clock.now())


async def revoke(session: AsyncSession, clock: Clock, access: VenueAccess, *, invitation_id: int) -> None:
    """Withdraw a pending invitation: its link then says so."""
    invitation = await invitations_q.get_invitation(session, access.account_id, invitation_id)
    if invitation is None or invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise NotFound(f"no pending invitation {invitation_id} in this venue")
    accounts_core.check_can_manage(access, invitation.role, "revoke_invitation")
    if not await invitations_q.mark_revoked(session, invitation_id=invitation.id, now=clock.now()):
        raise NotFound(f"no pending invitation {invitation_id} in this venue")
    await access.record(
        session,
        clock,
        "invitation_revoked",
        subject_type="invitation",
        subject_id=invitation.id,
        email=invitation.email,
    )


def _state(invitation: Invitation | None, clock: Clock) -> InvitationState:
    if invitation is None:
        return InvitationState.invalid
    if invitation.accepted_at is not None:
        return InvitationState.accepted
    if invitation.revoked_at is not None:
        return InvitationState.revoked
    if invitation.expires_at <= clock.now():
        return InvitationState.expired
    return InvitationState.valid


async def inspect(session: AsyncSession, clock: Clock, raw_token: str) -> InvitationView:
    """The venue, role and inviter an invitation link offers, and whether it can still be used; never uses it."""
    invitation = await invitations_q.by_token_hash(session, auth_core.hash_token(raw_token)) if raw_token else None
    state = _state(invitation, clock)
    if invitation is None:
        return InvitationView(state=state)
    account = await accounts_q.get_account(session, invitation.account_id)
    inviter = (
        await accounts_q.get_user(session, invitation.invited_by_user_id)
        if invitation.invited_by_user_id is not None
        else None
    )
    return InvitationView(
        state=state,
        invitation=invitation,
        account_name=account.name if account is not None else "",
        invited_by=inviter.name if inviter is not None else "the CheersAI team",
    )


def _refuse_unusable(view: InvitationView) -> tuple[Invitation, str]:
    if view.state is not InvitationState.valid or view.invitation is None:
        raise Invalid(STATE_MESSAGES[view.state], remedy=STATE_REMEDY, invitation_state=view.state.value)
    return view.invitation, view.account_name


async def accept(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    raw_token: str,
    *,
    signed_in: User | None,
    channel: Channel,
    new_person_name: str | None = None,
) -> Accepted:
    """Join the venue with the invited role, once.

    Signed in: that person joins, unless their e-mail differs from the invitation's. Not signed in: a new person
    with the invited e-mail is created (with `new_person_name`), joins and gets a session; when the address
    already has a sign-in, they are asked to sign in first.
    """
    invitation, account_name = _refuse_unusable(await inspect(session, clock, raw_token))
    user = signed_in
    if user is not None:
        if user.email and user.email.lower() != invitation.email:
            raise PermissionDenied(
                f"this invitation is for {invitation.email}; you are signed in as {user.email}",
                remedy=f"sign out and open the link again, or ask for an invitation to {user.email}",
            )
        existing = await accounts_q.get_membership(session, invitation.account_id, user.id)
        if existing is not None:
            raise Conflict(
                f"you already belong to {account_name} as {existing.role.value}",
                remedy="ask an owner or admin of the venue if you need another role",
            )
    elif await accounts_q.get_user_by_email(session, invitation.email) is not None:
        raise AuthenticationRequired(
            f"{invitation.email} already has a CheersAI sign-in",
            remedy="sign in first (with your login link), then open this invitation link again",
        )
    elif not (new_person_name or "").strip():
        raise Invalid("tell us your name to join", remedy="type your name and press Join", field="name")
    if user is None:
        user = await accounts_core.create_user(
            session, clock, Actor(user_id=None, channel=channel), name=new_person_name or "", email=invitation.email
        )
    if not await invitations_q.mark_accepted(session, invitation_id=invitation.id, user_id=user.id, now=clock.now()):
        raise Invalid(
            STATE_MESSAGES[InvitationState.accepted],
            remedy=STATE_REMEDY,
            invitation_state=InvitationState.accepted.value,
        )
    await accounts_q.add_membership(
        session, account_id=invitation.account_id, user_id=user.id, role=invitation.role, at=clock.now()
    )
    await audit.record(
        session,
        clock,
        Actor(user_id=user.id, channel=channel, is_staff=user.is_staff),
        "invitation_accepted",
        account_id=invitation.account_id,
        subject_type="user",
        subject_id=user.id,
        invitation_id=invitation.id,
        role=invitation.role.value,
        invited_by_user_id=invitation.invited_by_user_id,
        new_person=signed_in is None,
    )
    new_session = await auth_core.start_session(session, clock, settings, user) if signed_in is None else None
    return Accepted(
        user=user,
        account_id=invitation.account_id,
        account_name=account_name,
        role=invitation.role,
        new_session=new_session,
    )
