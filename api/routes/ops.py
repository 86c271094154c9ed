"""The service's own incidents, for CheersAI staff: list them, read one, silence one (docs/runbook.md "On call");
and the runbook itself as a page, where every alert's Runbook link points.

Venues' people never see incidents: anyone without the staff flag is refused (403) before anything is looked up,
so an incident id tells them nothing. The runbook is the repository's own documentation: anyone may read it.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from litestar import MediaType, Response, get, post
from litestar.params import Parameter
from pydantic import BaseModel, Field

from api import runbook
from core.access.audit import Actor
from core.ops import incidents as incidents_core
from core.ops.incident_view import incident_view
from core.runtime import Runtime
from storage.models import Incident
from storage.uow import UnitOfWork

MAX_SILENCE_MINUTES = 7 * 24 * 60


class IncidentOut(BaseModel):
    id: int
    rule: str = Field(description="The rule that raised it: job_failing, job_overdue, task_failing, ...")
    key: str = Field(description="What makes it one incident (rule and subject); one open incident per key")
    status: str = Field(description="open or resolved")
    severity: str
    title: str
    detail: str = Field(description="What is true now, in plain words")
    subject: dict[str, Any] = Field(description='What it is about: {"job": ...}, {"task": ...}, ...')
    facts: dict[str, Any] = Field(description="The numbers behind `detail` (failures, last_error, ...)")
    opened_at: datetime
    updated_at: datetime
    last_seen_at: datetime = Field(description="When a rule last found its condition true")
    resolved_at: datetime | None
    resolved_note: str | None = Field(description="How long it lasted and what cleared it")
    lasted: str = Field(description='How long it has lasted, or lasted ("1 h 12 min")')
    silenced: bool = Field(description="Ops chats and e-mails are not told of its changes until `silenced_until`")
    silenced_until: datetime | None
    silenced_by_user_id: int | None
    runbook: str = Field(description="The runbook section saying what it means and what to do")
    version: int = Field(description="Rises with every change ops destinations are told of")


class SilenceIn(BaseModel):
    minutes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SILENCE_MINUTES,
        description="How long to silence it; CHEERS_OPS_SILENCE_MINUTES (60) when left out",
    )


def _out(runtime: Runtime, incident: Incident) -> IncidentOut:
    return IncidentOut(**asdict(incident_view(runtime.settings, incident, runtime.clock.now())))


@get("/api/ops/incidents", tags=["ops"], summary="The service's incidents, newest first (staff only)")
async def list_incidents(
    runtime: Runtime,
    uow: UnitOfWork,
    actor: Actor,
    status: Literal["open", "resolved", "all"] = Parameter(default="open", description="Which incidents"),
    limit: int = Parameter(default=50, ge=1, le=500),
) -> list[IncidentOut]:
    incidents_core.require_staff(actor)
    found = await incidents_core.list_incidents(uow.session, status=None if status == "all" else status, limit=limit)
    return [_out(runtime, incident) for incident in found]


@get("/api/ops/incidents/{incident_id:int}", tags=["ops"], summary="One incident (staff only)")
async def get_incident(runtime: Runtime, uow: UnitOfWork, actor: Actor, incident_id: int) -> IncidentOut:
    incidents_core.require_staff(actor)
    return _out(runtime, await incidents_core.get_incident(uow.session, incident_id))


@post(
    "/api/ops/incidents/{incident_id:int}/silence",
    tags=["ops"],
    summary="Stop telling ops chats and e-mails about an open incident for a while (staff only, audited)",
    status_code=200,
)
async def silence_incident(
    runtime: Runtime, uow: UnitOfWork, actor: Actor, incident_id: int, data: SilenceIn
) -> IncidentOut:
    minutes = data.minutes or runtime.settings.cheers_ops_silence_minutes
    incident = await incidents_core.silence(uow.session, runtime.clock, actor, incident_id, minutes)
    return _out(runtime, incident)


@get(
    "/ops/runbook",
    tags=["ops"],
    summary="The on-call runbook as a page (each incident's section is #incident-<rule>)",
    media_type=MediaType.HTML,
    sync_to_thread=True,
)
def runbook_page() -> Response[str]:
    """docs/runbook.md rendered; 404 with a hint where the installation has no docs (a wheel)."""
    headers = {"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
    try:
        text = runbook.RUNBOOK.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Response(runbook.missing_page(), media_type=MediaType.HTML, status_code=404, headers=headers)
    return Response(runbook.render(text), media_type=MediaType.HTML, headers=headers)


routes = [list_incidents, get_incident, silence_incident, runbook_page]
