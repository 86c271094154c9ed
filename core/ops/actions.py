"""What staff do about an incident from its buttons or a command: run its job now (queued for a worker, never run
in the web process) and retry the failed deliveries or derivatives behind it, with a count; each audited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.access.policy import VenueAccess, authorize
from core.errors import DomainError, Invalid
from core.media import library
from core.ops import incidents
from core.ops.alerts import retry_kind
from core.ops.jobs import get_job
from core.publishing.actions import retry_target
from core.runtime import Runtime
from core.vocabulary import Role
from storage.queries import ops_alerts as q
from storage.uow import UnitOfWork, wake_after_commit

log = structlog.get_logger(__name__)


class Unit(Protocol):
    """The caller's unit of work (storage.uow.UnitOfWork; a chat turn's): its session and after-commit hooks."""

    session: AsyncSession

    def after_commit(self, hook: Callable[[], Awaitable[None]]) -> None: ...


JOB_TASK_PREFIX = "job:"  # tasks.periodic registers one task per job under this name
ONE = {"deliveries": "delivery", "derivatives": "media"}  # how a refusal names one of them
MAX_RETRIED = 200  # one click retries at most this many; a larger backlog is a second click (its count says so)


@dataclass(frozen=True)
class JobQueued:
    job: str
    incident_id: int | None


@dataclass(frozen=True)
class Retried:
    """What a bulk retry did: how many it sent again, how many it could not (and why, for the first few)."""

    what: str  # "deliveries" | "derivatives"
    retried: int
    refused: int
    reasons: tuple[str, ...] = ()


async def run_now(runtime: Runtime, uow: Unit, actor: Actor, incident_id: int) -> JobQueued:
    """Queue the incident's job for a worker once the caller commits (staff only, audited)."""
    incidents.require_staff(actor)
    incident = await incidents.get_incident(uow.session, incident_id)
    name = str(incident.subject.get("job") or "")
    if not name:
        raise Invalid(f"incident {incident_id} is not about a job", remedy="use Retry failed or the runbook instead")
    spec = get_job(name)
    await audit.record(uow.session, runtime.clock, actor, "job_run", subject_type="job", subject_id=spec.name,
                       incident_id=incident_id, queued=True)  # fmt: skip
    # Through the queue after commit: the web process answers at once and a worker records the run (trigger cron).
    wake_after_commit(uow.session, JOB_TASK_PREFIX + spec.name)
    log.info("ops_job_queued", job=spec.name, incident_id=incident_id, user_id=actor.user_id)
    return JobQueued(spec.name, incident_id)


async def count_failed(runtime: Runtime, uow: Unit, actor: Actor, since: datetime) -> int:
    """How many deliveries failed for good since `since` (what `retry failed` would send again; staff only)."""
    incidents.require_staff(actor)
    return len(await q.failed_targets(uow.session, since=since, limit=MAX_RETRIED))


async def retry_failed(
    runtime: Runtime, uow: Unit, actor: Actor, *, incident_id: int | None = None, since: datetime | None = None
) -> Retried:
    """Retry what failed behind an incident since it opened (its deliveries or derivatives), or every failed
    delivery since `since`; staff only, each retry audited in its venue, the whole audited once."""
    incidents.require_staff(actor)
    what = "deliveries"
    if incident_id is not None:
        incident = await incidents.get_incident(uow.session, incident_id)
        kind = retry_kind(incident)
        if kind is None:
            raise Invalid(f"incident {incident_id} has no failed deliveries or derivatives to retry",
                          remedy="see its runbook section for what to do")  # fmt: skip
        what, since = kind, incident.opened_at
    if since is None:
        raise Invalid("say since when", remedy="for example: retry failed since 1h")
    if what == "derivatives":
        done = await _retry_derivatives(runtime, uow, actor, since)
    else:
        done = await _retry_deliveries(runtime, uow, actor, since)
    await audit.record(uow.session, runtime.clock, actor, "ops_retry_failed", subject_type="incident",
                       subject_id=incident_id, what=what, since=since.isoformat(), retried=done.retried,
                       refused=done.refused)  # fmt: skip
    log.info("ops_retry_failed", what=what, incident_id=incident_id, retried=done.retried, refused=done.refused,
             user_id=actor.user_id)  # fmt: skip
    return done


async def _retry_deliveries(runtime: Runtime, uow: Unit, actor: Actor, since: datetime) -> Retried:
    async def one(access: VenueAccess, target_id: int) -> bool:
        # A refusal (a post rejected since, a delivery being checked) is raised before anything changes, so the
        # others are still retried in this transaction.
        return (await retry_target(runtime, uow.session, access, target_id)).changed

    found = await q.failed_targets(uow.session, since=since, limit=MAX_RETRIED)
    return await _each(runtime, uow, actor, "deliveries", [(t.account_id, t.id) for t in found], one)


async def _retry_derivatives(runtime: Runtime, uow: Unit, actor: Actor, since: datetime) -> Retried:
    async def one(access: VenueAccess, asset_id: int) -> bool:
        await library.retry(runtime, cast(UnitOfWork, uow), access, asset_id)
        return True

    found = await q.failed_assets(uow.session, since=since, limit=MAX_RETRIED)
    return await _each(runtime, uow, actor, "derivatives", [(a.account_id, a.id) for a in found], one)


async def _each(
    runtime: Runtime,
    uow: Unit,
    actor: Actor,
    what: str,
    rows: Sequence[tuple[int, int]],
    retry: Callable[[VenueAccess, int], Awaitable[bool]],
) -> Retried:
    """Retry each (venue, id) as the staff member in its venue (audited there); a refusal is counted, not raised."""
    retried, refused, reasons = 0, 0, []
    for account_id, row_id in rows:
        access = await authorize(uow.session, runtime.clock, actor, account_id, Role.editor,
                                 purpose="ops retry failed")  # fmt: skip
        try:
            retried += int(await retry(access, row_id))
        except DomainError as exc:
            refused += 1
            reasons.append(f"{ONE[what]} {row_id}: {exc}")
    return Retried(what, retried, refused, tuple(reasons[:5]))
