"""How a person's own alerts reach them: their private chat, e-mail, or both (users.alert_via)."""

from __future__ import annotations

from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.accounts import get_user
from core.access.audit import Actor
from core.clock import Clock
from core.errors import AuthenticationRequired, Invalid

CHAT: Final = "chat"
EMAIL: Final = "email"
BOTH: Final = "both"
ALERT_VIA: Final = (CHAT, EMAIL, BOTH)
BY_EMAIL: Final = frozenset({EMAIL, BOTH})  # who gets e-mails for their alerts
BY_CHAT: Final = frozenset({CHAT, BOTH})  # who keeps the private chat copy (`alerts me`)


async def set_alert_via(session: AsyncSession, clock: Clock, actor: Actor, via: str) -> str:
    """Set how the acting person's own alerts reach them ("chat", "email" or "both"); returns the value stored.

    Refused (Invalid, with a remedy) for any other value, or for e-mail when the person has no e-mail address.
    """
    if actor.user_id is None:
        raise AuthenticationRequired("only a signed-in person has alerts of their own")
    choice = via.strip().lower()
    if choice in ("e-mail", "mail"):
        choice = EMAIL
    if choice not in ALERT_VIA:
        raise Invalid(
            f"alerts can come by chat, email or both, not {via!r}",
            remedy="choose one of: chat, email, both",
            field="alert_via",
        )
    user = await get_user(session, actor.user_id)
    if choice in BY_EMAIL and not user.email:
        raise Invalid(
            "you have no e-mail address on your CheersAI account, so alerts cannot come by e-mail",
            remedy="ask a venue owner or CheersAI support to add your e-mail address, then choose email again",
            field="alert_via",
        )
    before = user.alert_via
    if before != choice:
        user.alert_via = choice
        await session.flush()
        await audit.record(
            session,
            clock,
            actor,
            "alert_via_changed",
            subject_type="user",
            subject_id=user.id,
            before=before,
            after=choice,
        )
    return choice
