"""Chat: a one-time code that links the signed-in person's Slack or Telegram account (`link CODE` in chat)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, post
from pydantic import BaseModel, Field

from bot.telegram.application import deep_link
from bot.telegram.webhook import front_of
from core.access.audit import Actor
from core.chat import linking
from core.runtime import Runtime
from storage.uow import UnitOfWork


class LinkCodeOut(BaseModel):
    code: str = Field(description="Type `link CODE` to the bot; case, spaces and dashes don't matter")
    expires_at: datetime = Field(description="10 minutes from now; the code works once")
    telegram_link: str | None = Field(
        default=None,
        description="When Telegram is set up: https://t.me/<bot>?start=CODE, which links by opening it in Telegram",
    )


@post(
    "/api/chat/link-codes",
    tags=["chat"],
    summary="A one-time code to link your chat account (any role; shown once, 10 minutes)",
    status_code=201,
)
async def create_link_code(
    request: Request[Any, Any, Any], actor: Actor, runtime: Runtime, uow: UnitOfWork
) -> LinkCodeOut:
    assert actor.user_id is not None  # provide_actor only answers for a signed-in person
    # Before the first statement: a getMe (when the username isn't configured) holds no transaction open.
    username = await front_of(request.app.state, runtime).username()
    issued = await linking.issue_link_code(uow.session, runtime.clock, actor, actor.user_id)
    return LinkCodeOut(code=issued.code, expires_at=issued.expires_at, telegram_link=deep_link(username, issued.code))


routes = [create_link_code]
