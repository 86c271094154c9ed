"""The ops rules: each reads the tables and returns what is wrong now as Findings (thresholds from settings)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.ops.incidents import Finding, describe_duration
from core.ops.jobs import HEARTBEAT_RETENTION, JOBS
from core.settings import Settings
from storage.enums import Severity
from storage.models import Heartbeat
from storage.queries import deliveries as deliveries_q
from storage.queries import ops as ops_q
from storage.queries import ops_facts
from storage.queries import task_stats as task_stats_q

# Periodic jobs' own tasks ("job:<name>") fail when their job does: job_failing speaks for them.
JOB_TASK_PREFIX = "job:"
EMAIL_FAILING_ATTEMPTS = 3
RECENT = timedelta(hours=1)


@dataclass(frozen=True)
class Facts:
    """What every rule may read: the session (read only), the moment judged, the settings and the heartbeats."""

    session: AsyncSession
    now: datetime
    settings: Settings
    heartbeats: list[Heartbeat]

    def live(self, component: str, stale_seconds: float) -> list[Heartbeat]:
        return [
            b
            for b in self.heartbeats
            if b.component == component and (self.now - b.beat_at).total_seconds() <= stale_seconds
        ]

    @property
    def live_workers(self) -> list[Heartbeat]:
        return self.live("worker", self.settings.heartbeat_stale_seconds)

    @property
    def live_schedulers(self) -> list[Heartbeat]:
        return self.live("scheduler", self.settings.scheduler_stale_seconds)


Rule = Callable[[Facts], Awaitable[list[Finding]]]


def _hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def job_failing(facts: Facts) -> list[Finding]:
    """The last N runs of a job all failed (N = CHEERS_OPS_JOB_FAILURES); the detail names the last error."""
    threshold = facts.settings.cheers_ops_job_failures
    found: list[Finding] = []
    for streak in await ops_facts.job_failure_streaks(facts.session):
        if streak.failures < threshold:
            continue
        error = ops_facts.last_line(streak.last.error) or "no error recorded"
        found.append(
            Finding(
                rule="job_failing",
                key=f"job_failing:{streak.name}",
                severity=Severity.error,
                title=f"Job {streak.name} is failing",
                detail=f"{streak.failures} runs in a row failed, the last at {_hm(streak.last.started_at)}: {error}",
                subject={"job": streak.name},
                facts={
                    "failures": streak.failures,
                    "last_error": error,
                    "last_failed_at": streak.last.started_at.isoformat(),
                    "job_run_id": streak.last.id,
                },
            )
        )
    return found


async def job_overdue(facts: Facts) -> list[Finding]:
    """No run of a job started for factor times its cron period, counted only while a scheduler has been up that long
    and a worker runs (without either, scheduler_down or worker_gone says what is wrong)."""
    schedulers = facts.live_schedulers
    if not schedulers or not facts.live_workers:
        return []
    scheduler_since = min(b.started_at for b in schedulers)
    factor = facts.settings.cheers_ops_job_overdue_factor
    runs = await ops_q.last_runs(facts.session)
    found: list[Finding] = []
    for spec in JOBS.values():
        period = spec.period(facts.now)
        allowed = period * factor
        if facts.now - scheduler_since < allowed:
            continue
        last = runs.get(spec.name)
        if last is not None and facts.now - last.started_at <= allowed:
            continue
        since = f"since {_hm(last.started_at)}" if last is not None else "ever"
        found.append(
            Finding(
                rule="job_overdue",
                key=f"job_overdue:{spec.name}",
                severity=Severity.warning,
                title=f"Job {spec.name} is overdue",
                detail=f"No run has started {since}; its schedule ({spec.cron}) runs it every "
                f"{describe_duration(period)} and the scheduler has been up since {_hm(scheduler_since)}.",
                subject={"job": spec.name},
                facts={
                    "last_started_at": last.started_at.isoformat() if last is not None else None,
                    "period_seconds": period.total_seconds(),
                    "allowed_seconds": allowed.total_seconds(),
                },
            )
        )
    return found


async def task_failing(facts: Facts) -> list[Finding]:
    """A task's failure rate over the window is above the setting, once it ran at least the minimum number of times."""
    settings = facts.settings
    window = settings.cheers_ops_task_window_minutes
    rate = settings.cheers_ops_task_failure_rate
    found: list[Finding] = []
    for totals in await task_stats_q.totals_since(facts.session, facts.now - timedelta(minutes=window)):
        if totals.task_name.startswith(JOB_TASK_PREFIX) or totals.runs < settings.cheers_ops_task_min_runs:
            continue
        if totals.failures / totals.runs <= rate:
            continue
        found.append(
            Finding(
                rule="task_failing",
                key=f"task_failing:{totals.task_name}",
                severity=Severity.error,
                title=f"Task {totals.task_name} is failing",
                # No counts here: they change every minute and each change would edit the chat message.
                detail=f"More than {rate:.0%} of its runs in the last {window} min failed; "
                f"last error: {totals.last_error or 'not recorded'}",
                subject={"task": totals.task_name},
                facts={
                    "runs": totals.runs,
                    "failures": totals.failures,
                    "window_minutes": window,
                    "last_error": totals.last_error,
                    "last_error_at": totals.last_error_at.isoformat() if totals.last_error_at else None,
                },
            )
        )
    return found


async def scheduler_down(facts: Facts) -> list[Finding]:
    """No scheduler heartbeat within scheduler_stale_seconds while a worker runs (periodic jobs have stopped)."""
    if facts.live_schedulers or not facts.live_workers:
        return []
    last = max((b.beat_at for b in facts.heartbeats if b.component == "scheduler"), default=None)
    since = f"since {_hm(last)}" if last is not None else "ever recorded"
    return [
        Finding(
            rule="scheduler_down",
            key="scheduler_down",
            severity=Severity.critical,
            title="The scheduler is not running",
            detail=f"No scheduler heartbeat {since}: periodic jobs (sweeps, ops-watch, the digest) are not being "
            "sent. Start exactly one scheduler (Procfile `scheduler`).",
            subject={"component": "scheduler"},
            facts={"last_beat_at": last.isoformat() if last is not None else None},
        )
    ]


