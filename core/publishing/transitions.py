"""The one writer of a delivery's status: which moves the state machine allows, and each move with the fields
that must change with it (lease, due time, note, error and remedy, updated_at).

Every path that moves a delivery (the engine, the dispatcher's sweep and claim, reconciliation, a person's
retry or decision, a post's edit or cancel) comes here, so a bug cannot quietly move a live delivery back into
the queue: a move the table does not allow raises IllegalTransition instead of publishing twice. Nothing here
reads or writes the database beyond the row the caller holds, except `claim_due`'s one batched UPDATE (or
`claim_due_at_once`'s one statement) and `publish_claimed`'s one statement.
The table is in docs/publishing.md, "Transitions".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.publishing.outcomes import Settle
from storage.models import DeliveryStatus, PostTarget
from storage.models.posts import CLAIMABLE
from storage.queries import claims as claims_q
from storage.queries import deliveries as deliveries_q

S = DeliveryStatus

# Where each status may go next, derived from what the engine, sweep, reconciliation, actions and post service do.
# `published` is reachable from every status: the provider's word that a post is live beats our bookkeeping (a
# late answer to an attempt the sweep already flagged in doubt, then re-sent or cancelled). Nothing leaves it.
ALLOWED: Mapping[DeliveryStatus, frozenset[DeliveryStatus]] = {
    # claimed when due; missed past the cutoff; a person's edit reschedules, a cancel cancels; a post that needs
    # approval (new, or an approved one edited) waits for it
    S.scheduled: frozenset({S.claimed, S.missed, S.scheduled, S.cancelled, S.published, S.pending_approval}),
    S.retrying: frozenset({S.claimed, S.missed, S.scheduled, S.cancelled, S.published}),
    S.processing: frozenset({S.claimed, S.missed, S.scheduled, S.cancelled, S.published}),
    # a worker's answer; a begin that cannot go yet puts it back; the sweep requeues or flags an expired lease
    S.claimed: frozenset(
        {S.published, S.processing, S.retrying, S.scheduled, S.needs_reconnect, S.failed, S.in_doubt, S.missed}
    ),
    # resumed after a reconnect (processing keeps the provider's stage); missed past the cutoff; retry or edit
    S.needs_reconnect: frozenset(
        {S.scheduled, S.processing, S.needs_reconnect, S.missed, S.cancelled, S.published, S.pending_approval}
    ),
    # approval (core.posts.approval): approved → scheduled, or missed when approved past the cutoff; rejected or
    # cancelled → cancelled; the sweep marks it missed at the cutoff; an edit keeps it waiting. Never claimed and
    # never published: nothing of it was sent.
    S.pending_approval: frozenset({S.scheduled, S.missed, S.cancelled, S.pending_approval}),
    # a person retries, edits, cancels or marks it published
    S.failed: frozenset({S.scheduled, S.needs_reconnect, S.cancelled, S.published}),
    S.missed: frozenset({S.scheduled, S.needs_reconnect, S.cancelled, S.published}),
    # reconciliation: found, carry on, absent (sent again, or missed), unsure; or a person decides
    S.in_doubt: frozenset({S.published, S.processing, S.scheduled, S.needs_reconnect, S.missed, S.needs_attention}),
    S.needs_attention: frozenset({S.published, S.scheduled, S.needs_reconnect}),
    S.cancelled: frozenset({S.published}),
    S.published: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A move the state machine does not allow: a bug, never something a person asked for."""

    def __init__(self, target_id: int | None, from_status: DeliveryStatus | None, to_status: DeliveryStatus) -> None:
        self.target_id, self.from_status, self.to_status = target_id, from_status, to_status
        origin = from_status.value if from_status is not None else "nothing"
        super().__init__(f"delivery {target_id}: {origin} → {to_status.value} is not an allowed transition")


def allowed(from_status: DeliveryStatus, to_status: DeliveryStatus) -> bool:
    """Whether the state machine lets a delivery move from `from_status` to `to_status`."""
    return to_status in ALLOWED[from_status]


def _move(target: PostTarget, to_status: DeliveryStatus) -> DeliveryStatus:
    """Set the status after checking the table; returns the status it had."""
    previous = target.status
    if not allowed(previous, to_status):
        raise IllegalTransition(target.id, previous, to_status)
    target.status = to_status
    return previous


def _release_lease(target: PostTarget) -> None:
    target.lease_token = target.lease_expires_at = None


def _clear_error(target: PostTarget) -> None:
    target.last_error = target.error_code = target.remedy = None


