"""SQL for chat installs (one bot per workspace, token encrypted) and inbound events handled once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatInboundEvent, ChatInstall, ChatPlatform
from storage.queries.deliveries import is_postgres


async def install_for(session: AsyncSession, platform: ChatPlatform, workspace_id: str) -> ChatInstall | None:
    """The workspace's install row (revoked or not), if the bot was ever installed there."""
    query = select(ChatInstall).where(ChatInstall.platform == platform, ChatInstall.workspace_id == workspace_id)
    return (await session.execute(query)).scalar_one_or_none()


async def add_install(session: AsyncSession, install: ChatInstall) -> ChatInstall:
    session.add(install)
    await session.flush()
    return install


async def erase_token(session: AsyncSession, platform: ChatPlatform, workspace_id: str, *, now: datetime) -> bool:
    """Forget the workspace's bot token and mark the install revoked; False when there was no token to erase."""
    result = await session.execute(
        update(ChatInstall)
        .where(
            ChatInstall.platform == platform,
            ChatInstall.workspace_id == workspace_id,
            ChatInstall.bot_token_ciphertext.is_not(None),
        )
        .values(bot_token_ciphertext=None, bot_token_hint=None, revoked_at=now, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def claim_inbound_event(session: AsyncSession, platform: ChatPlatform, event_id: str, *, now: datetime) -> bool:
    """Insert the event's row in the caller's transaction; False when a committed (or concurrent) one has it.

    The row commits with the work the event causes, so an attempt that died before its commit leaves no row and
    the platform's retry is handled; on PostgreSQL a retry racing the first attempt waits for its outcome.
    """
    dialect_insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = (
        dialect_insert(ChatInboundEvent)
        .values(platform=platform, event_id=event_id, received_at=now)
        .on_conflict_do_nothing(index_elements=["platform", "event_id"])
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]
