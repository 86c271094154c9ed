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
import hashlib
import json
import os
import socket
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from core.clock import SystemClock
from core.connections import lifecycle as connections
from core.faults import fault_point
from core.notifications import outbox as notifications
from core.publishing.media import resolve_media
from core.publishing.outcomes import (
    Hold,
    Settle,
    held_by_rate_limit,
    held_by_usage,
    missed_before_sending,
    settle_error,
)
from core.runtime import Runtime
from providers.base import StoredCredentials
from providers.errors import AuthExpired, ProviderError
from providers.publishing import GoogleOptions, Pending, Published, PublishRequest, Recorder, StepOutcome, Surface
from storage.models import (
    AttemptOutcome,
    Connection,
    ConnectionStatus,
    DeliveryStatus,
    Post,
    PostTarget,
    Provider,
    PublishAttempt,
    Severity,
)
from storage.queries import deliveries as deliveries_q
from storage.secrets import seal

log = structlog.get_logger(__name__)

TASK_NAME = "publish-delivery"
MEDIA_WAIT = timedelta(seconds=15)
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
# Meta's usage headers: slow a connection down before it reaches 100 % (RELIABILITY.md).
USAGE_SLOW, USAGE_STOP = 75, 90
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


async def clock_now(runtime: Runtime, session: AsyncSession) -> datetime:
    """The time leases and due times are judged by: the database's clock, plus the OffsetClock's offset in tests.

    A test that injects its own clock (FrozenClock) gets that clock instead, so it can move time.
    """
    on_system_clock = isinstance(runtime.clock, SystemClock)
    return _judged_now(runtime, await deliveries_q.database_now(session) if on_system_clock else None)


def _judged_now(runtime: Runtime, db_now: datetime | None) -> datetime:
    """`clock_now` given the database clock already read (`load_delivery` reads it with the delivery)."""
    if isinstance(runtime.clock, SystemClock):
        # The database stays the authority; a chaos test's shared offset moves it like every other clock. SQLite has
        # no server clock: the host's, as deliveries_q.database_now (OffsetClock.now() is already moved).
        return (db_now or datetime.now(UTC)) + runtime.clock.offset()
    return runtime.clock.now()


def label_for(connection: Connection) -> str:
    return f"{connections.PROVIDER_LABEL[connection.provider]} {connection.display_name}"


@dataclass(frozen=True)
class _Begun:
    target_id: int
    post_id: int
    account_id: int
    connection_id: int
    provider: Provider
    lease_token: str
    attempt_id: int
    label: str
    credentials: StoredCredentials
    request: PublishRequest
    stage: dict[str, Any]


async def run_delivery(runtime: Runtime, target_id: int, lease_token: str, *, worker: str = WORKER_ID) -> str:
    """Publish one claimed delivery (the `publish-delivery` task); safe to run twice with the same lease."""
    begun = await _begin(runtime, target_id, lease_token, worker)
    if isinstance(begun, str):
        log.info("delivery_skipped", target_id=target_id, reason=begun)
        return begun
    recorder = Recorder()
    adapter: Any = runtime.providers[begun.provider]
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
) -> str:
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


async def _begin(runtime: Runtime, target_id: int, lease_token: str, worker: str) -> _Begun | str:
    """`_begin_once`, retried on a lost database connection. Safe: if a lost COMMIT had in fact landed, the
    retry finds its own attempt in flight and answers `already_running`; the sweep then flags it in doubt."""
    async for attempt in _db_retrying(runtime, 1 / 6):
        with attempt:
            return await _begin_once(runtime, target_id, lease_token, worker)
    raise AssertionError("unreachable: AsyncRetrying either returns or re-raises")