def resting(target: PostTarget) -> DeliveryStatus:
    """Where a delivery waits when put back without an attempt: processing keeps its provider stage."""
    if target.stage:
        return S.processing
    return S.retrying if target.retries else S.scheduled


# --- a new delivery, and a person's edit or cancel (core.posts.service) ---


def start(target: PostTarget) -> None:
    """A new delivery starts scheduled."""
    if target.status is not None:
        raise IllegalTransition(target.id, target.status, S.scheduled)
    target.status = S.scheduled


def reschedule(target: PostTarget, *, due_at: datetime, cutoff_at: datetime, now: datetime) -> None:
    """After an edit the delivery starts over with the new content and time (nothing of it is live); one waiting
    for a reconnect or for approval keeps waiting."""
    # One waiting for a reconnect keeps waiting, and so does one waiting for its post's approval.
    keep = target.status in (S.needs_reconnect, S.pending_approval)
    _move(target, target.status if keep else S.scheduled)
    target.due_at, target.cutoff_at = due_at, cutoff_at
    target.stage, target.committed, target.retries = {}, False, 0
    _clear_error(target)
    target.note = target.note if target.status is S.pending_approval else None
    target.updated_at = now


def await_approval(target: PostTarget, now: datetime) -> None:
    """Its post needs an admin's or owner's approval first: the delivery waits, unclaimed, until decided."""
    _move(target, S.pending_approval)
    target.note = "Waiting for approval by an admin or owner of the venue."
    target.updated_at = now


def approved(target: PostTarget, now: datetime, note: str) -> None:
    """Its post was approved: the delivery goes out at its time."""
    _move(target, S.scheduled)
    target.note = note
    target.updated_at = now


def rejected(target: PostTarget, now: datetime, note: str) -> None:
    """Its post was rejected: the delivery will not go out (the note carries the reason)."""
    _move(target, S.cancelled)
    target.note = note
    target.updated_at = now


def cancel(target: PostTarget, now: datetime) -> None:
    """A person cancelled the post: this delivery will not go out."""
    _move(target, S.cancelled)
    target.note = "Cancelled."
    target.updated_at = now


# --- the dispatcher: claim, and the sweep's repairs (core.publishing.dispatcher) ---


async def claim_due(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int, max_in_flight: int
) -> list[tuple[int, str]]:
    """Claim due deliveries (scheduled, retrying, processing → claimed) in one batched UPDATE; (id, token) pairs."""
    return await claims_q.claim_due(session, now=now, lease_until=lease_until, limit=limit, max_in_flight=max_in_flight)


async def claim_due_at_once(
    engine: AsyncEngine,
    *,
    fixed_now: datetime | None,
    offset: timedelta,
    lease: timedelta,
    limit: int,
    max_in_flight: int,
) -> list[tuple[int, str]]:
    """`claim_due` as one autocommitted statement (PostgreSQL), judged at `fixed_now` or the database's clock
    moved by `offset`; (id, token) pairs."""
    for status in CLAIMABLE:
        if not allowed(status, S.claimed):
            raise IllegalTransition(None, status, S.claimed)
    return await claims_q.claim_due_at_once(
        engine, fixed_now=fixed_now, offset=offset, lease=lease, limit=limit, max_in_flight=max_in_flight
    )  # fmt: skip


def requeue(target: PostTarget, now: datetime, note: str) -> None:
    """A claim whose worker never started an attempt: back in line now (nothing was sent)."""
    resume(target, now, note)
    _release_lease(target)


def resume(target: PostTarget, now: datetime, note: str) -> None:
    """A delivery that waited for a reconnect goes out now (processing keeps the provider's stage)."""
    _move(target, S.processing if target.stage else S.scheduled)
    target.due_at = now
    target.note = note
    target.updated_at = now


# --- the engine: a settled outcome, published, or put back to wait (core.publishing.engine, .settle) ---


def settle(target: PostTarget, outcome: Settle, now: datetime) -> None:
    """Write a settled outcome (core.publishing.outcomes) onto the delivery and give its lease back."""
    _move(target, outcome.status)
    target.note = outcome.note
    target.last_error = outcome.error
    target.error_code = outcome.error_code
    target.remedy = outcome.remedy
    _release_lease(target)
    if outcome.due_at is not None:
        target.due_at = outcome.due_at
    if outcome.count_retry:
        target.retries += 1
    target.updated_at = now