async def worker_gone(facts: Facts) -> list[Finding]:
    """A worker stopped beating without a graceful stop (which deletes its row): critical when none is left.

    With other workers beating it lasts until the instance's unacknowledged tasks were redelivered to them.
    """
    settings = facts.settings
    stale = timedelta(seconds=settings.heartbeat_stale_seconds)
    window = stale + timedelta(seconds=settings.cheers_task_redeliver_seconds)
    live = facts.live_workers
    dead = [
        b
        for b in facts.heartbeats
        if b.component == "worker" and facts.now - b.beat_at > stale and facts.now - b.beat_at <= HEARTBEAT_RETENTION
    ]
    if not dead:
        return []
    if live:
        gone = [b for b in dead if facts.now < b.beat_at + window]
    else:
        # Only the latest deaths: a crash hours ago whose incident resolved does not come back with this one.
        latest = max(b.beat_at for b in dead)
        gone = [b for b in dead if b.beat_at >= latest - window]
    found: list[Finding] = []
    for beat in gone:
        if live:
            severity = Severity.warning
            detail = (
                f"It last beat at {_hm(beat.beat_at)} and did not stop cleanly; {len(live)} other worker(s) take over "
                f"its unfinished tasks after {settings.cheers_task_redeliver_seconds:.0f} s."
            )
        else:
            severity = Severity.critical
            detail = (
                f"It last beat at {_hm(beat.beat_at)} and no worker is running: nothing is published, derived or "
                "delivered until one starts (Procfile `worker`)."
            )
        found.append(
            Finding(
                rule="worker_gone",
                key=f"worker_gone:{beat.instance}",
                severity=severity,
                title=f"Worker {beat.instance} is gone",
                detail=detail,
                subject={"instance": beat.instance},
                facts={"last_beat_at": beat.beat_at.isoformat(), "live_workers": len(live)},
            )
        )
    return found


async def queue_stalled(facts: Facts) -> list[Finding]:
    """The oldest due delivery has waited longer than CHEERS_OPS_QUEUE_AGE_MINUTES with nothing taking it."""
    age = timedelta(minutes=facts.settings.cheers_ops_queue_age_minutes)
    rows = await deliveries_q.due_unclaimed(facts.session, due_before=facts.now - age)
    if not rows:
        return []
    oldest: datetime = min(row["oldest_due"] for row in rows)
    count = sum(int(row["count"]) for row in rows)
    workers = bool(facts.live_workers)
    cause = "workers are running but nothing claims them" if workers else "no worker is running"
    return [
        Finding(
            rule="queue_stalled",
            key="queue_stalled",
            severity=Severity.error if workers else Severity.critical,
            title="Due posts are not being published",
            detail=f"Deliveries due since {_hm(oldest)} wait in {len(rows)} venue(s): {cause}.",
            subject={"component": "queue"},
            facts={"count": count, "venues": len(rows), "oldest_due_at": oldest.isoformat(), "worker": workers},
        )
    ]


async def chat_failing(facts: Facts) -> list[Finding]:
    """A venue chat whose alerts fail (>= CHEERS_OPS_CHAT_FAILURES failed or retrying) or stopped in the last hour."""
    found: list[Finding] = []
    troubles = await ops_facts.failing_chats(
        facts.session, since=facts.now - RECENT, min_failing=facts.settings.cheers_ops_chat_failures
    )
    for t in troubles:
        where = f"{t.platform.capitalize()} chat {t.chat_name or ''} (venue {t.account_id})".replace("  ", " ")
        if t.stopped_at is not None:
            detail = f"Alerts to it stopped at {_hm(t.stopped_at)}: {t.stopped_reason or 'no reason recorded'}."
        else:
            detail = f"{t.failing} alert messages failed or are retrying; last error: {t.last_error or 'none'}."
        found.append(
            Finding(
                rule="chat_failing",
                key=f"chat_failing:{t.destination_id}",
                severity=Severity.warning,
                title=f"Alerts to {where} are failing",
                detail=detail,
                subject={"destination_id": t.destination_id, "platform": t.platform, "account_id": t.account_id},
                facts={"failing": t.failing, "last_error": t.last_error},
            )
        )
    return found


async def email_failing(facts: Facts) -> list[Finding]:
    """E-mails still retrying after 3 attempts, or given up in the last hour."""
    trouble = await ops_facts.failing_emails(
        facts.session, since=facts.now - RECENT, min_attempts=EMAIL_FAILING_ATTEMPTS
    )
    if trouble.failing == 0:
        return []
    return [
        Finding(
            rule="email_failing",
            key="email_failing",
            severity=Severity.error if trouble.given_up else Severity.warning,
            title="E-mails are not going out",
            detail=f"{trouble.failing} e-mail(s) failing, {trouble.given_up} given up in the last hour; last error: "
            f"{trouble.last_error or 'none recorded'}.",
            subject={"component": "email"},
            facts={"failing": trouble.failing, "given_up": trouble.given_up, "last_error": trouble.last_error},
        )
    ]


RULES: dict[str, Rule] = {
    "job_failing": job_failing,
    "job_overdue": job_overdue,
    "task_failing": task_failing,
    "scheduler_down": scheduler_down,
    "worker_gone": worker_gone,
    "queue_stalled": queue_stalled,
    "chat_failing": chat_failing,
    "email_failing": email_failing,
}