async def _begin_once(runtime: Runtime, target_id: int, lease_token: str, worker: str) -> _Begun | str:
    async with runtime.uow() as uow:
        session = uow.session
        loaded = await deliveries_q.load_delivery(session, target_id)
        if loaded is None:
            return "gone"
        now = _judged_now(runtime, loaded.db_now)
        target, post, connection = loaded.target, loaded.post, loaded.connection
        if target.status is not DeliveryStatus.claimed or target.lease_token != lease_token:
            return "not_ours"  # a duplicate hand-off, or the lease moved on
        if target.lease_expires_at is None or target.lease_expires_at <= now:
            return "lease_expired"
        if loaded.in_flight:
            # The broker redelivered the hand-off while its first run is alive (a slow provider call ran past
            # the redelivery timeout): that run owns the call; a second one would publish twice.
            return "already_running"
        await fault_point("after_claim")
        label = label_for(connection)
        log_ids = {"target_id": target.id, "post_id": post.id, "connection_id": connection.id}
        if not target.committed and now > target.cutoff_at:
            await apply_settle(
                runtime, session, target, post, connection, missed_before_sending(label, target.cutoff_at)
            )
            await uow.commit()
            return "missed"
        if connection.status is ConnectionStatus.disconnected:
            settle = Settle(
                DeliveryStatus.failed,
                AttemptOutcome.metadata_missing,
                f"Not published: {label} was disconnected.",
                error=f"{label} was disconnected from CheersAI.",
                remedy="Connect it again, then press Retry — or remove this destination from the post.",
                notify="publish_failed",
            )
            await apply_settle(runtime, session, target, post, connection, settle)
            await uow.commit()
            return "failed"
        if connection.status in (ConnectionStatus.needs_reconnect, ConnectionStatus.revoked):
            _release(target, DeliveryStatus.needs_reconnect, now, f"Waiting for {label} to be reconnected.")
            await uow.commit()
            return "needs_reconnect"
        pacing = loaded.pacing
        if pacing is not None and pacing.next_allowed_at > now:
            _release(target, _resting(target), pacing.next_allowed_at, f"Pacing calls to {label}.")
            await uow.commit()
            return "paced"
        surface = _surface(post, target.provider)
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
                notify="publish_failed",
            )
            await apply_settle(runtime, session, target, post, connection, settle)
            await uow.commit()
            return "failed"
        if media.waiting:
            _release(target, _resting(target), now + MEDIA_WAIT, f"Waiting: {media.waiting}.")
            await uow.commit()
            return "waiting_for_media"
        try:
            credentials = await fresh_credentials(runtime, session, connection, now)
        except AuthExpired as exc:
            await apply_settle(
                runtime, session, target, post, connection,
                settle_error(exc, **_settle_args(runtime, target, now, label, anything_sent=False)),
            )  # fmt: skip
            await uow.commit()
            return "needs_reconnect"
        request = PublishRequest(
            delivery_id=target.id,
            text=post.captions.get(target.provider.value) or post.text,
            media=media.items,
            link=post.link,
            surface=surface,
            google=google_options(post) if target.provider is Provider.google_business else None,
        )
        attempt = PublishAttempt(
            target_id=target.id,
            number=target.attempts + 1,
            started_at=now,
            outcome=AttemptOutcome.in_flight,
            lease_token=lease_token,
            worker=worker[:128],
            payload_hash=payload_hash(request),
            exchanges=[],
        )
        session.add(attempt)  # flushed with the delivery's UPDATE and the pacing upsert
        target.attempts += 1
        target.first_started_at = target.first_started_at or now
        target.lease_expires_at = now + timedelta(seconds=runtime.settings.cheers_publish_lease_seconds)
        target.updated_at = now
        spacing = timedelta(seconds=runtime.settings.cheers_connection_min_interval_seconds)
        if spacing:
            await deliveries_q.pace(session, connection.id, not_before=now + spacing, now=now, reason="spacing")
        await session.flush()
        begun = _Begun(
            target_id=target.id,
            post_id=post.id,
            account_id=post.account_id,
            connection_id=connection.id,
            provider=target.provider,
            lease_token=lease_token,
            attempt_id=attempt.id,
            label=label,
            credentials=credentials,
            request=request,
            stage=dict(target.stage or {}),
        )
        await uow.commit()
        log.info("delivery_attempt_started", attempt=attempt.number, provider=target.provider.value, **log_ids)
        return begun


