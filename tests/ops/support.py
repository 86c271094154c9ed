"""Helpers for the ops tests: heartbeats at the test's clock, incidents read back, the watch run once."""

from __future__ import annotations

from typing import Any

from core.ops import incidents
from core.ops.watch import evaluate
from core.runtime import Runtime
from storage.models import Incident
from storage.queries import ops as ops_q


async def beat(runtime: Runtime, component: str, instance: str, *, started_at: Any = None) -> None:
    """A heartbeat from `instance` at the test clock's now (as its loop would write it)."""
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        await ops_q.beat(
            uow.session, component=component, instance=instance, now=now, started_at=started_at or now, info={}
        )
        await uow.commit()


async def watch(runtime: Runtime) -> dict[str, Any]:
    result = await evaluate(runtime)
    assert not result["failed_rules"], f"rules raised: {result['failed_rules']}"
    return result


async def all_incidents(runtime: Runtime, rule: str | None = None) -> list[Incident]:
    async with runtime.db.session() as session:
        rows = await incidents.list_incidents(session, status=None, limit=500)
    return [i for i in reversed(rows) if rule is None or i.rule == rule]


def explain(rows: list[Incident]) -> list[tuple[Any, ...]]:
    return [(i.id, i.key, i.status, i.severity.value, i.version, i.detail) for i in rows]
