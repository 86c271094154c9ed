"""The publish watchdog: work that is due and that nothing picks up is said out loud, never left silent.

Runs as the `publish-watchdog` job on workers and, because a dead worker fleet runs no jobs, from the
scheduler process too (tasks/schedule.py). Both may run it in the same minute: the per-venue
de-duplication window makes that one notification.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog

from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from storage.models import Severity
from storage.queries import deliveries as deliveries_q
from storage.queries import ops as ops_q

log = structlog.get_logger(__name__)

KIND = NotificationKind.queue_stalled
DEDUP_WINDOW = timedelta(minutes=30)
WORKER_COMPONENT = "worker"
LATE_CHECKS = [
    "the dispatcher loop runs in every worker (CHEERS_DISPATCHER_IN_WORKERS): look for dispatcher_tick_failed "
    "in the worker logs",
    "the database: slow or locked queries on post_targets (claims use FOR UPDATE SKIP LOCKED)",
    "the broker: /api/status shows the queue depth and whether Redis answers",
]
NO_WORKER_CHECKS = [
    "start a worker (Procfile `worker`: taskiq worker tasks.broker:broker) or see why it stopped",
    "/api/status shows the last worker heartbeat",
    "the worker's database connection: a worker that cannot reach it cannot beat or claim",
]


async def check(runtime: Runtime) -> dict[str, Any]:
    """Raise `queue_stalled` for each venue with deliveries nobody picks up; returns what it found."""
    # A job owns its transaction: the alerts it raises commit with it.
    settings = runtime.settings
    now = runtime.clock.now()
    late_before = now - timedelta(minutes=settings.cheers_watchdog_late_minutes)
    async with runtime.uow() as uow:
        session = uow.session
        worker_seen = _latest(b.beat_at for b in await ops_q.heartbeats(session) if b.component == WORKER_COMPONENT)
        worker_running = worker_seen is not None and now - worker_seen <= timedelta(
            minutes=settings.cheers_worker_stale_minutes
        )
        # Without a worker nothing will ever claim them, so there is no point waiting for them to be late.
        rows = await deliveries_q.due_unclaimed(session, due_before=now if not worker_running else late_before)
        notified = 0
        for row in rows:
            oldest: datetime = row["oldest_due"]
            title, payload = _explain(row["count"], oldest, now, worker_running, worker_seen)
            recorded = await notifications.notify(
                session,
                runtime.clock,
                account_id=row["account_id"],
                kind=KIND,
                severity=Severity.error,
                title=title,
                subject={"account_id": row["account_id"]},
                payload=payload,
                dedup_key=KIND.value,
                dedup_window=DEDUP_WINDOW,
            )
            notified += recorded is not None
        await uow.commit()
    late = sum(int(r["count"]) for r in rows)
    if rows:
        # One line for on-call whatever the de-duplication decided for the venues.
        log.error("queue_stalled", late=late, venues=len(rows), worker_running=worker_running, notified=notified)
    return {"late": late, "venues": len(rows), "notified": notified, "worker_running": worker_running}


def _explain(
    count: int, oldest: datetime, now: datetime, worker_running: bool, worker_seen: datetime | None
) -> tuple[str, dict[str, Any]]:
    minutes = max(0, int((now - oldest).total_seconds() // 60))
    posts = "1 post is" if count == 1 else f"{count} posts are"
    waiting = f"for {minutes} minute{'s' if minutes != 1 else ''}"
    if worker_running:
        title = f"{posts} late: nothing has picked them up {waiting}"
        checks = LATE_CHECKS
    else:
        title = f"{posts} waiting {waiting}: no worker is running to publish them"
        checks = NO_WORKER_CHECKS
    payload = {
        "count": count,
        "oldest_due": oldest.isoformat(),
        "late_minutes": minutes,
        "worker_running": worker_running,
        "worker_last_seen": worker_seen.isoformat() if worker_seen else None,
        "checks": checks,
        "remedy": "Nothing is lost: they go out as soon as publishing resumes, unless they pass their cutoff "
        "(then you'll hear they were missed, with a package to post by hand).",
    }
    return title, payload


def _latest(values: Iterable[datetime]) -> datetime | None:
    return max(values, default=None)