async def _finish(runtime: Runtime, begun: _Begun, recorder: Recorder, result: StepOutcome | BaseException) -> str:
    await fault_point("after_provider_answer")
    async with runtime.uow() as uow:
        session = uow.session
        loaded = await deliveries_q.load_delivery(session, begun.target_id, attempt_id=begun.attempt_id)
        if loaded is None or loaded.attempt is None:
            return "gone"  # the venue was deleted mid-call
        now = _judged_now(runtime, loaded.db_now)
        target, attempt, post, connection = loaded.target, loaded.attempt, loaded.post, loaded.connection
        ours = target.status is DeliveryStatus.claimed and target.lease_token == begun.lease_token
        attempt.exchanges = recorder.snapshots()
        attempt.finished_at = now
        log_ids = {"target_id": target.id, "post_id": post.id, "connection_id": connection.id}
        if isinstance(result, Published):
            attempt.outcome = AttemptOutcome.published
            # The provider's word beats our bookkeeping: even a delivery the sweep flagged in doubt is live.
            await mark_published(runtime, session, target, post, connection, result, now)
            outcome = "published"
        elif isinstance(result, Pending):
            attempt.outcome = AttemptOutcome.pending
            target.stage = dict(result.stage)
            target.committed = target.committed or result.committed
            target.external_id = result.external_id or target.external_id
            target.permalink = result.permalink or target.permalink
            if ours:
                _release(target, DeliveryStatus.processing, now + timedelta(seconds=result.check_after), result.note)
            outcome = "pending"
        else:
            sent = bool(recorder.exchanges)
            settle = settle_error(result, **_settle_args(runtime, target, now, begun.label, anything_sent=sent))
            attempt.outcome = settle.attempt_outcome
            attempt.error = settle.error
            attempt.error_code = settle.error_code
            if ours:
                await apply_settle(runtime, session, target, post, connection, settle)
            outcome = settle.status.value
            log.warning(
                "delivery_attempt_failed",
                error=type(result).__name__,
                error_code=settle.error_code,
                status=outcome,
                ours=ours,
                **log_ids,
            )
        await _pace_by_usage(session, connection, recorder.highest_usage, now)
        await uow.commit()
        log.info("delivery_attempt_finished", outcome=outcome, attempt=attempt.number, **log_ids)
        return outcome


async def mark_published(
    runtime: Runtime,
    session: AsyncSession,
    target: PostTarget,
    post: Post,
    connection: Connection,
    result: Published,
    now: datetime,
) -> None:
    """Record a live delivery and its success in the feed."""
    already = target.status is DeliveryStatus.published
    target.status = DeliveryStatus.published
    target.external_id = result.external_id
    target.permalink = result.permalink or target.permalink
    target.published_at = target.published_at or now
    target.committed = True
    target.lease_token = target.lease_expires_at = None
    target.note = f"Live on {label_for(connection)}."
    target.last_error = target.error_code = target.remedy = None
    target.updated_at = now
    if not already:
        await notifications.notify(
            session,
            runtime.clock,
            account_id=post.account_id,
            kind="publish_succeeded",
            severity=Severity.info,
            title=f"Published on {label_for(connection)}: {excerpt(post.text)}",
            subject={"post_id": post.id, "target_id": target.id, "connection_id": connection.id},
            payload={"permalink": target.permalink, "external_id": target.external_id},
        )


async def apply_settle(
    runtime: Runtime, session: AsyncSession, target: PostTarget, post: Post, connection: Connection, settle: Settle
) -> None:
    """Write a settled state onto the delivery, flag the connection, pace it, and raise the alert."""
    now = runtime.clock.now()
    target.status = settle.status
    target.note = settle.note
    target.last_error = settle.error
    target.error_code = settle.error_code
    target.remedy = settle.remedy
    target.lease_token = target.lease_expires_at = None
    if settle.due_at is not None:
        target.due_at = settle.due_at
    target.retries = target.retries + 1 if settle.count_retry else target.retries
    target.updated_at = now
    if settle.reconnect:
        await connections.mark_needs_reconnect(
            session, runtime.clock, connection, settle.error or "access lost", remedy=settle.remedy
        )
    if settle.pace_until is not None:
        await deliveries_q.pace(session, connection.id, not_before=settle.pace_until, now=now, reason="rate_limited")
        # The connection's other waiting deliveries cannot be claimed until then either: say so on them.
        hold = held_by_rate_limit(label_for(connection), settle.pace_until)
        await _hold_waiting(session, connection.id, hold, now, except_id=target.id)
    if settle.notify:
        severity = Severity.warning if settle.notify == "publish_missed" else Severity.error
        headline = {
            "publish_failed": "Not published",
            "publish_missed": "Missed",
            "publish_in_doubt": "Check whether this went out",
        }.get(settle.notify, "Needs your attention")
        await notifications.notify(
            session,
            runtime.clock,
            account_id=post.account_id,
            kind=settle.notify,
            severity=severity,
            title=f"{headline} on {label_for(connection)}: {excerpt(post.text)}",
            subject={"post_id": post.id, "target_id": target.id, "connection_id": connection.id},
            payload={
                "reason": settle.error,
                "remedy": settle.remedy,
                "package": f"/api/targets/{target.id}/package",
            },
            dedup_key=f"{settle.notify}:{target.id}:{target.attempts}",
        )
    await session.flush()


