"""Queries for venues, people and memberships."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Membership, Role, User


async def add_account(session: AsyncSession, *, name: str, timezone: str) -> Account:
    account = Account(name=name, timezone=timezone)
    session.add(account)
    await session.flush()
    return account


async def get_account(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id)


async def add_user(session: AsyncSession, *, name: str, email: str | None, is_staff: bool = False) -> User:
    user = User(name=name, email=email, is_staff=is_staff)
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


async def get_membership(session: AsyncSession, account_id: int, user_id: int) -> Membership | None:
    result = await session.execute(
        select(Membership).where(Membership.account_id == account_id, Membership.user_id == user_id)
    )
    return result.scalar_one_or_none()


async def add_membership(
    session: AsyncSession, *, account_id: int, user_id: int, role: Role, at: datetime
) -> Membership:
    """A person's role in a venue from `at` (the caller's clock, so "member since" follows the injected clock)."""
    membership = Membership(account_id=account_id, user_id=user_id, role=role, created_at=at)
    session.add(membership)
    await session.flush()
    return membership


async def memberships_of_user(session: AsyncSession, user_id: int) -> Sequence[tuple[Membership, Account]]:
    result = await session.execute(
        select(Membership, Account)
        .join(Account, Account.id == Membership.account_id)
        .where(Membership.user_id == user_id)
        .order_by(Account.name, Account.id)
    )
    return [(m, a) for m, a in result.all()]


async def members_of_account(session: AsyncSession, account_id: int) -> Sequence[tuple[Membership, User]]:
    result = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.account_id == account_id)
        .order_by(User.name, User.id)
    )
    return [(m, u) for m, u in result.all()]


async def count_owners(session: AsyncSession, account_id: int) -> int:
    result = await session.execute(
        select(Membership.id).where(Membership.account_id == account_id, Membership.role == Role.owner)
    )
    return len(result.all())


async def delete_membership(session: AsyncSession, membership: Membership) -> None:
    await session.delete(membership)
    await session.flush()
