"""Delivering alerts to chats: claim due messages under a lease, pace each chat, render, send through the
platform's sender, record the outcome (retry, Retry-After, answer lost, chat gone), and edit a message in place
once its problem is solved (core.chat.resolution says when). Fan-out (which chats get which alert) is
core.notifications.fanout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.chat import approvals
from core.chat.resolution import resolve
from core.chat.sending import (
    AlertItem,
    AlertMessage,
    AnswerLost,
    ChatAddress,
    ChatSender,
    Gone,
    MessageGone,
    RateLimited,
    SendError,
    Transient,
)
from core.clock import Clock
from core.faults import fault_point
from core.notifications import fanout
from core.notifications import outbox as notifications
from core.notifications.actions import Offer
from core.notifications.kinds import NotificationKind
from core.publishing.labels import label_for
from core.publishing.outcomes import backoff
from core.runtime import Runtime
from storage.enums import ChatMessageStatus, ChatPlatform, Severity
from storage.models import ChatAlertMessage, ChatDestination, Notification, OpsDestination
from storage.queries import chat_alerts as q

log = structlog.get_logger(__name__)

TASK_NAME = notifications.CHAT_ALERTS_TASK
JOB_NAME = "chat-alerts"
LEASE = timedelta(seconds=60)
# Slack allows about one message per second per channel; Telegram about one per second per chat and 20 a minute
# in a group (a group's chat id is negative), and 30 a second per bot across all its chats (core.telegram.org/bots/faq).
SPACING: dict[ChatPlatform, timedelta] = {
    ChatPlatform.slack: timedelta(seconds=1),
    ChatPlatform.telegram: timedelta(seconds=1),
}
GROUP_SPACING: dict[ChatPlatform, timedelta] = {ChatPlatform.telegram: timedelta(seconds=3)}
# Bot-wide budgets shared by every process through the bot's chat_pacing row: Telegram's 30 a second, as at most
# 5 at once and one every 40 ms after that, so no one second ever holds more than 30.
BUDGETS: dict[ChatPlatform, q.SendBudget] = {
    ChatPlatform.telegram: q.SendBudget(interval=timedelta(seconds=1) / 25, burst=5),
}
# How the venue's feed names a platform and says how to get a stopped chat's alerts back (Slack's reads as before).
PLATFORM_NAMES: dict[ChatPlatform, str] = {ChatPlatform.telegram: "Telegram chat"}
STOPPED_REMEDY: dict[ChatPlatform, str] = {
    ChatPlatform.slack: "Reinstall the app or invite the bot back, then type `/cheers alerts here` in the chat "
    "(or `alerts me` for your own).",
    ChatPlatform.telegram: "Unblock the bot (or add it back to the group), then send /alerts here in the chat "
    "(or /alerts me in your private chat with the bot).",
}
MAX_ATTEMPTS = 8  # passing failures before a message is given up (failed, with its last error)
MAX_POSTS = 2  # a post whose answer was lost is sent again once at most
RETRY_BASE = timedelta(seconds=5)
NO_SENDER_WAIT = timedelta(minutes=1)
FANOUT_BATCH = 200
MAX_ROUNDS = 500
PACING_WAIT = timedelta(seconds=2)  # a pass waits this long at most for a paced chat to be due again
PASS_BUDGET = timedelta(seconds=45)  # and stops in time for the next minute's sweep
SENDS_AT_ONCE = 5  # chats sent to at once by one pass (each holds a database connection for its two short commits)
GROUP_TITLES: dict[str, str] = {
    NotificationKind.publish_failed.value: "posts failed",
    NotificationKind.publish_missed.value: "posts missed their time",
    NotificationKind.publish_in_doubt.value: "posts may or may not have gone out",
    NotificationKind.publish_needs_attention.value: "posts need a decision",
}


@dataclass(frozen=True)
class Claimed:
    """What one claimed message needs, read in the claim's short transaction and used outside it."""

    message_id: int
    token: str
    address: ChatAddress
    body: AlertMessage
    ref: str | None
    destination_id: int


@dataclass(frozen=True)
class Steps:
    """How one kind of leased chat message (venue alerts, ops alerts) is prepared, handed back and recorded."""

    prepare: Callable[[AsyncSession, Runtime, int, str], Awaitable[Claimed | str]]
    release: Callable[[AsyncSession, Clock, Claimed], Awaitable[None]]
    record: Callable[[AsyncSession, Clock, Claimed, str | None, SendError | None], Awaitable[str]]
    event: str  # the log event's stem: "chat_alert" logs chat_alert_sent / chat_alert_not_sent


