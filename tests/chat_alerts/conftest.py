"""A venue with chats subscribed to its alerts, and an in-memory chat sender that records what it was asked to send."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from core.chat import delivery
from core.chat.sending import AlertMessage, AnswerLost, ChatAddress
from core.runtime import Runtime
from storage.enums import ChatPlatform, Role
from storage.models import ChatAlertDelivery, ChatAlertMessage, ChatDestination, Notification
from tests import factories


@dataclass
class Sent:
    address: ChatAddress
    message: AlertMessage
    ref: str


@dataclass
class FakeSender:
    """Posts land in `posts` (with the time they were made), edits in `updates`; `failures` are raised in order.

    AnswerLost is raised after the post landed, as a lost answer does in real life; so is CancelledError (the worker
    stopped while waiting for the answer).
    """

    clock: Any
    posts: list[Sent] = field(default_factory=list)
    updates: list[tuple[str, AlertMessage]] = field(default_factory=list)
    post_times: list[datetime] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    # Failures for one chat only (a pass sends to several chats side by side, in no set order).
    failures_by_chat: dict[str, list[BaseException]] = field(default_factory=dict)

    def _next_failure(self, chat_id: str) -> BaseException | None:
        own = self.failures_by_chat.get(chat_id)
        if own:
            return own.pop(0)
        return self.failures.pop(0) if self.failures else None

    async def post(self, address: ChatAddress, message: AlertMessage) -> str:
        failure = self._next_failure(address.chat_id)
        if failure is not None and not isinstance(failure, AnswerLost | asyncio.CancelledError):
            raise failure
        ref = f"ts-{len(self.posts) + 1}"
        self.posts.append(Sent(address, message, ref))
        self.post_times.append(self.clock.now())
        if failure is not None:
            raise failure
        return ref

    async def update(self, address: ChatAddress, ref: str, message: AlertMessage) -> None:
        failure = self._next_failure(address.chat_id)
        if failure is not None:
            raise failure
        self.updates.append((ref, message))

    async def close(self) -> None:
        return None


@dataclass
class Venue:
    id: int
    admin: factories.Person
    editor: factories.Person


@pytest.fixture
def sender(clock: Any) -> FakeSender:
    return FakeSender(clock)


@pytest.fixture
async def venue(runtime: Runtime, sender: FakeSender) -> Venue:
    runtime.chat_senders[ChatPlatform.slack] = sender
    venue_id = await factories.venue(runtime, name="The Anchor")
    admin = await factories.person(runtime, venue_id=venue_id, role=Role.admin, name="Ada Admin")
    editor = await factories.person(runtime, venue_id=venue_id, role=Role.editor, name="Ed Editor")
    return Venue(venue_id, admin, editor)


async def destination(
    runtime: Runtime,
    venue_id: int,
    chat_id: str,
    *,
    user_id: int | None = None,
    kinds: Sequence[str] | None = None,
    muted: dict[str, Any] | None = None,
    quiet: tuple[str, str] | None = None,
    workspace_id: str = "T1",
) -> int:
    """A chat subscribed to the venue's alerts now (as `alerts here` / `alerts me` leave it)."""
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        row = ChatDestination(
            platform=ChatPlatform.slack, workspace_id=workspace_id, chat_id=chat_id, chat_name=f"#{chat_id.lower()}",
            account_id=venue_id, user_id=user_id, alerts=True, kinds=list(kinds) if kinds else None,
            muted=muted or {}, quiet_start=quiet[0] if quiet else None, quiet_end=quiet[1] if quiet else None,
            created_at=now, updated_at=now,
        )  # fmt: skip
        uow.session.add(row)
        await uow.session.flush()
        await uow.commit()
        return row.id


async def deliver(runtime: Runtime) -> dict[str, Any]:
    """One pass of the task (fan out, resolve, send what is due)."""
    return await delivery.run(runtime)


async def messages(runtime: Runtime) -> Sequence[ChatAlertMessage]:
    async with runtime.db.session() as session:
        return (await session.execute(select(ChatAlertMessage).order_by(ChatAlertMessage.id))).scalars().all()


async def delivered_to(runtime: Runtime, destination_id: int) -> list[int]:
    """Notification ids with a delivery row for this chat."""
    async with runtime.db.session() as session:
        rows = await session.execute(
            select(ChatAlertDelivery.notification_id)
            .where(ChatAlertDelivery.destination_id == destination_id)
            .order_by(ChatAlertDelivery.notification_id)
        )
        return list(rows.scalars().all())


async def get_destination(runtime: Runtime, destination_id: int) -> ChatDestination:
    async with runtime.db.session() as session:
        row = await session.get(ChatDestination, destination_id)
        assert row is not None
        return row


async def feed(runtime: Runtime, venue_id: int) -> Sequence[Notification]:
    async with runtime.db.session() as session:
        rows = await session.execute(
            select(Notification).where(Notification.account_id == venue_id).order_by(Notification.id)
        )
        return rows.scalars().all()


class RecordingQueue:
    """A job queue that only records the names of the tasks it was asked to run."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def enqueue(self, task_name: str, **kwargs: object) -> None:
        self.sent.append(task_name)

    async def depth(self) -> int | None:
        return len(self.sent)

    async def ping(self) -> None:
        return None
