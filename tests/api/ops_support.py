"""Incidents for the operator-surface tests, made the way the rules make them (core.ops.incidents.reconcile)."""

from __future__ import annotations

from core.ops import incidents
from core.ops.incidents import Finding
from core.runtime import Runtime
from storage.enums import Severity


def job_failing(job: str = "housekeeping", *, failures: int = 3, severity: Severity = Severity.error) -> Finding:
    """What the job_failing rule finds for `job` after `failures` failed runs in a row."""
    return Finding(
        rule="job_failing",
        key=f"job_failing:{job}",
        severity=severity,
        title=f"Job {job} is failing",
        detail=f"{failures} runs failed in a row; last: RuntimeError: boom",
        subject={"job": job},
        facts={"failures": failures, "last_error": "RuntimeError: boom"},
    )


async def reconcile(runtime: Runtime, found: list[Finding], evaluated: tuple[str, ...]) -> incidents.Changes:
    """Make the open incidents match `found` for the `evaluated` rules, in one committed unit of work."""
    async with runtime.uow() as uow:
        changes = await incidents.reconcile(uow.session, runtime.clock, found, evaluated)
        await uow.commit()
    return changes


async def open_incident(runtime: Runtime, job: str = "housekeeping", severity: Severity = Severity.error) -> int:
    """A new open job_failing incident for `job` (other incidents untouched: no rule counts as evaluated)."""
    [opened] = (await reconcile(runtime, [job_failing(job, severity=severity)], evaluated=())).opened
    return opened


async def resolve_all(runtime: Runtime) -> list[int]:
    """The job_failing rule finds nothing: every open job_failing incident resolves; their ids."""
    return (await reconcile(runtime, [], evaluated=("job_failing",))).resolved
