"""The daily ops digest: the previous UTC day's job runs, failures, incidents and publishing, written once."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog

from core.ops.incidents import OPS_ALERTS_TASK, describe_duration
from core.runtime import Runtime
from storage.models import OpsDigest
from storage.queries import incidents as incidents_q
from storage.queries import ops_facts
from storage.queries import task_stats as task_stats_q
from storage.uow import wake_after_commit

log = structlog.get_logger(__name__)

LIST_LIMIT = 10  # lines per section; the rest is counted ("and 4 more")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def p99(values: list[timedelta]) -> float | None:
    """The 99th percentile in seconds (nearest rank), None without values."""
    if not values:
        return None
    ordered = sorted(v.total_seconds() for v in values)
    return round(ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)], 1)


async def build_body(runtime: Runtime, day: date) -> dict[str, Any]:
    """What happened on `day` (UTC), as JSON-ready numbers and short texts."""
    start, end = day_bounds(day)
    async with runtime.db.session() as session:
        runs = await ops_facts.job_runs_by_outcome(session, start, end)
        job_failures = await ops_facts.job_failures_between(session, start, end)
        task_failures = await task_stats_q.failures_between(session, start, end)
        opened = await incidents_q.opened_between(session, start, end)
        resolved = await incidents_q.resolved_between(session, start, end)
        open_now = await incidents_q.list_incidents(session, status=incidents_q.OPEN, limit=LIST_LIMIT + 1)
        open_count = await incidents_q.count_open(session)
        lateness, failed, missed = await ops_facts.deliveries_between(session, start, end)
    published = len(lateness)
    attempted = published + failed + missed
    return {
        "day": day.isoformat(),
        "jobs": {
            "runs": runs,
            "failures": [{"job": name, "failed": n, "last_error": err} for name, n, err in job_failures],
        },
        "tasks": {"failures": [{"task": name, "runs": r, "failed": f} for name, r, f in task_failures]},
        "incidents": {
            "opened": [{"id": i.id, "rule": i.rule, "severity": i.severity.value, "title": i.title} for i in opened],
            "resolved": [
                {
                    "id": i.id,
                    "title": i.title,
                    "lasted": describe_duration(i.resolved_at - i.opened_at) if i.resolved_at else None,
                }
                for i in resolved
            ],
            "open_now": open_count,
            "open": [{"id": i.id, "title": i.title, "opened_at": i.opened_at.isoformat()} for i in open_now],
        },
        "publishing": {
            "published": published,
            "failed": failed,
            "missed": missed,
            "success_rate": round(published / attempted, 4) if attempted else None,
            "lateness_p99_seconds": p99(lateness),
        },
    }


async def make_digest(runtime: Runtime, day: date) -> OpsDigest | None:
    """Write the digest for `day` once (None when it exists already) and wake the ops fan-out that sends it."""
    # A job's boundary: it commits its one insert.
    body = await build_body(runtime, day)
    async with runtime.uow() as uow:
        digest_id = await incidents_q.insert_digest(uow.session, day=day, body=body, now=runtime.clock.now())
        if digest_id is None:
            return None
        wake_after_commit(uow.session, OPS_ALERTS_TASK)
        await uow.commit()
    async with runtime.db.session() as session:
        digest = await session.get(OpsDigest, digest_id)
    log.info("ops_digest_made", day=day.isoformat(), digest_id=digest_id)
    return digest


def _more(items: list[Any]) -> list[str]:
    return [f"  ... and {len(items) - LIST_LIMIT} more"] if len(items) > LIST_LIMIT else []


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def digest_lines(body: dict[str, Any]) -> list[str]:
    """The digest as plain lines (chat and e-mail render these)."""
    lines = [f"Day: {body.get('day', '?')} (UTC)"]
    jobs = body.get("jobs", {})
    runs: dict[str, int] = jobs.get("runs", {})
    total = sum(runs.values())
    outcomes = ", ".join(f"{n} {status}" for status, n in sorted(runs.items(), key=lambda kv: (-kv[1], kv[0])))
    lines.append(f"Job runs: {total}" + (f" ({outcomes})" if outcomes else ""))
    job_failures = jobs.get("failures", [])
    for item in job_failures[:LIST_LIMIT]:
        error = f"; last: {item['last_error']}" if item.get("last_error") else ""
        lines.append(f"  {item['job']} failed {_plural(item['failed'], 'time')}{error}")
    lines += _more(job_failures)
    task_failures = body.get("tasks", {}).get("failures", [])
    if task_failures:
        lines.append("Task failures:")
        for item in task_failures[:LIST_LIMIT]:
            lines.append(f"  {item['task']}: {item['failed']} of {_plural(item['runs'], 'run')} failed")
        lines += _more(task_failures)
    else:
        lines.append("Task failures: none")
    incidents = body.get("incidents", {})
    opened, resolved = incidents.get("opened", []), incidents.get("resolved", [])
    open_now = int(incidents.get("open_now", 0))
    lines.append(f"Incidents: {len(opened)} opened, {len(resolved)} resolved, {open_now} open now")
    for item in opened[:LIST_LIMIT]:
        lines.append(f"  opened #{item['id']} ({item['severity']}): {item['title']}")
    lines += _more(opened)
    for item in resolved[:LIST_LIMIT]:
        lasted = f" after {item['lasted']}" if item.get("lasted") else ""
        lines.append(f"  resolved #{item['id']}{lasted}: {item['title']}")
    lines += _more(resolved)
    for item in incidents.get("open", [])[:LIST_LIMIT]:
        lines.append(f"  still open #{item['id']}: {item['title']}")
    publishing = body.get("publishing", {})
    published, failed, missed = (int(publishing.get(k, 0)) for k in ("published", "failed", "missed"))
    rate, late = publishing.get("success_rate"), publishing.get("lateness_p99_seconds")
    if rate is None:
        lines.append("Publishing: nothing went out or failed")
    else:
        lateness = f"; lateness p99 {describe_duration(timedelta(seconds=late))}" if late is not None else ""
        lines.append(
            f"Publishing: {rate:.1%} success ({published} published, {failed} failed, {missed} missed){lateness}"
        )
    return lines