async def run(runtime: Runtime, senders: Mapping[ChatPlatform, ChatSender] | None = None) -> dict[str, Any]:
    """One pass: fan out new notifications, resolve solved problems, send everything due (the task and the sweep)."""
    senders = runtime.chat_senders if senders is None else senders
    added = 0
    while True:  # batch by batch, each its own short transaction, until the outbox is caught up
        async with runtime.uow() as uow:
            batch = await fanout.fan_out(uow.session, runtime.clock, limit=FANOUT_BATCH)
            await uow.commit()
        added += batch.added
        if batch.seen < FANOUT_BATCH:
            break
    async with runtime.uow() as uow:
        resolved = await resolve(uow.session, runtime.clock)
        # Kept as long as the notifications they carried (CHEERS_NOTIFICATION_RETENTION_DAYS).
        retention = timedelta(days=runtime.settings.notification_retention_days)
        await q.purge_messages(uow.session, before=runtime.clock.now() - retention)
        await uow.commit()
    outcomes: dict[str, int] = {}
    started = runtime.clock.now()
    for _ in range(MAX_ROUNDS):  # rounds: each takes at most one message per chat (pacing)
        round_outcomes = await deliver_due(runtime, senders)
        for name, count in round_outcomes.items():
            outcomes[name] = outcomes.get(name, 0) + count
        if round_outcomes:
            continue
        # Nothing is due this instant, but chats paced a second apart soon are: a backlog of twenty alerts a chat
        # drains in this pass rather than one a chat per sweep (bench/chat.py found the minute-long tail).
        wait = await next_due_in(runtime)
        if wait is None or wait > PACING_WAIT or runtime.clock.now() + wait - started > PASS_BUDGET:
            break
        before = runtime.clock.now()
        await asyncio.sleep(max(0.05, wait.total_seconds()))
        if runtime.clock.now() <= before:
            break  # a stopped clock (tests): waiting makes nothing due
    return {"fanned_out": added, "resolved": resolved, **outcomes}


async def next_due_in(runtime: Runtime) -> timedelta | None:
    """How long until the next waiting message may be sent (zero if now); None when nothing waits."""
    async with runtime.db.session() as session:
        due = await q.next_due(session, BUDGETS)
    return None if due is None else max(timedelta(0), due - runtime.clock.now())


async def deliver_due(
    runtime: Runtime,
    senders: Mapping[ChatPlatform, ChatSender],
    *,
    limit: int = 20,
    claim: Callable[..., Awaitable[list[tuple[int, str]]]] = q.claim_due,
    steps: Steps | None = None,
) -> dict[str, int]:
    """Claim due messages (one per chat, none in a paced chat) and send each; returns outcome counts. `claim` and
    `steps` are the ops alerts' for their messages (core.ops.alerts), venue alerts' by default."""
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        claims = await claim(
            uow.session, now=now, lease_until=now + LEASE, limit=limit, budgets=BUDGETS, spacing=spacing_of
        )
        await uow.commit()
    return await send_claims(runtime, senders, claims, steps or STEPS)


async def send_claims(
    runtime: Runtime, senders: Mapping[ChatPlatform, ChatSender], claims: Sequence[tuple[int, str]], steps: Steps
) -> dict[str, int]:
    """Send each claimed message through its platform's sender; returns outcome counts."""
    # Claims are one per chat, so they go out side by side: a slow channel does not hold up the others.
    gate = asyncio.Semaphore(SENDS_AT_ONCE)

    async def one(message_id: int, token: str) -> str:
        async with gate:
            return await _deliver(runtime, senders, message_id, token, steps)

    counts: dict[str, int] = {}
    for outcome in await asyncio.gather(*(one(m, t) for m, t in claims)):
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


