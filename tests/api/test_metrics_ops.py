"""`/metrics` serves the ops figures read from the database at scrape time (job runs, task failures, incidents,
alert messages, due work, heartbeats), with bounded labels; the Grafana dashboard in docs/ queries only what it
serves, and docs/operations.md names every figure."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.observability import OPS_FAMILIES
from core.clock import FrozenClock
from core.ops import figures
from core.runtime import Runtime, build_runtime
from storage.enums import ChatMessageStatus
from storage.models import Email, JobRun, TaskStat
from tasks.heartbeat import beat_once
from tests import factories
from tests.api.ops_support import open_incident, resolve_all
from tests.conftest import make_settings
from tests.publishing.support import schedule

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "cheers-ops.json"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    """Every sample /metrics serves, by name and sorted labels."""
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def of(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


async def job_run(runtime: Runtime, name: str, status: str, started_at: datetime) -> None:
    async with runtime.uow() as uow:
        uow.session.add(
            JobRun(name=name, trigger="schedule", started_at=started_at, finished_at=started_at, status=status)
        )
        await uow.commit()


async def task_stat(runtime: Runtime, task: str, bucket: datetime, runs: int, failures: int, instance: str) -> None:
    async with runtime.uow() as uow:
        uow.session.add(TaskStat(task_name=task, bucket=bucket, instance=instance, runs=runs, failures=failures))
        await uow.commit()


async def email(runtime: Runtime, n: int, status: ChatMessageStatus, due_at: datetime) -> None:
    async with runtime.uow() as uow:
        uow.session.add(
            Email(
                dedup_key=f"test:{n}",
                kind="ops_incident",
                to_address="ops@cheers.test",
                subject="Job housekeeping is failing",
                text_body="3 runs failed",
                html_body="<p>3 runs failed</p>",
                status=status,
                next_attempt_at=due_at,
                last_error="503 from Resend" if status is ChatMessageStatus.failed else None,
            )
        )
        await uow.commit()


async def test_the_figures_reflect_the_rows_at_each_scrape(
    runtime: Runtime, clock: FrozenClock, client: httpx.AsyncClient
) -> None:
    now = clock.now()
    await job_run(runtime, "housekeeping", "failed", now - timedelta(minutes=20))
    await job_run(runtime, "housekeeping", "failed", now - timedelta(hours=3))
    await job_run(runtime, "housekeeping", "succeeded", now - timedelta(hours=30))  # outside both windows
    await job_run(runtime, "publish-watchdog", "succeeded", now - timedelta(minutes=1))
    minute = now.replace(second=0, microsecond=0)
    await task_stat(runtime, "publish", minute - timedelta(minutes=5), runs=10, failures=4, instance="w1")
    await task_stat(runtime, "publish", minute - timedelta(minutes=5), runs=6, failures=1, instance="w2")
    await task_stat(runtime, "publish", minute - timedelta(hours=2), runs=50, failures=50, instance="w1")
    incident = await open_incident(runtime, "housekeeping")
    await email(runtime, 1, ChatMessageStatus.failed, now - timedelta(minutes=10))
    await email(runtime, 2, ChatMessageStatus.pending, now - timedelta(minutes=5))
    await email(runtime, 3, ChatMessageStatus.pending, now + timedelta(minutes=5))  # retrying later: not yet due
    await email(runtime, 4, ChatMessageStatus.sent, now - timedelta(minutes=1))
    venue = await factories.venue(runtime)
    connection = await factories.connection(runtime, venue, access_token="page-token")
    await schedule(runtime, venue, [connection])  # due now: nothing picks it up (no worker in this test)
    await beat_once(runtime, "scheduler", None, {})
    clock.advance(seconds=90)
    await beat_once(runtime, "worker", None, {})
    clock.advance(seconds=30)

    samples = await scrape(client)

    assert value(samples, "cheers_ops_figures_up") == 1.0, "the figures were read"
    runs = "cheers_job_runs"
    assert value(samples, runs, job="housekeeping", outcome="failed", window="1h") == 1.0, of(samples, runs)
    assert value(samples, runs, job="housekeeping", outcome="failed", window="24h") == 2.0, of(samples, runs)
    assert value(samples, runs, job="housekeeping", outcome="succeeded", window="24h") == 0.0, of(samples, runs)
    assert value(samples, runs, job="publish-watchdog", outcome="succeeded", window="1h") == 1.0, of(samples, runs)
    assert value(samples, runs, job="oauth-states-cleanup", outcome="failed", window="1h") == 0.0, (
        "every registered job shows at zero, so its series exist before its first failure"
    )
    assert value(samples, "cheers_task_runs", task="publish", window="1h") == 16.0, of(samples, "cheers_task_runs")
    assert value(samples, "cheers_task_failures", task="publish", window="1h") == 5.0, "both processes, last hour"
    opened = "cheers_incidents_open"
    assert value(samples, opened, rule="job_failing", severity="error") == 1.0, of(samples, opened)
    assert value(samples, opened, rule="scheduler_down", severity="critical") == 0.0, of(samples, opened)
    messages = "cheers_alert_messages"
    assert value(samples, messages, channel="email", status="failed", window="24h") == 1.0, of(samples, messages)
    assert value(samples, messages, channel="email", status="pending", window="24h") == 2.0, of(samples, messages)
    assert value(samples, messages, channel="email", status="sent", window="24h") == 1.0, of(samples, messages)
    assert value(samples, messages, channel="ops_chat", status="failed", window="24h") == 0.0, of(samples, messages)
    assert value(samples, messages, channel="venue_chat", status="pending", window="24h") == 0.0
    due_age = "cheers_alert_oldest_due_age_seconds"
    assert value(samples, due_age, channel="email") == 420.0, "the pending e-mail due 5 min before, 2 min ago"
    assert value(samples, due_age, channel="ops_chat") == 0.0, of(samples, due_age)
    assert value(samples, "cheers_deliveries_due") == 1.0, "the post due when scheduled, 2 minutes ago"
    assert value(samples, "cheers_deliveries_oldest_due_age_seconds") == 120.0
    ages = "cheers_heartbeat_age_seconds"
    assert value(samples, ages, component="worker") == 30.0, of(samples, ages)
    assert value(samples, ages, component="scheduler") == 120.0, of(samples, ages)
    assert value(samples, ages, component="queue") is None, "a component that never beat has no age"
    assert value(samples, "cheers_worker_heartbeat_age_seconds") == 30.0, "the older gauge follows the scrape"

    # The next scrape reads the rows again: the incident resolved, the failed job outside the hour.
    clock.advance(minutes=60)
    await resolve_all(runtime)
    samples = await scrape(client)
    assert value(samples, opened, rule="job_failing", severity="error") == 0.0, f"incident {incident} resolved"
    assert value(samples, runs, job="housekeeping", outcome="failed", window="1h") == 0.0, of(samples, runs)
    assert value(samples, runs, job="housekeeping", outcome="failed", window="24h") == 2.0, of(samples, runs)
    assert value(samples, "cheers_task_runs", task="publish", window="1h") == 0.0, "the runs left the hour"


async def test_task_names_past_the_cap_share_one_label(runtime: Runtime, clock: FrozenClock) -> None:
    minute = clock.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    for n in range(figures.MAX_NAMES + 20):
        # Task 0 ran most; the 20 that ran least are the ones folded into "other".
        await task_stat(runtime, f"task-{n:03}", minute, runs=1000 - n, failures=1, instance="w1")

    read = await figures.read(runtime)

    assert len(read.task_runs) == figures.MAX_NAMES + 1, f"{len(read.task_runs)} task labels"
    assert read.task_runs["other"] == sum(1000 - n for n in range(figures.MAX_NAMES, figures.MAX_NAMES + 20))
    assert read.task_failures["other"] == 20 and read.task_runs["task-000"] == 1000, read.task_failures
    assert f"task-{figures.MAX_NAMES:03}" not in read.task_runs, "the least-run tasks are folded into other"


async def test_an_unreadable_database_says_up_0_and_still_serves_the_request_metrics(tmp_path: Path) -> None:
    # An empty SQLite file: the database answers, but none of the tables are there.
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", tmp_path)
    runtime = build_runtime(settings, clock=FrozenClock(datetime.fromisoformat("2026-11-25T12:00:00+00:00")))
    try:
        async with factories.app_client(runtime) as client:
            await client.get("/healthz")
            samples = await scrape(client)
    finally:
        await runtime.close()
    assert value(samples, "cheers_ops_figures_up") == 0.0, "a failed read must say so"
    assert not of(samples, "cheers_job_runs"), "no stale or made-up figures when the read failed"
    assert value(samples, "cheers_http_requests_total", method="GET", route="/healthz", status="200") == 1.0


def _dashboard_metrics() -> set[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
    assert exprs, "the dashboard has queries"
    return {name for expr in exprs for name in re.findall(r"\bcheers_[a-z0-9_]+", expr)}


async def test_every_metric_the_dashboard_queries_is_served(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")  # the request counter has a sample to show
    r = await client.get("/metrics")
    families = list(text_string_to_metric_families(r.text))
    # A family is served even with no samples yet (no task has run); histograms as _bucket/_count/_sum series.
    served = {f.name for f in families} | {s.name for f in families for s in f.samples}
    missing = sorted(_dashboard_metrics() - served)
    assert not missing, f"docs/grafana/cheers-ops.json queries metrics /metrics does not serve: {missing}"
    assert set(OPS_FAMILIES) - {"cheers_ops_figures_read_seconds"} <= _dashboard_metrics(), (
        "every ops figure has a panel: " + ", ".join(sorted(set(OPS_FAMILIES) - _dashboard_metrics()))
    )


def test_the_dashboard_is_importable_with_a_prometheus_datasource_input() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    [source] = [i for i in board["__inputs"] if i["type"] == "datasource"]
    assert source["name"] == "DS_PROMETHEUS" and source["pluginId"] == "prometheus", source
    for panel in board["panels"]:
        if panel.get("type") == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", f"panel {panel['title']!r}: {panel['datasource']}"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {ids}"


def test_operations_doc_names_every_figure_with_its_labels() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("## Metrics and dashboard", 1)[-1].split("\n## ", 1)[0]
    for name, (_, labels) in OPS_FAMILIES.items():
        assert f"`{name}`" in section, f"docs/operations.md 'Metrics and dashboard' does not name {name}"
        for label in labels:
            assert f"`{label}`" in section, f"docs/operations.md does not explain the label {label} ({name})"
