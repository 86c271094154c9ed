"""The unit of work: the boundary commits, and work for the broker is handed over only after commit."""

from __future__ import annotations

from sqlalchemy import func, select

from core.runtime import Runtime
from storage.models import Account


async def _accounts(runtime: Runtime) -> int:
    async with runtime.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Account))).scalar_one())


async def test_after_commit_hooks_run_once_the_data_is_committed(runtime: Runtime) -> None:
    seen: list[int] = []

    async def enqueue() -> None:
        seen.append(await _accounts(runtime))  # what a worker woken now would find

    async with runtime.uow() as uow:
        uow.session.add(Account(name="The Swan", timezone="Europe/London"))
        await uow.session.flush()
        uow.after_commit(enqueue)
        assert seen == [], "a task must not be handed over before commit"
        await uow.commit()
    assert seen == [1], f"the hook should run after commit and see the committed row, saw {seen}"


async def test_after_commit_hooks_never_run_when_the_transaction_rolls_back(runtime: Runtime) -> None:
    ran: list[str] = []

    async def enqueue() -> None:
        ran.append("enqueued")

    try:
        async with runtime.uow() as uow:
            uow.session.add(Account(name="The Swan", timezone="Europe/London"))
            uow.after_commit(enqueue)
            raise RuntimeError("the use-case failed")
    except RuntimeError:
        pass
    assert ran == [], "a rolled-back change must not wake a worker"
    assert await _accounts(runtime) == 0, "nothing should be committed"


async def test_a_failing_hook_does_not_undo_the_commit(runtime: Runtime) -> None:
    async def broker_down() -> None:
        raise ConnectionError("broker unreachable")

    async with runtime.uow() as uow:
        uow.session.add(Account(name="The Swan", timezone="Europe/London"))
        uow.after_commit(broker_down)
        await uow.commit()  # the periodic sweeps rebuild lost wake-ups from the tables
    assert await _accounts(runtime) == 1
