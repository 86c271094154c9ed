"""Reconciling deliveries in doubt: ask the provider whether the post exists, then move the delivery on.

A delivery whose answer was lost is never re-sent blindly (docs/reliability.md). The `reconcile-in-doubt` job
takes the oldest in-doubt deliveries that are due, each under a short lease so two workers never check the
same one, asks the adapter (providers.reconcile) with no transaction open, and settles what it answered:

- Found → published ("Found on the platform after a lost answer");
- Absent → scheduled again, due now: the only automatic re-send, and only on the provider's word;
- Continue → processing from the provider's stage (Instagram container, Business Profile review);
- NotYet, or trouble reaching the provider → stays in doubt, checked again later;
- Unsure → needs_attention, and a `publish_needs_attention` notification offering the two decisions.

Each check is kept as an attempt (worker `reconcile …`) with the redacted snapshots of its reads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.connections import lifecycle as connections
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind, offers_for
from core.publishing import transitions
from core.publishing.clock import clock_now
from core.publishing.engine import WORKER_ID
from core.publishing.labels import excerpt, label_for
from core.publishing.outcomes import backoff, missed_before_sending
from core.publishing.request import fresh_credentials, payload_hash  # the one place that seals refreshes
from core.publishing.settle import apply_settle, mark_published
from core.publishing.steps import ReconcileStep
from core.runtime import Runtime
from providers.base import StoredCredentials
from providers.errors import AuthExpired, PermissionMissing, ProviderError, RateLimited, Transient
from providers.publishing import MediaItem, Published, PublishRequest, Recorder, Surface
from providers.reconcile import DEFAULT_VISIBILITY_DELAY, Absent, Continue, Found, InDoubt, NotYet, Unsure, Verdict
from storage.models import (
    AttemptOutcome,
    Connection,
    ConnectionStatus,
    DeliveryStatus,
    MediaKind,
    Post,
    PostTarget,
    Provider,
    PublishAttempt,
    Severity,
)
from storage.queries import claims as claims_q
from storage.queries import deliveries as deliveries_q
from storage.queries import media as media_q
from storage.queries import pacing as pacing_q
from storage.queries import posts as posts_q

log = structlog.get_logger(__name__)

JOB_NAME = "reconcile-in-doubt"
RECONCILER = "reconcile "  # prefix of the `worker` of the attempts that record a check
RECONNECT_WAIT = timedelta(minutes=15)
CHECK_RETRY_BASE = timedelta(seconds=60)
MAX_FAILED_CHECKS = 10  # then a person decides (about 2 h of failing checks with the backoff)
ATTENTION_REMEDY = (
    "Look at {label}: if the post is there, choose 'Mark as published'; if it is not, choose 'Publish again'. "
    "CheersAI will not send it again on its own."
)


@dataclass(frozen=True)
class _Check:
    target_id: int
    post_id: int
    connection_id: int
    provider: Provider
    lease_token: str
    label: str
    credentials: StoredCredentials
    doubt: InDoubt
    payload_hash: str
    started_at: datetime


async def reconcile_in_doubt(
    runtime: Runtime, *, limit: int = 50, visibility_delay: timedelta = DEFAULT_VISIBILITY_DELAY
) -> dict[str, Any]:
    """Check up to `limit` in-doubt deliveries (oldest first); counts of what each became."""
    lease = timedelta(seconds=runtime.settings.cheers_publish_lease_seconds)
    async with runtime.uow() as uow:
        now = await clock_now(runtime, uow.session)
        claims = await claims_q.claim_in_doubt(uow.session, now=now, lease_until=now + lease, limit=limit)
        await uow.commit()
    counts: Counter[str] = Counter()
    for target_id, token in claims:
        try:
            counts[(await reconcile_one(runtime, target_id, token, visibility_delay=visibility_delay)).value] += 1
        except Exception:  # our bug on one delivery must not stop the others; its lease runs out
            log.exception("reconcile_failed", target_id=target_id)
            counts[ReconcileStep.error.value] += 1
    return {"checked": len(claims), **counts}


async def reconcile_one(
    runtime: Runtime, target_id: int, lease_token: str, *, visibility_delay: timedelta = DEFAULT_VISIBILITY_DELAY
) -> ReconcileStep:
    """Check one claimed in-doubt delivery: prepare (transaction), ask the provider, settle (transaction)."""
    check = await _prepare(runtime, target_id, lease_token, visibility_delay)
    if isinstance(check, ReconcileStep):
        return check
    recorder = Recorder()
    adapter = runtime.providers[check.provider]
    verdict: Verdict | BaseException
    if not hasattr(adapter, "reconcile"):
        verdict = Unsure(f"CheersAI cannot check {check.label} on its own.")
    else:
        try:
            verdict = await adapter.reconcile(check.credentials, check.doubt, recorder)
        except Exception as exc:  # noqa: BLE001 - every failure to look is settled below (stays in doubt)
            verdict = exc
    return await _settle(runtime, check, recorder, verdict)


async def _prepare(runtime: Runtime, target_id: int, lease_token: str, delay: timedelta) -> _Check | ReconcileStep:
    async with runtime.uow() as uow:
        session = uow.session
        now = await clock_now(runtime, session)
        target = await deliveries_q.get_target(session, target_id, lock=True)
        if target is None:
            return ReconcileStep.gone
        if target.status is not DeliveryStatus.in_doubt or target.lease_token != lease_token:
            return ReconcileStep.superseded  # a person decided, or a late answer settled it
        post = await session.get(Post, target.post_id)
        connection = await session.get(Connection, target.connection_id)
        assert post is not None and connection is not None  # foreign keys
        label = label_for(connection)
        if connection.status is ConnectionStatus.disconnected:
            await _needs_attention(runtime, session, target, post, connection, f"{label} was disconnected")
            await uow.commit()
            return ReconcileStep.unsure
        if connection.status in (ConnectionStatus.needs_reconnect, ConnectionStatus.revoked):
            # Never needs_reconnect: the reconnect sweep would resume it, which is a blind re-send.
            note = f"Waiting for {label} to be reconnected to check whether it went out."
            transitions.check_again(target, now + RECONNECT_WAIT, note)
            await uow.commit()
            return ReconcileStep.waiting_for_reconnect
        try:
            credentials = await fresh_credentials(runtime, session, connection, now)
        except AuthExpired as exc:
            await _cannot_look(runtime, session, target, connection, exc, now)
            await uow.commit()
            return ReconcileStep.auth_expired
        lost = await deliveries_q.last_publish_attempt(session, target.id, except_worker=RECONCILER)
        lease = timedelta(seconds=runtime.settings.cheers_publish_lease_seconds)
        started = lost.started_at if lost else (target.first_started_at or target.updated_at)
        ended = (lost.finished_at or lost.started_at + lease) if lost else target.updated_at
        request = await _request(session, post, target)
        doubt = InDoubt(request, dict(target.stage or {}), started, ended, now, visibility_delay=delay)
        check = _Check(
            target.id, post.id, connection.id, target.provider, lease_token, label, credentials, doubt,
            lost.payload_hash if lost else payload_hash(request), now,
        )  # fmt: skip
        await uow.commit()  # a refreshed Google token is kept even if the check fails
        return check


async def _settle(
    runtime: Runtime, check: _Check, recorder: Recorder, verdict: Verdict | BaseException
) -> ReconcileStep:
    async with runtime.uow() as uow:
        session = uow.session
        now = await clock_now(runtime, session)
        target = await deliveries_q.get_target(session, check.target_id, lock=True)
        post = await session.get(Post, check.post_id)
        connection = await session.get(Connection, check.connection_id)
        if target is None or post is None or connection is None:
            return ReconcileStep.gone
        if target.status is not DeliveryStatus.in_doubt or target.lease_token != check.lease_token:
            log.info("reconcile_superseded", target_id=target.id, status=target.status.value)
            return ReconcileStep.superseded
        attempt = _record(target, check, recorder, verdict, now)
        session.add(attempt)
        label = check.label
        if isinstance(verdict, Found):
            published = Published(verdict.external_id, verdict.permalink, verdict.details)
            await mark_published(runtime, session, target, post, connection, published, now)
            target.note = f"Found on {label} after a lost answer; it is live."
            target.retries = 0
            outcome = ReconcileStep.found
        elif isinstance(verdict, Absent):
            outcome = await _absent(runtime, session, target, post, connection, verdict, now)
        elif isinstance(verdict, Continue):
            transitions.carry_on(
                target,
                now=now,
                note=f"Checked {label} after a lost answer: {verdict.reason}; carrying on.",
                stage=verdict.stage,
                committed=verdict.committed,
                external_id=verdict.external_id,
                permalink=verdict.permalink,
            )
            outcome = ReconcileStep.carry_on
        elif isinstance(verdict, NotYet):
            due = now + timedelta(seconds=verdict.check_after)
            transitions.check_again(target, due, f"{verdict.reason}; checking {label} again at {due:%H:%M:%S} UTC.")
            outcome = ReconcileStep.not_yet
        elif isinstance(verdict, Unsure):
            await _needs_attention(runtime, session, target, post, connection, verdict.reason, verdict.candidates)
            outcome = ReconcileStep.unsure
        else:
            outcome = await _cannot_look(runtime, session, target, connection, verdict, now)
        target.updated_at = now
        await session.flush()
        await uow.commit()
        log.info(
            "delivery_reconciled", target_id=target.id, post_id=post.id, outcome=outcome, status=target.status.value
        )
        return outcome


async def _absent(
    runtime: Runtime,
    session: AsyncSession,
    target: PostTarget,
    post: Post,
    connection: Connection,
    verdict: Absent,
    now: datetime,
) -> ReconcileStep:
    """Nothing at the provider: send it again now, unless its freshness cutoff has passed (then missed)."""
    label = label_for(connection)
    target.stage, target.committed = {}, False
    if now > target.cutoff_at:
        await apply_settle(runtime, session, target, post, connection, missed_before_sending(label, target.cutoff_at))
        target.note = f"Not on {label} ({verdict.reason}), and its cutoff has passed, so it was not sent again."
        return ReconcileStep.absent_missed
    transitions.send_again(target, now, f"Not on {label} ({verdict.reason}): publishing it again now.")
    return ReconcileStep.absent


async def _cannot_look(
    runtime: Runtime,
    session: AsyncSession,
    target: PostTarget,
    connection: Connection,
    exc: BaseException,
    now: datetime,
) -> ReconcileStep:
    """The provider could not be asked: stay in doubt and look again later; a person decides in the end."""
    label = label_for(connection)
    message = (
        exc.message if isinstance(exc, ProviderError) else f"something went wrong on our side ({type(exc).__name__})"
    )
    if isinstance(exc, AuthExpired | PermissionMissing):
        # The delivery stays in doubt (never needs_reconnect, whose sweep would re-send it); the connection is
        # flagged, so a person reconnects and the next check can look.
        await connections.mark_needs_reconnect(session, runtime.clock, connection, message, remedy=exc.remedy)
        transitions.check_again(
            target, now + RECONNECT_WAIT, f"Cannot check {label} until it is reconnected ({message})."
        )
        return ReconcileStep.auth_expired
    if isinstance(exc, RateLimited):
        due = now + timedelta(seconds=exc.retry_after or CHECK_RETRY_BASE.total_seconds())
        await pacing_q.pace(session, connection.id, not_before=due, now=now, reason="rate_limited")
        transitions.check_again(target, due, f"{label} asked us to slow down; checking again at {due:%H:%M:%S} UTC.")
        return ReconcileStep.rate_limited
    if not isinstance(exc, ProviderError):
        log.error("reconcile_crashed", target_id=target.id, error=repr(exc))
    target.retries += 1
    if target.retries >= MAX_FAILED_CHECKS or (isinstance(exc, ProviderError) and not isinstance(exc, Transient)):
        post = await session.get(Post, target.post_id)
        assert post is not None
        await _needs_attention(runtime, session, target, post, connection, f"CheersAI could not check: {message}")
        return ReconcileStep.unsure
    due = now + backoff(target.retries - 1, CHECK_RETRY_BASE)
    transitions.check_again(target, due, f"Could not check {label} ({message}); trying again at {due:%H:%M:%S} UTC.")
    return ReconcileStep.error


async def _needs_attention(
    runtime: Runtime,
    session: AsyncSession,
    target: PostTarget,
    post: Post,
    connection: Connection,
    reason: str,
    candidates: tuple[str, ...] = (),
) -> None:
    """A person decides: mark as published, or publish again; the notification offers both."""
    label = label_for(connection)
    remedy = ATTENTION_REMEDY.format(label=label)
    note = f"CheersAI cannot tell whether this went out on {label}: {reason.rstrip('.')}."
    transitions.needs_attention(target, now=runtime.clock.now(), note=note, reason=reason, remedy=remedy)
    await notifications.notify(
        session,
        runtime.clock,
        account_id=post.account_id,
        kind=NotificationKind.publish_needs_attention,
        severity=Severity.error,
        title=f"Did this go out on {label}? {excerpt(post.text)}",
        subject={"post_id": post.id, "target_id": target.id, "connection_id": connection.id},
        payload={"reason": reason, "remedy": remedy, "candidates": list(candidates)},
        actions=offers_for(NotificationKind.publish_needs_attention, target_id=target.id),
        dedup_key=f"publish_needs_attention:{target.id}:{target.attempts}",
    )


def _record(
    target: PostTarget, check: _Check, recorder: Recorder, verdict: Verdict | BaseException, now: datetime
) -> PublishAttempt:
    """The check as an attempt row (its reads' snapshots, what it concluded); it counts as an attempt."""
    outcomes: dict[type, AttemptOutcome] = {
        Found: AttemptOutcome.published,
        Continue: AttemptOutcome.pending,
        Absent: AttemptOutcome.waiting,
        NotYet: AttemptOutcome.waiting,
        Unsure: AttemptOutcome.in_doubt,
        RateLimited: AttemptOutcome.rate_limited,
        AuthExpired: AttemptOutcome.auth_expired,
        PermissionMissing: AttemptOutcome.auth_expired,
        Transient: AttemptOutcome.transient,
    }
    kind = type(verdict).__name__.lower()
    error: str | None = None
    if isinstance(verdict, ProviderError):
        error = verdict.message
    elif isinstance(verdict, BaseException):
        error = repr(verdict)
    elif not isinstance(verdict, Found):
        error = verdict.reason
    target.attempts += 1
    return PublishAttempt(
        target_id=target.id,
        number=target.attempts,
        started_at=check.started_at,
        finished_at=now,
        outcome=outcomes.get(type(verdict), AttemptOutcome.permanent),
        lease_token=check.lease_token,
        worker=f"{RECONCILER}{WORKER_ID}"[:128],
        payload_hash=check.payload_hash,
        exchanges=recorder.snapshots(),
        error=error,
        error_code=f"reconcile_{kind}"[:64],
    )


async def _request(session: AsyncSession, post: Post, target: PostTarget) -> PublishRequest:
    """What the lost attempt published, as far as matching needs it (text, link, media kinds, surface)."""
    media: list[MediaItem] = []
    for asset_id in await posts_q.media_ids(session, post.id):
        asset = await media_q.get(session, post.account_id, asset_id)
        if asset is not None:  # the checks need the kinds only; no link to the file is made
            video = asset.kind is MediaKind.video
            media.append(MediaItem("video" if video else "image", url="", content_type=asset.content_type))
    raw = (post.options.get(target.provider.value) or {}).get("surface")
    surface: Surface = "story" if raw == "story" else "reel" if raw == "reel" else "feed"
    text = post.captions.get(target.provider.value) or post.text
    return PublishRequest(target.id, text, tuple(media), post.link, surface)