def published(
    target: PostTarget, *, now: datetime, note: str, permalink: str | None, external_id: str | None = None
) -> bool:
    """Live: from the provider's answer, a reconciliation that found it, or a person's word. Returns False when
    it was already published (a repeated answer only refreshes the link and note)."""
    first = target.status is not S.published
    if first:
        _move(target, S.published)
    if external_id is not None:
        target.external_id = external_id
    target.permalink = permalink or target.permalink
    target.published_at = target.published_at or now
    target.committed = True
    _release_lease(target)
    target.note = note
    _clear_error(target)
    target.updated_at = now
    return first


async def publish_claimed(
    engine: AsyncEngine, answer: deliveries_q.PublishedAnswer
) -> deliveries_q.PublishedRecorded | None:
    """claimed → published for the engine's common answer, in one statement of its own (PostgreSQL): the fields
    `published` sets, written only while the delivery is still claimed under the answer's lease. None when it
    is not (nothing written): the caller loads it and goes through `published`."""
    if not allowed(S.claimed, S.published):
        raise IllegalTransition(answer.target_id, S.claimed, S.published)
    return await deliveries_q.publish_claimed(engine, answer)


def put_back(target: PostTarget, due_at: datetime, note: str, now: datetime) -> None:
    """A claimed delivery that cannot go yet (connection paced, media being prepared) waits until `due_at`."""
    _release(target, resting(target), due_at, note, now)


def await_reconnect(target: PostTarget, due_at: datetime, note: str, now: datetime) -> None:
    """A claimed delivery whose connection lost its access waits for the reconnect (the sweep resumes it)."""
    _release(target, S.needs_reconnect, due_at, note, now)


def processing(target: PostTarget, due_at: datetime, note: str, now: datetime) -> None:
    """The provider holds the post (an Instagram container, a Business Profile review): checked again at `due_at`."""
    _release(target, S.processing, due_at, note, now)


def _release(target: PostTarget, to_status: DeliveryStatus, due_at: datetime, note: str, now: datetime) -> None:
    _move(target, to_status)
    target.due_at = due_at
    target.note = note
    _release_lease(target)
    target.updated_at = now


# --- reconciliation of a delivery in doubt (core.publishing.reconcile) ---


def check_again(target: PostTarget, due_at: datetime, note: str) -> None:
    """Stay in doubt, checked again at `due_at`; the check's lease is given back."""
    if target.status is not S.in_doubt:
        raise IllegalTransition(target.id, target.status, S.in_doubt)
    target.due_at, target.note = due_at, note
    _release_lease(target)


def send_again(target: PostTarget, now: datetime, note: str) -> None:
    """The provider does not have it: the one automatic re-send, due now."""
    _move(target, S.scheduled)
    target.due_at = now
    _cleared(target, note)


def carry_on(
    target: PostTarget,
    *,
    now: datetime,
    note: str,
    stage: dict[str, Any],
    committed: bool,
    external_id: str | None,
    permalink: str | None,
) -> None:
    """The provider holds it part-way (a container to publish, a post in review): the engine carries on from
    `stage`, due now."""
    _move(target, S.processing)
    target.stage, target.due_at = dict(stage), now
    target.committed = target.committed or committed
    target.external_id = external_id or target.external_id
    target.permalink = permalink or target.permalink
    _cleared(target, note)


def needs_attention(target: PostTarget, *, now: datetime, note: str, reason: str, remedy: str) -> None:
    """Reconciliation cannot tell whether it went out: a person decides (mark published, or publish again)."""
    _move(target, S.needs_attention)
    _release_lease(target)
    target.note = note
    target.last_error, target.error_code, target.remedy = reason, "reconcile_unsure", remedy
    target.updated_at = now


def _cleared(target: PostTarget, note: str) -> None:
    target.note, target.retries = note, 0
    _release_lease(target)
    _clear_error(target)


# --- a person's retry or "publish again" (core.publishing.actions) ---


def retry(target: PostTarget, *, now: datetime, freshness: timedelta, waits: bool) -> DeliveryStatus:
    """Send a failed, missed, in-doubt or waiting delivery again now (or as soon as its connection is reconnected,
    when `waits`); returns the status it had."""
    previous = _move(target, S.needs_reconnect if waits else S.scheduled)
    if previous is S.missed or target.cutoff_at <= now:
        # A person chose to send it late: the cutoff restarts from now.
        target.cutoff_at = now + freshness
    if previous in (S.in_doubt, S.needs_attention):
        # "Publish again" is a person's decision that the first attempt did not go out.
        target.stage, target.committed = {}, False
    elif not target.committed:
        target.stage = {}
    target.due_at = now
    target.retries = 0
    _clear_error(target)
    target.note = f"Retry requested ({previous.value} before)."
    target.updated_at = now
    return previous
