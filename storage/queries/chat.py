"""SQL for the chat core: chat identities, one-time link codes, the chats bound to venues, and which venue an
object (a delivery, a post, a connection) belongs to, for authorising a chat action against that venue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatDestination, ChatIdentity, ChatLinkCode, ChatPlatform, Connection, Post, PostTarget
from storage.queries.deliveries import is_postgres


async def get_identity(
    session: AsyncSession, platform: ChatPlatform, workspace_id: str, chat_user_id: str, *, lock: bool = False
) -> ChatIdentity | None:
    query = select(ChatIdentity).where(
        ChatIdentity.platform == platform,
        ChatIdentity.workspace_id == workspace_id,
        ChatIdentity.chat_user_id == chat_user_id,
    )
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def add_identity(session: AsyncSession, identity: ChatIdentity) -> ChatIdentity:
    session.add(identity)
    await session.flush()
    return identity


async def add_link_code(session: AsyncSession, code: ChatLinkCode) -> ChatLinkCode:
    session.add(code)
    await session.flush()
    return code


async def link_code_by_hash(session: AsyncSession, code_hash: str) -> ChatLinkCode | None:
    return (await session.execute(select(ChatLinkCode).where(ChatLinkCode.code_hash == code_hash))).scalar_one_or_none()


async def use_link_code(session: AsyncSession, code_id: int, *, identity_id: int, now: datetime) -> bool:
    """Mark a code used by `identity_id` unless it already was: True for the one caller that wins a race."""
    result = await session.execute(
        update(ChatLinkCode)
        .where(ChatLinkCode.id == code_id, ChatLinkCode.used_at.is_(None), ChatLinkCode.expires_at > now)
        .values(used_at=now, used_by_identity_id=identity_id)
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def destinations_of_chat(
    session: AsyncSession, platform: ChatPlatform, workspace_id: str, chat_id: str
) -> Sequence[ChatDestination]:
    """The venues a chat acts for (usually one), oldest binding first; disabled ones left out."""
    query = (
        select(ChatDestination)
        .where(
            ChatDestination.platform == platform,
            ChatDestination.workspace_id == workspace_id,
            ChatDestination.chat_id == chat_id,
            ChatDestination.disabled_at.is_(None),
        )
        .order_by(ChatDestination.id)
    )
    return (await session.execute(query)).scalars().all()


async def get_destination(
    session: AsyncSession, platform: ChatPlatform, workspace_id: str, chat_id: str, account_id: int
) -> ChatDestination | None:
    query = select(ChatDestination).where(
        ChatDestination.platform == platform,
        ChatDestination.workspace_id == workspace_id,
        ChatDestination.chat_id == chat_id,
        ChatDestination.account_id == account_id,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def destinations_of_account(session: AsyncSession, account_id: int) -> Sequence[ChatDestination]:
    """Every chat bound to a venue (channels and people's own), oldest first; disabled ones included."""
    query = select(ChatDestination).where(ChatDestination.account_id == account_id).order_by(ChatDestination.id)
    return (await session.execute(query)).scalars().all()


async def identities_of_user(session: AsyncSession, user_id: int) -> Sequence[ChatIdentity]:
    """The chat accounts linked to a person, oldest link first."""
    query = (
        select(ChatIdentity).where(ChatIdentity.user_id == user_id).order_by(ChatIdentity.linked_at, ChatIdentity.id)
    )
    return (await session.execute(query)).scalars().all()


async def get_destination_by_id(session: AsyncSession, destination_id: int) -> ChatDestination | None:
    return await session.get(ChatDestination, destination_id)


async def add_destination(session: AsyncSession, destination: ChatDestination) -> ChatDestination:
    session.add(destination)
    await session.flush()
    return destination


async def account_of_target(session: AsyncSession, target_id: int) -> int | None:
    """The venue a delivery belongs to (None: no such delivery), to authorise against that venue."""
    return (await session.execute(select(PostTarget.account_id).where(PostTarget.id == target_id))).scalar()


async def account_of_post(session: AsyncSession, post_id: int) -> int | None:
    return (await session.execute(select(Post.account_id).where(Post.id == post_id))).scalar()


async def account_of_connection(session: AsyncSession, connection_id: int) -> int | None:
    return (await session.execute(select(Connection.account_id).where(Connection.id == connection_id))).scalar()


async def purge_link_codes(session: AsyncSession, *, before: datetime) -> int:
    """Delete link codes that stopped working before `before` (used or not); returns rows removed."""
    result = await session.execute(delete(ChatLinkCode).where(ChatLinkCode.expires_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
