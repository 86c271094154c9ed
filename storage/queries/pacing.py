"""SQL for pacing a connection (`connection_pacing`, shared across processes) and holding its waiting deliveries
behind a pause."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConnectionPacing, PostTarget
from storage.models.posts import CLAIMABLE
from storage.queries.deliveries import is_postgres


async def pace(
    session: AsyncSession,
    connection_id: int,
    *,
    not_before: datetime,
    now: datetime,
    usage_percent: int | None = None,
    reason: str | None = None,
) -> None:
    """Push the connection's next allowed call to at least `not_before` (never pulls it earlier).

    One upsert, so two workers pacing the same connection for the first time never collide on the insert.
    """
    params = pace_params(connection_id, not_before=not_before, now=now, usage_percent=usage_percent, reason=reason)
    await session.execute(pace_statement(is_postgres(session)), params)


def pace_params(
    connection_id: int, *, not_before: datetime, now: datetime, usage_percent: int | None = None, reason: str | None
) -> dict[str, Any]:
    """The bound values of `pace_statement` (also run as a CTE of the engine's attempt INSERT)."""
    return {
        "p_connection_id": connection_id,
        "p_next_allowed_at": not_before,
        "p_usage_percent": usage_percent,
        "p_reason": reason,
        "p_updated_at": now,
    }


@functools.cache
def pace_statement(postgres: bool) -> Any:
    """The pacing upsert, built once per dialect (it runs with every delivery while spacing is on)."""
    insert = (pg_insert if postgres else sqlite_insert)(ConnectionPacing).values(
        connection_id=bindparam("p_connection_id"),
        next_allowed_at=bindparam("p_next_allowed_at"),
        usage_percent=bindparam("p_usage_percent"),
        reason=bindparam("p_reason"),
        updated_at=bindparam("p_updated_at"),
    )
    later = func.greatest if postgres else func.max  # SQLite's two-argument max() is a scalar function
    pushed = insert.excluded.next_allowed_at > ConnectionPacing.next_allowed_at
    return insert.on_conflict_do_update(
        index_elements=[ConnectionPacing.connection_id],
        set_={
            "next_allowed_at": later(ConnectionPacing.next_allowed_at, insert.excluded.next_allowed_at),
            "reason": case((pushed, insert.excluded.reason), else_=ConnectionPacing.reason),
            "usage_percent": func.coalesce(insert.excluded.usage_percent, ConnectionPacing.usage_percent),
            "updated_at": insert.excluded.updated_at,
        },
    )


async def hold_behind_pace(
    session: AsyncSession,
    connection_id: int,
    *,
    until: datetime,
    now: datetime,
    note: str,
    note_past_cutoff: str | None = None,
    except_id: int | None = None,
) -> int:
    """Move the connection's waiting deliveries due before `until` to `until`, saying why. Returns how many.

    `claim_due` skips a paced connection silently, so without this its deliveries would keep a stale note
    ("Instagram is preparing the post.") for the whole pause. One UPDATE; it never pulls a due time earlier.
    Untouched: claimed deliveries (their worker settles them), `except_id` (the one being settled), and
    uncommitted ones already past their cutoff (the sweep marks those missed). A delivery whose cutoff
    comes before `until` gets `note_past_cutoff` when given: it will be missed, not sent after the pause.
    """
    conditions = [
        PostTarget.connection_id == connection_id,
        PostTarget.status.in_(CLAIMABLE),  # waiting for claim_due: scheduled, retrying, processing
        PostTarget.due_at < until,
        or_(PostTarget.committed.is_(True), PostTarget.cutoff_at >= now),
    ]
    if except_id is not None:
        conditions.append(PostTarget.id != except_id)
    note_value: Any = note
    if note_past_cutoff is not None:
        note_value = case(
            (PostTarget.committed.is_(False) & (PostTarget.cutoff_at < until), note_past_cutoff), else_=note
        )
    result = await session.execute(
        update(PostTarget)
        .where(*conditions)
        .values(due_at=until, note=note_value, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
