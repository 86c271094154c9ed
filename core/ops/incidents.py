"""Incidents: what the rules found, opened once per key, updated while they last, resolved when they clear."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.clock import Clock
from core.errors import Invalid, NotFound, PermissionDenied
from core.settings import Settings
from storage.enums import Severity
from storage.models import Incident
from storage.queries import incidents as incidents_q
from storage.uow import wake_after_commit

log = structlog.get_logger(__name__)

# Woken after a commit that changed an incident: tells ops destinations and e-mails (core.ops.alerts, tasks/ops.py).
OPS_ALERTS_TASK = "ops-alerts-deliver"

# Every rule (core.ops.rules.RULES), with what a resolution note says cleared ("Cleared after 1 h 12 min: the job
# succeeded again").
_CLEARED = {
    "job_failing": "the job succeeded again",
    "job_overdue": "the job ran again",
    "task_failing": "the task's failure rate fell below the threshold",
    "scheduler_down": "the scheduler is beating again",
    "worker_gone": "a worker is beating and the instance's tasks were redelivered",
    "queue_stalled": "due deliveries are being taken again",
    "chat_failing": "the chat's messages are going out again",
    "email_failing": "e-mails are going out again",
}
RULES = tuple(_CLEARED)


@dataclass(frozen=True)
class Finding:
    """One condition a rule found true now; `key` is what makes it one incident ("job_failing:housekeeping")."""

    rule: str
    key: str
    severity: Severity
    title: str
    detail: str
    subject: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Changes:
    """Incident ids this reconcile opened, updated (version rose) and resolved."""

    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.opened or self.updated or self.resolved)


def describe_duration(delta: timedelta) -> str:
    """A duration in plain words: "45 s", "12 min", "1 h 12 min", "2 d 3 h"."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def runbook_anchor(rule: str) -> str:
    """The heading id of the rule's section in docs/runbook.md ("incident-job-failing")."""
    return "incident-" + rule.replace("_", "-")


def runbook_link(settings: Settings, rule: str) -> str:
    """Where the Runbook button points for an incident of `rule`."""
    return f"{settings.runbook_url}#{runbook_anchor(rule)}"


def require_staff(actor: Actor) -> None:
    """Only the service's operators act on incidents (venues' people never see them)."""
    if not actor.is_staff:
        raise PermissionDenied(
            "only CheersAI staff can act on service incidents",
            remedy="ask a CheersAI operator (a person with the staff flag) to do it",
        )


async def reconcile(
    session: AsyncSession, clock: Clock, findings: Sequence[Finding], evaluated: Collection[str]
) -> Changes:
    """Make the open incidents match the findings: open new keys, update changed ones, resolve cleared ones.

    Only rules in `evaluated` resolve: a rule that raised this time leaves its incidents as they are. Safe to run
    in two processes at once (the partial unique index and conditional updates decide; see storage.queries).
    """
    now = clock.now()
    changes = Changes()
    found: dict[str, Finding] = {}
    for finding in findings:
        found.setdefault(finding.key, finding)
    open_by_key = {incident.key: incident for incident in await incidents_q.open_incidents(session)}
    for key, finding in found.items():
        current = open_by_key.get(key)
        if current is None:
            new_id = await incidents_q.insert_open(
                session,
                rule=finding.rule,
                key=key,
                severity=finding.severity,
                title=finding.title,
                detail=finding.detail,
                subject=finding.subject,
                facts=finding.facts,
                now=now,
            )
            if new_id is not None:
                changes.opened.append(new_id)
                log.warning(
                    "incident_opened",
                    incident_id=new_id,
                    rule=finding.rule,
                    key=key,
                    severity=finding.severity.value,
                    title=finding.title,
                )
            else:
                # Another evaluator opened it since we looked: theirs is the one incident.
                log.info("incident_open_raced", rule=finding.rule, key=key)
            continue
        if await incidents_q.update_open(
            session,
            current.id,
            severity=finding.severity,
            title=finding.title,
            detail=finding.detail,
            facts=finding.facts,
            now=now,
        ):
            changes.updated.append(current.id)
            log.info("incident_updated", incident_id=current.id, rule=finding.rule, key=key, detail=finding.detail)
        else:
            await incidents_q.touch_open(session, current.id, facts=finding.facts, now=now)
    for key, incident in open_by_key.items():
        if key in found or incident.rule not in evaluated:
            continue
        lasted = describe_duration(now - incident.opened_at)
        note = f"Cleared after {lasted}: {_CLEARED.get(incident.rule, 'the condition no longer holds')}."
        if await incidents_q.resolve_open(session, incident.id, note=note, now=now):
            changes.resolved.append(incident.id)
            log.info("incident_resolved", incident_id=incident.id, rule=incident.rule, key=key, lasted=lasted)
    if changes.changed:
        wake_after_commit(session, OPS_ALERTS_TASK)
    await session.flush()
    return changes


async def list_incidents(session: AsyncSession, *, status: str | None = "open", limit: int = 50) -> list[Incident]:
    """Incidents newest first: open ones by default, `status=None` for all, "resolved" for the finished."""
    if status not in (None, incidents_q.OPEN, incidents_q.RESOLVED):
        raise Invalid(f"unknown incident status '{status}'", remedy="use open, resolved or all")
    return list(await incidents_q.list_incidents(session, status=status, limit=max(1, min(limit, 500))))


async def get_incident(session: AsyncSession, incident_id: int) -> Incident:
    """One incident by id (NotFound when there is none)."""
    incident = await incidents_q.get(session, incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id}", remedy="`cheers incidents list` shows the open ones")
    return incident


async def silence(session: AsyncSession, clock: Clock, actor: Actor, incident_id: int, minutes: int) -> Incident:
    """Stop telling ops destinations about an open incident for `minutes` (staff only, audited)."""
    require_staff(actor)
    if minutes <= 0 or minutes > 7 * 24 * 60:
        raise Invalid(f"cannot silence for {minutes} minutes", remedy="give between 1 and 10080 minutes (a week)")
    incident = await incidents_q.get(session, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"no incident {incident_id}", remedy="`cheers incidents list` shows the open ones")
    if incident.status != incidents_q.OPEN:
        raise Invalid(f"incident {incident_id} is already resolved", remedy="nothing to silence")
    now = clock.now()
    incident.silenced_until = now + timedelta(minutes=minutes)
    incident.silenced_by_user_id = actor.user_id
    incident.updated_at = now
    incident.version = incident.version + 1
    await audit.record(
        session,
        clock,
        actor,
        "incident_silenced",
        subject_type="incident",
        subject_id=incident_id,
        minutes=minutes,
        rule=incident.rule,
        key=incident.key,
    )
    wake_after_commit(session, OPS_ALERTS_TASK)
    await session.flush()
    log.info("incident_silenced", incident_id=incident_id, minutes=minutes, actor_user_id=actor.user_id)
    return incident
