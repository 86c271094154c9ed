"""A venue got a connection: slots still waiting for their first one take it, then the week is made at once.

A slot normally names its connections (the API and CLI refuse one without). The only slots saved with none are
the `make dev` demo's, seeded before anything is connected: such a slot is "waiting for the venue's first
connection", and adopts the venue's connections that can take its posts when one arrives (Instagram only when
the slot has media: it refuses a post without). After that it is an ordinary slot, listed with its targets.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.clock import Clock
from core.runtime import Runtime
from core.weekly.materialise import materialise
from storage.models import Channel, Connection, ConnectionStatus, Provider, WeeklySlot
from storage.queries import connections as connections_q
from storage.queries import weekly as weekly_q

log = structlog.get_logger(__name__)

PLAN = Actor(user_id=None, channel=Channel.system)


def _takes(slot: WeeklySlot, connection: Connection) -> bool:
    if connection.status is ConnectionStatus.disconnected:
        return False
    return bool(slot.media_asset_ids) or connection.provider is not Provider.instagram


async def adopt_connections(session: AsyncSession, clock: Clock, account_id: int) -> list[int]:
    """Give the venue's slots without connections the venue's connections that can take them (each such change
    bumps the slot's version and is audited); flushed; the ids of the slots changed."""
    connections = list(await connections_q.list_for_account(session, account_id))
    changed: list[int] = []
    for slot in await weekly_q.list_slots(session, account_id):
        if slot.connection_ids:
            continue
        targets = [c.id for c in connections if _takes(slot, c)]
        if not targets:
            continue
        slot.connection_ids = targets
        slot.version += 1
        slot.updated_at = clock.now()
        await audit.record(
            session, clock, PLAN, "weekly_slot_updated", account_id=account_id, subject_type="weekly_slot",
            subject_id=slot.id, changed=["connection_ids"], reason="took the venue's first connections",
        )  # fmt: skip
        changed.append(slot.id)
    await session.flush()
    return changed


async def after_connecting(runtime: Runtime, account_id: int) -> dict[str, Any]:
    """The wake-up's work (task `weekly-materialise-venue`): adopt, then make the venue's coming week. Safe to run
    twice: materialise makes each slot and date once."""
    async with runtime.uow() as uow:
        adopted = await adopt_connections(uow.session, runtime.clock, account_id)
        await uow.commit()
    result = await materialise(runtime, account_id=account_id)
    summary = {"adopted": len(adopted), **result.summary()}
    log.info("weekly_materialised_after_connecting", account_id=account_id, **summary)
    return summary


__all__ = ["adopt_connections", "after_connecting"]
