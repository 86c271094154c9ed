"""SQL for delivering alerts to chats: fan-out marks, insert-once deliveries, grouping, claims under a lease,
per-chat pacing and what resolution needs to look at."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Row, and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    Account,
    AuditEntry,
    ChatAlertDelivery,
    ChatAlertFanout,
    ChatAlertMessage,
    ChatDestination,
    ChatInstall,
    ChatMessageStatus,
    ChatPacing,
    ChatPlatform,
    Connection,
    Membership,
    Notification,
    OpsDestination,
    OpsMessage,
    PostTarget,
    Role,
    User,
)
from storage.queries.deliveries import is_postgres


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if is_postgres(session) else sqlite_insert


# --- fan-out ---


async def unfanned(session: AsyncSession, *, since: datetime, limit: int) -> Sequence[Notification]:
    """Notifications since `since` not fanned out yet, oldest first; PostgreSQL skips those another worker holds."""
    done = select(ChatAlertFanout.notification_id).where(ChatAlertFanout.notification_id == Notification.id)
    query = (
        select(Notification)
        .where(Notification.created_at >= since, ~exists(done))
        .order_by(Notification.id)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=Notification)
    return (await session.execute(query)).scalars().all()


async def mark_fanned(session: AsyncSession, notification_id: int, *, now: datetime) -> bool:
    """Record that a notification is fanned out; False when another worker already did it."""
    stmt = (
        _insert(session)(ChatAlertFanout)
        .values(notification_id=notification_id, done_at=now)
        .on_conflict_do_nothing(index_elements=[ChatAlertFanout.notification_id])
    )
    result = await session.execute(stmt)
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def alert_destinations(session: AsyncSession, account_id: int) -> Sequence[ChatDestination]:
    """The venue's chats that take alerts (on, not disabled), oldest first."""
    query = (
        select(ChatDestination)
        .where(
            ChatDestination.account_id == account_id,
            ChatDestination.alerts.is_(True),
            ChatDestination.disabled_at.is_(None),
        )
        .order_by(ChatDestination.id)
    )
    return (await session.execute(query)).scalars().all()


