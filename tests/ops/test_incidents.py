"""Incidents on their own: open once per key (also when two evaluators race), update, resolve, silence."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.access.audit import Actor
from core.clock import FrozenClock
from core.errors import PermissionDenied
from core.ops import incidents
from core.ops.incidents import Finding
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from storage.enums import Severity
from storage.models import Channel
from tests import factories
from tests.factories import REPO_ROOT
from tests.test_docs import anchors


def _finding(detail: str = "3 runs failed; last: boom", severity: Severity = Severity.error) -> Finding:
    return Finding(
        rule="job_failing",
        key="job_failing:housekeeping",
        severity=severity,
        title="Job housekeeping is failing",
        detail=detail,
        subject={"job": "housekeeping"},
        facts={"failures": 3},
    )


async def _reconcile(
    runtime: Runtime, findings: list[Finding], evaluated: tuple[str, ...] = ("job_failing",)
) -> incidents.Changes:
    async with runtime.uow() as uow:
        changes = await incidents.reconcile(uow.session, runtime.clock, findings, evaluated)
        await uow.commit()
    return changes


async def test_open_update_resolve_with_duration(runtime: Runtime, clock: FrozenClock) -> None:
    opened = await _reconcile(runtime, [_finding()])
    assert len(opened.opened) == 1 and not opened.updated, opened
    again = await _reconcile(runtime, [_finding()])
    assert not again.changed, f"the same finding again changed the incident: {again}"
    clock.advance(minutes=5)
    updated = await _reconcile(runtime, [_finding("4 runs failed; last: bang")])
    assert updated.updated == opened.opened, updated
    skipped = await _reconcile(runtime, [], evaluated=())
    assert not skipped.changed, "a rule that was not evaluated resolved its incident"
    clock.advance(minutes=67)
    resolved = await _reconcile(runtime, [])
    assert resolved.resolved == opened.opened, resolved
    async with runtime.db.session() as session:
        incident = await incidents.get_incident(session, opened.opened[0])
        assert incident.status == "resolved" and incident.version == 3, (incident.status, incident.version)
        assert incident.resolved_note == "Cleared after 1 h 12 min: the job succeeded again.", incident.resolved_note
        assert incident.detail == "4 runs failed; last: bang"
        assert await incidents.list_incidents(session) == []
        assert [i.id for i in await incidents.list_incidents(session, status=None)] == opened.opened
    reopened = await _reconcile(runtime, [_finding()])
    assert len(reopened.opened) == 1 and reopened.opened != opened.opened, "a new occurrence is a new incident"


async def test_two_evaluators_at_once_open_one_incident(settings: Settings, clock: FrozenClock) -> None:
    # Two runtimes (two connection pools): as two processes evaluating at the same moment.
    first, second = build_runtime(settings, clock=clock), build_runtime(settings, clock=clock)
    try:
        results = await asyncio.gather(*(_reconcile(rt, [_finding()]) for rt in (first, second, first, second)))
    finally:
        await first.close()
        await second.close()
    assert sum(len(r.opened) for r in results) == 1, results
    runtime = build_runtime(settings, clock=clock)
    try:
        async with runtime.db.session() as session:
            rows = await incidents.list_incidents(session, status=None)
    finally:
        await runtime.close()
    assert len(rows) == 1 and rows[0].version == 1, [(r.id, r.version) for r in rows]


async def test_silence_is_staff_only_and_audited(runtime: Runtime, clock: FrozenClock) -> None:
    [incident_id] = (await _reconcile(runtime, [_finding()])).opened
    someone = await factories.person(runtime)
    async with runtime.uow() as uow:
        with pytest.raises(PermissionDenied, match="only CheersAI staff"):
            await incidents.silence(uow.session, clock, Actor(someone.user_id, Channel.web), incident_id, 60)
    staff = Actor(someone.user_id, Channel.slack, is_staff=True)
    async with runtime.uow() as uow:
        incident = await incidents.silence(uow.session, clock, staff, incident_id, 60)
        await uow.commit()
    assert incident.silenced_until == clock.now() + timedelta(minutes=60)
    assert incident.version == 2 and incident.silenced_by_user_id == someone.user_id
    [entry] = await factories.audit_entries(runtime, "incident_silenced")
    assert entry.subject_id == str(incident_id) and entry.details["minutes"] == 60, entry.details


def test_words() -> None:
    assert incidents.describe_duration(timedelta(seconds=42)) == "42 s"
    assert incidents.describe_duration(timedelta(minutes=12, seconds=5)) == "12 min"
    assert incidents.describe_duration(timedelta(hours=1, minutes=12)) == "1 h 12 min"
    assert incidents.describe_duration(timedelta(hours=2)) == "2 h"
    assert incidents.describe_duration(timedelta(days=2, hours=3, minutes=1)) == "2 d 3 h"
    settings = Settings(_env_file=None, cheers_public_url="https://cheers.example")
    assert incidents.runbook_link(settings, "job_failing") == "https://cheers.example/ops/runbook#incident-job-failing"


def test_every_rule_has_its_runbook_section() -> None:
    sections = anchors(REPO_ROOT / "docs" / "runbook.md")
    missing = [rule for rule in incidents.RULES if incidents.runbook_anchor(rule) not in sections]
    assert not missing, f"docs/runbook.md has no 'Incident: ...' heading for {missing} (the Runbook button's target)"
