"""Venues and their members; every route checks the caller's role in the venue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response, delete, get, patch, post
from pydantic import BaseModel, Field

from api.deps import require
from api.problems import problem
from core.access import accounts as accounts_core
from core.access import auth as auth_core
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.runtime import Runtime
from storage.models import Account, Membership, Role, User
from storage.uow import UnitOfWork


class AccountIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(description="IANA timezone, e.g. Europe/London", examples=["Europe/London"])


class AccountPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = None
    approve_editor_posts: bool | None = Field(
        None, description="Posts by editors wait for an admin's or owner's approval (docs/weekly.md#approvals)"
    )
    approve_weekly_posts: bool | None = Field(
        None, description="Posts made from the weekly plan wait for an admin's or owner's approval"
    )


class AccountOut(BaseModel):
    id: int
    name: str
    timezone: str
    created_at: datetime
    your_role: str
    approve_editor_posts: bool = False
    approve_weekly_posts: bool = False


@post("/api/accounts", tags=["accounts"], summary="Create a venue; you become its owner (any signed-in person)")
async def create_account(data: AccountIn, actor: Actor, runtime: Runtime, uow: UnitOfWork) -> AccountOut:
    account = await accounts_core.create_account(
        uow.session, runtime.clock, actor, name=data.name, timezone=data.timezone, owner_user_id=actor.user_id
    )
    return _account_out(account, Role.owner)


@get(
    "/api/accounts/{account_id:int}",
    tags=["accounts"],
    summary="One venue",
    dependencies={"access": require(Role.viewer)},
)
async def get_account(account_id: int, access: VenueAccess, uow: UnitOfWork) -> AccountOut:
    account = await accounts_core.get_account(uow.session, access)
    return _account_out(account, access.role)


@patch(
    "/api/accounts/{account_id:int}",
    tags=["accounts"],
    summary="Rename a venue, change its timezone, or which posts wait for approval (admin)",
    dependencies={"access": require(Role.admin)},
)
async def update_account(
    account_id: int, data: AccountPatch, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> AccountOut:
    account = await accounts_core.update_account(
        uow.session,
        runtime.clock,
        access,
        name=data.name,
        timezone=data.timezone,
        approve_editor_posts=data.approve_editor_posts,
        approve_weekly_posts=data.approve_weekly_posts,
    )
    return _account_out(account, access.role)


def _account_out(account: Account, role: Role) -> AccountOut:
    return AccountOut(
        id=account.id,
        name=account.name,
        timezone=account.timezone,
        created_at=account.created_at,
        your_role=role.value,
        approve_editor_posts=account.approve_editor_posts,
        approve_weekly_posts=account.approve_weekly_posts,
    )


class MemberOut(BaseModel):
    user_id: int
    name: str
    email: str | None
    role: str
    since: datetime


def _member_out(membership: Membership, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id, name=user.name, email=user.email, role=membership.role.value, since=membership.created_at
    )


class RoleIn(BaseModel):
    role: Role


@get(
    "/api/accounts/{account_id:int}/members",
    tags=["accounts"],
    summary="People in a venue and their roles",
    dependencies={"access": require(Role.viewer)},
)
async def list_members(account_id: int, access: VenueAccess, uow: UnitOfWork) -> list[MemberOut]:
    return [_member_out(m, u) for m, u in await accounts_core.members(uow.session, access)]


@post(
    "/api/accounts/{account_id:int}/members",
    tags=["accounts"],
    summary="Gone: people join a venue by accepting an invitation",
    status_code=410,
    include_in_schema=False,
)
async def add_member_gone(account_id: int, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    # Adding someone by id put them in a venue without their consent; the route answers, so old clients learn why.
    return problem(
        request,
        410,
        "people can no longer be added to a venue directly; they join by accepting an invitation",
        code="gone",
        remedy=f"POST /api/accounts/{account_id}/invitations with their e-mail and role, and hand them the link",
    )


@patch(
    "/api/accounts/{account_id:int}/members/{user_id:int}",
    tags=["accounts"],
    summary="Change a member's role in this venue (applies at their next request)",
    dependencies={"access": require(Role.admin)},
)
async def change_role(
    account_id: int, user_id: int, data: RoleIn, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> MemberOut:
    membership = await accounts_core.change_role(uow.session, runtime.clock, access, user_id=user_id, role=data.role)
    return _member_out(membership, await accounts_core.get_user(uow.session, user_id))


@delete(
    "/api/accounts/{account_id:int}/members/{user_id:int}",
    tags=["accounts"],
    summary="Remove a person from a venue",
    dependencies={"access": require(Role.admin)},
    status_code=204,
)
async def remove_member(account_id: int, user_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> None:
    await accounts_core.remove_member(uow.session, runtime.clock, access, user_id=user_id)


class LoginLinkOut(BaseModel):
    url: str
    expires_in_minutes: int


@post(
    "/api/accounts/{account_id:int}/members/{user_id:int}/login-link",
    tags=["accounts"],
    summary="Issue a one-time login link for a member",
    dependencies={"access": require(Role.admin)},
)
async def member_login_link(
    account_id: int, user_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> LoginLinkOut:
    await accounts_core.require_login_link_target(uow.session, access, user_id)
    link = await auth_core.issue_login_link(
        uow.session, runtime.clock, runtime.settings, access.actor, user_id=user_id, account_id=access.account_id
    )
    return LoginLinkOut(url=link.url, expires_in_minutes=link.expires_in_minutes)


routes = [
    create_account,
    get_account,
    update_account,
    list_members,
    add_member_gone,
    change_role,
    remove_member,
    member_login_link,
]
