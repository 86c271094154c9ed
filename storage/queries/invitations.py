"""Queries for invitations: a venue's offer of a role, accepted once by the person it was sent to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Invitation, Membership, Role, User


async def add_invitation(
    session: AsyncSession,
    *,
    account_id: int,
    email: str,
    role: Role,
    token_hash: str,
    invited_by_user_id: int | None,
    expires_at: datetime,
) -> Invitation:
    invitation = Invitation(
        account_id=account_id,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by_user_id=invited_by_user_id,
        expires_at=expires_at,
    )
    session.add(invitation)
    await session.flush()
    return invitation


async def by_token_hash(session: AsyncSession, token_hash: str) -> Invitation | None:
    result = await session.execute(select(Invitation).where(Invitation.token_hash == token_hash))
    return result.scalar_one_or_none()


async def get_invitation(session: AsyncSession, account_id: int, invitation_id: int) -> Invitation | None:
    """One invitation of the venue; another venue's ids are simply not found."""
    result = await session.execute(
        select(Invitation).where(Invitation.id == invitation_id, Invitation.account_id == account_id)
    )
    return result.scalar_one_or_none()


async def pending_of_account(
    session: AsyncSession, account_id: int, now: datetime, *, email: str | None = None
) -> Sequence[Invitation]:
    """Invitations neither accepted, revoked nor expired, oldest first (only those for `email` when given)."""
    query = select(Invitation).where(
        Invitation.account_id == account_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > now,
    )
    if email is not None:
        query = query.where(Invitation.email == email)
    result = await session.execute(query.order_by(Invitation.id))
    return result.scalars().all()


async def mark_accepted(session: AsyncSession, *, invitation_id: int, user_id: int, now: datetime) -> bool:
    """Use the invitation; False when another request used, revoked or outlived it first (single use under races)."""
    result = await session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now, accepted_by_user_id=user_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_revoked(session: AsyncSession, *, invitation_id: int, now: datetime) -> bool:
    """Withdraw a pending invitation; False when it was accepted or revoked already."""
    result = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def is_member_by_email(session: AsyncSession, account_id: int, email: str) -> bool:
    """Whether the venue already has a member with this e-mail address."""
    result = await session.execute(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.account_id == account_id, User.email == email)
    )
    return result.first() is not None