async def _deliver(
    runtime: Runtime, senders: Mapping[ChatPlatform, ChatSender], message_id: int, token: str, steps: Steps
) -> str:
    async with runtime.uow() as uow:
        send = await steps.prepare(uow.session, runtime, message_id, token)
        await uow.commit()
    if isinstance(send, str):
        return send
    sender = senders.get(send.address.platform)
    if sender is None:
        async with runtime.uow() as uow:
            await steps.release(uow.session, runtime.clock, send)
            await uow.commit()
        return "no_sender"
    # Chaos tests (core.faults): die holding the lease, the post counted as started, before anything is sent.
    await fault_point("before_chat_send", steps.event)
    ref, error = await send_once(sender, send.address, send.ref, send.body, message_id=send.message_id)
    async with runtime.uow() as uow:
        outcome = await steps.record(uow.session, runtime.clock, send, ref, error)
        await uow.commit()
    log.info(f"{steps.event}_sent" if error is None else f"{steps.event}_not_sent", message_id=send.message_id,
             outcome=outcome, platform=send.address.platform.value, reason=error.reason if error else None)  # fmt: skip
    return outcome


async def _prepare(session: AsyncSession, runtime: Runtime, message_id: int, token: str) -> Claimed | str:
    """Read and render a claimed message; count a post as started before it is made (it may land unanswered)."""
    clock = runtime.clock
    now = clock.now()
    message = await q.get_message(session, message_id, lock=True)
    destination = await q.get_destination(session, message.destination_id) if message is not None else None
    refused = claim_refused(message, token, destination, now)
    if refused is not None:
        return refused
    assert message is not None and destination is not None  # claim_refused said so
    if message.ref is None and message.resolved_at is not None:
        # Solved before it was ever posted (its last post died with its worker): nothing worth posting now.
        message.status, message.lease_token, message.updated_at = ChatMessageStatus.pending, None, now
        return "resolved_unsent"
    if not start_post(message, now):
        return "failed"
    message.sending_started_at = now
    notes = await q.notifications_of(session, message.id)
    tz = await q.venue_timezone(session, message.account_id)
    body = await render(session, message, notes, tz=tz, now=now)
    address = ChatAddress(
        platform=destination.platform,
        workspace_id=destination.workspace_id,
        chat_id=destination.chat_id,
        token=await bot_token(session, runtime, destination),
    )
    return Claimed(message.id, token, address, body, message.ref, destination.id)


async def bot_token(
    session: AsyncSession, runtime: Runtime, destination: ChatDestination | OpsDestination
) -> str | None:
    """The workspace's bot token, decrypted; None when there is no usable install (single-workspace mode)."""
    install = await q.install_of(session, destination.platform, destination.workspace_id)
    if install is None or install.revoked_at is not None or not install.bot_token_ciphertext:
        return None
    return runtime.cipher().decrypt(install.bot_token_ciphertext)


async def _release(session: AsyncSession, clock: Clock, send: Claimed) -> None:
    message = await q.get_message(session, send.message_id, lock=True)
    if message is None or message.lease_token != send.token:
        return
    hand_back(message, clock.now())
    message.note = f"no {send.address.platform} sender in this process"


async def _record(session: AsyncSession, clock: Clock, send: Claimed, ref: str | None, error: SendError | None) -> str:
    """Write what the chat answered; a send whose lease was taken over records nothing (the new holder will)."""
    now = clock.now()
    message = await q.get_message(session, send.message_id, lock=True)
    if message is None or message.lease_token != send.token:
        return "lease_lost"
    outcome, note = await record_outcome(session, message, send.address, posting=send.ref is None, ref=ref,
                                         error=error, now=now)  # fmt: skip
    if outcome in ("posted", "updated", "rate_limited"):
        message.note = note
    if isinstance(error, Gone):
        await stop_destination(
            session, clock, send.destination_id, error.reason, install=error.install, what=error.what
        )
    return outcome


STEPS = Steps(prepare=_prepare, release=_release, record=_record, event="chat_alert")


class LeasedMessage(Protocol):
    """A chat message sent under a lease (a venue alert's chat_alert_messages row, an ops_messages row)."""

    status: ChatMessageStatus
    ref: str | None
    needs_update: bool
    attempts: int
    posts_started: int
    next_attempt_at: datetime
    lease_token: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    sent_at: datetime | None
    updated_at: datetime


class Reachable(Protocol):
    """A chat a message goes to (venue or ops destination): stopped once `disabled_at` is set."""

    disabled_at: datetime | None


def claim_refused(
    message: LeasedMessage | None, token: str, destination: Reachable | None, now: datetime
) -> str | None:
    """Why a claimed message is not sent after all ("lease_lost": another worker holds it; "gone": its chat was
    stopped, and the message with it), or None to go on."""
    if message is None or message.lease_token != token:
        return "lease_lost"
    if destination is None or destination.disabled_at is not None:
        message.status, message.lease_token, message.updated_at = ChatMessageStatus.gone, None, now
        return "gone"
    return None


