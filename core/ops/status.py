"""What `/api/status` reports: are workers and the scheduler alive, is work piling up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.ops.jobs import JOBS
from core.runtime import Runtime
from storage.queries import ops as ops_q

# A cron job is overdue once its fire time is this far behind with no run recorded.
JOB_GRACE = timedelta(minutes=2)


@dataclass
class ComponentStatus:
    healthy: bool
    last_beat_at: datetime | None
    age_seconds: float | None
    instances: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ServiceStatus:
    healthy: bool
    problems: list[str]
    worker: ComponentStatus
    scheduler: ComponentStatus
    queue_depth: int | None
    oldest_due_job: dict[str, Any] | None
    checked_at: datetime


def _component(beats: list[Any], now: datetime, stale_after: float) -> ComponentStatus:
    instances = [
        {
            "instance": b.instance,
            "beat_at": b.beat_at,
            "age_seconds": round((now - b.beat_at).total_seconds(), 1),
            "started_at": b.started_at,
            **b.info,
        }
        for b in beats
    ]
    latest = max((b.beat_at for b in beats), default=None)
    age = (now - latest).total_seconds() if latest else None
    return ComponentStatus(
        healthy=age is not None and age <= stale_after,
        last_beat_at=latest,
        age_seconds=None if age is None else round(age, 1),
        instances=[i for i in instances if i["age_seconds"] <= stale_after * 10],
    )


async def service_status(runtime: Runtime) -> ServiceStatus:
    now = runtime.clock.now()
    settings = runtime.settings
    try:
        async with runtime.db.session() as session:
            beats = list(await ops_q.heartbeats(session))
            runs = await ops_q.last_runs(session)
    except Exception as exc:  # noqa: BLE001 - the status page must say what is wrong, not crash
        unknown = ComponentStatus(healthy=False, last_beat_at=None, age_seconds=None)
        return ServiceStatus(
            healthy=False,
            problems=[f"database unreachable: {exc.__class__.__name__}"],
            worker=unknown,
            scheduler=unknown,
            queue_depth=None,
            oldest_due_job=None,
            checked_at=now,
        )
    worker = _component([b for b in beats if b.component == "worker"], now, settings.heartbeat_stale_seconds)
    scheduler = _component([b for b in beats if b.component == "scheduler"], now, settings.scheduler_stale_seconds)

    # Jobs count as overdue only for fire times since a scheduler has been running.
    scheduler_since = min((b.started_at for b in beats if b.component == "scheduler"), default=None)
    oldest: dict[str, Any] | None = None
    for spec in JOBS.values():
        due = spec.previous_fire(now)
        if scheduler_since is None or due < scheduler_since or now - due < JOB_GRACE:
            continue
        last = runs.get(spec.name)
        if last is not None and last.started_at >= due - timedelta(seconds=5):
            continue
        if oldest is None or due < oldest["due_at"]:
            oldest = {"job": spec.name, "due_at": due, "overdue_seconds": round((now - due).total_seconds(), 1)}

    depth: int | None = None
    problems: list[str] = []
    if runtime.queue is not None:
        try:
            depth = await runtime.queue.depth()
        except Exception as exc:  # noqa: BLE001 - the status page must answer even when the broker does not
            problems.append(f"broker unreachable: {exc.__class__.__name__}")
    if not worker.healthy:
        problems.append(
            "no worker heartbeat"
            + (f" for {worker.age_seconds:.0f}s" if worker.age_seconds is not None else " ever recorded")
            + ": start a worker (Procfile `worker`)"
        )
    if not scheduler.healthy:
        problems.append(
            "no scheduler heartbeat"
            + (f" for {scheduler.age_seconds:.0f}s" if scheduler.age_seconds is not None else " ever recorded")
            + ": start exactly one scheduler (Procfile `scheduler`)"
        )
    if oldest is not None:
        problems.append(f"job {oldest['job']} has been due for {oldest['overdue_seconds']:.0f}s")
    return ServiceStatus(
        healthy=not problems,
        problems=problems,
        worker=worker,
        scheduler=scheduler,
        queue_depth=depth,
        oldest_due_job=oldest,
        checked_at=now,
    )