def _release(target: PostTarget, status: DeliveryStatus, due_at: datetime, note: str) -> None:
    target.status = status
    target.due_at = due_at
    target.note = note
    target.lease_token = target.lease_expires_at = None


def _resting(target: PostTarget) -> DeliveryStatus:
    """Where a delivery waits when put back without an attempt: processing keeps its provider stage."""
    if target.stage:
        return DeliveryStatus.processing
    return DeliveryStatus.retrying if target.retries else DeliveryStatus.scheduled


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


async def _pace_by_usage(session: AsyncSession, connection: Connection, usage: int | None, now: datetime) -> None:
    """Slow the connection down by Meta's usage headers, and hold its waiting deliveries behind the pause.

    The hold includes the delivery just settled: a throttle whose Retry-After (3 s) is shorter than the
    usage pause (5 min at 100 %) would otherwise say "trying again at <3 s later>" while it waits 5 min.
    Whichever wait is longer wins, with its reason: the hold never pulls a due time earlier.
    """
    if usage is None or usage < USAGE_SLOW:
        return
    wait = timedelta(minutes=5) if usage >= USAGE_STOP else timedelta(seconds=60)
    await deliveries_q.pace(
        session, connection.id, not_before=now + wait, now=now, usage_percent=usage, reason=f"usage {usage}%"
    )
    await _hold_waiting(session, connection.id, held_by_usage(label_for(connection), usage, now + wait), now)


async def _hold_waiting(
    session: AsyncSession, connection_id: int, hold: Hold, now: datetime, *, except_id: int | None = None
) -> None:
    held = await deliveries_q.hold_behind_pace(
        session,
        connection_id,
        until=hold.until,
        now=now,
        note=hold.note,
        note_past_cutoff=hold.note_past_cutoff,
        except_id=except_id,
    )
    if held:
        log.info("deliveries_held_behind_pace", connection_id=connection_id, held=held, until=hold.until.isoformat())


async def fresh_credentials(
    runtime: Runtime, session: AsyncSession, connection: Connection, now: datetime
) -> StoredCredentials:
    """Decrypted credentials; a Google access token near its end is refreshed (and stored) first."""
    cipher = runtime.cipher()
    credentials = connections.credentials(connection, cipher)
    expiring = connection.token_expires_at is None or connection.token_expires_at < now + TOKEN_REFRESH_MARGIN
    if connection.provider is Provider.google_business and expiring and credentials.refresh_token:
        try:
            grant = await runtime.providers[connection.provider].refresh(credentials)
        except AuthExpired:
            raise
        except ProviderError as exc:
            log.warning("token_refresh_failed", connection_id=connection.id, error=type(exc).__name__)
            return credentials
        seal(connection, "access_token", grant.access_token, cipher)
        if grant.refresh_token:
            seal(connection, "refresh_token", grant.refresh_token, cipher)
        connection.token_expires_at = grant.expires_at
        credentials = replace(credentials, access_token=grant.access_token)
    return credentials


def _surface(post: Post, provider: Provider) -> Surface:
    value = (post.options.get(provider.value) or {}).get("surface", "feed")
    return value if value in ("feed", "story", "reel") else "feed"


def google_options(post: Post) -> GoogleOptions:
    """The post's Business Profile options as the adapter takes them (event times parsed)."""
    raw = dict(post.options.get(Provider.google_business.value) or {})
    for key in ("event_start", "event_end"):
        if isinstance(raw.get(key), str):
            raw[key] = datetime.fromisoformat(raw[key])
    known = set(GoogleOptions.__dataclass_fields__)
    return GoogleOptions(**{k: v for k, v in raw.items() if k in known})


def payload_hash(request: PublishRequest) -> str:
    """A fingerprint of what was sent (text, link, media kinds and sizes; not the short-lived URLs)."""
    doc = {
        "text": request.text,
        "link": request.link,
        "surface": request.surface,
        "media": [(m.kind, m.width, m.height, m.byte_size) for m in request.media],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def excerpt(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
