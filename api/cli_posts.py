"""`cheers retry TARGET_ID` and `cheers posts list`: the on-call engineer's view of deliveries."""

from __future__ import annotations

from typing import Any

import click

from api.cli_support import emit, run_in_uow
from core.access.policy import operator_access
from core.errors import NotFound
from core.publishing import actions as delivery_actions
from core.runtime import Runtime
from storage.models import PostTarget
from storage.queries import posts as posts_q
from storage.uow import UnitOfWork


def register(cli: click.Group) -> None:
    """Add the publishing commands to the `cheers` group."""
    from api.cli import _emit, _run

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
    @click.pass_context
    def posts_list(ctx: click.Context, account_id: int, status: str | None) -> None:
        """A venue's posts with each delivery's status and reason."""
        from storage.models import DeliveryStatus

        wanted = DeliveryStatus(status) if status else None

        async def go(rt: Runtime) -> list[dict[str, Any]]:
            async with rt.uow() as uow:
                rows = await posts_q.list_for_account(uow.session, account_id, status=wanted)
                targets = await posts_q.targets_for_posts(uow.session, [p.id for p in rows])
                return [
                    {
                        "post_id": p.id,
                        "scheduled_at": p.scheduled_at,
                        "text": p.text[:60],
                        "deliveries": [
                            {
                                "target_id": t.id,
                                "provider": t.provider.value,
                                "status": t.status.value,
                                "note": t.note,
                                "permalink": t.permalink,
                            }
                            for t in targets
                            if t.post_id == p.id
                        ],
                    }
                    for p in rows
                ]

        rows = _run(go)
        lines = []
        for r in rows:
            lines.append(f"post {r['post_id']} at {r['scheduled_at']:%Y-%m-%d %H:%M} UTC: {r['text']}")
            lines += [
                f"  delivery {d['target_id']:>5} {d['provider']:<16} {d['status']:<16} {d['note'] or ''}"
                for d in r["deliveries"]
            ]
        _emit(ctx, {"posts": rows}, "\n".join(lines) or "no posts")
