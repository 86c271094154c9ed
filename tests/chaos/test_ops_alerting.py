"""The ops alerting survives worker kills inside its delivery and a Redis restart (docs/chaos.md, issue 16).

Real workers (the Procfile's command) check the ops rules from their heartbeat loops and deliver what they find to
an ops Slack channel (the Slack twin, single-workspace mode) and to CHEERS_OPS_EMAILS (the Resend twin). A job is made
to fail (`job_run@<job>=raise`) until its job_failing incident opens; the worker taking its chat message is SIGKILLed
holding the lease before the post (`before_chat_send@ops_alert`), Redis is restarted empty and a second worker joins.
Time moves past the lease and the incident is told. Then the job succeeds and the incident resolves; the worker
sending the first "resolved" e-mail is SIGKILLed after Resend accepted it (`after_email_send`), and time moves past
that lease too. Counted at the end, from the database and the twins: one incident, opened and resolved once; one chat
message, edited to Resolved; one e-mail per address for each; every message and e-mail sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import pytest
from sqlalchemy import select

from api.devtwins import slack_twin_settings
from core.chat import delivery
from core.email.outbox import lease_for
from sandbox.resend.state import DEV_API_KEY, ResendTwinState
from sandbox.resend.twin import running_resend_twin
from sandbox.slack.model import Message
from sandbox.slack.state import SlackTwinState
from sandbox.slack.twin import running_slack_twin
from storage.enums import ChatMessageStatus, ChatPlatform
from storage.models import Email, Heartbeat, Incident, JobRun, OpsDestination, OpsMessage
from tests.chaos.cluster import Cluster
from tests.factories import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.chaos_quick]

T = TypeVar("T")

JOB = "oauth-states-cleanup"  # harmless, and only this test sends it (no scheduler runs here)
KEY = f"job_failing:{JOB}"
TITLE = f"Job {JOB} is failing"
TEAM, CHANNEL = "T0SANDBOX1", "C0ALERTS01"  # the Slack twin's default workspace and its #alerts
ADDRESSES = ("oncall@ops.test", "lead@ops.test")
FAILURES = 2  # CHEERS_OPS_JOB_FAILURES: runs in a row that open the incident
CHAT_KILL, EMAIL_KILL = "before_chat_send@ops_alert", "after_email_send"
WITHIN = 60.0  # generous: the machine is shared, and a killed worker's replacement has to import everything


async def _wait(cluster: Cluster, check: Callable[[], Awaitable[T | None]], what: str, within: float = WITHIN) -> T:
    """`eventually`, failing with the ops tables, the fault firings and the workers' log tails."""
    try:
        return await eventually(check, what=what, within=within, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await _report(cluster)}") from None


async def _report(cluster: Cluster) -> str:
    async with cluster.runtime.db.session() as session:
        incidents = (await session.execute(select(Incident).order_by(Incident.id))).scalars().all()
        messages = (await session.execute(select(OpsMessage).order_by(OpsMessage.id))).scalars().all()
        emails = (await session.execute(select(Email).order_by(Email.id))).scalars().all()
        runs = (await session.execute(select(JobRun).where(JobRun.name == JOB).order_by(JobRun.id))).scalars().all()
    lines = [f"incident {i.id} {i.key} {i.status} v{i.version} told v{i.told_version}" for i in incidents]
    lines += [
        f"ops message {m.id} {m.subject_key} {m.status} ref={m.ref} update={m.needs_update} posts={m.posts_started} "
        f"lease_until={m.lease_expires_at} error={m.last_error}"
        for m in messages
    ]
    lines += [f"e-mail {e.id} {e.dedup_key} {e.status} attempts={e.attempts} error={e.last_error}" for e in emails]
    lines += [f"job run {r.id} {r.status}" for r in runs]
    lines += [f"fired {p}: {cluster.fired(p)}" for p in (CHAT_KILL, EMAIL_KILL)]
    return "\n".join([*lines, cluster.log_tails()])


def _env(resend_url: str, slack_url: str) -> dict[str, str]:
    """The workers' settings beyond the cluster's: both twins, the ops addresses and quick ops checks."""
    settings = {
        "cheers_resend_api_url": resend_url,
        "cheers_resend_api_key": DEV_API_KEY,
        "cheers_ops_emails": ",".join(ADDRESSES),
        **slack_twin_settings(slack_url),  # single-workspace mode: the bot token the twin installs at start
        # The heartbeat loop's ops check: every 4 s, and cut off after 4 s (its asyncio.wait_for), which could
        # cancel a post between sending and recording it (docs/chaos.md, "Found" 12): 4 s is ample on this machine.
        "cheers_ops_watch_seconds": "4",
        "cheers_ops_job_failures": str(FAILURES),
        # A worker killed here stays "gone" for its heartbeat's staleness; worker_gone is not this scenario's.
        "cheers_heartbeat_stale_seconds": "600",
    }
    return {name.upper(): value for name, value in settings.items()}


