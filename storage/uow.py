"""Unit of work: the boundary opens it and commits; after-commit hooks enqueue tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database

log = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    """One transaction. Core code flushes into `session`; only the boundary calls `commit`."""

    def __init__(self, db: Database) -> None:
        self._db = db
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
        for hook in hooks:
            try:
                await hook()
            except Exception:
                # The database already holds the truth; a lost wake-up is repaired by the next sweep.
                log.exception("after_commit_hook_failed")

    async def rollback(self) -> None:
        self._after_commit.clear()
        await self.session.rollback()


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[UnitOfWork]:
    """A front door's unit of work: committed when the block ends, rolled back (hooks dropped) when it raises.

    The one commit of a request, a CLI command or a chat turn (docs/architecture.md, "Transactions").
    """
    async with UnitOfWork(db) as uow:
        try:
            yield uow
        except Exception:
            await uow.rollback()
            raise
        await uow.commit()
