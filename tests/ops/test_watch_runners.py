"""Who runs the watch: the scheduler's once-a-minute hook (every worker dead: the incident still gets out) and
the `ops-watch` job (evaluate, then ops chats, then e-mails)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from taskiq import ScheduledTask

from core.clock import FrozenClock
from core.ops.jobs import run_job
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from storage.enums import Severity
from storage.models import Email
from tasks.periodic import TASK_PREFIX
from tasks.schedule import JobScheduleSource
from tests.conftest import make_settings
from tests.ops.support import all_incidents, beat, explain

OPS_ADDRESS = "oncall@cheers.test"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, cheers_ops_emails=OPS_ADDRESS)


@pytest.fixture
async def runtime(settings: Settings, clock: FrozenClock) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, clock=clock)
    yield rt
    await rt.close()


async def emails(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.db.session() as session:
        rows = (await session.execute(select(Email).order_by(Email.id))).scalars().all()
    return [(row.to_address, row.subject) for row in rows]


def scheduled(job: str, cron: str) -> ScheduledTask:
    return ScheduledTask(task_name=TASK_PREFIX + job, labels={}, args=[], kwargs={}, cron=cron)


async def test_the_scheduler_raises_worker_gone_with_every_worker_dead_and_queues_the_email(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await beat(runtime, "worker", "w:1")
    clock.advance(seconds=runtime.settings.heartbeat_stale_seconds + 1)
    source = JobScheduleSource(lambda: runtime)
    await source.pre_send(scheduled("housekeeping", "41 * * * *"))
    assert await all_incidents(runtime) == [], "the scheduler should check once a minute, with the heartbeat job"

    await source.pre_send(scheduled("heartbeat", "* * * * *"))
    await source.ops_watch.wait()  # the check runs beside the send, which does not wait for it
    [gone] = await all_incidents(runtime, "worker_gone")
    assert (gone.key, gone.severity) == ("worker_gone:w:1", Severity.critical), explain([gone])
    queued = await emails(runtime)
    assert [to for to, _ in queued] == [OPS_ADDRESS], f"the incident was not queued for CHEERS_OPS_EMAILS: {queued}"

    await source.pre_send(scheduled("heartbeat", "* * * * *"))
    await source.ops_watch.wait()
    assert len(await all_incidents(runtime)) == 1 and len(await emails(runtime)) == 1, "a second pass doubled it"


async def test_the_ops_watch_job_evaluates_tells_and_sends(runtime: Runtime, clock: FrozenClock) -> None:
    await beat(runtime, "worker", "w:1")  # a worker runs, no scheduler ever did
    result = await run_job(runtime, "ops-watch", trigger="cron")
    assert set(result) == {"evaluate", "alerts", "emails"}, result
    [down] = await all_incidents(runtime, "scheduler_down")
    assert result["evaluate"]["opened"] == [down.id] and "ever recorded" in down.detail, result
    assert [to for to, _ in await emails(runtime)] == [OPS_ADDRESS]
