"""A paused connection's other waiting posts are moved behind the pause and say why (chaos Found 9 and 3).

`claim_due` skips every delivery of a paced connection; without the hold they kept their old note
("Scheduled", "Instagram is preparing the post.") and were claimed only to be put back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from core.clock import FrozenClock
from core.publishing.engine import run_delivery
from core.runtime import Runtime
from providers.base import StoredCredentials
from providers.errors import RateLimited
from providers.publishing import Published, PublishRequest, Recorder, StepOutcome
from storage.models import DeliveryStatus, PostTarget, Provider
from tests.publishing.conftest import Drain, Venue
from tests.publishing.support import deliveries, delivery, schedule

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # the `clock` fixture's start


class MetaLike:
    """Answers each call with the next scripted step, reporting Meta's usage headers at `usage` percent."""

    def __init__(self, usage: int | None, script: list[StepOutcome | BaseException] | None = None) -> None:
        self.usage = usage
        self.script = list(script or [])
        self.calls = 0

    async def publish(
        self, credentials: StoredCredentials, request: PublishRequest, stage: Mapping[str, Any], recorder: Recorder
    ) -> StepOutcome:
        self.calls += 1
        recorder.record(step="feed", method="POST", url="https://graph.invalid/feed", usage_percent=self.usage)
        step = self.script.pop(0) if self.script else Published(f"id-{self.calls}")
        if isinstance(step, BaseException):
            raise step
        return step

    async def refresh(self, credentials: StoredCredentials) -> Any:
        raise AssertionError("not asked to refresh tokens")


def _use(runtime: Runtime, publisher: MetaLike) -> None:
    runtime.use_providers({p: publisher for p in Provider})  # type: ignore[misc]


async def _only(runtime: Runtime, post_id: int) -> PostTarget:
    [target] = await deliveries(runtime, post_id)
    return target


def _explain(target: PostTarget) -> str:
    return f"status={target.status.value} due={target.due_at:%H:%M:%S} note={target.note!r}"


