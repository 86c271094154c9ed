"""The e-mail outbox: `enqueue` writes one row per dedup_key in the caller's transaction (the task is woken after
commit); `deliver_due` claims due rows under a lease and sends each through Resend, retrying with backoff.

No e-mail goes out twice: a row is written once by its dedup_key, only the lease holder sends it, and every
attempt carries the same Idempotency-Key (the dedup_key hashed), so when an answer is lost (timeout, 5xx) the
retry gets Resend's first id back instead of a second e-mail. Nothing is lost: a row stays pending until it is
sent, refused for good or out of attempts, and the `emails` job finds it again from the table alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.faults import fault_point
from core.publishing.outcomes import backoff
from core.runtime import Runtime
from providers.email import (
    EmailAnswerLost,
    EmailError,
    EmailRateLimited,
    EmailRefused,
    EmailSender,
    EmailTransient,
    OutgoingEmail,
    idempotency_key,
)
from storage.enums import ChatMessageStatus
from storage.queries import emails as q
from storage.uow import wake_after_commit

log = structlog.get_logger(__name__)

TASK_NAME = "emails-deliver"
JOB_NAME = "emails"
RETRY_BASE = timedelta(seconds=30)  # 30 s, 1 min, 2 min, ... capped by core.publishing.outcomes.RETRY_CAP
MIN_LEASE = timedelta(seconds=60)
MAX_ROUNDS = 50  # a job pass sends at most MAX_ROUNDS x limit e-mails; the next minute's pass takes the rest
NO_KEY_NOTE = "waiting: CHEERS_RESEND_API_KEY is not set, so no e-mail is sent (docs/email.md)"
SUBJECT_MAX = 300
ADDRESS_MAX = 320


async def enqueue(
    session: AsyncSession,
    clock: Clock,
    *,
    dedup_key: str,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str,
) -> bool:
    """Queue one e-mail in the caller's transaction; False when this dedup_key was queued before, or `to` is no
    address at all (logged as an error), so nothing was added.

    The `emails-deliver` task is woken after the commit; without a queue the `emails` job sends it within a minute.
    """
    address = to.strip()
    if not address or "@" not in address or len(address) > ADDRESS_MAX:
        # Not worth failing the caller's transaction (an incident, a fan-out) over one bad setting: say so loudly.
        log.error("email_not_queued_bad_address", dedup_key=dedup_key, kind=kind, address=to[:80])
        return False
    one_line = " ".join(subject.split())
    if len(one_line) > SUBJECT_MAX:
        one_line = one_line[: SUBJECT_MAX - 1] + "…"
    email_id = await q.add_once(
        session,
        dedup_key=dedup_key,
        kind=kind,
        to_address=address,
        subject=one_line,
        text_body=text,
        html_body=html,
        now=clock.now(),
    )
    if email_id is None:
        return False
    wake_after_commit(session, TASK_NAME)
    log.info("email_queued", email_id=email_id, kind=kind, dedup_key=dedup_key)
    return True


@dataclass(frozen=True)
class _Send:
    """What one claimed row needs, read in the claim's transaction and used outside it."""

    email_id: int
    token: str
    attempts: int
    email: OutgoingEmail


def lease_for(runtime: Runtime) -> timedelta:
    """Long enough for one send to time out and be recorded: a lease outliving the call never lets two workers in."""
    return max(MIN_LEASE, timedelta(seconds=runtime.settings.cheers_email_timeout_seconds * 3))


async def deliver_due(runtime: Runtime, sender: EmailSender | None = None, *, limit: int = 20) -> dict[str, int]:
    """Claim up to `limit` due e-mails and send each; counts of outcomes (sent, retrying, failed, rate_limited).

    Without a sender (no CHEERS_RESEND_API_KEY) nothing is claimed: waiting rows get a note saying why.
    """
    sender = sender if sender is not None else runtime.email_sender
    if sender is None:
        async with runtime.uow() as uow:
            noted = await q.note_waiting(uow.session, note=NO_KEY_NOTE, now=runtime.clock.now())
            await uow.commit()
        if noted:
            log.warning("emails_waiting_no_api_key", newly_noted=noted, remedy="set CHEERS_RESEND_API_KEY")
        return {"waiting_no_key": noted} if noted else {}
    now = runtime.clock.now()
    sends: list[_Send] = []
    async with runtime.uow() as uow:
        claimed = await q.claim_due(uow.session, now=now, lease_until=now + lease_for(runtime), limit=limit)
        for email_id, token in claimed:
            row = await q.get(uow.session, email_id)
            if row is None:
                continue
            outgoing = OutgoingEmail(
                sender=runtime.settings.cheers_email_from,
                to=row.to_address,
                subject=row.subject,
                text=row.text_body,
                html=row.html_body,
                idempotency_key=idempotency_key(row.dedup_key),
            )
            sends.append(_Send(email_id, token, row.attempts, outgoing))
        await uow.commit()  # the leases are ours before anything leaves this process
    outcomes: dict[str, int] = {}
    paused_until: datetime | None = None
    for send in sends:
        if paused_until is not None:
            # Resend's limit is per team, not per e-mail: the rest of this batch waits too, attempts not spent.
            await _record(runtime, send, status=ChatMessageStatus.pending, next_at=paused_until, spend=False)
            outcomes["rate_limited"] = outcomes.get("rate_limited", 0) + 1
            continue
        outcome = await _send_one(runtime, sender, send)
        outcomes[outcome.name] = outcomes.get(outcome.name, 0) + 1
        paused_until = outcome.paused_until
    return outcomes


