"""Real `taskiq worker` processes on the Redis stream broker: heartbeats, running jobs, redelivery after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import pytest
from redis.asyncio import Redis

from core.runtime import Runtime
from core.settings import Settings
from storage.models import Heartbeat, JobRun
from tasks.broker import create_broker
from tasks.queue import TaskiqQueue
from tests.conftest import NO_REDIS, REDIS_UP, TEST_REDIS_URL, make_settings
from tests.factories import eventually, heartbeats, job_runs, process_env
from tests.tasks.slow_task import TASK_NAME as SLOW_TASK

pytestmark = [pytest.mark.redis, pytest.mark.skipif(not REDIS_UP, reason=NO_REDIS)]

TASKIQ_SCRIPT = Path(sys.executable).with_name("taskiq")
TASKIQ = [str(TASKIQ_SCRIPT)] if TASKIQ_SCRIPT.exists() else [sys.executable, "-m", "taskiq"]
# The Procfile's worker command, with the test task module and one child process.
WORKER_ARGS = [
    "worker",
    "tasks.broker:create_broker",
    "tasks.periodic",
    "tests.tasks.slow_task",
    "--ack-type",
    "when_executed",
    "--no-configure-logging",
    "--workers",
    "1",
]
STARTUP = 20.0  # seconds a worker may take to import, connect and beat (about 1.5 s here)
REDELIVER_AFTER = 2.0

T = TypeVar("T")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # A queue of our own on the shared Redis, fast beats, and redelivery after 2 s instead of 120 s.
    return make_settings(
        database_url,
        tmp_path,
        redis_url=TEST_REDIS_URL,
        cheers_task_queue=f"cheers-test:{uuid.uuid4().hex}",
        heartbeat_interval_seconds=0.2,
        cheers_task_redeliver_seconds=REDELIVER_AFTER,
    )


@pytest.fixture
async def queue(settings: Settings, runtime: Runtime) -> AsyncIterator[TaskiqQueue]:
    """A client of the test's queue (it declares the consumer group before any task is sent)."""
    broker = create_broker(settings, runtime)
    await broker.startup()
    try:
        yield TaskiqQueue(broker)
    finally:
        await broker.shutdown()
        async with Redis.from_url(TEST_REDIS_URL) as redis:
            await redis.delete(settings.cheers_task_queue, f"autoclaim:cheers-workers:{settings.cheers_task_queue}")


WorkerStarter = Callable[[str], "subprocess.Popen[bytes]"]


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerStarter]:
    """Starts `taskiq worker` processes, each in its own process group; every one is SIGKILLed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [*TASKIQ, *WORKER_ARGS],
                cwd=tmp_path,  # away from the repository's .env
                env=process_env(settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in started:
            proc.wait(timeout=10)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker's whole process group: the taskiq main process and its child, with no goodbyes."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def log_tails(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(logs.glob("*.log")))


async def expect(
    check: Callable[[], Awaitable[T | None]], what: str, logs: Path, *, within: float = 10.0, interval: float = 0.1
) -> T:
    """`eventually`, with the workers' logs in the failure message."""
    try:
        return await eventually(check, what=what, within=within, interval=interval)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log_tails(logs)}") from None


def worker_beat(
    runtime: Runtime, *, besides: frozenset[str] = frozenset()
) -> Callable[[], Awaitable[Heartbeat | None]]:
    """A check for a worker heartbeat from an instance not in `besides`."""

    async def check() -> Heartbeat | None:
        return next((b for b in await heartbeats(runtime, "worker") if b.instance not in besides), None)

    return check


def deliveries(marker: Path) -> list[tuple[str, str]]:
    """(event, pid) lines the slow task wrote: `started` on each delivery, `finished` when one completed."""
    found: list[tuple[str, str]] = []
    for line in marker.read_text().splitlines() if marker.exists() else []:
        event, pid = line.split()
        found.append((event, pid))
    return found


