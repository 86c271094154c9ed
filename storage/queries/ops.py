"""Heartbeats and job runs: what `/api/status` and `cheers jobs list` read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Heartbeat, JobRun


async def beat(
    session: AsyncSession, *, component: str, instance: str, now: datetime, started_at: datetime, info: dict[str, Any]
) -> None:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert_fn(Heartbeat).values(
        component=component, instance=instance, beat_at=now, started_at=started_at, info=info
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Heartbeat.component, Heartbeat.instance], set_={"beat_at": now, "info": info}
        )
    )


async def heartbeats(session: AsyncSession) -> Sequence[Heartbeat]:
    result = await session.execute(select(Heartbeat).order_by(Heartbeat.component, Heartbeat.beat_at.desc()))
    return result.scalars().all()


async def delete_heartbeats_before(session: AsyncSession, before: datetime) -> None:
    await session.execute(delete(Heartbeat).where(Heartbeat.beat_at < before))


async def start_job_run(
    session: AsyncSession, *, name: str, trigger: str, now: datetime, actor_user_id: int | None
) -> JobRun:
    run = JobRun(name=name, trigger=trigger, started_at=now, status="running", actor_user_id=actor_user_id)
    session.add(run)
    await session.flush()
    return run


async def last_runs(session: AsyncSession) -> dict[str, JobRun]:
    """The latest run of every job name."""
    latest = select(JobRun.name, func.max(JobRun.id).label("id")).group_by(JobRun.name).subquery()
    result = await session.execute(select(JobRun).join(latest, JobRun.id == latest.c.id))
    return {run.name: run for run in result.scalars().all()}


async def finish_job_run(
    session: AsyncSession, run_id: int, *, now: datetime, status: str, result: dict[str, Any], error: str | None
) -> None:
    run = await session.get(JobRun, run_id)
    if run is not None:
        run.finished_at, run.status, run.result, run.error = now, status, result, error
        await session.flush()


async def delete_job_runs_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(JobRun).where(JobRun.started_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_heartbeat(session: AsyncSession, *, component: str, instance: str) -> None:
    """Forget one process's heartbeat (a graceful stop: only a death leaves a stale row behind)."""
    await session.execute(delete(Heartbeat).where(Heartbeat.component == component, Heartbeat.instance == instance))
