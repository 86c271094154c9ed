"""Periodic jobs: one registry used by the scheduler, `cheers jobs list` and `cheers jobs run`."""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from croniter import croniter

from core.access import audit
from core.access.audit import Actor
from core.chat import delivery as chat_delivery
from core.connections import expiry, oauth
from core.email import outbox as email_outbox
from core.errors import NotFound
from core.faults import fault_point
from core.media import jobs as media_jobs
from core.notifications import outbox as notifications
from core.publishing import reconcile, watchdog
from core.runtime import Runtime
from core.weekly import materialise as weekly_materialise
from storage.queries import auth as auth_q
from storage.queries import chat as chat_q
from storage.queries import ops as ops_q
from storage.queries import task_stats as task_stats_q

log = structlog.get_logger(__name__)

JobFn = Callable[[Runtime], Awaitable[dict[str, Any]]]

JOB_RUN_RETENTION = timedelta(days=14)
HEARTBEAT_RETENTION = timedelta(days=1)
TASK_STATS_RETENTION = timedelta(days=2)  # the failure-rate window is minutes; the digest reads yesterday


@dataclass(frozen=True)
class JobSpec:
    name: str
    cron: str
    description: str
    run: JobFn

    def previous_fire(self, now: datetime) -> datetime:
        fire: datetime = croniter(self.cron, now).get_prev(datetime)
        return fire

    def period(self, now: datetime) -> timedelta:
        """The gap between the schedule's last two fire times before `now` (a day for "5 7 * * *")."""
        fires = croniter(self.cron, now)
        last: datetime = fires.get_prev(datetime)
        before: datetime = fires.get_prev(datetime)
        return last - before


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Each small job below is a boundary like a task: it opens its one unit of work and commits it.


async def _heartbeat(runtime: Runtime) -> dict[str, Any]:
    # Runs through the broker: proves a worker is taking work off the queue, not merely alive.
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        await ops_q.beat(uow.session, component="queue", instance=instance_name(), now=now, started_at=now, info={})
        await uow.commit()
    return {"beat_at": now.isoformat()}


async def _notifications_purge(runtime: Runtime) -> dict[str, Any]:
    async with runtime.uow() as uow:
        removed = await notifications.purge(
            uow.session, runtime.clock, retention_days=runtime.settings.notification_retention_days
        )
        await uow.commit()
    return {"removed": removed, "retention_days": runtime.settings.notification_retention_days}


async def _housekeeping(runtime: Runtime) -> dict[str, Any]:
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        credentials = await auth_q.purge_expired_credentials(uow.session, before=now - timedelta(days=1))
        credentials += await chat_q.purge_link_codes(uow.session, before=now - timedelta(days=1))
        runs = await ops_q.delete_job_runs_before(uow.session, now - JOB_RUN_RETENTION)
        await ops_q.delete_heartbeats_before(uow.session, now - HEARTBEAT_RETENTION)
        await task_stats_q.delete_before(uow.session, now - TASK_STATS_RETENTION)
        await uow.commit()
    return {"expired_credentials_removed": credentials, "job_runs_removed": runs}


async def _oauth_states_cleanup(runtime: Runtime) -> dict[str, Any]:
    async with runtime.uow() as uow:
        removed = await oauth.cleanup_states(uow.session, runtime.clock)
        await uow.commit()
    return {"removed": removed}


async def _expiry_watch(runtime: Runtime) -> dict[str, Any]:
    return await expiry.watch(runtime)


async def _media_sweep(runtime: Runtime) -> dict[str, Any]:
    return await media_jobs.sweep(runtime)


# The ops watch and digest modules read this registry (job_overdue), hence imported when the job runs.


async def _ops_watch(runtime: Runtime) -> dict[str, Any]:
    from core.ops import watch

    return await watch.cycle(runtime)


