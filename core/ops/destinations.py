"""Which chats are told of the service's own incidents: staff subscribe a chat (`alerts ops here`), unsubscribe it
(`alerts ops off`) and list them. Separate from venues' alerts: an ops chat belongs to no venue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.clock import Clock
from core.ops.incidents import require_staff
from storage.enums import ChatPlatform
from storage.models import OpsDestination
from storage.queries import ops_alerts as q

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OpsChat:
    """A chat as the front door knows it (platform, workspace, chat id and its name if it has one)."""

    platform: ChatPlatform
    workspace_id: str
    chat_id: str
    chat_name: str | None = None


@dataclass(frozen=True)
class OpsSubscription:
    """What `alerts ops here|off` changed: whether the chat takes incidents now, and whether that is new."""

    destination_id: int
    active: bool
    changed: bool


async def subscribe(session: AsyncSession, clock: Clock, actor: Actor, chat: OpsChat) -> OpsSubscription:
    """Tell this chat of every incident and digest from now on (staff only, audited; again is a no-op)."""
    require_staff(actor)
    now = clock.now()
    row = await q.find_destination(session, chat.platform, chat.workspace_id, chat.chat_id)
    if row is not None and row.disabled_at is None:
        return OpsSubscription(row.id, active=True, changed=False)
    if row is None:
        row = OpsDestination(
            platform=chat.platform, workspace_id=chat.workspace_id, chat_id=chat.chat_id, chat_name=chat.chat_name,
            created_by_user_id=actor.user_id, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(row)
    else:  # switched off (or stopped when the chat went away) and asked for again
        row.disabled_at, row.disabled_reason, row.updated_at = None, None, now
        row.chat_name = chat.chat_name or row.chat_name
    await session.flush()
    await audit.record(session, clock, actor, "ops_alerts_subscribed", subject_type="ops_destination",
                       subject_id=row.id, platform=chat.platform.value, chat_id=chat.chat_id)  # fmt: skip
    log.info("ops_destination_subscribed", destination_id=row.id, platform=chat.platform.value, user_id=actor.user_id)
    return OpsSubscription(row.id, active=True, changed=True)


async def unsubscribe(session: AsyncSession, clock: Clock, actor: Actor, chat: OpsChat) -> OpsSubscription | None:
    """Stop telling this chat of incidents (staff only, audited); None when it was not an ops chat."""
    require_staff(actor)
    row = await q.find_destination(session, chat.platform, chat.workspace_id, chat.chat_id)
    if row is None:
        return None
    if row.disabled_at is not None:
        return OpsSubscription(row.id, active=False, changed=False)
    now = clock.now()
    row.disabled_at, row.disabled_reason, row.updated_at = now, "switched off with `alerts ops off`", now
    await q.stop_messages_to(session, row.id, reason="ops alerts switched off in this chat", now=now)
    await audit.record(session, clock, actor, "ops_alerts_unsubscribed", subject_type="ops_destination",
                       subject_id=row.id, platform=chat.platform.value, chat_id=chat.chat_id)  # fmt: skip
    await session.flush()
    log.info("ops_destination_unsubscribed", destination_id=row.id, user_id=actor.user_id)
    return OpsSubscription(row.id, active=False, changed=True)


async def list_destinations(session: AsyncSession, actor: Actor) -> Sequence[OpsDestination]:
    """The chats taking incidents now (staff only)."""
    require_staff(actor)
    return await q.active_destinations(session)
