"""The dispatcher tick: repair what the last tick left (expired leases, cutoffs, reconnected accounts),
claim what is due with a lease, and hand each claim to a worker.

The database is the truth and the broker only carries the hand-off: a lost message leaves a claimed
delivery whose lease expires, and the next sweep puts it back (nothing was sent) or flags it in doubt
(an attempt was in flight). Any number of processes may tick at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from core.publishing import transitions
from core.publishing.clock import clock_now, judged_now, statement_clock
from core.publishing.engine import TASK_NAME
from core.publishing.labels import label_for
from core.publishing.outcomes import lease_lost, missed_before_sending, missed_unapproved
from core.publishing.settle import apply_settle
from core.runtime import Runtime
from storage.models import AttemptOutcome, Connection, DeliveryStatus, Post
from storage.queries import claims as claims_q
from storage.queries import deliveries as deliveries_q

log = structlog.get_logger(__name__)

SWEEP_BATCH = 200

Handoff = Callable[[int, str], Awaitable[None]]


@dataclass
class TickResult:
    claimed: list[tuple[int, str]] = field(default_factory=list)
    requeued: int = 0
    in_doubt: int = 0
    missed: int = 0
    resumed: int = 0
    # How soon the claim will next find something (a due time, a pacing's end) within the horizon; None: not soon
    next_in: timedelta | None = None

    def as_dict(self) -> dict[str, int]:
        return {
            "claimed": len(self.claimed),
            "requeued": self.requeued,
            "in_doubt": self.in_doubt,
            "missed": self.missed,
            "resumed": self.resumed,
        }


async def sweep(runtime: Runtime, result: TickResult) -> None:
    """Expired leases → back in line (nothing sent) or in doubt; past cutoff → missed; reconnected → resume."""
    # The dispatcher owns its transactions: the repairs commit before this tick claims anything.
    async with runtime.uow() as uow:
        session = uow.session
        now = await clock_now(runtime, session)
        for target in await claims_q.expired_leases(session, now=now, limit=SWEEP_BATCH):
            connection = await session.get(Connection, target.connection_id)
            post = await session.get(Post, target.post_id)
            assert connection is not None and post is not None
            attempt = await deliveries_q.in_flight_attempt(session, target.id)
            if attempt is None:
                # Claimed but never started: the hand-off was lost or the worker died before the attempt.
                transitions.requeue(target, now, "Picked up again: the worker that had it did not start.")
                result.requeued += 1
                log.warning("delivery_lease_expired_requeued", target_id=target.id, post_id=post.id)
                continue
            attempt.outcome = AttemptOutcome.in_doubt
            attempt.finished_at = now
            attempt.error = "the lease expired while this attempt was in flight"
            await apply_settle(runtime, session, target, post, connection, lease_lost(label_for(connection)))
            result.in_doubt += 1
            log.warning("delivery_in_doubt", target_id=target.id, post_id=post.id, connection_id=connection.id)
        for target in await claims_q.past_cutoff(session, now=now, limit=SWEEP_BATCH):
            connection = await session.get(Connection, target.connection_id)
            post = await session.get(Post, target.post_id)
            assert connection is not None and post is not None
            if target.status is DeliveryStatus.pending_approval:
                # Approval, not the provider, kept it back: say so, and never send it unapproved.
                settle = missed_unapproved(label_for(connection), target.cutoff_at)
            else:
                settle = missed_before_sending(label_for(connection), target.cutoff_at)
            await apply_settle(runtime, session, target, post, connection, settle)
            result.missed += 1
            log.warning(
                "delivery_missed",
                target_id=target.id,
                post_id=post.id,
                connection_id=connection.id,
                reason=settle.error_code or "cutoff",
            )
        for target in await claims_q.reconnected_waiting(session, limit=SWEEP_BATCH):
            transitions.resume(target, now, "Reconnected; going out now.")
            result.resumed += 1
        await uow.commit()


async def claim(runtime: Runtime, result: TickResult, now: datetime | None = None) -> None:
    """Claim what is due, judged at `now` (the tick's probe read it) or at the clock read here; on PostgreSQL in
    one autocommitted statement that reads the clock itself."""
    # Committed before the hand-off: the worker that takes a message must find the claim and its lease.
    s = runtime.settings
    lease = timedelta(seconds=s.cheers_publish_lease_seconds)
    # With spacing on, one call per connection at a time: two claimed together would both read the pacing row
    # before either writes it, and go out back to back (found by bench/publish.py).
    max_in_flight = 1 if s.cheers_connection_min_interval_seconds > 0 else s.cheers_connection_max_in_flight
    if runtime.db.dialect == "postgresql":
        fixed, offset = statement_clock(runtime)
        result.claimed = await transitions.claim_due_at_once(
            runtime.db.engine, fixed_now=fixed, offset=offset, lease=lease, limit=s.cheers_dispatch_batch,
            max_in_flight=max_in_flight,
        )  # fmt: skip
        return
    async with runtime.uow() as uow:
        if now is None:
            now = await clock_now(runtime, uow.session)
        result.claimed = await transitions.claim_due(
            uow.session, now=now, lease_until=now + lease, limit=s.cheers_dispatch_batch, max_in_flight=max_in_flight
        )
        await uow.commit()


async def probe(runtime: Runtime, horizon: timedelta) -> tuple[datetime, claims_q.Probe]:
    """The time this tick judges by and what it has to do, in one autocommitted statement (see claims_q.probe)."""
    fixed, offset = statement_clock(runtime)
    found = await claims_q.probe(runtime.db.engine, fixed_now=fixed, offset=offset, horizon=horizon)
    if fixed is not None:
        return fixed, found
    assert found.db_now is not None
    return judged_now(runtime, found.db_now.astimezone(UTC)), found


async def tick(runtime: Runtime, handoff: Handoff | None = None, *, horizon: timedelta = timedelta(0)) -> TickResult:
    """One dispatcher round; `handoff` defaults to enqueueing `publish-delivery` on the broker.

    A probe says first whether the sweep or the claim has anything to do: an idle tick is one round trip, and the
    sweep's transaction runs only when there is something to repair (it used to run, empty, on every tick). It
    also says when, within `horizon`, something next falls due (`next_in`), for the loop to wake then."""
    result = TickResult()
    now, todo = await probe(runtime, horizon)
    if todo.next_at is not None:
        result.next_in = max(timedelta(0), todo.next_at - now)
    if todo.sweep:
        await sweep(runtime, result)
        await claim(runtime, result)  # the sweep may have put deliveries back in line; time has moved on
    elif todo.due:
        await claim(runtime, result, now)
    send = handoff or _enqueue(runtime)

    async def hand_off(target_id: int, token: str) -> None:
        try:
            await send(target_id, token)
        except Exception as exc:  # noqa: BLE001 - the lease expires and the next sweep requeues it
            log.warning("delivery_handoff_failed", target_id=target_id, error=type(exc).__name__, detail=str(exc)[:300])

    # Side by side: a batch of 50 sent one after another waited for 50 broker round trips before the last went out.
    await asyncio.gather(*(hand_off(target_id, token) for target_id, token in result.claimed))
    if any(result.as_dict().values()):
        log.info("dispatcher_tick", **result.as_dict())
    return result


def _enqueue(runtime: Runtime) -> Handoff:
    async def send(target_id: int, token: str) -> None:
        if runtime.queue is None:
            raise RuntimeError("no broker configured for hand-offs")
        await runtime.queue.enqueue(TASK_NAME, target_id=target_id, lease_token=token)

    return send