async def _ops_digest(runtime: Runtime) -> dict[str, Any]:
    from core.ops import digest

    day = (runtime.clock.now() - timedelta(days=1)).date()  # the previous UTC day
    made = await digest.make_digest(runtime, day)
    return {"day": day.isoformat(), "digest_id": made.id if made is not None else None}


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in [
        JobSpec("heartbeat", "* * * * *", "Records that a worker is taking jobs off the queue.", _heartbeat),
        JobSpec(
            "notifications-purge",
            "17 3 * * *",
            "Deletes notifications past the retention period.",
            _notifications_purge,
        ),
        JobSpec(
            "housekeeping",
            "41 * * * *",
            "Deletes expired login links and chat link codes, ended sessions, old job runs and task statistics.",
            _housekeeping,
        ),
        JobSpec(
            "oauth-states-cleanup", "*/10 * * * *", "Deletes expired connect/reconnect states.", _oauth_states_cleanup
        ),
        JobSpec(
            "connections-expiry-watch",
            "7 */6 * * *",
            "Warns 7, 3 and 1 days before a connection lapses; flags lapsed or revoked access.",
            _expiry_watch,
        ),
        JobSpec(
            "media-derivatives-sweep",
            "* * * * *",
            "Wakes media whose derivatives are due (new, or retrying) and requeues work a dead worker left.",
            _media_sweep,
        ),
        JobSpec(
            "publish-watchdog",
            "* * * * *",
            "Alerts each venue whose due posts nothing picks up (late, or no worker running).",
            watchdog.check,
        ),
        JobSpec(
            reconcile.JOB_NAME,
            "* * * * *",
            "Asks the provider whether each delivery in doubt went out: published, sent again, or a person decides.",
            reconcile.reconcile_in_doubt,
        ),
        JobSpec(
            chat_delivery.JOB_NAME,
            "* * * * *",
            "Fans new notifications out to the venues' chats, edits solved alerts, and sends what is due (retries, "
            "quiet hours ended, wake-ups lost).",
            chat_delivery.run,
        ),
        JobSpec(
            email_outbox.JOB_NAME,
            "* * * * *",
            "Sends the e-mails due (ops incidents and digests, venue alerts by e-mail): new, retrying after an outage "
            "or a rate limit, or left by a worker that died.",
            email_outbox.run,
        ),
        JobSpec(
            weekly_materialise.JOB_NAME,
            "23 5 * * *",
            "Makes the coming 7 days' posts from each venue's weekly plan (once per slot and date) and tells the team.",
            weekly_materialise.run_job,
        ),
        JobSpec(
            "ops-watch",
            "* * * * *",
            "Checks the ops rules (jobs failing or overdue, workers or the scheduler gone, queues, chats and e-mail "
            "failing), opens and resolves incidents, and tells ops chats and e-mail addresses.",
            _ops_watch,
        ),
        JobSpec(
            "ops-digest",
            "5 7 * * *",
            "Writes yesterday's ops digest (runs, failures, incidents, publishing success and lateness) for ops chats.",
            _ops_digest,
        ),
    ]
}


def register(spec: JobSpec) -> None:
    """Later capabilities add their periodic sweeps here (names are unique)."""
    if spec.name in JOBS:
        raise ValueError(f"job {spec.name} is already registered")
    JOBS[spec.name] = spec


def get_job(name: str) -> JobSpec:
    try:
        return JOBS[name]
    except KeyError:
        raise NotFound(f"no job named '{name}'; known jobs: {', '.join(sorted(JOBS))}") from None


async def run_job(runtime: Runtime, name: str, *, trigger: str, actor: Actor | None = None) -> dict[str, Any]:
    """Run one job now, recording the run (and, for an operator's run, an audit entry)."""
    # Owns its transactions: the run row commits before the job starts (a crash leaves a started run to see)
    # and its end commits in a transaction of its own; the job itself opens and commits its own units of work.
    spec = get_job(name)
    async with runtime.uow() as uow:
        run = await ops_q.start_job_run(
            uow.session,
            name=name,
            trigger=trigger,
            now=runtime.clock.now(),
            actor_user_id=actor.user_id if actor else None,
        )
        if actor is not None and trigger == "manual":
            await audit.record(uow.session, runtime.clock, actor, "job_run", subject_type="job", subject_id=name)
        await uow.commit()
        run_id = run.id
    log.info("job_started", job=name, trigger=trigger, job_run_id=run_id)
    try:
        await fault_point("job_run", name)  # tests and `make dev`: make one job fail (core.faults)
        result = await spec.run(runtime)
    except Exception as exc:
        async with runtime.uow() as uow:
            await ops_q.finish_job_run(
                uow.session,
                run_id,
                now=runtime.clock.now(),
                status="failed",
                result={},
                error="".join(traceback.format_exception_only(exc)).strip(),
            )
            await uow.commit()
        log.exception("job_failed", job=name, trigger=trigger, job_run_id=run_id)
        raise
    async with runtime.uow() as uow:
        await ops_q.finish_job_run(
            uow.session, run_id, now=runtime.clock.now(), status="succeeded", result=result, error=None
        )
        await uow.commit()
    log.info("job_finished", job=name, trigger=trigger, job_run_id=run_id, **result)
    return result


async def overview(runtime: Runtime) -> list[dict[str, Any]]:
    """Every registered job with its schedule and latest run (for `cheers jobs list`)."""
    async with runtime.db.session() as session:
        runs = await ops_q.last_runs(session)
    rows: list[dict[str, Any]] = []
    for spec in JOBS.values():
        last = runs.get(spec.name)
        rows.append(
            {
                "name": spec.name,
                "cron": spec.cron,
                "description": spec.description,
                "last_run": None
                if last is None
                else {
                    "started_at": last.started_at,
                    "status": last.status,
                    "trigger": last.trigger,
                    "error": last.error,
                },
            }
        )
    return rows
