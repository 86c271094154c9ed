"""The daily digest's content for a day with known job runs, task failures, incidents and posts; written once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update

from core.clock import FrozenClock
from core.ops import digest, incidents
from core.ops.incidents import Finding
from core.ops.jobs import run_job
from core.runtime import Runtime
from storage.enums import DeliveryStatus, Severity
from storage.models import Post, PostTarget
from storage.queries import ops as ops_q
from storage.queries import task_stats as task_stats_q
from storage.queries.task_stats import StatRow
from tests import factories
from tests.publishing.support import schedule

DAY = date(2026, 11, 24)  # the test clock stands at 2026-11-25 12:00: this is "yesterday"


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC)


async def job_run(runtime: Runtime, name: str, when: datetime, status: str, error: str | None = None) -> None:
    async with runtime.uow() as uow:
        run = await ops_q.start_job_run(uow.session, name=name, trigger="cron", now=when, actor_user_id=None)
        await ops_q.finish_job_run(uow.session, run.id, now=when, status=status, result={}, error=error)
        await uow.commit()


async def post_out(runtime: Runtime, venue_id: int, connection_id: int, due: datetime, **target: object) -> None:
    """A post scheduled for `due` whose one delivery ended as `target` says."""
    saved = await schedule(runtime, venue_id, [connection_id])
    async with runtime.uow() as uow:
        await uow.session.execute(update(Post).where(Post.id == saved.post.id).values(scheduled_at=due))
        await uow.session.execute(update(PostTarget).where(PostTarget.post_id == saved.post.id).values(**target))
        await uow.commit()


async def test_digest_of_a_day_with_known_runs_failures_incidents_and_posts(
    runtime: Runtime, clock: FrozenClock
) -> None:
    for hour in (1, 2, 3):
        await job_run(runtime, "heartbeat", at(hour), "succeeded")
    await job_run(runtime, "housekeeping", at(4), "failed", "Traceback...\nValueError: disk full")
    await job_run(runtime, "housekeeping", at(5), "failed", "Traceback...\nValueError: disk still full")
    await job_run(runtime, "heartbeat", at(23, 59, 59) + timedelta(seconds=1), "succeeded")  # the next day
    async with runtime.uow() as uow:
        row = StatRow("publish-delivery", at(6), runs=40, failures=2, last_error="Boom: x", last_error_at=at(6))
        await task_stats_q.add(uow.session, "w:1", row)
        await task_stats_q.add(uow.session, "w:1", StatRow("media-derivatives", at(6), runs=9))
        await uow.commit()

    finding = Finding("job_failing", "job_failing:housekeeping", Severity.error, "Job housekeeping is failing", "2")
    other = Finding("scheduler_down", "scheduler_down", Severity.critical, "The scheduler is not running", "gone")
    async with runtime.uow() as uow:
        await incidents.reconcile(uow.session, FrozenClock(at(5)), [finding, other], ["job_failing"])
        await incidents.reconcile(uow.session, FrozenClock(at(6, 30)), [other], ["job_failing"])
        await uow.commit()

    venue_id = await factories.venue(runtime)
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token")
    for lateness in (0, 10, 30, 120):
        due = at(18)
        await post_out(
            runtime, venue_id, connection_id, due,
            status=DeliveryStatus.published, published_at=due + timedelta(seconds=lateness),
        )  # fmt: skip
    await post_out(runtime, venue_id, connection_id, at(19), status=DeliveryStatus.failed, updated_at=at(19, 1))
    await post_out(  # published today: not yesterday's
        runtime, venue_id, connection_id, at(23), status=DeliveryStatus.published, published_at=clock.now()
    )

    made = await digest.make_digest(runtime, DAY)
    assert made is not None and made.day == DAY
    body = made.body
    assert body["jobs"]["runs"] == {"succeeded": 3, "failed": 2}, body["jobs"]
    assert body["jobs"]["failures"] == [
        {"job": "housekeeping", "failed": 2, "last_error": "ValueError: disk still full"}
    ]
    assert body["tasks"]["failures"] == [{"task": "publish-delivery", "runs": 40, "failed": 2}], body["tasks"]
    assert [i["title"] for i in body["incidents"]["opened"]] == [
        "Job housekeeping is failing",
        "The scheduler is not running",
    ], body["incidents"]
    assert body["incidents"]["resolved"] == [
        {"id": 1, "title": "Job housekeeping is failing", "lasted": "1 h 30 min"}
    ], body["incidents"]
    assert body["incidents"]["open_now"] == 1, body["incidents"]
    assert body["publishing"] == {
        "published": 4,
        "failed": 1,
        "missed": 0,
        "success_rate": 0.8,
        "lateness_p99_seconds": 120.0,
    }, body["publishing"]

    lines = digest.digest_lines(body)
    assert lines == [
        "Day: 2026-11-24 (UTC)",
        "Job runs: 5 (3 succeeded, 2 failed)",
        "  housekeeping failed 2 times; last: ValueError: disk still full",
        "Task failures:",
        "  publish-delivery: 2 of 40 runs failed",
        "Incidents: 2 opened, 1 resolved, 1 open now",
        "  opened #1 (error): Job housekeeping is failing",
        "  opened #2 (critical): The scheduler is not running",
        "  resolved #1 after 1 h 30 min: Job housekeeping is failing",
        "  still open #2: The scheduler is not running",
        "Publishing: 80.0% success (4 published, 1 failed, 0 missed); lateness p99 2 min",
    ], "\n".join(lines)

    assert await digest.make_digest(runtime, DAY) is None, "a second digest for the same day was written"


async def test_the_ops_digest_job_writes_yesterdays_digest_once(runtime: Runtime) -> None:
    first = await run_job(runtime, "ops-digest", trigger="cron")
    again = await run_job(runtime, "ops-digest", trigger="cron")
    assert first["day"] == "2026-11-24" and first["digest_id"] is not None, first
    assert again == {"day": "2026-11-24", "digest_id": None}, again
    made = await digest.make_digest(runtime, date(2026, 11, 23))
    assert made is not None
    assert digest.digest_lines(made.body)[-1] == "Publishing: nothing went out or failed"
