"""An incident as the operator front doors show it (`cheers incidents`, `/api/ops/incidents`): the row's words,
how long it has lasted, whether it is silenced and the runbook section to read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.ops.incidents import describe_duration, runbook_link
from core.settings import Settings
from storage.models import Incident


@dataclass(frozen=True)
class IncidentView:
    """What an operator reads about one incident; `lasted` is up to now while it is open."""

    id: int
    rule: str
    key: str
    status: str
    severity: str
    title: str
    detail: str
    subject: dict[str, Any]
    facts: dict[str, Any]
    opened_at: datetime
    updated_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_note: str | None
    lasted: str
    silenced: bool
    silenced_until: datetime | None
    silenced_by_user_id: int | None
    runbook: str
    version: int


def incident_view(settings: Settings, incident: Incident, now: datetime) -> IncidentView:
    """`incident` as shown at `now` (a silence that ran out shows as not silenced)."""
    until = incident.silenced_until
    return IncidentView(
        id=incident.id,
        rule=incident.rule,
        key=incident.key,
        status=incident.status,
        severity=incident.severity.value,
        title=incident.title,
        detail=incident.detail,
        subject=dict(incident.subject),
        facts=dict(incident.facts),
        opened_at=incident.opened_at,
        updated_at=incident.updated_at,
        last_seen_at=incident.last_seen_at,
        resolved_at=incident.resolved_at,
        resolved_note=incident.resolved_note,
        lasted=describe_duration((incident.resolved_at or now) - incident.opened_at),
        silenced=until is not None and until > now and incident.status == "open",
        silenced_until=until,
        silenced_by_user_id=incident.silenced_by_user_id,
        runbook=runbook_link(settings, incident.rule),
        version=incident.version,
    )
