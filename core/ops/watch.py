"""The ops watch: run every rule, reconcile incidents with what they found, then tell people.

Run by the `ops-watch` job (workers), by the scheduler once a minute (with every worker dead) and by each
worker's heartbeat loop every CHEERS_OPS_WATCH_SECONDS (with the scheduler dead). Every step is idempotent, so
two of them at once open one incident and post it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from core.ops import incidents
from core.ops.incidents import Finding
from core.ops.rules import RULES, Facts, Rule
from core.runtime import Runtime
from storage.queries import ops as ops_q

log = structlog.get_logger(__name__)


async def evaluate(runtime: Runtime, rules: Mapping[str, Rule] | None = None) -> dict[str, Any]:
    """Run the rules (`rules`: all of them) and reconcile incidents in one commit; a rule that raises is logged and
    left out, so its incidents stay as they are."""
    # A boundary: reads in one session, then writes the incidents in one unit of work and commits it.
    now = runtime.clock.now()
    findings: list[Finding] = []
    evaluated: list[str] = []
    failed: list[str] = []
    async with runtime.db.session() as session:
        facts = Facts(
            session=session, now=now, settings=runtime.settings, heartbeats=list(await ops_q.heartbeats(session))
        )
        for name, rule in (RULES if rules is None else rules).items():
            try:
                found = await rule(facts)
            except Exception:  # a broken rule must not silence the others, nor resolve its own incidents
                log.exception("ops_rule_failed", rule=name)
                failed.append(name)
                await session.rollback()  # PostgreSQL refuses further statements in a failed transaction
                continue
            evaluated.append(name)
            findings.extend(found)
    async with runtime.uow() as uow:
        changes = await incidents.reconcile(uow.session, runtime.clock, findings, evaluated)
        await uow.commit()  # wakes ops-alerts-deliver when anything changed
    result = {
        "findings": len(findings),
        "opened": changes.opened,
        "updated": changes.updated,
        "resolved": changes.resolved,
        "failed_rules": failed,
    }
    if changes.changed or failed:
        log.info("ops_watch_evaluated", **result)
    return result


async def cycle(runtime: Runtime) -> dict[str, Any]:
    """Evaluate, then fan incidents out to ops chats and deliver them, then send due e-mails."""
    # Imported here: core.ops.alerts reads the job registry, which names this module's job (core.ops.jobs).
    from core.email import outbox
    from core.ops import alerts

    result: dict[str, Any] = {}
    failure: Exception | None = None
    # Each step goes ahead when one before it failed: incidents opened by an earlier pass still get out.
    for name, step in (("evaluate", evaluate), ("alerts", alerts.run), ("emails", outbox.deliver_due)):
        try:
            result[name] = await step(runtime)
        except Exception as exc:
            log.exception("ops_watch_step_failed", step=name)
            failure = failure or exc
    if failure is not None:
        raise failure
    return result
