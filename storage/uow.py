"""Unit of work: the boundary opens it and commits; after-commit hooks enqueue tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database

log = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
# Tasks to wake once the session's transaction commits: (name, sorted keyword arguments), each woken once.
WAKE_KEY = "wake_after_commit"
Wake = tuple[str, tuple[tuple[str, int | str], ...]]


class Waker(Protocol):
    """What a unit of work needs of the job queue (core.runtime.JobQueue has it)."""

    async def enqueue(self, task_name: str, **kwargs: object) -> None: ...


def wake_after_commit(session: AsyncSession, task_name: str, **kwargs: int | str) -> None:
    """Ask for `task_name` (with `kwargs`) to be enqueued when this session's transaction commits, once however
    often asked (a unit of work with a queue does it; without one, the task's periodic sweep finds the work)."""
    wake: Wake = (task_name, tuple(sorted(kwargs.items())))
    session.info.setdefault(WAKE_KEY, set()).add(wake)


class UnitOfWork:
    """One transaction. Core code flushes into `session`; only the boundary calls `commit`."""

    def __init__(self, db: Database, queue: Waker | None = None) -> None:
        self._db = db
        self._queue = queue
        self._after_commit: list[AfterCommit] = []
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._db.session()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is not None:
                await self.session.rollback()
        finally:
            await self.session.close()

    def after_commit(self, hook: AfterCommit) -> None:
        """Run `hook` once the transaction has committed (never if it rolls back)."""
        self._after_commit.append(hook)

    async def commit(self) -> None:
        await self.session.commit()
        hooks, self._after_commit = self._after_commit, []
        hooks.extend(self._wakes())
        for hook in hooks:
            try:
                await hook()
            except Exception:
                # The database already holds the truth; a lost wake-up is repaired by the next sweep.
                log.exception("after_commit_hook_failed")

    def _wakes(self) -> list[AfterCommit]:
        wakes: set[Wake] = self.session.info.pop(WAKE_KEY, set())
        queue = self._queue
        if queue is None:
            return []

        def wake(name: str, kwargs: dict[str, int | str]) -> AfterCommit:
            async def hook() -> None:
                await queue.enqueue(name, **kwargs)

            return hook

        return [wake(name, dict(kwargs)) for name, kwargs in sorted(wakes)]

    async def rollback(self) -> None:
        self._after_commit.clear()
        self.session.info.pop(WAKE_KEY, None)
        await self.session.rollback()


@asynccontextmanager
async def transaction(db: Database, queue: Waker | None = None) -> AsyncIterator[UnitOfWork]:
    """A front door's unit of work: committed when the block ends, rolled back (hooks dropped) when it raises.

    The one commit of a request, a CLI command or a chat turn (docs/architecture.md, "Transactions").
    """
    async with UnitOfWork(db, queue) as uow:
        try:
            yield uow
        except Exception:
            await uow.rollback()
            raise
        await uow.commit()
