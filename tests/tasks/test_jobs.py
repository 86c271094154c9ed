"""Periodic jobs: recorded runs, failures, the queue heartbeat, and the in-process worker of `make dev`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from core.clock import FrozenClock
from core.errors import NotFound
from core.ops import jobs
from core.ops.jobs import JOBS, JobSpec, instance_name, run_job
from core.runtime import Runtime
from core.settings import Settings
from storage.models import Heartbeat, JobRun
from tasks.inprocess import InProcessWorkers
from tests.conftest import make_settings
from tests.factories import SYSTEM, audit_entries, eventually, heartbeats, job_runs


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # In-process workers beat every 50 ms here, so tests see a beat without waiting 10 s.
    return make_settings(database_url, tmp_path, heartbeat_interval_seconds=0.05)


@pytest.fixture
def failing_job() -> Iterator[str]:
    """A registered job that always raises (removed again afterwards)."""

    async def explode(runtime: Runtime) -> dict[str, Any]:
        raise RuntimeError("the sweep broke")

    spec = JobSpec("test-failing", "0 0 * * *", "Always fails (tests).", explode)
    jobs.register(spec)
    try:
        yield spec.name
    finally:
        jobs.JOBS.pop(spec.name, None)


@pytest.fixture
async def workers(runtime: Runtime) -> AsyncIterator[InProcessWorkers]:
    """The worker half of `make dev` (no scheduler, so only the tests enqueue work)."""
    w = InProcessWorkers(runtime, with_scheduler=False)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()


async def one_run(runtime: Runtime, name: str) -> JobRun:
    runs = await job_runs(runtime, name)
    assert len(runs) == 1, f"expected exactly one recorded run of {name}: {[(r.status, r.trigger) for r in runs]}"
    return runs[0]


async def worker_beat(runtime: Runtime) -> Heartbeat | None:
    beats = await heartbeats(runtime, "worker")
    return beats[0] if beats else None


# --- run_job ---


async def test_run_job_records_a_succeeded_run_with_its_result(runtime: Runtime, clock: FrozenClock) -> None:
    result = await run_job(runtime, "housekeeping", trigger="cron")
    assert result == {"expired_credentials_removed": 0, "job_runs_removed": 0}, result
    run = await one_run(runtime, "housekeeping")
    assert (run.status, run.trigger, run.error) == ("succeeded", "cron", None), vars(run)
    assert run.result == result, f"the stored result should be what the job returned: {run.result}"
    assert run.started_at == clock.now() and run.finished_at == clock.now(), (run.started_at, run.finished_at)
    assert run.actor_user_id is None
    assert await audit_entries(runtime, "job_run") == [], "scheduled runs are not audited"


async def test_a_failing_job_records_failed_with_the_error_and_reraises(runtime: Runtime, failing_job: str) -> None:
    with pytest.raises(RuntimeError, match="the sweep broke"):
        await run_job(runtime, failing_job, trigger="cron")
    run = await one_run(runtime, failing_job)
    assert run.status == "failed", f"a raising job should be recorded as failed, not {run.status}"
    assert run.error == "RuntimeError: the sweep broke", f"the error should be recorded: {run.error!r}"
    assert run.result == {} and run.finished_at is not None, vars(run)


async def test_manual_run_by_an_operator_is_recorded_and_audited(runtime: Runtime) -> None:
    await run_job(runtime, "notifications-purge", trigger="manual", actor=SYSTEM)
    run = await one_run(runtime, "notifications-purge")
    assert (run.trigger, run.status) == ("manual", "succeeded"), vars(run)
    assert run.result == {"removed": 0, "retention_days": runtime.settings.notification_retention_days}
    [entry] = await audit_entries(runtime, "job_run")
    assert (entry.subject_type, entry.subject_id, entry.channel.value) == ("job", "notifications-purge", "cli")


async def test_running_an_unknown_job_is_not_found_and_records_nothing(runtime: Runtime) -> None:
    with pytest.raises(NotFound, match="known jobs: " + ", ".join(sorted(JOBS))):
        await run_job(runtime, "no-such-job", trigger="manual", actor=SYSTEM)
    assert await job_runs(runtime) == [], "an unknown job must not leave a run behind"


async def test_heartbeat_job_records_a_queue_heartbeat(runtime: Runtime, clock: FrozenClock) -> None:
    result = await run_job(runtime, "heartbeat", trigger="cron")
    [beat] = await heartbeats(runtime, "queue")
    assert beat.instance == instance_name(), f"the queue beat should name the process that ran it: {beat.instance}"
    assert beat.beat_at == clock.now(), beat.beat_at
    assert result == {"beat_at": clock.now().isoformat()}, result

    clock.advance(minutes=1)
    await run_job(runtime, "heartbeat", trigger="cron")
    [beat] = await heartbeats(runtime, "queue")
    assert beat.beat_at == clock.now(), "a later run moves the same instance's beat forward"


# --- the in-process worker (`make dev`) ---


async def test_inprocess_worker_beats_every_interval_until_stopped(
    runtime: Runtime, clock: FrozenClock, workers: InProcessWorkers
) -> None:
    first = await eventually(lambda: worker_beat(runtime), what="the in-process worker's first heartbeat", within=30)
    assert first.instance == instance_name() and first.info == {"broker": "InMemoryBroker"}, vars(first)
    assert first.started_at == clock.now(), first.started_at

    clock.advance(seconds=30)

    async def moved_on() -> Heartbeat | None:
        beat = await worker_beat(runtime)
        return beat if beat is not None and beat.beat_at == clock.now() else None

    later = await eventually(moved_on, what="a second heartbeat at the advanced clock", within=30)
    assert later.started_at == first.started_at, "started_at stays at the worker's start"

    await workers.stop()
    clock.advance(seconds=30)
    await asyncio.sleep(runtime.settings.heartbeat_interval_seconds * 5)  # a running loop would have beaten
    # A clean stop deletes the row (only a death leaves a stale one for the worker_gone rule), and it stays gone.
    assert await worker_beat(runtime) is None, "a stopped worker must not keep beating nor leave its heartbeat"


async def test_enqueued_heartbeat_job_runs_on_the_inprocess_worker(
    runtime: Runtime, clock: FrozenClock, workers: InProcessWorkers
) -> None:
    assert runtime.queue is not None, "starting the workers should give the runtime a queue"
    await runtime.queue.enqueue("job:heartbeat")

    async def finished() -> JobRun | None:
        runs = await job_runs(runtime, "heartbeat")
        return runs[0] if runs and runs[0].status != "running" else None

    run = await eventually(finished, what="the enqueued heartbeat job to finish", within=30)
    assert (run.status, run.trigger) == ("succeeded", "cron"), vars(run)
    assert run.result == {"beat_at": clock.now().isoformat()}, run.result
    [beat] = await heartbeats(runtime, "queue")
    assert beat.instance == instance_name(), "the task ran in this process"


async def test_status_turns_healthy_with_the_inprocess_worker(runtime: Runtime) -> None:
    app: Any = create_app(runtime=runtime, inprocess_workers=True, configure_logs=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local") as client,
    ):

        async def healthy() -> dict[str, Any] | None:
            r = await client.get("/api/status")
            body: dict[str, Any] = r.json()
            return body if r.status_code == 200 else None

        body = await eventually(healthy, what="/api/status to turn 200 with in-process workers", within=30)
    assert body["worker"]["healthy"] and body["scheduler"]["healthy"], body
    [worker] = body["worker"]["instances"]
    assert worker["broker"] == "InMemoryBroker" and worker["instance"] == instance_name(), worker