@dataclass(frozen=True)
class _Outcome:
    name: str
    paused_until: datetime | None = None


async def _send_one(runtime: Runtime, sender: EmailSender, send: _Send) -> _Outcome:
    """Send one claimed e-mail and record what happened (each outcome its own short transaction)."""
    ids = {"email_id": send.email_id, "attempt": send.attempts}
    try:
        provider_id = await sender.send(send.email)
    except EmailRateLimited as exc:
        until = runtime.clock.now() + timedelta(seconds=exc.retry_after)
        await _record(runtime, send, status=ChatMessageStatus.pending, next_at=until, spend=False, error=exc.reason)
        log.warning("email_rate_limited", **ids, retry_after=exc.retry_after, reason=exc.reason)
        return _Outcome("rate_limited", until)
    except EmailRefused as exc:
        await _record(runtime, send, status=ChatMessageStatus.failed, error=exc.reason)
        log.error("email_refused", **ids, status=exc.status, name=exc.name, reason=exc.reason)
        return _Outcome("failed")
    except (EmailTransient, EmailAnswerLost, EmailError) as exc:
        lost = isinstance(exc, EmailAnswerLost)
        if send.attempts >= runtime.settings.cheers_email_max_attempts:
            error = f"gave up after {send.attempts} attempts: {exc.reason}"
            await _record(runtime, send, status=ChatMessageStatus.failed, error=error)
            log.error("email_gave_up", **ids, reason=exc.reason)
            return _Outcome("failed")
        wait = backoff(send.attempts - 1, RETRY_BASE)
        await _record(
            runtime, send, status=ChatMessageStatus.pending, next_at=runtime.clock.now() + wait, error=exc.reason
        )
        # After a lost answer the retry carries the same Idempotency-Key: Resend answers it with the first
        # e-mail's id if that one went out, so the person still gets one e-mail.
        log.warning("email_retrying", **ids, answer_lost=lost, retry_in_seconds=round(wait.total_seconds()))
        return _Outcome("retrying")
    await fault_point("after_email_send")  # chaos tests: die with the e-mail sent and its answer unrecorded
    sent = await _record(runtime, send, status=ChatMessageStatus.sent, provider_id=provider_id)
    log.info("email_sent", **ids, provider_id=provider_id, recorded=sent)
    return _Outcome("sent")


async def _record(
    runtime: Runtime,
    send: _Send,
    *,
    status: ChatMessageStatus,
    next_at: datetime | None = None,
    error: str | None = None,
    provider_id: str | None = None,
    spend: bool = True,
) -> bool:
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        kept = await q.finish(
            uow.session,
            send.email_id,
            send.token,
            status=status,
            now=now,
            next_attempt_at=next_at,
            provider_id=provider_id,
            last_error=error,
            sent_at=now if status is ChatMessageStatus.sent else None,
            spend_attempt=spend,
        )
        await uow.commit()
    if not kept:
        # Our lease ran out and another worker took the row: its send (same Idempotency-Key) decides.
        log.warning("email_lease_lost", email_id=send.email_id, status=str(status))
    return kept


async def run(runtime: Runtime, sender: EmailSender | None = None) -> dict[str, Any]:
    """Deliver everything due now, batch after batch (the `emails` job and the `emails-deliver` task)."""
    totals: dict[str, Any] = {}
    for _ in range(MAX_ROUNDS):
        outcomes = await deliver_due(runtime, sender)
        for name, count in outcomes.items():
            totals[name] = totals.get(name, 0) + count
        # Stop when nothing was due, when Resend asked us to wait, or when there is no key to send with.
        if not outcomes or "rate_limited" in outcomes or "waiting_no_key" in outcomes:
            break
    return totals


@dataclass(frozen=True)
class EmailLine:
    """One e-mail as `cheers emails list` shows it: where it stands and why."""

    id: int
    kind: str
    to: str
    subject: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None


async def recent(runtime: Runtime, *, status: str | None = None, limit: int = 50) -> list[EmailLine]:
    """The newest e-mails of the outbox (optionally only those of one status), newest first."""
    wanted = ChatMessageStatus(status) if status else None
    async with runtime.db.session() as session:
        rows = await q.recent(session, status=wanted, limit=limit)
    return [
        EmailLine(
            id=e.id,
            kind=e.kind,
            to=e.to_address,
            subject=e.subject,
            status=e.status.value,
            attempts=e.attempts,
            created_at=e.created_at,
            sent_at=e.sent_at,
            next_attempt_at=e.next_attempt_at,
            last_error=e.last_error,
        )
        for e in rows
    ]
