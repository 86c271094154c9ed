"""Chat: a one-time code that links the signed-in person's Slack or Telegram account (`link CODE` in chat)."""

from __future__ import annotations

from datetime import datetime

from litestar import post
from pydantic import BaseModel, Field

from core.access.audit import Actor
from core.chat import linking
from core.runtime import Runtime
from storage.uow import UnitOfWork


class LinkCodeOut(BaseModel):
    code: str = Field(description="Type `link CODE` to the bot; case, spaces and dashes don't matter")
    expires_at: datetime = Field(description="10 minutes from now; the code works once")


@post(
    "/api/chat/link-codes",
    tags=["chat"],
    summary="A one-time code to link your chat account (any role; shown once, 10 minutes)",
    status_code=201,
)
async def create_link_code(actor: Actor, runtime: Runtime, uow: UnitOfWork) -> LinkCodeOut:
    assert actor.user_id is not None  # provide_actor only answers for a signed-in person
    issued = await linking.issue_link_code(uow.session, runtime.clock, actor, actor.user_id)
    return LinkCodeOut(code=issued.code, expires_at=issued.expires_at)


routes = [create_link_code]