def start_post(message: LeasedMessage, now: datetime) -> bool:
    """Count a first post as started before it is made (it may land unanswered); False, and the message failed, when
    its answer was already lost MAX_POSTS times: it may be in the chat, so never a third copy."""
    if message.ref is not None:
        return True
    if message.posts_started >= MAX_POSTS:
        message.status, message.lease_token, message.updated_at = ChatMessageStatus.failed, None, now
        message.last_error = (
            f"the chat's answer was lost {message.posts_started} times; the alert may be there, so it is not "
            f"sent again ({message.last_error or 'no answer'})"
        )
        return False
    message.posts_started += 1
    return True


def hand_back(message: LeasedMessage, now: datetime) -> None:
    """Give a claimed message back unsent (no sender for its platform in this process): another process takes it."""
    if message.ref is None:
        message.posts_started = max(0, message.posts_started - 1)  # nothing was sent
        message.status = ChatMessageStatus.pending
    else:
        message.status, message.needs_update = ChatMessageStatus.sent, True
    message.lease_token, message.next_attempt_at, message.updated_at = None, now + NO_SENDER_WAIT, now


async def send_once(
    sender: ChatSender, address: ChatAddress, ref: str | None, body: AlertMessage, *, message_id: int
) -> tuple[str | None, SendError | None]:
    """Post `body` (no `ref` yet) or edit the message `ref`; the ref it has now and the error, if any."""
    try:
        if ref is None:
            return await sender.post(address, body), None
        await sender.update(address, ref, body)
        return ref, None
    except SendError as exc:
        return ref, exc
    except Exception as exc:  # a sender's bug must not stop the pass; the post may have gone out
        log.exception("chat_sender_failed", message_id=message_id, platform=address.platform.value)
        return ref, (AnswerLost if ref is None else Transient)(f"the sender failed: {type(exc).__name__}")


async def record_outcome(
    session: AsyncSession,
    message: LeasedMessage,
    chat: ChatAddress,
    *,
    posting: bool,
    ref: str | None,
    error: SendError | None,
    now: datetime,
) -> tuple[str, str | None]:
    """Write what the chat answered onto a leased message and pace its chat: the outcome and a note for the feed.

    A Gone answer marks the message gone; stopping the chat is the caller's (venue chats and ops chats differ).
    """
    platform = chat.platform
    spacing = spacing_of(platform, chat.chat_id)
    await q.pace(session, platform=platform, workspace_id=chat.workspace_id, chat_id=chat.chat_id,
                 not_before=now + spacing, reason="spacing")  # fmt: skip
    message.lease_token, message.lease_expires_at, message.updated_at = None, None, now
    if error is None:
        message.ref = ref
        message.status = ChatMessageStatus.sent
        message.sent_at = message.sent_at or now
        message.last_error = None
        message.attempts = 0
        if message.needs_update:  # an alert joined while it was being sent
            message.next_attempt_at = now
        return ("posted" if posting else "updated"), None
    message.last_error = error.reason
    back = ChatMessageStatus.pending if posting else ChatMessageStatus.sent
    if isinstance(error, Gone):
        message.status = ChatMessageStatus.gone
        return "gone", None
    if isinstance(error, MessageGone):
        message.status, message.needs_update = ChatMessageStatus.sent, False  # nothing left to edit
        return "message_gone", None
    if isinstance(error, RateLimited):
        wait = timedelta(seconds=max(1.0, error.retry_after))
        await q.pace(session, platform=platform, workspace_id=chat.workspace_id, chat_id=chat.chat_id,
                     not_before=now + wait, reason="rate limited (Retry-After)")  # fmt: skip
        if posting:
            message.posts_started = max(0, message.posts_started - 1)  # a 429 means nothing was posted
        message.status, message.needs_update = back, not posting or message.needs_update
        message.next_attempt_at = now + wait
        return "rate_limited", f"the chat asked us to wait {wait.total_seconds():.0f} s"
    if isinstance(error, Transient) and posting:
        message.posts_started = max(0, message.posts_started - 1)  # refused before anything was posted
    message.attempts += 1
    if message.attempts >= MAX_ATTEMPTS:
        message.status = ChatMessageStatus.failed
        return "failed", None
    message.status, message.needs_update = back, not posting or message.needs_update
    message.next_attempt_at = now + backoff(message.attempts - 1, RETRY_BASE)
    return ("answer_lost" if isinstance(error, AnswerLost) else "retrying"), None


