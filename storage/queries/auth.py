"""Queries for API tokens, login links and web sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiToken, LoginLink, User, WebSession


async def add_api_token(session: AsyncSession, *, user_id: int, name: str, token_hash: str, hint: str) -> ApiToken:
    token = ApiToken(user_id=user_id, name=name, token_hash=token_hash, hint=hint)
    session.add(token)
    await session.flush()
    return token


async def user_by_token_hash(session: AsyncSession, token_hash: str) -> tuple[ApiToken, User] | None:
    result = await session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None), User.is_active.is_(True))
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row else None


async def tokens_of_user(session: AsyncSession, user_id: int) -> Sequence[ApiToken]:
    result = await session.execute(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
    return result.scalars().all()


async def revoke_api_token(session: AsyncSession, *, user_id: int, token_id: int, now: datetime) -> bool:
    result = await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def add_login_link(
    session: AsyncSession, *, user_id: int, nonce: str, expires_at: datetime, issued_by: int | None
) -> LoginLink:
    link = LoginLink(user_id=user_id, nonce=nonce, expires_at=expires_at, issued_by_user_id=issued_by)
    session.add(link)
    await session.flush()
    return link


async def get_login_link(session: AsyncSession, nonce: str) -> LoginLink | None:
    result = await session.execute(select(LoginLink).where(LoginLink.nonce == nonce))
    return result.scalar_one_or_none()


async def consume_login_link(session: AsyncSession, *, link_id: int, now: datetime) -> bool:
    """Mark the link used; False when another request got there first (single use under races)."""
    result = await session.execute(
        update(LoginLink)
        .where(LoginLink.id == link_id, LoginLink.used_at.is_(None), LoginLink.expires_at > now)
        .values(used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def add_web_session(session: AsyncSession, *, user_id: int, token_hash: str, expires_at: datetime) -> WebSession:
    web_session = WebSession(user_id=user_id, token_hash=token_hash, expires_at=expires_at)
    session.add(web_session)
    await session.flush()
    return web_session


async def live_session(session: AsyncSession, token_hash: str, now: datetime) -> tuple[WebSession, User] | None:
    result = await session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(
            WebSession.token_hash == token_hash,
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
            User.is_active.is_(True),
        )
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row else None


async def revoke_session_by_hash(session: AsyncSession, token_hash: str, *, now: datetime, reason: str) -> None:
    await session.execute(
        update(WebSession)
        .where(WebSession.token_hash == token_hash, WebSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


async def touch_session(session: AsyncSession, session_id: int, now: datetime) -> None:
    await session.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=now))


async def touch_token(session: AsyncSession, token_id: int, now: datetime) -> None:
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


async def purge_expired_credentials(session: AsyncSession, *, before: datetime) -> int:
    """Delete login links and sessions that ended before `before`; returns rows removed."""
    links = await session.execute(delete(LoginLink).where(LoginLink.expires_at < before))
    sessions = await session.execute(
        delete(WebSession).where(or_(WebSession.expires_at < before, WebSession.revoked_at < before))
    )
    return int(links.rowcount) + int(sessions.rowcount)  # type: ignore[attr-defined]