async def _ops_channel(cluster: Cluster) -> int:
    """#alerts of the twin's workspace subscribed to ops incidents (what `alerts ops here` writes)."""
    async with cluster.runtime.uow() as uow:
        row = OpsDestination(platform=ChatPlatform.slack, workspace_id=TEAM, chat_id=CHANNEL, chat_name="alerts")
        uow.session.add(row)
        await uow.session.flush()
        destination_id = row.id
        await uow.commit()
    return destination_id


async def _all_sent(cluster: Cluster) -> bool | None:
    """Every ops message and e-mail sent and at rest (nothing leased, nothing waiting to be edited)."""
    async with cluster.runtime.db.session() as session:
        messages = (await session.execute(select(OpsMessage))).scalars().all()
        emails = (await session.execute(select(Email))).scalars().all()
    if not messages or not emails:
        return None
    at_rest = all(m.status is ChatMessageStatus.sent and not m.needs_update and m.lease_token is None for m in messages)
    return True if at_rest and all(e.status is ChatMessageStatus.sent for e in emails) else None


async def _incident(cluster: Cluster) -> Incident | None:
    async with cluster.runtime.db.session() as session:
        rows = (await session.execute(select(Incident).where(Incident.key == KEY))).scalars().all()
    assert len(rows) <= 1, f"{len(rows)} incidents for {KEY}: {[(r.id, r.status) for r in rows]}"
    return rows[0] if rows else None


async def _job_runs(cluster: Cluster, status: str, count: int) -> bool | None:
    async with cluster.runtime.db.session() as session:
        rows = (await session.execute(select(JobRun.status).where(JobRun.name == JOB))).scalars().all()
    return True if sum(s == status for s in rows) >= count else None


async def _beating_since(cluster: Cluster, since: datetime, count: int) -> set[str] | None:
    """Worker instances that beat after `since` (those killed stopped beating before it)."""
    async with cluster.runtime.db.session() as session:
        query = select(Heartbeat.instance).where(Heartbeat.component == "worker", Heartbeat.beat_at > since)
        found = set((await session.execute(query)).scalars().all())
    return found if len(found) >= count else None


def _chat(slack: SlackTwinState) -> list[Message]:
    """Messages in the ops channel about this incident, whatever they say now (an edit keeps the old text)."""
    return [
        m
        for m in slack.channel_messages(CHANNEL, include_deleted=True)
        if TITLE in m.text or any(TITLE in e.text for e in m.edits)
    ]


def _mail(resend: ResendTwinState, address: str) -> list[str]:
    """Subjects of the e-mails the Resend twin took for `address` about this incident."""
    return [e.subject for e in resend.emails if address in e.to and TITLE in e.subject]


def _start(cluster: Cluster, name: str, env: dict[str, str]) -> None:
    """The Procfile's worker with the scenario's settings (as environment variables)."""
    cluster.start_worker(name, **cast(dict[str, Any], env))


async def _enqueue_job(cluster: Cluster) -> None:
    await (await cluster.queue()).enqueue(f"job:{JOB}")


async def test_ops_alert_survives_a_worker_kill_and_a_redis_restart(cluster: Cluster) -> None:
    async with (
        running_resend_twin() as (resend_url, _resend_control, resend),
        running_slack_twin() as (slack_url, _slack_control, slack),
    ):
        env = _env(resend_url, slack_url)
        # Past the lease a dead sender leaves (ops chat messages and e-mails alike: a minute), with a margin.
        past_lease = (max(delivery.LEASE, lease_for(cluster.runtime)) + timedelta(seconds=5)).total_seconds()
        destination_id = await _ops_channel(cluster)
        _start(cluster, "ops-w1", env)
        await cluster.workers_ready(1)
        # No scheduler runs here, so scheduler_down opens at once: let it be told first, so the kills below land
        # on this scenario's incident and no other.
        await _wait(cluster, lambda: _all_sent(cluster), "the scheduler_down incident to be told before any fault")

        # Phase 1, the incident opens: the first worker to take its chat message dies holding the lease, after the
        # post was counted as started and before it was made. Only this kill point is armed while a post can be in
        # flight: a kill between a post and its record may legitimately post twice (docs/chaos.md).
        cluster.arm(f"job_run@{JOB}=raise, {CHAT_KILL}=kill*1")
        for _ in range(FAILURES):
            await _enqueue_job(cluster)
        await _wait(cluster, lambda: _job_runs(cluster, "failed", FAILURES), f"{FAILURES} failed runs of {JOB}")
        opened = await _wait(cluster, lambda: _incident(cluster), f"the {KEY} incident to open")
        await _wait(cluster, lambda: _fired(cluster, CHAT_KILL), f"a worker to die at {CHAT_KILL}")
        assert _chat(slack) == [], "the chat message was posted although its sender died before the post"

        restarted_at = cluster.runtime.clock.now()
        await asyncio.to_thread(cluster.redis.restart)  # no persistence: the stream, its group and wake-ups gone
        await cluster.close_queue()  # the test's own client: a new connection (and the group declared again)
        _start(cluster, "ops-w2", env)
        await _wait(cluster, lambda: _beating_since(cluster, restarted_at, 2), "2 workers beating after the restart")
        assert _chat(slack) == [], "the chat message was posted while its dead sender's lease still held"

        # The dead sender's lease (a minute) runs out: every process's clock moves past it at once.
        await cluster.shift(past_lease)
        await _wait(cluster, lambda: _opened_told(cluster, opened.id, slack, resend), "the incident to be told")
        assert len(_chat(slack)) == 1, [m.text for m in _chat(slack)]

        # Phase 2, the job succeeds and the incident resolves: the first worker to send a "resolved" e-mail dies
        # after Resend accepted it, before writing that down (the chat message is only edited now: safe to repeat).
        cluster.arm(f"{EMAIL_KILL}=kill*1")
        await _enqueue_job(cluster)
        await _wait(cluster, lambda: _job_runs(cluster, "succeeded", 1), f"a successful run of {JOB}")
        await _wait(cluster, lambda: _fired(cluster, EMAIL_KILL), f"a worker to die at {EMAIL_KILL}")
        await cluster.shift(past_lease)
        await _wait(cluster, lambda: _resolved_told(cluster, slack, resend), "the incident's resolution to be told")
        await _wait(cluster, lambda: _all_sent(cluster), "every ops message and e-mail to be sent")

        await _check_end(cluster, opened.id, destination_id, slack, resend)


