"""The venue's audit log (admins): who did what, when, through which channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import get
from litestar.params import Parameter
from pydantic import BaseModel

from api.deps import require
from core.access import audit as audit_core
from core.access.policy import VenueAccess
from storage.models import Role
from storage.uow import UnitOfWork


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_user_id: int | None
    channel: str
    action: str
    subject_type: str | None
    subject_id: str | None
    staff_override: bool
    details: dict[str, Any]


@get(
    "/api/audit",
    tags=["audit"],
    summary="The venue's audit log, newest first",
    dependencies={"access": require(Role.admin)},
)
async def audit_log(
    access: VenueAccess, uow: UnitOfWork, before: int | None = None, limit: int = Parameter(default=50, ge=1, le=200)
) -> list[AuditOut]:
    entries = await audit_core.entries(uow.session, access.account_id, before_id=before, limit=limit)
    return [
        AuditOut(
            id=e.id,
            at=e.at,
            actor_user_id=e.actor_user_id,
            channel=e.channel.value,
            action=e.action,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            staff_override=e.staff_override,
            details=e.details,
        )
        for e in entries
    ]


routes = [audit_log]
