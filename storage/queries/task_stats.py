"""Task statistics: per (task, minute, process) counts, added to by each flush; read by the failure-rate rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TaskStat
from storage.queries.deliveries import is_postgres


@dataclass
class StatRow:
    """What one process saw of one task in one minute since its last flush."""

    task_name: str
    bucket: datetime
    runs: int = 0
    failures: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True)
class TaskTotals:
    task_name: str
    runs: int
    failures: int
    last_error: str | None
    last_error_at: datetime | None


async def add(session: AsyncSession, instance: str, row: StatRow) -> None:
    """Add `row`'s counts to the stored row for (task, minute, instance), creating it if needed."""
    postgres = is_postgres(session)
    insert = pg_insert if postgres else sqlite_insert
    stmt = insert(TaskStat).values(
        task_name=row.task_name,
        bucket=row.bucket,
        instance=instance,
        runs=row.runs,
        failures=row.failures,
        total_ms=row.total_ms,
        max_ms=row.max_ms,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
    )
    greatest = func.greatest if postgres else func.max  # SQLite's two-argument max() is a scalar function
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[TaskStat.task_name, TaskStat.bucket, TaskStat.instance],
            set_={
                "runs": TaskStat.runs + stmt.excluded.runs,
                "failures": TaskStat.failures + stmt.excluded.failures,
                "total_ms": TaskStat.total_ms + stmt.excluded.total_ms,
                "max_ms": greatest(TaskStat.max_ms, stmt.excluded.max_ms),
                "last_error": func.coalesce(stmt.excluded.last_error, TaskStat.last_error),
                "last_error_at": func.coalesce(stmt.excluded.last_error_at, TaskStat.last_error_at),
            },
        )
    )


async def totals_since(session: AsyncSession, since: datetime) -> list[TaskTotals]:
    """Runs and failures per task over every process since `since`, with the latest error text."""
    sums = (
        select(
            TaskStat.task_name,
            func.sum(TaskStat.runs).label("runs"),
            func.sum(TaskStat.failures).label("failures"),
            func.max(TaskStat.last_error_at).label("last_error_at"),
        )
        .where(TaskStat.bucket >= since)
        .group_by(TaskStat.task_name)
        .subquery()
    )
    last = (
        select(TaskStat.task_name, func.max(TaskStat.last_error).label("last_error"))
        .join(
            sums,
            and_(TaskStat.task_name == sums.c.task_name, TaskStat.last_error_at == sums.c.last_error_at),
        )
        .where(TaskStat.bucket >= since)
        .group_by(TaskStat.task_name)
        .subquery()
    )
    result = await session.execute(
        select(sums.c.task_name, sums.c.runs, sums.c.failures, last.c.last_error, sums.c.last_error_at)
        .outerjoin(last, last.c.task_name == sums.c.task_name)
        .order_by(sums.c.task_name)
    )
    return [
        TaskTotals(task_name=name, runs=int(runs or 0), failures=int(failures or 0), last_error=err, last_error_at=at)
        for name, runs, failures, err, at in result.all()
    ]


async def failures_between(session: AsyncSession, start: datetime, end: datetime) -> list[tuple[str, int, int]]:
    """(task, runs, failures) for tasks that failed at least once in [start, end), most failures first."""
    result = await session.execute(
        select(TaskStat.task_name, func.sum(TaskStat.runs), func.sum(TaskStat.failures))
        .where(TaskStat.bucket >= start, TaskStat.bucket < end)
        .group_by(TaskStat.task_name)
        .having(func.sum(TaskStat.failures) > 0)
        .order_by(func.sum(TaskStat.failures).desc(), TaskStat.task_name)
    )
    return [(name, int(runs), int(failures)) for name, runs, failures in result.all()]


async def delete_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(TaskStat).where(TaskStat.bucket < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