async def people_of(
    session: AsyncSession, account_id: int, user_ids: Sequence[int]
) -> dict[int, tuple[Role | None, bool]]:
    """For each person: their role in the venue (None: not a member) and whether they are staff."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(User.id, Membership.role, User.is_staff)
        .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.account_id == account_id))
        .where(User.id.in_(user_ids), User.is_active.is_(True))
    )
    return {uid: (role, bool(staff)) for uid, role, staff in rows.all()}


async def venue_timezone(session: AsyncSession, account_id: int) -> str:
    return str((await session.execute(select(Account.timezone).where(Account.id == account_id))).scalar_one())


async def lock_destination(session: AsyncSession, destination_id: int) -> None:
    """Serialise grouping per chat: two workers fanning out alerts of one group never open two messages."""
    if is_postgres(session):
        await session.execute(select(ChatDestination.id).where(ChatDestination.id == destination_id).with_for_update())


async def add_delivery_once(
    session: AsyncSession, *, notification_id: int, destination_id: int, now: datetime
) -> int | None:
    """Insert the (notification, destination) row; None when it already exists (never posted twice)."""
    stmt = (
        _insert(session)(ChatAlertDelivery)
        .values(notification_id=notification_id, destination_id=destination_id, created_at=now)
        .on_conflict_do_nothing(index_elements=[ChatAlertDelivery.notification_id, ChatAlertDelivery.destination_id])
        .returning(ChatAlertDelivery.id)
    )
    return (await session.execute(stmt)).scalar()


async def open_group_message(
    session: AsyncSession, *, destination_id: int, group_key: str, now: datetime
) -> ChatAlertMessage | None:
    """The message of this group in this chat still taking alerts (inside its window, unresolved, not given up)."""
    query = (
        select(ChatAlertMessage)
        .where(
            ChatAlertMessage.destination_id == destination_id,
            ChatAlertMessage.group_key == group_key,
            ChatAlertMessage.group_until > now,
            ChatAlertMessage.resolved_at.is_(None),
            ChatAlertMessage.status.in_((ChatMessageStatus.pending, ChatMessageStatus.sending, ChatMessageStatus.sent)),
        )
        .order_by(ChatAlertMessage.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def attach(session: AsyncSession, delivery_id: int, message_id: int) -> None:
    await session.execute(
        update(ChatAlertDelivery).where(ChatAlertDelivery.id == delivery_id).values(message_id=message_id)
    )


# --- sending ---


def _due(now: datetime):  # type: ignore[no-untyped-def]
    """Messages a worker may take now: new or retrying, sent but changed, or a send whose worker vanished."""
    return or_(
        and_(
            ChatAlertMessage.status == ChatMessageStatus.pending,
            ChatAlertMessage.resolved_at.is_(None),
            ChatAlertMessage.next_attempt_at <= now,
        ),
        and_(
            ChatAlertMessage.status == ChatMessageStatus.sent,
            ChatAlertMessage.needs_update.is_(True),
            ChatAlertMessage.next_attempt_at <= now,
        ),
        and_(ChatAlertMessage.status == ChatMessageStatus.sending, ChatAlertMessage.lease_expires_at < now),
    )


BOT_ROW = "*"  # chat_pacing's chat_id for a bot-wide budget (Telegram's 30 a second); no chat has this id


@dataclass(frozen=True)
class SendBudget:
    """A bot-wide limit shared by every process: one send per `interval` on average, `burst` at once at most.

    Kept as a GCRA in the bot's chat_pacing row (next_allowed_at is the theoretical arrival time), so in any one
    second a bot sends at most `burst` + 1 s / `interval` messages.
    """

    interval: timedelta
    burst: int


async def take_sends(
    session: AsyncSession, *, platform: ChatPlatform, workspace_id: str, budget: SendBudget, now: datetime, wanted: int
) -> int:
    """Reserve up to `wanted` sends from a bot's budget; returns how many were granted (0: try again shortly).

    The bot's row is read and then moved on by a compare-and-set, so two workers reserving at once never both take
    the same slots (the loser is granted nothing this time); PostgreSQL also locks the row while it decides.
    """
    if wanted <= 0:
        return 0
    key = (ChatPacing.platform == platform, ChatPacing.workspace_id == workspace_id, ChatPacing.chat_id == BOT_ROW)
    query = select(ChatPacing.next_allowed_at).where(*key)
    if is_postgres(session):
        query = query.with_for_update()
    old = (await session.execute(query)).scalar_one_or_none()
    start = now if old is None or old < now else old
    room = budget.interval * budget.burst - (start - now)
    granted = min(wanted, math.floor(room / budget.interval)) if room > timedelta(0) else 0
    if granted <= 0:
        return 0
    moved_to = start + budget.interval * granted
    if old is None:
        stmt = (
            _insert(session)(ChatPacing)
            .values(
                platform=platform,
                workspace_id=workspace_id,
                chat_id=BOT_ROW,
                next_allowed_at=moved_to,
                reason="bot-wide budget",
            )
            .on_conflict_do_nothing(index_elements=[ChatPacing.platform, ChatPacing.workspace_id, ChatPacing.chat_id])
        )
    else:
        stmt = (
            update(ChatPacing)
            .where(*key, ChatPacing.next_allowed_at == old)
            .values(next_allowed_at=moved_to)
            .execution_options(synchronize_session=False)
        )
    result = await session.execute(stmt)
    return granted if result.rowcount == 1 else 0  # type: ignore[attr-defined]


async def reserve_chat(
    session: AsyncSession, *, platform: ChatPlatform, workspace_id: str, chat_id: str, now: datetime, until: datetime
) -> bool:
    """Take a chat's turn to send: move its pace to `until` if it is free now; False when another worker has it.

    A compare-and-set (PostgreSQL makes a racing second claimer wait for the first's commit, then finds the row
    moved on), so two processes never both claim the same chat's next message.
    """
    key = (ChatPacing.platform == platform, ChatPacing.workspace_id == workspace_id, ChatPacing.chat_id == chat_id)
    moved = await session.execute(
        update(ChatPacing)
        .where(*key, ChatPacing.next_allowed_at <= now)
        .values(next_allowed_at=until, reason="sending")
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount:  # type: ignore[attr-defined]
        return True
    inserted = await session.execute(
        _insert(session)(ChatPacing)
        .values(platform=platform, workspace_id=workspace_id, chat_id=chat_id, next_allowed_at=until, reason="sending")
        .on_conflict_do_nothing(index_elements=[ChatPacing.platform, ChatPacing.workspace_id, ChatPacing.chat_id])
    )
    return bool(inserted.rowcount)  # type: ignore[attr-defined]


def paced_chat(destination: type[ChatDestination] | type[OpsDestination], now: datetime):  # type: ignore[no-untyped-def]
    """True for a `destination` row whose chat is paced past `now` (venue and ops chats share chat_pacing rows)."""
    return exists(
        select(ChatPacing.chat_id).where(
            ChatPacing.platform == destination.platform,
            ChatPacing.workspace_id == destination.workspace_id,
            ChatPacing.chat_id == destination.chat_id,
            ChatPacing.next_allowed_at > now,
        )
    )


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    budgets: Mapping[ChatPlatform, SendBudget] | None = None,
    spacing: Callable[[ChatPlatform, str], timedelta] | None = None,
) -> list[tuple[int, str]]:
    """Claim up to `limit` due messages, one per chat and none in a paced chat, each under its own lease token;
    a platform with a bot-wide budget (`budgets`, Telegram's) gets only the sends its bot has room for.

    PostgreSQL locks candidates `FOR UPDATE SKIP LOCKED`; on SQLite the compare-and-set UPDATE makes a second
    worker's stale read claim nothing.
    """
    paced = paced_chat(ChatDestination, now)
    # A chat with a send in flight (another worker's live lease) waits for it: its pace is written only when that
    # send is recorded, so without this a second process would send the chat's next message right behind it.
    in_flight = aliased(ChatAlertMessage)
    other_destination = aliased(ChatDestination)
    busy = exists(
        select(in_flight.id)
        .join(other_destination, other_destination.id == in_flight.destination_id)
        .where(
            other_destination.platform == ChatDestination.platform,
            other_destination.workspace_id == ChatDestination.workspace_id,
            other_destination.chat_id == ChatDestination.chat_id,
            in_flight.status == ChatMessageStatus.sending,
            in_flight.lease_expires_at >= now,
        )
    )
    candidates = (
        select(ChatAlertMessage.id, ChatDestination.platform, ChatDestination.workspace_id, ChatDestination.chat_id)
        .join(ChatDestination, ChatDestination.id == ChatAlertMessage.destination_id)
        .where(_due(now), ~paced, ~busy)
        .order_by(ChatAlertMessage.next_attempt_at, ChatAlertMessage.id)
        .limit(limit * 4)
    )
    if is_postgres(session):
        candidates = candidates.with_for_update(skip_locked=True, of=ChatAlertMessage)
    budgets = budgets or {}
    chats: set[tuple[str, str, str]] = set()
    picked: list[Row[int, ChatPlatform, str, str]] = []
    for row in (await session.execute(candidates)).all():
        chat = (str(row.platform), row.workspace_id, row.chat_id)
        if chat in chats or len(picked) >= limit:
            continue
        chats.add(chat)
        picked.append(row)
    # Each budgeted bot's slots are reserved before claiming: a claim is a send about to happen.
    wanted: dict[tuple[ChatPlatform, str], int] = {}
    for row in picked:
        if row.platform in budgets:
            bot = (row.platform, row.workspace_id)
            wanted[bot] = wanted.get(bot, 0) + 1
    room = {
        bot: await take_sends(
            session, platform=bot[0], workspace_id=bot[1], budget=budgets[bot[0]], now=now, wanted=count
        )
        for bot, count in wanted.items()
    }
    claimed: list[tuple[int, str]] = []
    for row in picked:
        bot = (row.platform, row.workspace_id)
        if bot in room:
            if room[bot] <= 0:
                continue
            room[bot] -= 1
        if not await reserve_chat(
            session, platform=row.platform, workspace_id=row.workspace_id, chat_id=row.chat_id, now=now,
            until=now + (spacing(row.platform, row.chat_id) if spacing else timedelta(0)),
        ):  # fmt: skip
            continue  # another worker took this chat's turn a moment ago
        token = await take_lease(session, ChatAlertMessage, row.id, _due(now), lease_until=lease_until, now=now)
        if token is not None:
            claimed.append((row.id, token))
    return claimed


Leased = TypeVar("Leased", ChatAlertMessage, OpsMessage)


async def take_lease(
    session: AsyncSession, model: type[Leased], message_id: int, due: Any, *, lease_until: datetime, now: datetime
) -> str | None:
    """Lease one message still `due` (a compare-and-set: a stale second claimer takes nothing); its token or None."""
    token = secrets.token_hex(16)
    result = await session.execute(
        update(model)
        .where(model.id == message_id, due)
        .values(
            status=ChatMessageStatus.sending,
            lease_token=token,
            lease_expires_at=lease_until,
            needs_update=False,  # a change arriving while this send runs sets it again
            updated_at=now,
        )
    )
    return token if result.rowcount else None  # type: ignore[attr-defined]


async def get_message(session: AsyncSession, message_id: int, *, lock: bool = False) -> ChatAlertMessage | None:
    return await get_leased(session, ChatAlertMessage, message_id, lock=lock)


async def get_leased(session: AsyncSession, model: type[Leased], message_id: int, *, lock: bool) -> Leased | None:
    """One chat message by id, row-locked on PostgreSQL when `lock` (recording a send's outcome)."""
    query = select(model).where(model.id == message_id)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_destination(session: AsyncSession, destination_id: int) -> ChatDestination | None:
    return await session.get(ChatDestination, destination_id)


async def notifications_of(session: AsyncSession, message_id: int) -> Sequence[Notification]:
    """The alerts a message carries, in the order they happened."""
    query = (
        select(Notification)
        .join(ChatAlertDelivery, ChatAlertDelivery.notification_id == Notification.id)
        .where(ChatAlertDelivery.message_id == message_id)
        .order_by(Notification.id)
    )
    return (await session.execute(query)).scalars().all()


async def install_of(session: AsyncSession, platform: ChatPlatform, workspace_id: str) -> ChatInstall | None:
    query = select(ChatInstall).where(ChatInstall.platform == platform, ChatInstall.workspace_id == workspace_id)
    return (await session.execute(query)).scalar_one_or_none()


async def pace(
    session: AsyncSession,
    *,
    platform: ChatPlatform,
    workspace_id: str,
    chat_id: str,
    not_before: datetime,
    reason: str,
) -> None:
    """Push the chat's next allowed send to at least `not_before` (one upsert; never pulls it earlier)."""
    insert = _insert(session)(ChatPacing).values(
        platform=platform, workspace_id=workspace_id, chat_id=chat_id, next_allowed_at=not_before, reason=reason
    )
    later = func.greatest if is_postgres(session) else func.max
    stmt = insert.on_conflict_do_update(
        index_elements=[ChatPacing.platform, ChatPacing.workspace_id, ChatPacing.chat_id],
        set_={
            "next_allowed_at": later(ChatPacing.next_allowed_at, insert.excluded.next_allowed_at),
            "reason": insert.excluded.reason,
        },
    )
    await session.execute(stmt)


async def destinations_of_workspace(
    session: AsyncSession, platform: ChatPlatform, workspace_id: str
) -> Sequence[ChatDestination]:
    """Every enabled destination reached through one install (all stop when it is revoked)."""
    query = select(ChatDestination).where(
        ChatDestination.platform == platform,
        ChatDestination.workspace_id == workspace_id,
        ChatDestination.disabled_at.is_(None),
    )
    return (await session.execute(query)).scalars().all()


async def stop_messages_to(
    session: AsyncSession,
    destination_id: int,
    *,
    reason: str,
    now: datetime,
    model: type[ChatAlertMessage] | type[OpsMessage] = ChatAlertMessage,
) -> int:
    """Mark every message still waiting for this chat gone (nothing more is sent there); `model` OpsMessage for an
    ops chat's."""
    result = await session.execute(
        update(model)
        .where(
            model.destination_id == destination_id,
            model.status.in_((ChatMessageStatus.pending, ChatMessageStatus.sending)),
        )
        .values(status=ChatMessageStatus.gone, last_error=reason, lease_token=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- resolution ---


async def unresolved_messages(session: AsyncSession, *, since: datetime, limit: int) -> Sequence[ChatAlertMessage]:
    """Messages sent or waiting whose problem may have been solved since (newest first)."""
    query = (
        select(ChatAlertMessage)
        .where(
            ChatAlertMessage.resolved_at.is_(None),
            ChatAlertMessage.created_at >= since,
            ChatAlertMessage.status.in_((ChatMessageStatus.pending, ChatMessageStatus.sending, ChatMessageStatus.sent)),
        )
        .order_by(ChatAlertMessage.id.desc())
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def targets(session: AsyncSession, target_ids: Sequence[int]) -> dict[int, PostTarget]:
    if not target_ids:
        return {}
    rows = await session.execute(select(PostTarget).where(PostTarget.id.in_(target_ids)))
    return {t.id: t for t in rows.scalars().all()}


async def connections(session: AsyncSession, connection_ids: Sequence[int]) -> dict[int, Connection]:
    if not connection_ids:
        return {}
    rows = await session.execute(select(Connection).where(Connection.id.in_(connection_ids)))
    return {c.id: c for c in rows.scalars().all()}


async def last_actor(session: AsyncSession, *, subject_type: str, subject_id: int, since: datetime) -> str | None:
    """The name of the last person who acted on a subject since `since` (from the audit log), if any."""
    query = (
        select(User.name)
        .join(AuditEntry, AuditEntry.actor_user_id == User.id)
        .where(
            AuditEntry.subject_type == subject_type,
            AuditEntry.subject_id == str(subject_id),
            AuditEntry.at >= since,
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar()


async def user_name(session: AsyncSession, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return (await session.execute(select(User.name).where(User.id == user_id))).scalar()


async def next_due(session: AsyncSession, budgets: Mapping[ChatPlatform, SendBudget] | None = None) -> datetime | None:
    """When the next waiting message may be sent: its own next try, or its chat's pacing if later, or (with
    `budgets`) when its bot has a free slot again if that is later still."""
    waiting = or_(
        and_(ChatAlertMessage.status == ChatMessageStatus.pending, ChatAlertMessage.resolved_at.is_(None)),
        and_(ChatAlertMessage.status == ChatMessageStatus.sent, ChatAlertMessage.needs_update.is_(True)),
    )
    bot = aliased(ChatPacing)
    query = (
        select(
            ChatAlertMessage.next_attempt_at, ChatPacing.next_allowed_at, ChatDestination.platform, bot.next_allowed_at
        )
        .join(ChatDestination, ChatDestination.id == ChatAlertMessage.destination_id)
        .outerjoin(
            ChatPacing,
            and_(
                ChatPacing.platform == ChatDestination.platform,
                ChatPacing.workspace_id == ChatDestination.workspace_id,
                ChatPacing.chat_id == ChatDestination.chat_id,
            ),
        )
        .outerjoin(
            bot,
            and_(
                bot.platform == ChatDestination.platform,
                bot.workspace_id == ChatDestination.workspace_id,
                bot.chat_id == BOT_ROW,
            ),
        )
        .where(waiting)
        .order_by(ChatAlertMessage.next_attempt_at)
        .limit(100)
    )
    budgets = budgets or {}
    times = []
    for at, paced, platform, bot_at in (await session.execute(query)).all():
        when = max(at, paced) if paced is not None else at
        budget = budgets.get(platform)
        if budget is not None and bot_at is not None:
            # A slot frees once the bot's theoretical arrival time is within its burst of now.
            when = max(when, bot_at - budget.interval * (budget.burst - 1))
        times.append(when)
    return min(times) if times else None


async def purge_messages(session: AsyncSession, *, before: datetime) -> int:
    """Delete finished messages (sent, failed, gone) created before `before`; returns how many went."""
    result = await session.execute(
        delete(ChatAlertMessage)
        .where(
            ChatAlertMessage.created_at < before,
            ChatAlertMessage.status.in_((ChatMessageStatus.sent, ChatMessageStatus.failed, ChatMessageStatus.gone)),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def is_alert_in_chat(
    session: AsyncSession,
    *,
    account_id: int,
    platform: ChatPlatform,
    workspace_id: str,
    chat_ids: Sequence[str],
    ref: str,
) -> bool:
    """Whether the message `ref` in this chat (known by any of `chat_ids`) is one of our alerts about `account_id`."""
    query = (
        select(ChatAlertMessage.id)
        .join(ChatDestination, ChatDestination.id == ChatAlertMessage.destination_id)
        .where(
            ChatAlertMessage.ref == ref,
            ChatAlertMessage.account_id == account_id,
            ChatDestination.account_id == account_id,
            ChatDestination.platform == platform,
            ChatDestination.workspace_id == workspace_id,
            ChatDestination.chat_id.in_(list(chat_ids)),
        )
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none() is not None
