"""SQL for telling ops chats about incidents and digests: their destinations, insert-once messages, claims under a
lease (paced per chat through the venue alerts' shared chat_pacing rows) and what a bulk retry looks at."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.enums import ChatMessageStatus, ChatPlatform, DeliveryStatus, MediaStatus
from storage.models import Incident, MediaAsset, OpsDestination, OpsDigest, OpsMessage, PostTarget
from storage.queries import chat_alerts
from storage.queries.chat_alerts import SendBudget, _insert, paced_chat, reserve_chat, take_sends
from storage.queries.deliveries import is_postgres

# --- destinations ---


async def find_destination(
    session: AsyncSession, platform: ChatPlatform, workspace_id: str, chat_id: str
) -> OpsDestination | None:
    query = select(OpsDestination).where(
        OpsDestination.platform == platform,
        OpsDestination.workspace_id == workspace_id,
        OpsDestination.chat_id == chat_id,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def active_destinations(session: AsyncSession) -> Sequence[OpsDestination]:
    """Every ops chat still taking incidents, oldest first."""
    query = select(OpsDestination).where(OpsDestination.disabled_at.is_(None)).order_by(OpsDestination.id)
    return (await session.execute(query)).scalars().all()


# --- fan-out ---


async def untold_incidents(session: AsyncSession, *, limit: int) -> Sequence[Incident]:
    """Incidents with a version nobody was told of yet, oldest first; PostgreSQL skips those another worker holds."""
    query = select(Incident).where(Incident.told_version < Incident.version).order_by(Incident.id).limit(limit)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().all()


async def silence_ended(session: AsyncSession, *, now: datetime) -> Sequence[Incident]:
    """Open incidents whose silence has run out (their messages still say "Silenced until …")."""
    query = select(Incident).where(
        Incident.status == "open", Incident.silenced_until.is_not(None), Incident.silenced_until <= now
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().all()


async def untold_digests(session: AsyncSession) -> Sequence[OpsDigest]:
    query = select(OpsDigest).where(OpsDigest.told_at.is_(None)).order_by(OpsDigest.id)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().all()


async def add_message_once(
    session: AsyncSession,
    *,
    subject_key: str,
    destination_id: int,
    now: datetime,
    incident_id: int | None = None,
    digest_id: int | None = None,
) -> bool:
    """Insert the (subject, destination) message; False when it already exists (never posted twice)."""
    stmt = (
        _insert(session)(OpsMessage)
        .values(
            subject_key=subject_key,
            incident_id=incident_id,
            digest_id=digest_id,
            destination_id=destination_id,
            status=ChatMessageStatus.pending,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[OpsMessage.subject_key, OpsMessage.destination_id])
    )
    result = await session.execute(stmt)
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def messages_of_incident(session: AsyncSession, incident_id: int) -> Sequence[OpsMessage]:
    query = select(OpsMessage).where(OpsMessage.incident_id == incident_id).order_by(OpsMessage.id)
    return (await session.execute(query)).scalars().all()


async def mark_changed(session: AsyncSession, incident_id: int, *, now: datetime) -> int:
    """Every message about this incident gets edited (a posted one) or carries the news when it is first posted."""
    result = await session.execute(
        update(OpsMessage)
        .where(
            OpsMessage.incident_id == incident_id,
            OpsMessage.status.in_((ChatMessageStatus.pending, ChatMessageStatus.sending, ChatMessageStatus.sent)),
        )
        .values(needs_update=True, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- sending ---


def _due(now: datetime):  # type: ignore[no-untyped-def]
    """Ops messages a worker may take now: new or retrying, posted but changed, or a send whose worker vanished."""
    waiting = or_(
        OpsMessage.status == ChatMessageStatus.pending,
        and_(OpsMessage.status == ChatMessageStatus.sent, OpsMessage.needs_update.is_(True)),
    )
    stale = and_(OpsMessage.status == ChatMessageStatus.sending, OpsMessage.lease_expires_at < now)
    return or_(and_(waiting, OpsMessage.next_attempt_at <= now), stale)


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    budgets: Mapping[ChatPlatform, SendBudget],
    spacing: Callable[[ChatPlatform, str], timedelta],
) -> list[tuple[int, str]]:
    """Claim up to `limit` due ops messages, one per chat and none in a paced chat (the venue alerts' pacing rows,
    so an ops chat that also takes a venue's alerts is paced once), each under its own lease token."""
    paced = paced_chat(OpsDestination, now)
    candidates = (
        select(OpsMessage.id, OpsDestination.platform, OpsDestination.workspace_id, OpsDestination.chat_id)
        .join(OpsDestination, OpsDestination.id == OpsMessage.destination_id)
        .where(_due(now), ~paced)
        .order_by(OpsMessage.next_attempt_at, OpsMessage.id)
        .limit(limit * 4)
    )
    if is_postgres(session):
        candidates = candidates.with_for_update(skip_locked=True, of=OpsMessage)
    seen: set[tuple[str, str, str]] = set()
    claimed: list[tuple[int, str]] = []
    for row in (await session.execute(candidates)).all():
        chat = (str(row.platform), row.workspace_id, row.chat_id)
        if chat in seen or len(claimed) >= limit:
            continue
        seen.add(chat)
        budget = budgets.get(row.platform)
        if budget is not None and not await take_sends(
            session, platform=row.platform, workspace_id=row.workspace_id, budget=budget, now=now, wanted=1
        ):
            continue  # the bot's shared budget is spent this instant; the next pass takes it
        if not await reserve_chat(
            session, platform=row.platform, workspace_id=row.workspace_id, chat_id=row.chat_id, now=now,
            until=now + spacing(row.platform, row.chat_id),
        ):  # fmt: skip
            continue  # another worker took this chat's turn a moment ago
        token = await chat_alerts.take_lease(session, OpsMessage, row.id, _due(now), lease_until=lease_until, now=now)
        if token is not None:
            claimed.append((row.id, token))
    return claimed


async def get_message(session: AsyncSession, message_id: int, *, lock: bool = False) -> OpsMessage | None:
    return await chat_alerts.get_leased(session, OpsMessage, message_id, lock=lock)


async def stop_messages_to(session: AsyncSession, destination_id: int, *, reason: str, now: datetime) -> int:
    """Mark every ops message still waiting for this chat gone (nothing more is sent there)."""
    return await chat_alerts.stop_messages_to(session, destination_id, reason=reason, now=now, model=OpsMessage)


async def waiting_count(session: AsyncSession, *, now: datetime) -> int:
    """How many ops messages are due now (what another round of the same pass could still send)."""
    query = select(func.count()).select_from(OpsMessage).where(_due(now))
    return int((await session.execute(query)).scalar_one())


# --- what a bulk retry looks at ---


async def failed_targets(session: AsyncSession, *, since: datetime, limit: int) -> Sequence[PostTarget]:
    """Deliveries that failed for good since `since`, oldest first (what `retry failed` sends again)."""
    query = (
        select(PostTarget)
        .where(PostTarget.status == DeliveryStatus.failed, PostTarget.updated_at >= since)
        .order_by(PostTarget.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def failed_assets(session: AsyncSession, *, since: datetime, limit: int) -> Sequence[MediaAsset]:
    """Media whose derivatives failed since `since`, oldest first."""
    query = (
        select(MediaAsset)
        .where(MediaAsset.status == MediaStatus.failed, MediaAsset.updated_at >= since)
        .order_by(MediaAsset.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()
