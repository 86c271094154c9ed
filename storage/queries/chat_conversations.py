"""SQL for guided chat flows (chat_conversations): one row per chat and person, changed only at the version read.

Every change is a conditional statement, so two processes handling two clicks of one button (or a click and a
typed /cancel) never both apply: the second finds the version moved on and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatConversation, ChatPlatform
from storage.queries.deliveries import is_postgres

KEY = ("platform", "workspace_id", "chat_id", "chat_user_id")


async def get(
    session: AsyncSession, platform: ChatPlatform, workspace_id: str, chat_id: str, chat_user_id: str
) -> ChatConversation | None:
    """The chat person's flow row, expired or not (the caller decides what an expired one means)."""
    query = (
        select(ChatConversation)
        .where(
            ChatConversation.platform == platform,
            ChatConversation.workspace_id == workspace_id,
            ChatConversation.chat_id == chat_id,
            ChatConversation.chat_user_id == chat_user_id,
        )
        .execution_options(populate_existing=True)  # always the stored row, never a stale copy in the session
    )
    return (await session.execute(query)).scalar_one_or_none()


async def put(
    session: AsyncSession,
    *,
    platform: ChatPlatform,
    workspace_id: str,
    chat_id: str,
    chat_user_id: str,
    kind: str,
    step: str,
    data: dict[str, Any],
    account_id: int | None,
    user_id: int | None,
    expires_at: datetime,
    now: datetime,
) -> ChatConversation:
    """Start a flow for the chat person, replacing theirs if any; the version moves past the old one's, so the
    old flow's buttons (same row id) are stale, and two starts racing both land without a duplicate-key error."""
    values: dict[str, Any] = dict(
        platform=platform,
        workspace_id=workspace_id,
        chat_id=chat_id,
        chat_user_id=chat_user_id,
        kind=kind,
        step=step,
        data=data,
        version=1,
        account_id=account_id,
        user_id=user_id,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    dialect_insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = dialect_insert(ChatConversation).values(**values)
    replaced = {k: v for k, v in values.items() if k not in (*KEY, "version")}
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY), set_={**replaced, "version": ChatConversation.version + 1}
    )
    await session.execute(statement)
    row = await get(session, platform, workspace_id, chat_id, chat_user_id)
    assert row is not None, "the row was just written in this transaction"
    return row


async def advance(
    session: AsyncSession,
    conversation_id: int,
    version: int,
    *,
    step: str,
    data: dict[str, Any],
    expires_at: datetime,
    now: datetime,
) -> bool:
    """Move the flow to `step` with `data` if it is still at `version` and not expired; False otherwise."""
    result = await session.execute(
        update(ChatConversation)
        .where(
            ChatConversation.id == conversation_id,
            ChatConversation.version == version,
            ChatConversation.expires_at > now,
        )
        .values(step=step, data=data, version=version + 1, expires_at=expires_at, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove(session: AsyncSession, conversation_id: int, version: int | None = None) -> bool:
    """Delete the flow (only at `version` when given); False when it was gone or had moved on."""
    statement = delete(ChatConversation).where(ChatConversation.id == conversation_id)
    if version is not None:
        statement = statement.where(ChatConversation.version == version)
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]
