"""The ops figures `/metrics` serves, read from the database when Prometheus scrapes.

Jobs, tasks and deliveries run in several worker processes (and the scheduler), so no single process's counters
know them; the tables do. Every label value here comes from a fixed list or from names the code defines, and
names read from rows are capped (`MAX_NAMES`), so a scrape never grows without bound.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.ops.incidents import RULES
from core.ops.jobs import JOBS
from core.runtime import Runtime
from storage.enums import ChatMessageStatus
from storage.models import ChatAlertMessage, Email, OpsMessage
from storage.queries import deliveries as deliveries_q
from storage.queries import figures as figures_q
from storage.queries import ops as ops_q

# The trailing windows job runs are counted over (label `window`); tasks and alert messages use one each.
JOB_WINDOWS: dict[str, timedelta] = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}
TASK_WINDOW = ("1h", timedelta(hours=1))
# A task that ran within this long stays on the scrape at zero once its runs leave TASK_WINDOW.
TASK_SEEN = timedelta(hours=24)
ALERT_WINDOW = ("24h", timedelta(hours=24))
# Outcomes shown even at zero, so a dashboard's series exist before the first failure.
JOB_OUTCOMES = ("succeeded", "failed")
KNOWN_JOB_STATUSES = frozenset({"running", "succeeded", "failed"})
# Open incidents are shown at zero for every rule (core.ops.incidents.RULES) at these severities.
INCIDENT_SEVERITIES = ("warning", "error", "critical")
# Where an alert message waits: a venue's chat, an ops chat (staff), an e-mail.
CHANNELS: dict[str, figures_q.AlertTable] = {"venue_chat": ChatAlertMessage, "ops_chat": OpsMessage, "email": Email}
COMPONENTS = ("worker", "scheduler", "queue")
# Task and job names come from code, but rows outlive code: more distinct names than this share "other".
MAX_NAMES = 100
OTHER = "other"


@dataclass(frozen=True)
class Figures:
    """One scrape's numbers; label values are plain strings, ages are seconds."""

    read_at: datetime
    job_runs: dict[tuple[str, str, str], int]  # (job, outcome, window) -> runs started in the window
    task_runs: dict[str, int]  # task -> runs in TASK_WINDOW (every process)
    task_failures: dict[str, int]  # task -> failed runs in TASK_WINDOW
    open_incidents: dict[tuple[str, str], int]  # (rule, severity) -> open incidents
    alert_messages: dict[tuple[str, str], int]  # (channel, status) -> messages made in ALERT_WINDOW
    alert_oldest_due_seconds: dict[str, float]  # channel -> how long the longest-waiting due message has waited
    deliveries_due: int  # post deliveries due and not picked up
    deliveries_oldest_due_seconds: float  # how long the oldest of those has been due (0 when none)
    heartbeat_age_seconds: dict[str, float]  # component -> age of its newest beat (absent: never beat)


def capped(totals: Mapping[str, int], keep: Iterable[str] = ()) -> dict[str, str]:
    """Each name's label: itself for the `MAX_NAMES` biggest (and every name in `keep`), else "other"."""
    keep = set(keep)
    ranked = sorted((n for n in totals if n not in keep), key=lambda n: (-totals[n], n))
    room = max(0, MAX_NAMES - len(keep))
    labels = {name: name for name in keep}
    labels.update({name: name if i < room else OTHER for i, name in enumerate(ranked)})
    return labels


def _age(now: datetime, since: datetime | None) -> float:
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())


async def read(runtime: Runtime) -> Figures:
    """Every figure, from one read-only session (nothing is written, so nothing is committed)."""
    now = runtime.clock.now()
    async with runtime.db.session() as session:
        runs = {w: await figures_q.job_run_counts(session, since=now - d) for w, d in JOB_WINDOWS.items()}
        tasks = await figures_q.task_totals(session, since=now - TASK_WINDOW[1], seen_since=now - TASK_SEEN)
        incidents = await figures_q.open_incident_counts(session)
        messages = {
            c: await figures_q.message_counts(session, t, since=now - ALERT_WINDOW[1]) for c, t in CHANNELS.items()
        }
        oldest_messages = {c: await figures_q.oldest_due_message(session, t, now=now) for c, t in CHANNELS.items()}
        due = await deliveries_q.due_unclaimed(session, due_before=now)
        beats = await ops_q.heartbeats(session)

    job_totals: Counter[str] = Counter()
    for rows in runs.values():
        for name, _, n in rows:
            job_totals[name] += n
    job_label = capped(job_totals, keep=JOBS)
    job_runs: Counter[tuple[str, str, str]] = Counter(
        {(job, outcome, w): 0 for job in JOBS for outcome in JOB_OUTCOMES for w in JOB_WINDOWS}
    )
    for window, rows in runs.items():
        for name, status, n in rows:
            job_runs[(job_label[name], status if status in KNOWN_JOB_STATUSES else OTHER, window)] += n

    task_label = capped({name: r for name, r, _ in tasks})
    task_runs: Counter[str] = Counter()
    task_failures: Counter[str] = Counter()
    for name, r, failed in tasks:
        task_runs[task_label[name]] += r
        task_failures[task_label[name]] += failed

    open_incidents: Counter[tuple[str, str]] = Counter(
        {(rule, severity): 0 for rule in RULES for severity in INCIDENT_SEVERITIES}
    )
    for rule, severity, n in incidents:
        open_incidents[(rule if rule in RULES else OTHER, severity)] += n

    statuses = [s.value for s in ChatMessageStatus]
    alert_messages = {
        (channel, status): counts.get(status, 0) for channel, counts in messages.items() for status in statuses
    }
    newest: dict[str, datetime] = {}
    for beat in beats:
        if beat.component in COMPONENTS and (beat.component not in newest or beat.beat_at > newest[beat.component]):
            newest[beat.component] = beat.beat_at
    return Figures(
        read_at=now,
        job_runs=dict(job_runs),
        task_runs=dict(task_runs),
        task_failures=dict(task_failures),
        open_incidents=dict(open_incidents),
        alert_messages=alert_messages,
        alert_oldest_due_seconds={c: _age(now, oldest) for c, oldest in oldest_messages.items()},
        deliveries_due=sum(int(row["count"]) for row in due),
        deliveries_oldest_due_seconds=_age(now, min((row["oldest_due"] for row in due), default=None)),
        heartbeat_age_seconds={c: _age(now, at) for c, at in newest.items()},
    )
