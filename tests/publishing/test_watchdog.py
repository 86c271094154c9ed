"""The watchdog: due work that nothing picks up raises one `queue_stalled` per venue, never silence."""

from __future__ import annotations

from taskiq import ScheduledTask

from core.clock import FrozenClock
from core.ops.jobs import JOBS, run_job
from core.publishing import watchdog
from core.runtime import Runtime
from storage.models import Notification
from tasks.heartbeat import beat_once
from tasks.periodic import TASK_PREFIX
from tasks.schedule import JobScheduleSource
from tests import factories
from tests.publishing.support import notifications_of, schedule


async def worker_beats(runtime: Runtime) -> None:
    await beat_once(runtime, "worker", None, {})


async def venue_with_connection(runtime: Runtime) -> tuple[int, int]:
    venue_id = await factories.venue(runtime)
    return venue_id, await factories.connection(runtime, venue_id, access_token="page-token")


async def stalled(runtime: Runtime, venue_id: int) -> list[Notification]:
    return await notifications_of(runtime, venue_id, watchdog.KIND)


async def test_post_late_with_a_live_worker_raises_one_stalled_alert_per_half_hour(
    runtime: Runtime, clock: FrozenClock
) -> None:
    venue_id, connection_id = await venue_with_connection(runtime)
    await schedule(runtime, venue_id, [connection_id])
    clock.advance(minutes=10)
    await worker_beats(runtime)

    result = await watchdog.check(runtime)
    assert result == {"late": 1, "venues": 1, "notified": 1, "worker_running": True}, result
    [alert] = await stalled(runtime, venue_id)
    assert alert.title == "1 post is late: nothing has picked them up for 10 minutes", alert.title
    assert alert.severity.value == "error"
    assert alert.payload["count"] == 1 and alert.payload["checks"] and alert.payload["remedy"], alert.payload
    assert alert.payload["oldest_due"] == "2026-11-25T12:00:00+00:00", alert.payload

    clock.advance(minutes=29)
    await worker_beats(runtime)
    again = await watchdog.check(runtime)
    assert again["late"] == 1 and again["notified"] == 0, f"the second check within 30 minutes alerted: {again}"
    assert len(await stalled(runtime, venue_id)) == 1, "the venue was told twice within 30 minutes"


async def test_post_due_a_minute_ago_is_not_late(runtime: Runtime, clock: FrozenClock) -> None:
    venue_id, connection_id = await venue_with_connection(runtime)
    await schedule(runtime, venue_id, [connection_id])
    clock.advance(minutes=1)
    await worker_beats(runtime)

    result = await watchdog.check(runtime)
    assert result["late"] == 0 and result["notified"] == 0, result
    assert await stalled(runtime, venue_id) == [], "a post due a minute ago was reported late"


async def test_due_post_without_any_worker_says_no_worker_is_running(runtime: Runtime, clock: FrozenClock) -> None:
    venue_id, connection_id = await venue_with_connection(runtime)
    await schedule(runtime, venue_id, [connection_id], text="Two for one on cocktails")
    clock.advance(minutes=1)

    result = await watchdog.check(runtime)
    assert result["worker_running"] is False and result["notified"] == 1, result
    [alert] = await stalled(runtime, venue_id)
    assert "no worker is running" in alert.title, alert.title
    assert alert.payload["worker_last_seen"] is None, alert.payload


async def test_stale_worker_heartbeat_counts_as_no_worker(runtime: Runtime, clock: FrozenClock) -> None:
    venue_id, connection_id = await venue_with_connection(runtime)
    await worker_beats(runtime)
    clock.advance(minutes=runtime.settings.cheers_worker_stale_minutes + 1)
    await schedule(runtime, venue_id, [connection_id])
    clock.advance(seconds=30)

    result = await watchdog.check(runtime)
    assert result["worker_running"] is False, f"a worker silent for minutes counted as running: {result}"
    [alert] = await stalled(runtime, venue_id)
    assert "no worker is running" in alert.title and alert.payload["worker_last_seen"], alert.payload


async def test_nothing_due_and_no_worker_raises_nothing(runtime: Runtime, clock: FrozenClock) -> None:
    venue_id, connection_id = await venue_with_connection(runtime)
    await schedule(runtime, venue_id, [connection_id], when="2026-11-25T19:30")
    clock.advance(minutes=30)

    result = await watchdog.check(runtime)
    assert result == {"late": 0, "venues": 0, "notified": 0, "worker_running": False}, result
    assert await stalled(runtime, venue_id) == [], "an idle service with no worker raised an alert"


async def test_each_venue_hears_only_about_its_own_late_posts(runtime: Runtime, clock: FrozenClock) -> None:
    first, first_connection = await venue_with_connection(runtime)
    second, second_connection = await venue_with_connection(runtime)
    await schedule(runtime, first, [first_connection])
    await schedule(runtime, first, [first_connection], text="Live music Friday")
    await schedule(runtime, second, [second_connection])
    clock.advance(minutes=7)
    await worker_beats(runtime)

    result = await watchdog.check(runtime)
    assert result["venues"] == 2 and result["late"] == 3, result
    [first_alert] = await stalled(runtime, first)
    assert first_alert.title == "2 posts are late: nothing has picked them up for 7 minutes", first_alert.title
    assert [a.payload["count"] for a in await stalled(runtime, second)] == [1]


async def test_watchdog_runs_every_minute_as_a_registered_job(runtime: Runtime, clock: FrozenClock) -> None:
    spec = JOBS["publish-watchdog"]
    assert spec.cron == "* * * * *", spec
    venue_id, connection_id = await venue_with_connection(runtime)
    await schedule(runtime, venue_id, [connection_id])
    clock.advance(minutes=6)

    result = await run_job(runtime, "publish-watchdog", trigger="manual")
    assert result["notified"] == 1, result
    assert len(await stalled(runtime, venue_id)) == 1


async def test_scheduler_notices_when_every_worker_is_dead(runtime: Runtime, clock: FrozenClock) -> None:
    # With no worker the `publish-watchdog` job is never taken off the queue: the scheduler checks itself.
    venue_id, connection_id = await venue_with_connection(runtime)
    await schedule(runtime, venue_id, [connection_id])
    clock.advance(minutes=2)
    source = JobScheduleSource(lambda: runtime)
    other = ScheduledTask(task_name=TASK_PREFIX + "housekeeping", labels={}, args=[], kwargs={}, cron="41 * * * *")
    await source.pre_send(other)
    assert await stalled(runtime, venue_id) == [], "the scheduler should check once a minute, with the heartbeat"

    heartbeat = ScheduledTask(task_name=TASK_PREFIX + "heartbeat", labels={}, args=[], kwargs={}, cron="* * * * *")
    await source.pre_send(heartbeat)
    [alert] = await stalled(runtime, venue_id)
    assert "no worker is running" in alert.title, alert.title
