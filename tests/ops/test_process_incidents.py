"""A stopped scheduler and a dead worker raise their incidents (stale heartbeats via the injected clock) and
resolve; a worker that stops cleanly raises nothing."""

from __future__ import annotations

from core.clock import FrozenClock
from core.runtime import Runtime
from storage.enums import Severity
from tasks.heartbeat import HeartbeatLoop
from tests import factories
from tests.ops.support import all_incidents, beat, explain, watch


async def test_stopped_scheduler_raises_scheduler_down_and_resolves_when_it_beats(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await beat(runtime, "scheduler", "sched:1")
    await beat(runtime, "worker", "w:1")
    await watch(runtime)
    assert await all_incidents(runtime) == [], "a healthy scheduler and worker raised something"

    stale = runtime.settings.scheduler_stale_seconds
    clock.advance(seconds=stale + 1)
    await beat(runtime, "worker", "w:1")  # the worker keeps going; the scheduler stopped
    opened = await watch(runtime)
    [incident] = await all_incidents(runtime, "scheduler_down")
    assert opened["opened"] == [incident.id] and incident.severity is Severity.critical, explain([incident])
    assert "No scheduler heartbeat since 2026-11-25 12:00 UTC" in incident.detail, incident.detail

    clock.advance(minutes=20)
    await beat(runtime, "worker", "w:1")
    await watch(runtime)
    assert (await all_incidents(runtime, "scheduler_down"))[0].status == "open", "it resolved with no scheduler"

    await beat(runtime, "scheduler", "sched:2")  # a new scheduler process
    resolved = await watch(runtime)
    [incident] = await all_incidents(runtime, "scheduler_down")
    assert resolved["resolved"] == [incident.id] and incident.status == "resolved", explain([incident])
    assert incident.resolved_note is not None and incident.resolved_note.startswith("Cleared after 20 min"), (
        incident.resolved_note
    )


async def test_dead_worker_is_a_warning_beside_a_live_one_and_resolves_after_the_redeliver_window(
    runtime: Runtime, clock: FrozenClock
) -> None:
    settings = runtime.settings
    await beat(runtime, "worker", "w:dead")
    await beat(runtime, "worker", "w:live")
    clock.advance(seconds=settings.heartbeat_stale_seconds + 5)
    await beat(runtime, "worker", "w:live")
    await watch(runtime)
    [gone] = await all_incidents(runtime, "worker_gone")
    assert (gone.key, gone.status, gone.severity) == ("worker_gone:w:dead", "open", Severity.warning), explain([gone])
    assert gone.subject == {"instance": "w:dead"} and "1 other worker(s) take over" in gone.detail, gone.detail

    clock.advance(seconds=settings.cheers_task_redeliver_seconds)  # its tasks have gone to w:live by now
    await beat(runtime, "worker", "w:live")
    await watch(runtime)
    [gone] = await all_incidents(runtime, "worker_gone")
    assert gone.status == "resolved", explain([gone])


async def test_last_worker_dying_is_critical_and_resolves_when_a_worker_beats_again(
    runtime: Runtime, clock: FrozenClock
) -> None:
    settings = runtime.settings
    await beat(runtime, "worker", "w:1")
    clock.advance(seconds=settings.heartbeat_stale_seconds + 1)
    await watch(runtime)
    [gone] = await all_incidents(runtime, "worker_gone")
    assert (gone.key, gone.severity) == ("worker_gone:w:1", Severity.critical), explain([gone])
    assert "no worker is running" in gone.detail, gone.detail

    clock.advance(minutes=30)
    await watch(runtime)
    assert (await all_incidents(runtime, "worker_gone"))[0].status == "open", "it resolved with no worker"

    await beat(runtime, "worker", "w:2")  # a worker started again, long after w:1's tasks were redelivered
    await watch(runtime)
    rows = await all_incidents(runtime, "worker_gone")
    assert [(i.key, i.status) for i in rows] == [("worker_gone:w:1", "resolved")], explain(rows)


async def test_a_worker_stopping_cleanly_leaves_no_heartbeat_and_no_incident(
    runtime: Runtime, clock: FrozenClock
) -> None:
    loop = HeartbeatLoop(runtime, "worker")
    loop.start()
    await factories.eventually(lambda: factories.heartbeats(runtime, "worker"), what="the loop's first beat")
    await loop.stop()
    assert list(await factories.heartbeats(runtime, "worker")) == [], "a clean stop left its heartbeat"
    clock.advance(minutes=10)
    await watch(runtime)
    assert await all_incidents(runtime, "worker_gone") == []
