"""`cheers retry TARGET_ID`, `cheers posts list` and `cheers posts approve|reject`: the on-call engineer's view of
deliveries, and an operator's approval decision."""

from __future__ import annotations

from typing import Any

import click

from api.cli_support import emit, run_in_uow, with_operator
from core.access.policy import VenueAccess, operator_access
from core.errors import NotFound
from core.posts import approval
from core.posts import views as post_views
from core.posts.views import PostView
from core.publishing import actions as delivery_actions
from core.runtime import Runtime
from storage.models import Post, PostTarget
from storage.uow import UnitOfWork


def register(cli: click.Group) -> None:
    """Add the publishing commands to the `cheers` group."""

    @cli.command("retry")
    @click.argument("target_id", type=int)
    @click.pass_context
    def retry(ctx: click.Context, target_id: int) -> None:
        """Send a failed, missed, in-doubt or waiting delivery again (idempotent; refuses a live one)."""

        async def go(rt: Runtime, uow: UnitOfWork) -> dict[str, Any]:
            target = await uow.session.get(PostTarget, target_id)
            if target is None:
                raise NotFound(f"delivery {target_id} not found")
            # Operators act across venues; the audit entries record the CLI as the front door.
            access = await operator_access(uow.session, rt.clock, target.account_id, purpose=ctx.command_path)
            result = await delivery_actions.retry_target(rt, uow.session, access, target_id)
            return {"target_id": target_id, "status": result.target.status.value, "changed": result.changed,
                    "message": result.message}  # fmt: skip

        data = run_in_uow(go)
        emit(ctx, data, data["message"])

    @cli.group()
    def posts() -> None:
        """Scheduled posts and their deliveries."""

    @posts.command("list")
    @click.option("--account", "account_id", type=int, required=True)
    @click.option("--status", default=None, help="Only posts with a delivery in this status.")
    @click.option("--connection", "connection_id", type=int, default=None, help="Only posts to this connection id.")
    @click.option("--week", default=None, help="'this', 'next' or a date (YYYY-MM-DD): that week in the venue's zone.")
    @click.pass_context
    def posts_list(
        ctx: click.Context, account_id: int, status: str | None, connection_id: int | None, week: str | None
    ) -> None:
        """A venue's posts with each delivery's status and reason."""

        async def go(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> list[PostView]:
            return await post_views.list_posts(
                uow.session, access, status=status, connection_id=connection_id, week=week, clock=rt.clock
            )

        listed = with_operator(ctx, account_id, go)
        lines = []
        for v in listed:
            lines.append(
                f"post {v.id} at {v.scheduled_local} ({v.scheduled_at:%Y-%m-%d %H:%M} UTC), {v.status}"
                f"{_approval(v)}: {v.excerpt}"
            )
            lines += [
                f"  delivery {d.target_id:>5} {d.status:<16} {d.connection_label}{f': {d.note}' if d.note else ''}"
                for d in v.deliveries
            ]
        emit(ctx, {"posts": [_listed(v) for v in listed]}, "\n".join(lines) or "no posts")

    @posts.command("approve")
    @click.argument("post_id", type=int)
    @click.pass_context
    def posts_approve(ctx: click.Context, post_id: int) -> None:
        """Approve a post waiting for approval: it goes out at its time (refused, naming who, if already decided)."""
        emit_decision(ctx, post_id, None)

    @posts.command("reject")
    @click.argument("post_id", type=int)
    @click.option("--reason", required=True, help="Why, in words the post's author reads.")
    @click.pass_context
    def posts_reject(ctx: click.Context, post_id: int, reason: str) -> None:
        """Reject a post waiting for approval, with the reason: it is not sent and its author is told why."""
        emit_decision(ctx, post_id, reason)


def emit_decision(ctx: click.Context, post_id: int, reason: str | None) -> None:
    """Approve (no reason) or reject the post as the operator, in the post's own venue, and print the outcome."""

    async def go(rt: Runtime, uow: UnitOfWork) -> dict[str, Any]:
        post = await uow.session.get(Post, post_id)
        if post is None:
            raise NotFound(f"post {post_id} not found")
        # Operators act across venues; the audit entries record the CLI as the front door.
        access = await operator_access(uow.session, rt.clock, post.account_id, purpose=ctx.command_path)
        if reason is None:
            decision = await approval.approve(rt, uow.session, access, post_id)
        else:
            decision = await approval.reject(rt, uow.session, access, post_id, reason)
        return {"post_id": post_id, "approval": decision.approval, "reason": decision.note,
                "missed": decision.missed, "message": decision.message}  # fmt: skip

    data = run_in_uow(go)
    emit(ctx, data, data["message"])


def _listed(view: PostView) -> dict[str, Any]:
    """One post of `cheers posts list --json`."""
    return {
        "post_id": view.id,
        "scheduled_at": view.scheduled_at,
        "scheduled_local": view.scheduled_local,
        "status": view.status.value,
        "approval": view.approval,
        "approval_note": view.approval_note,
        "text": view.excerpt,
        "deliveries": [
            {
                "target_id": d.target_id,
                "connection_id": d.connection_id,
                "connection": d.connection_label,
                "provider": d.provider,
                "status": d.status.value,
                "note": d.note,
                "remedy": d.remedy,
                "permalink": d.permalink,
            }
            for d in view.deliveries
        ],
    }


def _approval(view: PostView) -> str:
    """The post's approval state in a listing line: ", waiting for approval", ", rejected (reason)", or nothing."""
    if view.approval == "pending":
        return ", waiting for approval"
    if view.approval == "rejected":
        return f", rejected ({view.approval_note})"
    return ", approved" if view.approval == "approved" else ""
