"""Who may do what in which venue: one check shared by every front door."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.clock import Clock
from core.errors import NotFound, PermissionDenied
from storage.models import Channel, Role
from storage.queries import accounts as accounts_q


@dataclass(frozen=True)
class VenueAccess:
    """Proof that `actor` may act in `account_id` with at least the role asked for."""

    actor: Actor
    account_id: int
    role: Role
    staff_override: bool = False

    async def record(self, session: AsyncSession, clock: Clock, action: str, **details: Any) -> None:
        """Audit an action taken with this access: actor, venue and staff override filled in."""
        await audit.record(
            session,
            clock,
            self.actor,
            action,
            account_id=self.account_id,
            staff_override=self.staff_override,
            **details,
        )


OPERATOR = Actor(user_id=None, channel=Channel.cli, is_staff=True)
"""The service operator at the shell: no person row, may act in any venue, every such use audited."""


async def authorize(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    account_id: int,
    minimum: Role,
    *,
    purpose: str,
) -> VenueAccess:
    """Check the actor's role in a venue; another venue answers NotFound, never 'forbidden'.

    Staff may act in any venue, beyond any role they hold; each such use is audited with `purpose`.
    """
    if actor.user_id is None:
        raise NotFound("venue not found")
    membership = await accounts_q.get_membership(session, account_id, actor.user_id)
    if membership is not None and membership.role.at_least(minimum):
        return VenueAccess(actor=actor, account_id=account_id, role=membership.role)
    # Staff act beyond their own role (or without one), and every such use is on the record.
    if actor.is_staff and await accounts_q.get_account(session, account_id) is not None:
        await audit.record(
            session, clock, actor, "staff_access", account_id=account_id, staff_override=True, purpose=purpose
        )
        return VenueAccess(actor=actor, account_id=account_id, role=Role.owner, staff_override=True)
    if membership is not None:
        raise PermissionDenied(
            f"this needs the {minimum.value} role in this venue; you are {membership.role.value}",
            remedy="ask an owner or admin of the venue to change your role",
        )
    raise NotFound("venue not found")


async def default_account_id(session: AsyncSession, actor: Actor) -> int | None:
    """The venue to act in when none was named: the person's only venue, if they have exactly one."""
    if actor.user_id is None:
        return None
    memberships = await accounts_q.memberships_of_user(session, actor.user_id)
    return memberships[0][1].id if len(memberships) == 1 else None


async def operator_access(
    session: AsyncSession, clock: Clock, account_id: int, *, purpose: str, on_behalf_of: int | None = None
) -> VenueAccess:
    """Owner rights in an existing venue for the service operator (channel cli), audited as staff access.

    `on_behalf_of` names the person the action belongs to (a consent link is for a person); the audit entry
    for the access itself names the operator, never that person.
    """
    if await accounts_q.get_account(session, account_id) is None:
        raise NotFound(f"venue {account_id} not found")
    extra: dict[str, Any] = {} if on_behalf_of is None else {"on_behalf_of": on_behalf_of}
    await audit.record(
        session, clock, OPERATOR, "staff_access", account_id=account_id, staff_override=True, purpose=purpose, **extra
    )
    actor = OPERATOR if on_behalf_of is None else Actor(user_id=on_behalf_of, channel=Channel.cli)
    return VenueAccess(actor=actor, account_id=account_id, role=Role.owner, staff_override=True)
