"""What the ops rules and the daily digest read: job streaks, failing chats and e-mails, the day's runs and posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.enums import ChatMessageStatus, DeliveryStatus
from storage.models import ChatAlertMessage, ChatDestination, Email, JobRun, Post, PostTarget

FAILED = "failed"
SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class JobStreak:
    """A job's failed runs since its last success, and the latest of them."""

    name: str
    failures: int
    last: JobRun


async def job_failure_streaks(session: AsyncSession) -> list[JobStreak]:
    """Per job with failures since its last succeeded run (ever, when none): how many, and the last failed run."""
    last_ok = (
        select(JobRun.name, func.max(JobRun.id).label("ok_id"))
        .where(JobRun.status == SUCCEEDED)
        .group_by(JobRun.name)
        .subquery()
    )
    streaks = (
        await session.execute(
            select(JobRun.name, func.count(JobRun.id), func.max(JobRun.id))
            .outerjoin(last_ok, last_ok.c.name == JobRun.name)
            .where(JobRun.status == FAILED, JobRun.id > func.coalesce(last_ok.c.ok_id, 0))
            .group_by(JobRun.name)
        )
    ).all()
    if not streaks:
        return []
    runs = {
        run.id: run
        for run in (await session.execute(select(JobRun).where(JobRun.id.in_([s[2] for s in streaks])))).scalars()
    }
    return [JobStreak(name, int(count), runs[last_id]) for name, count, last_id in streaks if last_id in runs]


@dataclass(frozen=True)
class ChatTrouble:
    """A venue chat destination whose alert messages fail, or that was stopped recently."""

    destination_id: int
    account_id: int
    platform: str
    chat_name: str | None
    failing: int
    last_error: str | None
    stopped_at: datetime | None
    stopped_reason: str | None


async def failing_chats(session: AsyncSession, *, since: datetime, min_failing: int) -> list[ChatTrouble]:
    """Destinations with at least `min_failing` messages failed since `since` or retrying now, or stopped since."""
    failing = or_(
        and_(ChatAlertMessage.status == ChatMessageStatus.failed, ChatAlertMessage.updated_at >= since),
        and_(ChatAlertMessage.status == ChatMessageStatus.pending, ChatAlertMessage.attempts > 0),
    )
    counts = {
        dest_id: (int(n), err)
        for dest_id, n, err in (
            await session.execute(
                select(
                    ChatAlertMessage.destination_id,
                    func.count(ChatAlertMessage.id),
                    func.max(ChatAlertMessage.last_error),
                )
                .where(failing)
                .group_by(ChatAlertMessage.destination_id)
            )
        ).all()
    }
    wanted = [d for d, (n, _) in counts.items() if n >= min_failing]
    query = (
        select(ChatDestination)
        .where(or_(ChatDestination.id.in_(wanted), ChatDestination.disabled_at >= since))
        .order_by(ChatDestination.id)
    )
    found: list[ChatTrouble] = []
    for dest in (await session.execute(query)).scalars():
        n, err = counts.get(dest.id, (0, None))
        stopped = dest.disabled_at if dest.disabled_at is not None and dest.disabled_at >= since else None
        found.append(
            ChatTrouble(
                destination_id=dest.id,
                account_id=dest.account_id,
                platform=dest.platform.value,
                chat_name=dest.chat_name,
                failing=n,
                last_error=err,
                stopped_at=stopped,
                stopped_reason=dest.disabled_reason if stopped else None,
            )
        )
    return found


@dataclass(frozen=True)
class EmailTrouble:
    failing: int
    given_up: int
    last_error: str | None
    oldest_at: datetime | None


async def failing_emails(session: AsyncSession, *, since: datetime, min_attempts: int) -> EmailTrouble:
    """E-mails still retrying after `min_attempts` tries, and those given up since `since`."""
    retrying = and_(
        Email.status.in_([ChatMessageStatus.pending, ChatMessageStatus.sending]), Email.attempts >= min_attempts
    )
    given_up = and_(Email.status == ChatMessageStatus.failed, Email.updated_at >= since)
    rows = (
        await session.execute(
            select(Email.status, Email.last_error, Email.created_at)
            .where(or_(retrying, given_up))
            .order_by(Email.updated_at.desc(), Email.id.desc())
            .limit(500)
        )
    ).all()
    return EmailTrouble(
        failing=len(rows),
        given_up=sum(1 for status, _, _ in rows if status == ChatMessageStatus.failed),
        last_error=next((err for _, err, _ in rows if err), None),
        oldest_at=min((created for _, _, created in rows), default=None),
    )


# --- the daily digest ---


async def job_runs_by_outcome(session: AsyncSession, start: datetime, end: datetime) -> dict[str, int]:
    result = await session.execute(
        select(JobRun.status, func.count(JobRun.id))
        .where(JobRun.started_at >= start, JobRun.started_at < end)
        .group_by(JobRun.status)
    )
    return {status: int(n) for status, n in result.all()}


async def job_failures_between(session: AsyncSession, start: datetime, end: datetime) -> list[tuple[str, int, str]]:
    """(job, failed runs, last error) for jobs that failed in [start, end), most failures first."""
    result = await session.execute(
        select(JobRun.name, func.count(JobRun.id), func.max(JobRun.id))
        .where(JobRun.status == FAILED, JobRun.started_at >= start, JobRun.started_at < end)
        .group_by(JobRun.name)
        .order_by(func.count(JobRun.id).desc(), JobRun.name)
    )
    rows = result.all()
    errors = {
        run_id: error
        for run_id, error in (
            await session.execute(select(JobRun.id, JobRun.error).where(JobRun.id.in_([r[2] for r in rows])))
        ).all()
    }
    return [(name, int(n), last_line(errors.get(last_id))) for name, n, last_id in rows]


def last_line(error: str | None) -> str:
    """The line of a recorded error that names it ("FaultInjected: ..."), without the traceback above it."""
    lines = (error or "").strip().splitlines()
    return lines[-1] if lines else ""


async def deliveries_between(session: AsyncSession, start: datetime, end: datetime) -> tuple[list[timedelta], int, int]:
    """Published deliveries' lateness (published_at - the post's scheduled time), and failed and missed counts."""
    published = await session.execute(
        select(PostTarget.published_at, Post.scheduled_at)
        .join(Post, Post.id == PostTarget.post_id)
        .where(
            PostTarget.status == DeliveryStatus.published,
            PostTarget.published_at >= start,
            PostTarget.published_at < end,
        )
    )
    lateness = [max(timedelta(0), at - due) for at, due in published.all() if at is not None]
    lost = await session.execute(
        select(PostTarget.status, func.count(PostTarget.id))
        .where(
            PostTarget.status.in_([DeliveryStatus.failed, DeliveryStatus.missed]),
            PostTarget.updated_at >= start,
            PostTarget.updated_at < end,
        )
        .group_by(PostTarget.status)
    )
    counts = {status: int(n) for status, n in lost.all()}
    return lateness, counts.get(DeliveryStatus.failed, 0), counts.get(DeliveryStatus.missed, 0)
