"""A job made to fail (fault point job_run) opens one incident, a further failure updates it, a success
resolves it with how long it lasted; two evaluators at once open one."""

from __future__ import annotations

import asyncio

import pytest

from core.clock import FrozenClock
from core.faults import FaultInjected
from core.ops.jobs import run_job
from core.ops.watch import evaluate
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from tests.ops.support import all_incidents, explain, watch


@pytest.fixture
def failing_housekeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHEERS_ENV", "test")
    monkeypatch.setenv("CHEERS_FAULTS", "job_run@housekeeping=raise")


async def fail(runtime: Runtime, clock: FrozenClock, times: int) -> None:
    for _ in range(times):
        clock.advance(minutes=1)
        with pytest.raises(FaultInjected, match="job_run@housekeeping"):
            await run_job(runtime, "housekeeping", trigger="cron")


@pytest.mark.usefixtures("failing_housekeeping")
async def test_failing_job_opens_one_incident_updates_it_and_resolves_on_success(
    runtime: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    threshold = runtime.settings.cheers_ops_job_failures
    await fail(runtime, clock, threshold - 1)
    await watch(runtime)
    assert await all_incidents(runtime) == [], "an incident opened before the threshold of failures in a row"

    await run_job(runtime, "heartbeat", trigger="cron")  # the fault names housekeeping only
    await fail(runtime, clock, 1)
    first = await watch(runtime)
    again = await watch(runtime)
    [incident] = await all_incidents(runtime)
    assert first["opened"] == [incident.id] and not again["opened"] and not again["updated"], (first, again)
    assert (incident.key, incident.status, incident.severity.value) == ("job_failing:housekeeping", "open", "error")
    assert incident.title == "Job housekeeping is failing"
    assert incident.detail.startswith(f"{threshold} runs in a row failed, the last at 2026-11-25 12:03 UTC: ")
    assert incident.detail.endswith("FaultInjected: fault injected at job_run@housekeeping"), incident.detail
    assert incident.subject == {"job": "housekeeping"} and incident.facts["failures"] == threshold

    await fail(runtime, clock, 1)
    updated = await watch(runtime)
    [incident] = await all_incidents(runtime)
    assert updated["updated"] == [incident.id] and incident.version == 2, explain([incident])
    assert incident.detail.startswith(f"{threshold + 1} runs in a row failed"), incident.detail

    monkeypatch.delenv("CHEERS_FAULTS")
    clock.advance(minutes=70)
    await run_job(runtime, "housekeeping", trigger="cron")
    resolved = await watch(runtime)
    [incident] = await all_incidents(runtime)
    assert resolved["resolved"] == [incident.id], resolved
    assert (incident.status, incident.version) == ("resolved", 3), explain([incident])
    assert incident.resolved_note == "Cleared after 1 h 11 min: the job succeeded again.", incident.resolved_note


@pytest.mark.usefixtures("failing_housekeeping")
async def test_two_evaluations_at_once_open_one_incident(
    runtime: Runtime, settings: Settings, clock: FrozenClock
) -> None:
    await fail(runtime, clock, runtime.settings.cheers_ops_job_failures)
    # Two runtimes, two connection pools: as the ops-watch job and the scheduler's hook in the same second.
    others = [build_runtime(settings, clock=clock) for _ in range(2)]
    try:
        results = await asyncio.gather(*(evaluate(rt) for rt in [*others, *others]))
    finally:
        for rt in others:
            await rt.close()
    rows = await all_incidents(runtime)
    assert len(rows) == 1 and rows[0].version == 1, explain(rows)
    assert sum(len(r["opened"]) for r in results) == 1, results
