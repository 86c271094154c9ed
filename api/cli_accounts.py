"""`cheers accounts|users|tokens|login-link|invite`: setting up venues and people from the shell."""

from __future__ import annotations

from typing import Any

import click

from api.cli_support import emit, run_in_uow, with_operator
from core.access import accounts as accounts_core
from core.access import auth as auth_core
from core.access import invitations as invitations_core
from core.access import policy
from core.access.policy import OPERATOR, VenueAccess
from core.runtime import Runtime
from storage.models import Role
from storage.uow import UnitOfWork


@click.group()
def accounts() -> None:
    """Venues."""


@accounts.command("create")
@click.option("--name", required=True)
@click.option("--timezone", required=True, help="IANA name, e.g. Europe/London")
@click.pass_context
def accounts_create(ctx: click.Context, name: str, timezone: str) -> None:
    """Create a venue."""

    async def go(rt: Runtime, uow: UnitOfWork) -> Any:
        return await accounts_core.create_account(
            uow.session, rt.clock, OPERATOR, name=name, timezone=timezone, owner_user_id=None
        )

    account = run_in_uow(go)
    emit(
        ctx,
        {"id": account.id, "name": account.name, "timezone": account.timezone},
        f"created venue {account.id}: {account.name} ({account.timezone})",
    )


@accounts.command("approvals")
@click.argument("account_id", type=int)
@click.option("--editor-posts/--no-editor-posts", default=None, help="Posts by editors wait for an admin or owner.")
@click.option("--weekly-posts/--no-weekly-posts", default=None, help="Posts made from the weekly plan wait too.")
@click.pass_context
def accounts_approvals(
    ctx: click.Context, account_id: int, editor_posts: bool | None, weekly_posts: bool | None
) -> None:
    """Show or change which of a venue's posts wait for approval (docs/weekly.md#approvals)."""

    async def go(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> Any:
        return await accounts_core.update_account(
            uow.session, rt.clock, access, name=None, timezone=None,
            approve_editor_posts=editor_posts, approve_weekly_posts=weekly_posts,
        )  # fmt: skip

    account = with_operator(ctx, account_id, go)
    data = {
        "id": account.id,
        "approve_editor_posts": account.approve_editor_posts,
        "approve_weekly_posts": account.approve_weekly_posts,
    }
    yes = {True: "wait for approval", False: "go out without approval"}
    emit(
        ctx,
        data,
        f"venue {account.id}: editors' posts {yes[account.approve_editor_posts]}; "
        f"weekly-plan posts {yes[account.approve_weekly_posts]}",
    )


@click.group()
def users() -> None:
    """People and their roles."""


@users.command("create")
@click.option("--account", "account_id", type=int, help="Venue to add the person to.")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), help="Role in the venue.")
@click.option("--email")
@click.option("--staff", is_flag=True, help="A service operator (may act in any venue, audited).")
@click.pass_context
def users_create(
    ctx: click.Context, account_id: int | None, name: str, role: str | None, email: str | None, staff: bool
) -> None:
    """Create a person, and give them a role in a venue."""
    if account_id is None and not staff:
        raise click.UsageError("--account is required (or --staff for an operator)")
    if account_id is not None and role is None:
        raise click.UsageError("--role is required with --account")

    async def go(rt: Runtime, uow: UnitOfWork) -> Any:
        # The venue is checked (and the operator's access audited) before anyone is created.
        access = (
            None
            if account_id is None
            else await policy.operator_access(uow.session, rt.clock, account_id, purpose=ctx.command_path)
        )
        user = await accounts_core.create_user(uow.session, rt.clock, OPERATOR, name=name, email=email, is_staff=staff)
        if access is not None and role is not None:
            await accounts_core.add_member(uow.session, rt.clock, access, user_id=user.id, role=Role(role))
        return user

    user = run_in_uow(go)
    emit(
        ctx,
        {"id": user.id, "name": user.name, "account": account_id, "role": role, "staff": staff},
        f"created person {user.id}: {user.name}"
        + (f" as {role} of venue {account_id}" if account_id else "")
        + (" (staff)" if staff else ""),
    )


@click.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.option("--user", "user_id", type=int, required=True)
@click.option("--name", default="cli", show_default=True)
@click.pass_context
def tokens_create(ctx: click.Context, user_id: int, name: str) -> None:
    """Create an API token for a person (printed once)."""

    async def go(rt: Runtime, uow: UnitOfWork) -> tuple[int, str]:
        token, raw = await auth_core.create_api_token(uow.session, rt.clock, OPERATOR, user_id=user_id, name=name)
        return token.id, raw

    token_id, raw = run_in_uow(go)
    emit(ctx, {"id": token_id, "token": raw}, raw)


@click.command("login-link")
@click.option("--user", "user_id", type=int, required=True)
@click.pass_context
def login_link(ctx: click.Context, user_id: int) -> None:
    """Issue a one-time login link for a person."""

    async def go(rt: Runtime, uow: UnitOfWork) -> Any:
        return await auth_core.issue_login_link(uow.session, rt.clock, rt.settings, OPERATOR, user_id=user_id)

    link = run_in_uow(go)
    emit(
        ctx,
        {"url": link.url, "expires_in_minutes": link.expires_in_minutes},
        f"{link.url}\n(valid for {link.expires_in_minutes} minutes, once)",
    )


@click.command("invite")
@click.option("--account", "account_id", type=int, required=True, help="Venue to invite the person to.")
@click.option("--email", required=True, help="Their e-mail address: only a person with it (or a new one) can accept.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True, help="Role in the venue.")
@click.pass_context
def invite(ctx: click.Context, account_id: int, email: str, role: str) -> None:
    """Invite someone to a venue: prints the link to hand them (they accept it themselves)."""

    async def go(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> invitations_core.IssuedInvitation:
        return await invitations_core.invite(uow.session, rt.clock, rt.settings, access, email=email, role=Role(role))

    issued = with_operator(ctx, account_id, go)
    invitation = issued.invitation
    emit(
        ctx,
        {
            "id": invitation.id,
            "email": invitation.email,
            "role": invitation.role.value,
            "expires_at": invitation.expires_at,
            "url": issued.url,
        },
        f"{issued.url}\n(invites {invitation.email} as {invitation.role.value} of venue {account_id}; "
        f"valid once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC)",
    )


def register(cli: click.Group) -> None:
    """Add the venue and people commands to the `cheers` group."""
    for command in (accounts, users, tokens, login_link, invite):
        cli.add_command(command)
