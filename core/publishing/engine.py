"""Publishing one claimed delivery: check it is still ours, record the attempt, call the provider, settle.

Three steps, two transactions, and the provider call between them with no transaction open:
1. begin: the lease must still be ours; refuse or postpone what cannot go (cutoff passed, connection
   needs a reconnect, media still being prepared, connection paced); otherwise write the attempt row
   (`in_flight`) and extend the lease. Committed *before* the provider is called.
2. the adapter's `publish` step (providers.publishing).
3. finish: record the snapshots and outcome; move the delivery on (core.publishing.outcomes).
A crash between 1 and 3 leaves an `in_flight` attempt under an expiring lease: the dispatcher's sweep
turns that into `in_doubt`, never into a second send.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from core.connections import lifecycle as connections
from core.faults import fault_point
from core.notifications.kinds import NotificationKind
from core.notifications.outbox import CHAT_ALERTS_TASK
from core.publishing import transitions
from core.publishing.clock import judged_now, statement_clock
from core.publishing.labels import excerpt, label_for
from core.publishing.media import resolve_media
from core.publishing.outcomes import Settle, missed_before_sending, settle_error
from core.publishing.request import fresh_credentials, google_options, payload_hash, surface_for, surface_of
from core.publishing.settle import USAGE_SLOW, apply_settle, mark_published, pace_by_usage
from core.publishing.steps import Step
from core.runtime import Runtime
from providers.base import StoredCredentials
from providers.errors import AuthExpired
from providers.publishing import Pending, Published, PublishRequest, Recorder, StepOutcome
from storage.models import (
    AttemptOutcome,
    ConnectionStatus,
    DeliveryStatus,
    PostTarget,
    Provider,
    Severity,
)
from storage.queries import deliveries as deliveries_q

log = structlog.get_logger(__name__)

TASK_NAME = "publish-delivery"
MEDIA_WAIT = timedelta(seconds=15)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# Connection states the begin cannot publish through (failed, or waiting for a reconnect): the long way says why.
_UNUSABLE = frozenset({ConnectionStatus.disconnected, ConnectionStatus.needs_reconnect, ConnectionStatus.revoked})


@dataclass(frozen=True)
class _Begun:
    target_id: int
    post_id: int
    account_id: int
    connection_id: int
    provider: Provider
    lease_token: str
    attempt_id: int
    attempt_number: int
    label: str
    excerpt: str  # of the post's text, for the success notification's title
    credentials: StoredCredentials
    request: PublishRequest
    stage: dict[str, Any]


async def run_delivery(runtime: Runtime, target_id: int, lease_token: str, *, worker: str = WORKER_ID) -> Step:
    """Publish one claimed delivery (the `publish-delivery` task); safe to run twice with the same lease."""
    begun = await _begin(runtime, target_id, lease_token, worker)
    if isinstance(begun, Step):
        log.info("delivery_skipped", target_id=target_id, reason=begun)
        return begun
    recorder = Recorder()
    adapter = runtime.providers[begun.provider]
    result: StepOutcome | BaseException
    try:
        await fault_point("before_provider_call")
        result = await adapter.publish(begun.credentials, begun.request, begun.stage, recorder)
    except asyncio.CancelledError:
        # Shutdown mid-call: leave the attempt in flight; the lease sweep decides (in doubt if anything left).
        log.warning("delivery_cancelled_mid_call", target_id=target_id, sent=bool(recorder.exchanges))
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is settled and explained below
        result = exc
    return await _finish_retrying(runtime, begun, recorder, result)


async def _finish_retrying(
    runtime: Runtime, begun: _Begun, recorder: Recorder, result: StepOutcome | BaseException
) -> Step:
    """`_finish`, retried while the database is unreachable (a restart, a killed backend): the provider's
    answer is only in this process's memory, and losing it would turn a known outcome into `in_doubt`.
    Bounded well inside the lease, after which the sweep flags the delivery anyway."""
    async for attempt in _db_retrying(runtime, 1 / 3):
        with attempt:
            return await _finish(runtime, begun, recorder, result)
    raise AssertionError("unreachable: AsyncRetrying either returns or re-raises")


def _db_retrying(runtime: Runtime, fraction: float) -> AsyncRetrying:
    """Retry a transaction while the database is unreachable (a restart, a killed backend, an exhausted pool),
    for at most `fraction` of the lease, so the sweep still sees a stuck delivery in time."""
    return AsyncRetrying(
        retry=retry_if_exception_type((OperationalError, InterfaceError, PoolTimeout)),
        stop=stop_after_delay(max(1.0, runtime.settings.cheers_publish_lease_seconds * fraction)),
        wait=wait_exponential(multiplier=0.2, max=2.0),
        reraise=True,
    )


async def _begin(runtime: Runtime, target_id: int, lease_token: str, worker: str) -> _Begun | Step:
    """`_begin_once`, retried on a lost database connection. Safe: if a lost COMMIT had in fact landed, the
    retry finds its own attempt in flight and answers `already_running`; the sweep then flags it in doubt."""
    async for attempt in _db_retrying(runtime, 1 / 6):
        with attempt:
            return await _begin_once(runtime, target_id, lease_token, worker)
    raise AssertionError("unreachable: AsyncRetrying either returns or re-raises")


async def _begin_once(runtime: Runtime, target_id: int, lease_token: str, worker: str) -> _Begun | Step:
    async with runtime.uow() as uow:
        session = uow.session
        if runtime.db.dialect == "postgresql":
            quick = await _begin_common(runtime, session, target_id, lease_token, worker)
            if isinstance(quick, _Begun):
                await uow.commit()
                log.info(
                    "delivery_attempt_started", attempt=quick.attempt_number, provider=quick.provider.value,
                    target_id=quick.target_id, post_id=quick.post_id, connection_id=quick.connection_id,
                )  # fmt: skip
            if quick is not None:
                return quick
        loaded = await deliveries_q.load_delivery(session, target_id)
        if loaded is None:
            return Step.gone
        now = judged_now(runtime, loaded.db_now)
        target, post, connection = loaded.target, loaded.post, loaded.connection
        if target.status is not DeliveryStatus.claimed or target.lease_token != lease_token:
            return Step.not_ours  # a duplicate hand-off, or the lease moved on
        if target.lease_expires_at is None or target.lease_expires_at <= now:
            return Step.lease_expired
        if loaded.in_flight:
            # The broker redelivered the hand-off while its first run is alive (a slow provider call ran past
            # the redelivery timeout): that run owns the call; a second one would publish twice.
            return Step.already_running
        await fault_point("after_claim")
        label = label_for(connection)
        log_ids = {"target_id": target.id, "post_id": post.id, "connection_id": connection.id}
        if not target.committed and now > target.cutoff_at:
            await apply_settle(
                runtime, session, target, post, connection, missed_before_sending(label, target.cutoff_at)
            )
            await uow.commit()
            return Step.missed
        if connection.status is ConnectionStatus.disconnected:
            settle = Settle(
                DeliveryStatus.failed,
                AttemptOutcome.metadata_missing,
                f"Not published: {label} was disconnected.",
                error=f"{label} was disconnected from CheersAI.",
                remedy="Connect it again, then press Retry — or remove this destination from the post.",
                notify=NotificationKind.publish_failed,
            )
            await apply_settle(runtime, session, target, post, connection, settle)
            await uow.commit()
            return Step.failed
        if connection.status in (ConnectionStatus.needs_reconnect, ConnectionStatus.revoked):
            transitions.await_reconnect(target, now, f"Waiting for {label} to be reconnected.", now)
            await uow.commit()
            return Step.needs_reconnect
        pacing = loaded.pacing
        if pacing is not None and pacing.next_allowed_at > now:
            # Claimed before a pause began (Found 9): it waits like the rest of the connection's posts, saying why.
            until = pacing.next_allowed_at
            note = f"Waiting: calls to {label} are paused; next try after {until:%H:%M:%S} UTC."
            transitions.put_back(target, until, note, now)
            await uow.commit()
            return Step.paced
        surface = surface_for(post, target.provider)
        media = await resolve_media(
            session,
            runtime.blobs,
            runtime.settings,
            runtime.clock,
            account_id=post.account_id,
            asset_ids=loaded.media_ids,
            provider=target.provider,
            surface=surface,
        )
        if media.broken:
            settle = Settle(
                DeliveryStatus.failed,
                AttemptOutcome.permanent,
                f"Not published on {label}: {media.broken}.",
                error=media.broken,
                remedy="Replace the photo or video in the post, then press Retry.",
                notify=NotificationKind.publish_failed,
            )
            await apply_settle(runtime, session, target, post, connection, settle)
            await uow.commit()
            return Step.failed
        if media.waiting:
            transitions.put_back(target, now + MEDIA_WAIT, f"Waiting: {media.waiting}.", now)
            await uow.commit()
            return Step.waiting_for_media
        try:
            credentials = await fresh_credentials(runtime, session, connection, now)
        except AuthExpired as exc:
            await apply_settle(
                runtime, session, target, post, connection,
                settle_error(exc, **_settle_args(runtime, target, now, label, anything_sent=False)),
            )  # fmt: skip
            await uow.commit()
            return Step.needs_reconnect
        request = PublishRequest(
            delivery_id=target.id,
            text=post.captions.get(target.provider.value) or post.text,
            media=media.items,
            link=post.link,
            surface=surface,
            google=google_options(post) if target.provider is Provider.google_business else None,
        )
        number = target.attempts + 1
        attempt_id = await _start_attempt(
            runtime, session, target.id, connection.id, number, now, lease_token, worker, request
        )
        begun = _Begun(
            target_id=target.id,
            post_id=post.id,
            account_id=post.account_id,
            connection_id=connection.id,
            provider=target.provider,
            lease_token=lease_token,
            attempt_id=attempt_id,
            attempt_number=number,
            label=label,
            excerpt=excerpt(post.text),
            credentials=credentials,
            request=request,
            stage=dict(target.stage or {}),
        )
        await uow.commit()
        log.info("delivery_attempt_started", attempt=number, provider=target.provider.value, **log_ids)
        return begun


async def _begin_common(
    runtime: Runtime, session: AsyncSession, target_id: int, lease_token: str, worker: str
) -> _Begun | Step | None:
    """The begin's common case on PostgreSQL from plain columns (`load_for_begin`), no ORM objects built: still
    ours, within its cutoff, its connection usable and not paced, a text post, no token to refresh. The attempt is
    written as in the long way below; None, with nothing written and before the `after_claim` fault point, for
    every other case, which the long way then judges from the ORM objects it writes through (the row stays
    locked in between)."""
    row = await deliveries_q.load_for_begin(session, target_id)
    if row is None:
        return Step.gone
    now = judged_now(runtime, row.db_now)
    if row.status is not DeliveryStatus.claimed or row.lease_token != lease_token:
        return Step.not_ours
    if row.lease_expires_at is None or row.lease_expires_at <= now:
        return Step.lease_expired
    if row.in_flight:
        return Step.already_running
    connection = row.connection
    if (
        (not row.committed and now > row.cutoff_at)
        or connection.status in _UNUSABLE
        or (row.next_allowed_at is not None and row.next_allowed_at > now)
        or row.has_media
        or Provider.google_business in (row.provider, connection.provider)  # a token to refresh, options to parse
    ):
        return None
    await fault_point("after_claim")
    label = label_for(connection)
    request = PublishRequest(
        delivery_id=target_id,
        text=row.captions.get(row.provider.value) or row.text,
        link=row.link,
        surface=surface_of(row.options, row.provider),
    )
    number = row.attempts + 1
    attempt_id = await _start_attempt(
        runtime, session, target_id, row.connection_id, number, now, lease_token, worker, request
    )
    return _Begun(
        target_id=target_id,
        post_id=row.post_id,
        account_id=row.account_id,
        connection_id=row.connection_id,
        provider=row.provider,
        lease_token=lease_token,
        attempt_id=attempt_id,
        attempt_number=number,
        label=label,
        excerpt=excerpt(row.text),
        credentials=connections.credentials(connection, runtime.cipher()),
        request=request,
        stage=dict(row.stage or {}),
    )


async def _start_attempt(
    runtime: Runtime,
    session: AsyncSession,
    target_id: int,
    connection_id: int,
    number: int,
    now: datetime,
    lease_token: str,
    worker: str,
    request: PublishRequest,
) -> int:
    """Write attempt `number` in flight, the delivery's lease extended and the connection's spacing; its id."""
    settings = runtime.settings
    spacing = timedelta(seconds=settings.cheers_connection_min_interval_seconds)
    return await deliveries_q.start_attempt(
        session,
        deliveries_q.NewAttempt(
            target_id=target_id,
            connection_id=connection_id,
            number=number,
            started_at=now,
            lease_token=lease_token,
            lease_expires_at=now + timedelta(seconds=settings.cheers_publish_lease_seconds),
            worker=worker,
            payload_hash=payload_hash(request),
            pace_until=now + spacing if spacing else None,
        ),
    )


async def _finish(runtime: Runtime, begun: _Begun, recorder: Recorder, result: StepOutcome | BaseException) -> Step:
    await fault_point("after_provider_answer")
    if isinstance(result, Published) and await _finish_published(runtime, begun, recorder, result):
        return Step.published
    async with runtime.uow() as uow:
        session = uow.session
        loaded = await deliveries_q.load_delivery(session, begun.target_id, attempt_id=begun.attempt_id)
        if loaded is None or loaded.attempt is None:
            return Step.gone  # the venue was deleted mid-call
        now = judged_now(runtime, loaded.db_now)
        target, attempt, post, connection = loaded.target, loaded.attempt, loaded.post, loaded.connection
        ours = target.status is DeliveryStatus.claimed and target.lease_token == begun.lease_token
        attempt.exchanges = recorder.snapshots()
        attempt.finished_at = now
        log_ids = {"target_id": target.id, "post_id": post.id, "connection_id": connection.id}
        if isinstance(result, Published):
            attempt.outcome = AttemptOutcome.published
            # The provider's word beats our bookkeeping: even a delivery the sweep flagged in doubt is live.
            await mark_published(runtime, session, target, post, connection, result, now)
            outcome = Step.published
        elif isinstance(result, Pending):
            attempt.outcome = AttemptOutcome.pending
            target.stage = dict(result.stage)
            target.committed = target.committed or result.committed
            target.external_id = result.external_id or target.external_id
            target.permalink = result.permalink or target.permalink
            if ours:
                due = now + timedelta(seconds=result.check_after)
                transitions.processing(target, due, result.note, now)
            outcome = Step.pending
        else:
            sent = bool(recorder.exchanges)
            settle = settle_error(result, **_settle_args(runtime, target, now, begun.label, anything_sent=sent))
            attempt.outcome = settle.attempt_outcome
            attempt.error = settle.error
            attempt.error_code = settle.error_code
            if ours:
                await apply_settle(runtime, session, target, post, connection, settle)
            outcome = Step.settled_as(settle.status)
            log.warning(
                "delivery_attempt_failed",
                error=type(result).__name__,
                error_code=settle.error_code,
                status=outcome,
                ours=ours,
                **log_ids,
            )
        await pace_by_usage(session, connection, recorder.highest_usage, now)
        await uow.commit()
        log.info("delivery_attempt_finished", outcome=outcome, attempt=attempt.number, **log_ids)
        return outcome


async def _finish_published(runtime: Runtime, begun: _Begun, recorder: Recorder, result: Published) -> bool:
    """The common answer in one round trip on PostgreSQL: published while still ours, no usage to pace by. Writes
    what the long way below writes for it (`mark_published`: the delivery, its attempt, the success notification)
    in one autocommitted statement; False, with nothing written, when the delivery is no longer claimed under this
    lease (the sweep flagged it, a person acted): then the long way judges it."""
    usage = recorder.highest_usage
    if runtime.db.dialect != "postgresql" or (usage is not None and usage >= USAGE_SLOW):
        return False  # SQLite has no data-modifying CTEs (nor round trips); Meta's usage paces the connection
    # as judged_now: the database's clock (moved by a chaos run's shared offset), or a test's own clock
    fixed_now, offset = statement_clock(runtime)
    now = runtime.clock.now()
    ids = {"post_id": begun.post_id, "target_id": begun.target_id, "connection_id": begun.connection_id}
    answer = deliveries_q.PublishedAnswer(
        target_id=begun.target_id,
        lease_token=begun.lease_token,
        attempt_id=begun.attempt_id,
        exchanges=recorder.snapshots(),
        note=f"Live on {begun.label}.",
        permalink=result.permalink,
        external_id=result.external_id,
        account_id=begun.account_id,
        kind=NotificationKind.publish_succeeded.value,
        severity=Severity.info,
        title=f"Published on {begun.label}: {begun.excerpt}",
        subject=ids,
        created_at=now,  # as notifications.notify: the process clock
        fixed_now=fixed_now,
        offset=offset,
    )
    recorded = await transitions.publish_claimed(runtime.db.engine, answer)
    if recorded is None:
        return False
    # Only a venue with a chat that takes alerts needs a chat-alerts pass: without one, the statement recorded the
    # notification as fanned out (to no chat), and a pass per published post was as many round trips as the post.
    if recorded.wake_chats and runtime.queue is not None:
        try:
            await runtime.queue.enqueue(CHAT_ALERTS_TASK)  # as the unit of work's wake after a notification
        except Exception:
            log.exception("after_commit_hook_failed")  # the chat-alerts sweep finds the notification anyway
    log.info("delivery_attempt_finished", outcome=Step.published, attempt=begun.attempt_number, **ids)
    return True


def _settle_args(runtime: Runtime, target: PostTarget, now: datetime, label: str, *, anything_sent: bool) -> Any:
    s = runtime.settings
    return {
        "label": label,
        "now": now,
        "cutoff_at": target.cutoff_at,
        "retries": target.retries,
        "max_retries": s.cheers_publish_max_retries,
        "retry_base": timedelta(seconds=s.cheers_publish_retry_base_seconds),
        "anything_sent": anything_sent,
    }