def spacing_of(platform: ChatPlatform, chat_id: str) -> timedelta:
    """How long a chat waits between two of our messages: a Telegram group (negative id) 3 s, else about 1 s."""
    if chat_id.startswith("-") and platform in GROUP_SPACING:
        return GROUP_SPACING[platform]
    return SPACING.get(platform, timedelta(seconds=1))


async def stop_destination(
    session: AsyncSession, clock: Clock, destination_id: int, reason: str, *, install: bool, what: str | None = None
) -> list[int]:
    """Stop alerts to a chat that is gone (or to every chat of a revoked install) and say so in each venue's feed;
    `what` is the platform's few words for why ("the person blocked the bot"), else "the chat is gone"."""
    now = clock.now()
    destination = await q.get_destination(session, destination_id)
    if destination is None:
        return []
    stopped = (
        list(await q.destinations_of_workspace(session, destination.platform, destination.workspace_id))
        if install
        else [destination]
    )
    for d in stopped:
        if d.disabled_at is not None and d.id != destination.id:
            continue
        d.disabled_at, d.disabled_reason, d.updated_at = now, reason, now
        await q.stop_messages_to(session, d.id, reason=reason, now=now)
        where = d.chat_name or d.chat_id
        why = "the bot's install in this workspace was revoked" if install else what or "the chat is gone"
        platform = PLATFORM_NAMES.get(d.platform, d.platform.value)
        await notifications.notify(
            session, clock, account_id=d.account_id, kind=NotificationKind.chat_alerts_stopped,
            severity=Severity.warning, title=f"Alerts to {platform} {where} stopped: {why}",
            subject={"chat_destination_id": d.id},
            payload={"reason": reason, "remedy": STOPPED_REMEDY.get(d.platform, STOPPED_REMEDY[ChatPlatform.slack])},
            dedup_key=f"chat_alerts_stopped:{d.id}",
        )  # fmt: skip
    await session.flush()
    log.warning("chat_alerts_stopped", destination_ids=[d.id for d in stopped], reason=reason, install=install)
    return [d.id for d in stopped]


# --- rendering ---


async def render(
    session: AsyncSession, message: ChatAlertMessage, notes: Sequence[Notification], *, tz: str, now: datetime
) -> AlertMessage:
    """The message: what happened and where (title), why and what to do (lines), one item per alert, its offers."""
    if not notes:
        return AlertMessage(title="This alert is no longer available.")
    first = notes[0]
    resolved = message.resolved_at is not None
    lines = [str(v) for v in (first.payload.get("reason"), first.payload.get("remedy")) if v]
    if len(notes) == 1:
        title = first.title
        items: tuple[AlertItem, ...] = ()
        offers = _offers(first)
        if first.kind == NotificationKind.weekly_materialised.value:  # the week's posts, each with its buttons
            items = approvals.week_items(first, resolved=resolved)
        elif first.kind == NotificationKind.approval_requested.value:  # the post asked about
            lines = [*approvals.approval_lines(first), *lines]
    else:
        title = await _group_title(session, first, len(notes))
        items = tuple(AlertItem(n.title, () if resolved else _offers(n)) for n in notes)
        offers = ()
    if resolved:
        return AlertMessage(
            title=f"Resolved: {title}", lines=(message.resolved_note or "Resolved.",), items=items, offers=()
        )
    return AlertMessage(title=title, lines=tuple(lines), items=items, offers=offers)


async def _group_title(session: AsyncSession, first: Notification, count: int) -> str:
    what = GROUP_TITLES.get(first.kind, "alerts")
    connection_id = first.subject.get("connection_id")
    found = await q.connections(session, [connection_id]) if isinstance(connection_id, int) else {}
    where = f" on {label_for(found[connection_id])}" if connection_id in found else ""
    return f"{count} {what}{where}"


def _offers(n: Notification) -> tuple[Offer, ...]:
    offers = []
    for data in n.payload.get("actions") or ():
        try:
            offers.append(Offer.from_payload(data, notification_id=n.id))  # Approve all acts on this one
        except ValueError:
            log.warning("chat_alert_bad_offer", notification_id=n.id)
    return tuple(offers)
