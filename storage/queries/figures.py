"""Counts the ops figures (`/metrics`) read at scrape time: job and task runs, open incidents, alert messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.enums import ChatMessageStatus
from storage.models import ChatAlertMessage, Email, Incident, JobRun, OpsMessage, TaskStat

# The three tables an alert message can wait in: a venue's chat, an ops chat, an e-mail.
AlertTable = type[ChatAlertMessage] | type[OpsMessage] | type[Email]


async def job_run_counts(session: AsyncSession, *, since: datetime) -> list[tuple[str, str, int]]:
    """(job name, status, runs) for runs started at or after `since`."""
    result = await session.execute(
        select(JobRun.name, JobRun.status, func.count())
        .where(JobRun.started_at >= since)
        .group_by(JobRun.name, JobRun.status)
    )
    return [(name, status, int(n)) for name, status, n in result.all()]


async def task_totals(session: AsyncSession, *, since: datetime, seen_since: datetime) -> list[tuple[str, int, int]]:
    """(task name, runs, failures) summed over every process's minute buckets from `since` on, for every task
    that ran from `seen_since` on (a task idle since `since` shows at zero rather than vanishing)."""
    recent = TaskStat.bucket >= since
    result = await session.execute(
        select(
            TaskStat.task_name,
            func.sum(case((recent, TaskStat.runs), else_=0)),
            func.sum(case((recent, TaskStat.failures), else_=0)),
        )
        .where(TaskStat.bucket >= seen_since)
        .group_by(TaskStat.task_name)
    )
    return [(name, int(runs or 0), int(failures or 0)) for name, runs, failures in result.all()]


async def open_incident_counts(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(rule, severity, open incidents)."""
    result = await session.execute(
        select(Incident.rule, Incident.severity, func.count())
        .where(Incident.status == "open")
        .group_by(Incident.rule, Incident.severity)
    )
    return [(rule, str(getattr(severity, "value", severity)), int(n)) for rule, severity, n in result.all()]


async def message_counts(session: AsyncSession, table: AlertTable, *, since: datetime) -> dict[str, int]:
    """Messages of `table` created at or after `since`, by their status now."""
    model: Any = table
    result = await session.execute(
        select(model.status, func.count()).where(model.created_at >= since).group_by(model.status)
    )
    return {str(getattr(status, "value", status)): int(n) for status, n in result.all()}


async def oldest_due_message(session: AsyncSession, table: AlertTable, *, now: datetime) -> datetime | None:
    """When the longest-waiting message of `table` that is due (pending, its next attempt not in the future)
    became due; None when nothing waits."""
    model: Any = table
    result = await session.execute(
        select(func.min(model.next_attempt_at)).where(
            model.status == ChatMessageStatus.pending, model.next_attempt_at <= now
        )
    )
    oldest: datetime | None = result.scalar_one_or_none()
    return oldest
