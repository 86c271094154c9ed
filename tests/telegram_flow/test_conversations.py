"""The guided flow's state in the database (core.chat.conversations): one per chat and person, versioned steps,
expiry by the injected clock, and a second process racing refused. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.chat import conversations
from core.chat.people import ChatTurn
from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from core.vocabulary import ChatPlatform

TTL = timedelta(minutes=30)


def turn(user: str = "501", chat: str | None = None) -> ChatTurn:
    return ChatTurn(ChatPlatform.telegram, "7000000001", user, "Sam", chat or user, chat is None)


async def _start(runtime: Runtime, chat_turn: ChatTurn, **data: object) -> conversations.Conversation:
    async with runtime.uow() as uow:
        started = await conversations.start(
            uow.session,
            runtime.clock,
            chat_turn,
            kind="schedule",
            step="connections",
            data=dict(data),
            account_id=None,
            user_id=None,
            ttl=TTL,
        )
        await uow.commit()
    return started


async def _current(runtime: Runtime, chat_turn: ChatTurn) -> conversations.Conversation | None:
    async with runtime.uow() as uow:
        return await conversations.current(uow.session, runtime.clock, chat_turn)


async def _advance(
    runtime: Runtime, read: conversations.Conversation, step: str, **data: object
) -> conversations.Conversation | None:
    async with runtime.uow() as uow:
        moved = await conversations.advance(uow.session, runtime.clock, read, step=step, data=dict(data), ttl=TTL)
        await uow.commit()
    return moved


async def test_a_flow_is_kept_and_read_back_with_its_data(runtime: Runtime) -> None:
    started = await _start(runtime, turn(), connection_ids=[3, 4])
    found = await _current(runtime, turn())
    assert found is not None
    assert (found.id, found.step, found.version, found.data) == (
        started.id,
        "connections",
        1,
        {"connection_ids": [3, 4]},
    )
    assert await _current(runtime, turn(user="502")) is None  # another person in another chat has none
    assert await _current(runtime, turn(chat="-100")) is None  # the same person in a group has none


async def test_a_step_moves_the_version_on_and_the_old_version_is_refused(runtime: Runtime) -> None:
    started = await _start(runtime, turn())
    moved = await _advance(runtime, started, "text", connection_ids=[3])
    assert moved is not None and moved.version == 2 and moved.step == "text"
    assert await _advance(runtime, started, "photo", text="stale") is None  # the same button again
    found = await _current(runtime, turn())
    assert found is not None and (found.step, found.version, found.data) == ("text", 2, {"connection_ids": [3]})
    async with runtime.uow() as uow:
        assert await conversations.at_version(uow.session, runtime.clock, turn(), started.id, 1) is None
        assert await conversations.at_version(uow.session, runtime.clock, turn(), started.id, 2) is not None
        assert await conversations.at_version(uow.session, runtime.clock, turn(), started.id + 99, 2) is None


async def test_starting_again_replaces_the_old_flow_and_stales_its_buttons(runtime: Runtime) -> None:
    first = await _start(runtime, turn(), text="old")
    second = await _start(runtime, turn(), text="new")
    assert second.version > first.version  # same row, later version: the first flow's buttons are out of date
    assert await _advance(runtime, first, "text") is None
    found = await _current(runtime, turn())
    assert found is not None and found.data == {"text": "new"}


async def test_a_flow_expires_after_its_lifetime_by_the_injected_clock(runtime: Runtime, clock: FrozenClock) -> None:
    started = await _start(runtime, turn())
    clock.advance(seconds=TTL.total_seconds() - 1)
    moved = await _advance(runtime, started, "text")  # a step starts the lifetime again
    assert moved is not None
    clock.advance(seconds=TTL.total_seconds() - 1)
    assert await _current(runtime, turn()) is not None
    clock.advance(seconds=2)
    assert await _current(runtime, turn()) is None
    assert await _advance(runtime, moved, "photo") is None  # an expired flow takes no step
    async with runtime.uow() as uow:
        assert not await conversations.finish(uow.session, runtime.clock, moved)
        assert not await conversations.cancel(uow.session, runtime.clock, turn())  # nothing was going
        await uow.commit()


async def test_finish_and_cancel_end_it_once(runtime: Runtime) -> None:
    started = await _start(runtime, turn())
    async with runtime.uow() as uow:
        assert await conversations.finish(uow.session, runtime.clock, started)
        assert not await conversations.finish(uow.session, runtime.clock, started)
        await uow.commit()
    assert await _current(runtime, turn()) is None
    await _start(runtime, turn())
    async with runtime.uow() as uow:
        assert await conversations.cancel(uow.session, runtime.clock, turn())
        assert not await conversations.cancel(uow.session, runtime.clock, turn())
        await uow.commit()
    assert await _current(runtime, turn()) is None


async def test_finish_refuses_a_flow_that_moved_on(runtime: Runtime) -> None:
    started = await _start(runtime, turn())
    await _advance(runtime, started, "text")
    async with runtime.uow() as uow:
        assert not await conversations.finish(uow.session, runtime.clock, started)
    assert await _current(runtime, turn()) is not None


async def test_two_processes_taking_the_same_step_apply_it_once(runtime: Runtime, clock: FrozenClock) -> None:
    """Two runtimes (two web processes) read the same version and race: exactly one step lands."""
    started = await _start(runtime, turn())
    other = build_runtime(runtime.settings, clock=clock)
    try:
        results = await asyncio.gather(
            _advance(runtime, started, "text", by="first"), _advance(other, started, "text", by="second")
        )
    finally:
        await other.close()
    assert sorted(r is not None for r in results) == [False, True]
    found = await _current(runtime, turn())
    assert found is not None and found.version == 2
