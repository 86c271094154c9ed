"""The dispatcher tick's probe: a tick with nothing to sweep or claim is one statement and no transaction; what the
sweep repairs (an expired lease, a cutoff passed, a reconnect) still makes the tick sweep."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from core.clock import FrozenClock
from core.publishing.dispatcher import tick
from core.runtime import Runtime
from storage.models import DeliveryStatus
from tests.publishing.conftest import Venue
from tests.publishing.support import deliveries, schedule


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """Every statement the runtime's engine sends while inside."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def keep(target_id: int, token: str) -> None:
    """Leave a claimed delivery with its lease, as a worker that died before starting would."""


async def test_an_idle_tick_is_one_statement_and_a_due_post_is_still_claimed(
    runtime: Runtime, venue: Venue, clock: FrozenClock
) -> None:
    await schedule(runtime, venue.id, [venue.connection_id], when="2026-11-25T19:30")  # due later today
    with statements(runtime) as seen:
        result = await tick(runtime, keep)
    assert not result.claimed
    assert len(seen) == 1, f"an idle tick sent {len(seen)} statements: {seen}"

    clock.advance(hours=7, minutes=31)
    with statements(runtime) as seen:
        result = await tick(runtime, keep)
    assert len(result.claimed) == 1, "the due delivery was not claimed"
    # The probe (the first statement) asks whether a lease expired; only a sweep would ask again.
    assert not any("lease_expires_at <" in s for s in seen[1:]), f"swept with nothing to repair: {seen}"


async def test_an_expired_lease_still_makes_the_tick_sweep_and_claim_again(
    runtime: Runtime, venue: Venue, clock: FrozenClock
) -> None:
    await schedule(runtime, venue.id, [venue.connection_id])
    assert len((await tick(runtime, keep)).claimed) == 1  # claimed; its worker never starts
    clock.advance(seconds=runtime.settings.cheers_publish_lease_seconds + 1)
    result = await tick(runtime, keep)
    assert result.requeued == 1, f"the expired lease was not swept: {result}"
    assert len(result.claimed) == 1, "put back in line but not claimed again in the same tick"


async def test_a_passed_cutoff_is_swept_as_missed_before_any_claim(
    runtime: Runtime, venue: Venue, clock: FrozenClock
) -> None:
    saved = await schedule(runtime, venue.id, [venue.connection_id], when="2026-11-25T19:30")
    clock.advance(hours=7, minutes=30 + runtime.settings.cheers_post_freshness_minutes + 1)
    result = await tick(runtime, keep)
    assert result.missed == 1 and not result.claimed, f"a delivery past its cutoff was not swept first: {result}"
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.missed


async def test_a_connection_with_live_claims_gets_only_what_its_cap_leaves(runtime: Runtime, venue: Venue) -> None:
    cap = runtime.settings.cheers_connection_max_in_flight
    for n in range(cap + 2):
        await schedule(runtime, venue.id, [venue.connection_id], text=f"Post {n}")
    first = await tick(runtime, keep)  # claimed, their hand-offs lost: the leases stay live
    assert len(first.claimed) == cap, f"expected the connection's cap of {cap}, got {first.claimed}"
    second = await tick(runtime, keep)
    assert second.claimed == [], f"claimed past the cap while {cap} calls were in flight: {second.claimed}"
    assert len({token for _, token in first.claimed}) == cap, "two claims shared a lease token"
