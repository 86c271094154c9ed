"""Queries for connections, OAuth states and Meta data requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditEntry,
    Connection,
    ConnectionStatus,
    MetaDataRequest,
    OAuthState,
    Provider,
    User,
)


async def list_for_account(session: AsyncSession, account_id: int) -> Sequence[Connection]:
    result = await session.execute(
        select(Connection).where(Connection.account_id == account_id).order_by(Connection.provider, Connection.id)
    )
    return result.scalars().all()


async def get(session: AsyncSession, account_id: int, connection_id: int) -> Connection | None:
    result = await session.execute(
        select(Connection).where(Connection.id == connection_id, Connection.account_id == account_id)
    )
    return result.scalar_one_or_none()


async def find_by_external(
    session: AsyncSession, account_id: int, provider: Provider, external_id: str
) -> Connection | None:
    result = await session.execute(
        select(Connection).where(
            Connection.account_id == account_id,
            Connection.provider == provider,
            Connection.external_id == external_id,
        )
    )
    return result.scalar_one_or_none()


async def add(session: AsyncSession, connection: Connection) -> Connection:
    session.add(connection)
    await session.flush()
    return connection


async def by_provider_user(session: AsyncSession, provider_user_id: str) -> Sequence[Connection]:
    """Every venue's connections made by one Meta user (deauthorize callbacks are not venue-scoped)."""
    result = await session.execute(
        select(Connection).where(
            Connection.provider_user_id == provider_user_id,
            Connection.provider.in_([Provider.facebook, Provider.instagram]),
        )
    )
    return result.scalars().all()


async def watchable(session: AsyncSession, *, after_id: int, limit: int) -> Sequence[Connection]:
    """Connections whose access can still lapse, across venues, in id batches (periodic sweeps)."""
    result = await session.execute(
        select(Connection)
        .where(
            Connection.id > after_id,
            Connection.status.in_([ConnectionStatus.active, ConnectionStatus.expiring]),
        )
        .order_by(Connection.id)
        .limit(limit)
    )
    return result.scalars().all()


async def missing_metadata(session: AsyncSession, *, account_id: int | None = None) -> Sequence[Connection]:
    query = select(Connection).where(
        Connection.status != ConnectionStatus.disconnected,
        or_(
            (Connection.provider == Provider.facebook) & Connection.page_id.is_(None),
            (Connection.provider == Provider.instagram)
            & (Connection.ig_business_id.is_(None) | Connection.page_id.is_(None)),
            (Connection.provider == Provider.google_business) & Connection.location_name.is_(None),
        ),
    )
    if account_id is not None:
        query = query.where(Connection.account_id == account_id)
    result = await session.execute(query.order_by(Connection.id))
    return result.scalars().all()


async def add_state(session: AsyncSession, state: OAuthState) -> OAuthState:
    session.add(state)
    await session.flush()
    return state


async def state_by_hash(session: AsyncSession, state_hash: str) -> OAuthState | None:
    result = await session.execute(select(OAuthState).where(OAuthState.state_hash == state_hash))
    return result.scalar_one_or_none()


async def state_for_account(session: AsyncSession, account_id: int, state_id: int) -> OAuthState | None:
    result = await session.execute(
        select(OAuthState).where(OAuthState.id == state_id, OAuthState.account_id == account_id)
    )
    return result.scalar_one_or_none()


async def bind_state(session: AsyncSession, state_id: int, *, browser_hash: str, now: datetime) -> bool:
    """Bind a state to the first browser that opens it; False when another browser got there first."""
    result = await session.execute(
        update(OAuthState)
        .where(OAuthState.id == state_id, OAuthState.bound_at.is_(None), OAuthState.used_at.is_(None))
        .values(browser_hash=browser_hash, bound_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def use_state(session: AsyncSession, state_id: int, *, now: datetime) -> bool:
    """Mark a state used; False when it was already used (a replayed callback)."""
    result = await session.execute(
        update(OAuthState)
        .where(OAuthState.id == state_id, OAuthState.used_at.is_(None), OAuthState.expires_at > now)
        .values(used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_stale_states(session: AsyncSession, *, now: datetime) -> int:
    """Delete states past their expiry whose pending pick (if any) has expired too."""
    result = await session.execute(
        delete(OAuthState).where(
            OAuthState.expires_at < now,
            or_(OAuthState.pending_expires_at.is_(None), OAuthState.pending_expires_at < now),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def add_data_request(session: AsyncSession, request: MetaDataRequest) -> MetaDataRequest:
    session.add(request)
    await session.flush()
    return request


async def data_request_by_code(session: AsyncSession, code: str) -> MetaDataRequest | None:
    result = await session.execute(select(MetaDataRequest).where(MetaDataRequest.confirmation_code == code))
    return result.scalar_one_or_none()


async def lock_reveals(session: AsyncSession, *, actor_user_id: int) -> None:
    """Hold the person's row until commit, so their reveals count and record one at a time."""
    if session.bind is None or session.bind.dialect.name == "sqlite":
        # SQLite has no row locks: a write takes the database's one writer lock, queued by busy_timeout.
        await session.execute(update(User).where(User.id == actor_user_id).values(id=User.id))
        return
    # NO KEY: audit rows and sessions that reference the person (foreign keys) are not blocked.
    await session.execute(select(User.id).where(User.id == actor_user_id).with_for_update(key_share=True))


async def reveals_since(session: AsyncSession, *, actor_user_id: int, since: datetime) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.actor_user_id == actor_user_id,
            AuditEntry.action == "token_revealed",
            AuditEntry.at >= since,
        )
    )
    return int(result.scalar_one())


async def state_by_id(session: AsyncSession, state_id: int) -> OAuthState | None:
    return await session.get(OAuthState, state_id)


async def get_any(session: AsyncSession, connection_id: int) -> Connection | None:
    """A connection by id across venues: for operator tools and sweeps, never for a venue's request."""
    return await session.get(Connection, connection_id)


async def ids_to_diagnose(session: AsyncSession) -> list[int]:
    result = await session.execute(
        select(Connection.id).where(Connection.status != ConnectionStatus.disconnected).order_by(Connection.id)
    )
    return list(result.scalars().all())


META_PROVIDERS = (Provider.facebook, Provider.instagram)


async def live_sharing_grant(session: AsyncSession, connection: Connection) -> Sequence[Connection]:
    """Other live connections made with the same provider login (revoking would cut them off too)."""
    if not connection.provider_user_id:
        return []
    family = META_PROVIDERS if connection.provider in META_PROVIDERS else (connection.provider,)
    result = await session.execute(
        select(Connection).where(
            Connection.id != connection.id,
            Connection.provider.in_(family),
            Connection.provider_user_id == connection.provider_user_id,
            Connection.status.not_in([ConnectionStatus.disconnected, ConnectionStatus.revoked]),
        )
    )
    return result.scalars().all()
