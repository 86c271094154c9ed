"""Telegram chats subscribed to a venue's alerts (as `/alerts here` and `/alerts me` leave them)."""

from __future__ import annotations

from typing import Any

import pytest

from core.runtime import Runtime
from storage.enums import ChatPlatform, Role
from storage.models import ChatDestination
from tests import factories
from tests.chat_alerts.conftest import FakeSender, Venue

BOT_ID = "7000000001"  # the sandbox bot's id (the part of its token before the colon)


@pytest.fixture
def sender(clock: Any) -> FakeSender:
    return FakeSender(clock)


@pytest.fixture
async def venue(runtime: Runtime, sender: FakeSender) -> Venue:
    """The Anchor, with its admin and editor; Telegram alerts go to the in-memory sender."""
    runtime.chat_senders[ChatPlatform.telegram] = sender
    venue_id = await factories.venue(runtime, name="The Anchor")
    admin = await factories.person(runtime, venue_id=venue_id, role=Role.admin, name="Ada Admin")
    editor = await factories.person(runtime, venue_id=venue_id, role=Role.editor, name="Ed Editor")
    return Venue(venue_id, admin, editor)


async def telegram_chat(
    runtime: Runtime, venue_id: int, chat_id: str, *, name: str | None = None, user_id: int | None = None
) -> int:
    """A Telegram chat taking the venue's alerts: a group (negative id) or a person's private chat."""
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        row = ChatDestination(
            platform=ChatPlatform.telegram, workspace_id=BOT_ID, chat_id=chat_id, chat_name=name,
            account_id=venue_id, user_id=user_id, alerts=True, kinds=None, muted={},
            created_at=now, updated_at=now,
        )  # fmt: skip
        uow.session.add(row)
        await uow.session.flush()
        await uow.commit()
        return row.id