async def _fired(cluster: Cluster, point: str) -> bool | None:
    return True if cluster.fired(point) else None


async def _opened_told(
    cluster: Cluster, incident_id: int, slack: SlackTwinState, resend: ResendTwinState
) -> bool | None:
    async with cluster.runtime.db.session() as session:
        message = (
            await session.execute(select(OpsMessage).where(OpsMessage.incident_id == incident_id))
        ).scalar_one_or_none()
    if message is None or message.ref is None:
        return None
    return True if all(_mail(resend, address) for address in ADDRESSES) and _chat(slack) else None


async def _resolved_told(cluster: Cluster, slack: SlackTwinState, resend: ResendTwinState) -> bool | None:
    incident = await _incident(cluster)
    if incident is None or incident.status != "resolved":
        return None
    edited = [m for m in _chat(slack) if m.text.startswith("Resolved")]
    resolved_mail = all(any(s.startswith("[CheersAI ops] Resolved") for s in _mail(resend, a)) for a in ADDRESSES)
    return True if edited and resolved_mail else None


async def _check_end(
    cluster: Cluster, incident_id: int, destination_id: int, slack: SlackTwinState, resend: ResendTwinState
) -> None:
    async with cluster.runtime.db.session() as session:
        incidents = (await session.execute(select(Incident).where(Incident.key == KEY))).scalars().all()
        messages = (
            (await session.execute(select(OpsMessage).where(OpsMessage.incident_id == incident_id))).scalars().all()
        )
        emails = {
            e.dedup_key: e
            for e in (await session.execute(select(Email).where(Email.dedup_key.like(f"incident:{incident_id}:%"))))
            .scalars()
            .all()
        }
    report = await _report(cluster)

    # One incident, opened once and resolved once (version 1 when opened, 2 when resolved: nothing in between).
    assert [(i.id, i.status) for i in incidents] == [(incident_id, "resolved")], report
    [incident] = incidents
    assert (incident.version, incident.told_version) == (2, 2), report
    assert incident.resolved_at is not None and incident.resolved_note, report

    # One chat message, posted once (its first post died unsent with the worker, counted; the second went out) and
    # edited to Resolved.
    assert [(m.destination_id, m.status, m.posts_started) for m in messages] == [
        (destination_id, ChatMessageStatus.sent, 2)
    ], report
    [chat] = _chat(slack)
    assert messages[0].ref == chat.ts, (messages[0].ref, chat.ts)
    assert chat.text == f"Resolved: {TITLE}", chat.text
    assert [e.text for e in chat.edits][:1] == [f"[error] {TITLE}"], [e.text for e in chat.edits]
    assert not chat.deleted

    # One e-mail per address opened and one resolved, each sent; the one whose answer died with its worker was
    # sent again under the same Idempotency-Key and Resend answered with the first e-mail (a replay, not a copy).
    expected = {f"incident:{incident_id}:{event}:{a}" for event in ("opened", "resolved") for a in ADDRESSES}
    assert set(emails) == expected, sorted(emails)
    assert all(e.status is ChatMessageStatus.sent for e in emails.values()), report
    for address in ADDRESSES:
        subjects = _mail(resend, address)
        assert sorted(subjects) == sorted([f"[CheersAI ops] [error] {TITLE}", f"[CheersAI ops] Resolved: {TITLE}"]), (
            address,
            subjects,
        )
    # At least the killed "resolved" e-mail was sent twice and answered from its key; an "opened" e-mail whose
    # sender died in the first kill (it runs beside the chat delivery) may have been too.
    replays = [r for r in resend.requests if r.replayed]
    assert replays, json.dumps([vars(r) for r in resend.requests], default=str)
    assert len(cluster.fired(CHAT_KILL)) == 1 and len(cluster.fired(EMAIL_KILL)) == 1