def drained(queue: TaskiqQueue, *, nudge: bool = False) -> Callable[[], Awaitable[bool | None]]:
    """A check that every message was delivered and acknowledged (no lag, nothing pending).

    With `nudge`, each unsuccessful check sends a heartbeat job: the broker reclaims a dead worker's
    messages only after a read that brought new ones.
    """

    async def check() -> bool | None:
        if await queue.depth() == 0:
            return True
        if nudge:
            await queue.enqueue("job:heartbeat")
        return None

    return check


async def test_worker_process_beats_and_runs_an_enqueued_heartbeat_job(
    runtime: Runtime, queue: TaskiqQueue, start_worker: WorkerStarter, tmp_path: Path
) -> None:
    start_worker("worker")
    first = await expect(worker_beat(runtime), "the worker process to record a heartbeat", tmp_path, within=STARTUP)
    assert first.info == {"broker": "RedisStreamBroker"}, f"the worker should say which broker it serves: {first.info}"

    async def beat_again() -> Heartbeat | None:
        beat = await worker_beat(runtime)()
        return beat if beat is not None and beat.beat_at > first.beat_at else None

    await expect(beat_again, "the worker to beat again after heartbeat_interval_seconds", tmp_path, within=30)

    await queue.enqueue("job:heartbeat")

    async def finished() -> JobRun | None:
        runs = await job_runs(runtime, "heartbeat")
        return runs[0] if runs and runs[0].status != "running" else None

    run = await expect(finished, "the worker to run the enqueued heartbeat job", tmp_path)
    assert (run.status, run.trigger) == ("succeeded", "cron"), f"the job should succeed: {run.status} {run.error}"
    [queue_beat] = await heartbeats(runtime, "queue")
    assert queue_beat.instance == first.instance, "the queue heartbeat names the worker process that ran the job"
    await expect(drained(queue), "the job's message to be acknowledged", tmp_path, within=30)


async def test_task_of_a_killed_worker_is_redelivered_to_another_worker(
    runtime: Runtime, queue: TaskiqQueue, start_worker: WorkerStarter, tmp_path: Path
) -> None:
    first = start_worker("first")
    first_beat = await expect(worker_beat(runtime), "the first worker to beat", tmp_path, within=STARTUP)

    marker = tmp_path / "slow-task.marker"
    await queue.enqueue(SLOW_TASK, marker=str(marker), hold_seconds=60)

    async def picked_up() -> list[tuple[str, str]] | None:
        return deliveries(marker) or None

    [(event, first_pid)] = await expect(picked_up, "the first worker to pick up the slow task", tmp_path)
    assert event == "started" and first_beat.instance.endswith(f":{first_pid}"), (event, first_pid, first_beat)

    # A second worker starts while the first is busy; then the first dies without acknowledging.
    start_worker("second")
    second_beat = await expect(
        worker_beat(runtime, besides=frozenset({first_beat.instance})),
        "the second worker to beat",
        tmp_path,
        within=STARTUP,
    )
    kill(first)
    assert await queue.depth() == 1, "the killed worker's task should still be pending, unacknowledged"

    # The broker hands over stale messages after a read that brought new ones: keep sending a little work.
    async def redelivered() -> list[tuple[str, str]] | None:
        seen = deliveries(marker)
        if any(event == "finished" for event, _ in seen):
            return seen
        await queue.enqueue("job:heartbeat")
        return None

    seen = await expect(
        redelivered,
        "the slow task to be redelivered to the second worker",
        tmp_path,
        within=REDELIVER_AFTER + 10,
        interval=0.25,
    )
    second_pid = second_beat.instance.rsplit(":", 1)[1]
    assert seen == [("started", first_pid), ("started", second_pid), ("finished", second_pid)], (
        f"the task should start on the killed worker, then run to completion once on the second: {seen}"
    )
    # A nudge sent while the killed worker's connection was still closing may have gone to it too.
    await expect(
        drained(queue, nudge=True),
        "every message, the redelivered one included, to be acknowledged",
        tmp_path,
        within=REDELIVER_AFTER + 10,
        interval=0.25,
    )