async def test_rate_limit_moves_the_connections_waiting_posts_behind_the_pause_with_a_note(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    publisher = MetaLike(usage=None, script=[RateLimited("Too many calls.", retry_after=600, code=4)])
    _use(runtime, publisher)
    throttled = await schedule(runtime, venue.id, [venue.connection_id], text="Quiz at 8")
    waiting = await schedule(runtime, venue.id, [venue.connection_id], text="Curry night", when="2026-11-25T12:01")
    too_late = await schedule(
        runtime, venue.id, [venue.connection_id], text="Lunch deal", when="2026-11-25T12:05", freshness_minutes=2
    )
    after = await schedule(runtime, venue.id, [venue.connection_id], text="Live music", when="2026-11-25T12:30")
    after_note = (await _only(runtime, after.post.id)).note

    await drain()  # 12:00: the first post is throttled for 10 minutes

    first = await _only(runtime, throttled.post.id)
    assert first.status is DeliveryStatus.retrying, _explain(first)
    assert first.note is not None and "trying again at 12:10:00 UTC" in first.note, _explain(first)
    held = await _only(runtime, waiting.post.id)
    assert held.due_at == NOON.replace(minute=10), f"the 12:01 post was not moved behind the pause: {_explain(held)}"
    assert held.status is DeliveryStatus.scheduled, _explain(held)
    assert held.note is not None and held.note.startswith("Waiting: Facebook Page "), _explain(held)
    assert held.note.endswith("asked us to slow down; next try after 12:10:00 UTC."), _explain(held)
    doomed = await _only(runtime, too_late.post.id)
    assert doomed.note is not None and "after this post's cutoff; it will be marked missed" in doomed.note, (
        f"a post whose cutoff (12:07) comes before the pause ends was promised a try: {_explain(doomed)}"
    )
    untouched = await _only(runtime, after.post.id)
    assert untouched.due_at == NOON.replace(minute=30) and untouched.note == after_note, (
        f"a post due after the pause was moved or re-noted: {_explain(untouched)}"
    )

    clock.advance(minutes=5)
    assert not (await drain()).claimed, "a post of the paused connection was claimed during the pause"
    clock.advance(minutes=5)
    await drain()  # 12:10: the pause is over; the 12:05 post's cutoff (12:07) has passed
    assert (await _only(runtime, throttled.post.id)).status is DeliveryStatus.published
    assert (await _only(runtime, waiting.post.id)).status is DeliveryStatus.published
    assert (await _only(runtime, too_late.post.id)).status is DeliveryStatus.missed
    assert publisher.calls == 3, f"{publisher.calls} provider calls: 1 throttled, then the two that could go"


async def test_a_pause_leaves_a_post_already_handed_to_a_worker_alone(runtime: Runtime, venue: Venue) -> None:
    """Two posts claimed in one tick: the throttle on the first must not move the second under its worker."""
    from core.publishing.dispatcher import tick

    _use(runtime, MetaLike(usage=None, script=[RateLimited("Too many calls.", retry_after=600, code=4)]))
    one = await schedule(runtime, venue.id, [venue.connection_id], text="One")
    two = await schedule(runtime, venue.id, [venue.connection_id], text="Two")
    handed: list[tuple[int, str]] = []

    async def keep(target_id: int, token: str) -> None:
        handed.append((target_id, token))

    await tick(runtime, keep)
    assert len(handed) == 2, f"both posts should be claimed together (max in flight 2): {handed}"
    first_id = (await _only(runtime, one.post.id)).id
    second = await _only(runtime, two.post.id)
    await run_delivery(runtime, first_id, dict(handed)[first_id], worker="test")

    claimed = await delivery(runtime, second.id)
    assert claimed.status is DeliveryStatus.claimed and claimed.due_at == second.due_at, (
        f"the hold touched a claimed delivery: {_explain(claimed)}"
    )
    assert claimed.note == second.note
    assert await run_delivery(runtime, second.id, dict(handed)[second.id], worker="test") == "paced"
    put_back = await delivery(runtime, second.id)
    assert put_back.due_at == NOON.replace(minute=10), _explain(put_back)
    note = put_back.note or ""
    assert note.startswith("Waiting: calls to Facebook Page") and note.endswith(
        "paused; next try after 12:10:00 UTC."
    ), f"a post put back behind the pause must say why it waits and until when: {note!r}"


async def test_usage_headers_pause_other_waiting_posts_of_that_page(
    runtime: Runtime, venue: Venue, drain: Drain, clock: FrozenClock
) -> None:
    publisher = MetaLike(usage=95)
    _use(runtime, publisher)
    first = await schedule(runtime, venue.id, [venue.connection_id], text="One")
    second = await schedule(runtime, venue.id, [venue.connection_id], text="Two", when="2026-11-25T12:02")

    await drain()  # 12:00: published, but Meta says 95 % of the allowance is used: a 5-minute pause

    published = await _only(runtime, first.post.id)
    assert published.status is DeliveryStatus.published, _explain(published)
    assert published.note is not None and published.note.startswith("Live on"), "the published post was re-noted"
    held = await _only(runtime, second.post.id)
    assert held.due_at == NOON.replace(minute=5), f"the 12:02 post was not moved behind the pause: {_explain(held)}"
    assert held.note is not None and held.note.endswith(
        "has used 95 % of its call allowance, so we are pausing calls to it; next try after 12:05:00 UTC."
    ), _explain(held)
    clock.advance(minutes=2)
    await drain()
    assert publisher.calls == 1, "the page was called again during its usage pause"
    clock.advance(minutes=3)
    await drain()
    assert (await _only(runtime, second.post.id)).status is DeliveryStatus.published


@pytest.mark.parametrize(
    ("retry_after", "usage", "due_minute", "says"),
    [
        # Retry-After 3 s but the headers say 100 %: the 5-minute pause is the wait that applies.
        (3, 100, 5, "100 % of its call allowance, so we are pausing calls to it; next try after 12:05:00 UTC."),
        # Retry-After 10 min beats a 5-minute usage pause: the throttle's own note stands.
        (600, 95, 10, "asked us to slow down; trying again at 12:10:00 UTC."),
    ],
    ids=["usage-pause-longer", "retry-after-longer"],
)
async def test_a_throttled_post_says_the_longer_of_retry_after_and_the_usage_pause(
    runtime: Runtime, venue: Venue, drain: Drain, retry_after: int, usage: int, due_minute: int, says: str
) -> None:
    throttle = RateLimited("Too many calls.", retry_after=retry_after, code=4)
    _use(runtime, MetaLike(usage=usage, script=[throttle]))
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    waiting = await schedule(runtime, venue.id, [venue.connection_id], text="Later", when="2026-11-25T12:01")

    await drain()

    target = await _only(runtime, saved.post.id)
    assert target.status is DeliveryStatus.retrying, _explain(target)
    assert target.due_at == NOON.replace(minute=due_minute), f"waits until the wrong time: {_explain(target)}"
    assert target.note is not None and target.note.endswith(says), f"misleading note: {_explain(target)}"
    other = await _only(runtime, waiting.post.id)
    assert other.due_at == NOON.replace(minute=due_minute), f"the other post is not held as long: {_explain(other)}"
