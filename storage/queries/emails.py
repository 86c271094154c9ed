"""SQL for the e-mail outbox: insert once by dedup_key, claim due rows under a lease, record each outcome."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.enums import ChatMessageStatus, Role
from storage.models import Account, Email, Membership, User
from storage.queries.deliveries import is_postgres


async def add_once(
    session: AsyncSession,
    *,
    dedup_key: str,
    kind: str,
    to_address: str,
    subject: str,
    text_body: str,
    html_body: str,
    now: datetime,
) -> int | None:
    """Insert a pending e-mail; None when one with this dedup_key exists already (never queued twice)."""
    insert = pg_insert if is_postgres(session) else sqlite_insert
    stmt = (
        insert(Email)
        .values(
            dedup_key=dedup_key,
            kind=kind,
            to_address=to_address,
            subject=subject,
            text_body=text_body,
            html_body=html_body,
            status=ChatMessageStatus.pending,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Email.dedup_key])
        .returning(Email.id)
    )
    return (await session.execute(stmt)).scalar()


def _due(now: datetime):  # type: ignore[no-untyped-def]
    """Rows a worker may take now: pending and due, or a send whose worker vanished (lease expired)."""
    return or_(
        and_(Email.status == ChatMessageStatus.pending, Email.next_attempt_at <= now),
        and_(Email.status == ChatMessageStatus.sending, Email.lease_expires_at < now),
    )


async def claim_due(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[tuple[int, str]]:
    """Claim up to `limit` due e-mails, each under its own lease token (oldest due first).

    PostgreSQL skips rows another worker has locked; on SQLite the compare-and-set UPDATE makes a second
    worker's stale read claim nothing.
    """
    candidates = select(Email.id).where(_due(now)).order_by(Email.next_attempt_at, Email.id).limit(limit)
    if is_postgres(session):
        candidates = candidates.with_for_update(skip_locked=True)
    claimed: list[tuple[int, str]] = []
    for email_id in (await session.execute(candidates)).scalars().all():
        token = secrets.token_hex(16)
        result = await session.execute(
            update(Email)
            .where(Email.id == email_id, _due(now))
            .values(
                status=ChatMessageStatus.sending,
                lease_token=token,
                lease_expires_at=lease_until,
                attempts=Email.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            claimed.append((email_id, token))
    return claimed


async def get(session: AsyncSession, email_id: int) -> Email | None:
    return await session.get(Email, email_id, populate_existing=True)


async def get_by_key(session: AsyncSession, dedup_key: str) -> Email | None:
    return (await session.execute(select(Email).where(Email.dedup_key == dedup_key))).scalar_one_or_none()


async def finish(
    session: AsyncSession,
    email_id: int,
    token: str,
    *,
    status: ChatMessageStatus,
    now: datetime,
    next_attempt_at: datetime | None = None,
    provider_id: str | None = None,
    last_error: str | None = None,
    sent_at: datetime | None = None,
    spend_attempt: bool = True,
) -> bool:
    """Record one send's outcome if this worker still holds the lease; False when it was lost to another worker.

    `spend_attempt=False` gives back the attempt the claim counted (a rate limit or a missing key is no failure).
    """
    values: dict[str, object] = {
        "status": status,
        "lease_token": None,
        "lease_expires_at": None,
        "last_error": last_error,
        "updated_at": now,
    }
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if provider_id is not None:
        values["provider_id"] = provider_id
    if sent_at is not None:
        values["sent_at"] = sent_at
    if not spend_attempt:
        values["attempts"] = Email.attempts - 1
    result = await session.execute(
        update(Email)
        .where(Email.id == email_id, Email.lease_token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def note_waiting(session: AsyncSession, *, note: str, now: datetime) -> int:
    """Set `last_error` on pending rows that lack this note (why they wait), so the outbox says it once."""
    result = await session.execute(
        update(Email)
        .where(
            Email.status == ChatMessageStatus.pending,
            or_(Email.last_error.is_(None), Email.last_error != note),
        )
        .values(last_error=note, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def counts(session: AsyncSession) -> dict[str, int]:
    """How many e-mails are in each status (what `/api/status` and ops see)."""
    rows = await session.execute(select(Email.status, func.count()).group_by(Email.status))
    return {str(status): int(n) for status, n in rows.all()}


async def oldest_waiting(session: AsyncSession) -> datetime | None:
    """When the oldest e-mail still waiting to go out was queued (None: nothing waits)."""
    query = select(func.min(Email.created_at)).where(
        Email.status.in_((ChatMessageStatus.pending, ChatMessageStatus.sending))
    )
    return (await session.execute(query)).scalar()


async def recent(session: AsyncSession, *, status: ChatMessageStatus | None = None, limit: int = 50) -> Sequence[Email]:
    """The newest e-mails (optionally of one status), newest first."""
    query = select(Email).order_by(Email.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Email.status == status)
    return (await session.execute(query)).scalars().all()


# --- who gets venue alerts by e-mail ---


async def alert_recipients(session: AsyncSession, account_id: int) -> list[tuple[int, str, Role, bool]]:
    """The venue's active members who chose e-mail for their alerts and have an address:
    (user id, address, role, is staff), by user id."""
    rows = await session.execute(
        select(User.id, User.email, Membership.role, User.is_staff)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.account_id == account_id,
            User.is_active.is_(True),
            User.email.is_not(None),
            User.alert_via.in_(("email", "both")),
        )
        .order_by(User.id)
    )
    return [(uid, str(email), role, bool(staff)) for uid, email, role, staff in rows.all()]


async def alert_via_of(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, str]:
    """How each person's own alerts reach them; "email" only for someone who has an address to send to."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.alert_via, User.email).where(User.id.in_(user_ids)))
    return {uid: (via if via != "email" or email else "chat") for uid, via, email in rows.all()}


async def venue_name(session: AsyncSession, account_id: int) -> str:
    return str((await session.execute(select(Account.name).where(Account.id == account_id))).scalar_one())
