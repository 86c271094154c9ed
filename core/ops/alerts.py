"""Telling ops of incidents and digests: the fan-out writes one ops_messages row per ops chat and one e-mail per
CHEERS_OPS_EMAILS address for each new incident (later versions edit the chat message in place, a resolved one also
e-mails), then delivery posts and edits those messages under a lease, paced per chat like venue alerts
(core.chat.delivery's shared outcome handling: retries, Retry-After, a lost answer never posted a third time)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.chat import delivery
from core.chat.sending import AlertMessage, ChatAddress, ChatSender, Gone, SendError
from core.clock import Clock
from core.email import outbox as email_outbox
from core.email.render import email_bodies
from core.notifications.actions import Action, Offer, offer
from core.ops.digest import digest_lines
from core.ops.incidents import OPS_ALERTS_TASK, describe_duration, runbook_link
from core.ops.jobs import JOBS
from core.runtime import Runtime
from core.settings import Settings
from storage.enums import ChatPlatform
from storage.models import Incident, OpsDestination, OpsDigest, OpsMessage
from storage.queries import emails as emails_q
from storage.queries import incidents as incidents_q
from storage.queries import ops_alerts as q

log = structlog.get_logger(__name__)

TASK_NAME = OPS_ALERTS_TASK
FANOUT_BATCH = 100
MAX_ROUNDS = 50  # rounds of one message per chat; a pass rarely needs more than two
EMAIL_KIND = "ops_incident"
DIGEST_EMAIL_KIND = "ops_digest"
# Jobs whose failures are failed derivatives (retried through the media retry); every other retry is deliveries.
MEDIA_WORDS = ("media", "derivative")
# Rules whose incident is about deliveries or derivatives that failed, so "Retry failed" has something to retry.
RETRYABLE_RULES = frozenset({"job_failing", "task_failing", "queue_stalled"})


# --- what an incident says, in chat and by e-mail ---


def retry_kind(incident: Incident) -> str | None:
    """What "Retry failed" retries for this incident: "derivatives", "deliveries", or None (nothing to retry)."""
    if incident.rule not in RETRYABLE_RULES:
        return None
    named = str(incident.subject.get("job") or incident.subject.get("task") or "")
    if any(word in named for word in MEDIA_WORDS):
        return "derivatives"
    if incident.rule == "queue_stalled" or "publish" in named or "reconcile" in named:
        return "deliveries"
    return None


def incident_offers(incident: Incident, settings: Settings) -> tuple[Offer, ...]:
    """The buttons under an open incident: Run now (its job), Retry failed, Silence, Runbook (a link)."""
    offers: list[Offer] = []
    if str(incident.subject.get("job") or "") in JOBS:
        offers.append(offer(Action.ops_run_job, incident_id=incident.id))
    if retry_kind(incident) is not None:
        offers.append(offer(Action.ops_retry_failed, incident_id=incident.id))
    silence = describe_duration(timedelta(minutes=settings.cheers_ops_silence_minutes))
    offers.append(offer(Action.ops_silence, incident_id=incident.id, label=f"Silence {silence}"))
    offers.append(offer(Action.ops_runbook, url=runbook_link(settings, incident.rule)))
    return tuple(offers)


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def incident_lines(incident: Incident, now: datetime) -> list[str]:
    """Plain lines about an incident as it stands now (chat and e-mail say the same)."""
    if incident.status == incidents_q.RESOLVED and incident.resolved_at is not None:
        lines = [f"Resolved after {describe_duration(incident.resolved_at - incident.opened_at)}."]
        return [*lines, incident.resolved_note] if incident.resolved_note else lines
    lines = [incident.detail] if incident.detail else []
    lines.append(f"Open since {_at(incident.opened_at)} ({describe_duration(now - incident.opened_at)}).")
    if incident.silenced_until is not None and incident.silenced_until > now:
        lines.append(f"Silenced until {_at(incident.silenced_until)}: no new messages about it until then.")
    return lines


def render_incident(incident: Incident, settings: Settings, now: datetime) -> AlertMessage:
    """The ops chat message of an incident: open with its buttons, or resolved with none."""
    if incident.status == incidents_q.RESOLVED:
        return AlertMessage(title=f"Resolved: {incident.title}", lines=tuple(incident_lines(incident, now)))
    return AlertMessage(
        title=f"[{incident.severity.value}] {incident.title}",
        lines=tuple(incident_lines(incident, now)),
        offers=incident_offers(incident, settings),
    )


def render_digest(digest: OpsDigest) -> AlertMessage:
    return AlertMessage(title=f"CheersAI daily digest for {digest.day:%A %d %B %Y}",
                        lines=tuple(digest_lines(digest.body)))  # fmt: skip


# --- fan-out ---


async def fan_out(session: AsyncSession, clock: Clock, settings: Settings) -> int:
    """Write what ops must be told of untold incident versions and digests; returns messages + e-mails added."""
    now = clock.now()
    destinations = list(await q.active_destinations(session))
    added = 0
    for ended in await q.silence_ended(session, now=now):
        # A change people should see: the message loses "Silenced until …", and one held back is told now.
        ended.silenced_until, ended.updated_at, ended.version = None, now, ended.version + 1
        log.info("incident_silence_ended", incident_id=ended.id, version=ended.version)
    for incident in await q.untold_incidents(session, limit=FANOUT_BATCH):
        silenced = incident.silenced_until is not None and incident.silenced_until > now
        if incident.told_version == 0:
            if incident.status == incidents_q.RESOLVED:
                incident.told_version = incident.version  # cleared before anyone heard of it: nothing to say
                continue
            if silenced:
                continue  # told once the silence ends (the told_version stays behind until then)
            for d in destinations:
                if not await q.add_message_once(
                    session, subject_key=f"incident:{incident.id}", destination_id=d.id, now=now,
                    incident_id=incident.id,
                ):  # fmt: skip
                    await q.mark_changed(session, incident.id, now=now)  # already there: edited, never posted twice
                    continue
                added += 1
            for address in settings.ops_emails:
                added += await _email(session, clock, settings, incident, address, "opened", now)
        else:
            # Edited in place: the message people already saw changes, nobody is pinged again.
            await q.mark_changed(session, incident.id, now=now)
            if incident.status == incidents_q.RESOLVED:
                for address in settings.ops_emails:
                    if await emails_q.get_by_key(session, f"incident:{incident.id}:opened:{address}") is not None:
                        added += await _email(session, clock, settings, incident, address, "resolved", now)
        log.info("ops_incident_told", incident_id=incident.id, version=incident.version, rule=incident.rule,
                 status=incident.status, destinations=len(destinations))  # fmt: skip
        incident.told_version = incident.version
    for digest in await q.untold_digests(session):
        for d in destinations:
            added += await q.add_message_once(
                session, subject_key=f"digest:{digest.day.isoformat()}", destination_id=d.id, now=now,
                digest_id=digest.id,
            )  # fmt: skip
        text, html = email_bodies(render_digest(digest).title, digest_lines(digest.body), None)
        for address in settings.ops_emails:
            added += await email_outbox.enqueue(
                session, clock, dedup_key=f"digest:{digest.day.isoformat()}:{address}", kind=DIGEST_EMAIL_KIND,
                to=address, subject=f"[CheersAI ops] Daily digest {digest.day.isoformat()}", text=text, html=html,
            )  # fmt: skip
        digest.told_at = now
        log.info("ops_digest_told", digest_id=digest.id, day=digest.day.isoformat(), destinations=len(destinations))
    await session.flush()
    return added


async def _email(
    session: AsyncSession, clock: Clock, settings: Settings, incident: Incident, address: str, event: str, now: datetime
) -> int:
    title = render_incident(incident, settings, now).title
    text, html = email_bodies(title, incident_lines(incident, now), ("Runbook", runbook_link(settings, incident.rule)))
    queued = await email_outbox.enqueue(
        session, clock, dedup_key=f"incident:{incident.id}:{event}:{address}", kind=EMAIL_KIND, to=address,
        subject=f"[CheersAI ops] {title}", text=text, html=html,
    )  # fmt: skip
    return int(queued)


# --- delivery ---


async def run(runtime: Runtime, senders: Mapping[ChatPlatform, ChatSender] | None = None) -> dict[str, int]:
    """One pass: fan out (its own transaction), then send every due ops message, one per chat per round."""
    senders = runtime.chat_senders if senders is None else senders
    added = 0
    while True:
        async with runtime.uow() as uow:
            batch = await fan_out(uow.session, runtime.clock, runtime.settings)
            await uow.commit()
        added += batch
        if batch == 0:
            break
    outcomes: dict[str, int] = {"told": added}
    for _ in range(MAX_ROUNDS):
        round_outcomes = await deliver_due(runtime, senders)
        if not round_outcomes:
            break  # nothing due now; a chat still paced is taken by the next pass (ops-watch runs every minute)
        for name, count in round_outcomes.items():
            outcomes[name] = outcomes.get(name, 0) + count
    return outcomes


async def deliver_due(
    runtime: Runtime, senders: Mapping[ChatPlatform, ChatSender], *, limit: int = 20
) -> dict[str, int]:
    """Claim due ops messages (one per chat, none in a paced chat) and send each; returns outcome counts."""
    return await delivery.deliver_due(runtime, senders, limit=limit, claim=q.claim_due, steps=STEPS)


async def _prepare(session: AsyncSession, runtime: Runtime, message_id: int, token: str) -> delivery.Claimed | str:
    """Read and render a claimed message as its incident (or digest) stands now; count a post as started."""
    now = runtime.clock.now()
    message = await q.get_message(session, message_id, lock=True)
    destination = await session.get(OpsDestination, message.destination_id) if message is not None else None
    refused = delivery.claim_refused(message, token, destination, now)
    if refused is not None:
        return refused
    assert message is not None and destination is not None  # claim_refused said so
    body = await _body(session, runtime.settings, message, now)
    if not delivery.start_post(message, now):
        return "failed"
    address = ChatAddress(
        platform=destination.platform,
        workspace_id=destination.workspace_id,
        chat_id=destination.chat_id,
        token=await delivery.bot_token(session, runtime, destination),
    )
    return delivery.Claimed(message.id, token, address, body, message.ref, destination.id)


async def _body(session: AsyncSession, settings: Settings, message: OpsMessage, now: datetime) -> AlertMessage:
    if message.incident_id is not None:
        incident = await incidents_q.get(session, message.incident_id)
        if incident is not None:
            return render_incident(incident, settings, now)
    if message.digest_id is not None:
        digest = await session.get(OpsDigest, message.digest_id)
        if digest is not None:
            return render_digest(digest)
    return AlertMessage(title="This ops alert is no longer available.")


async def _release(session: AsyncSession, clock: Clock, send: delivery.Claimed) -> None:
    """No sender for the chat's platform in this process: hand the message back for a process that has one."""
    message = await q.get_message(session, send.message_id, lock=True)
    if message is None or message.lease_token != send.token:
        return
    delivery.hand_back(message, clock.now())


async def _record(
    session: AsyncSession, clock: Clock, send: delivery.Claimed, ref: str | None, error: SendError | None
) -> str:
    now = clock.now()
    message = await q.get_message(session, send.message_id, lock=True)
    if message is None or message.lease_token != send.token:
        return "lease_lost"
    outcome, _note = await delivery.record_outcome(
        session, message, send.address, posting=send.ref is None, ref=ref, error=error, now=now
    )
    if isinstance(error, Gone):
        await _stop(session, send.destination_id, error.reason, now)
    return outcome


STEPS = delivery.Steps(prepare=_prepare, release=_release, record=_record, event="ops_alert")


async def _stop(session: AsyncSession, destination_id: int, reason: str, now: datetime) -> None:
    """An ops chat that is gone takes nothing more (staff subscribe another with `alerts ops here`)."""
    destination = await session.get(OpsDestination, destination_id)
    if destination is None or destination.disabled_at is not None:
        return
    destination.disabled_at, destination.disabled_reason, destination.updated_at = now, reason, now
    await q.stop_messages_to(session, destination_id, reason=reason, now=now)
    log.warning("ops_destination_stopped", destination_id=destination_id, reason=reason)
