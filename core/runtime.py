"""The process's dependencies in one place, built by a factory and injected everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from core.clock import Clock, SystemClock
from core.settings import Settings
from storage.crypto import TokenCipher
from storage.db import Database
from storage.uow import UnitOfWork


class JobQueue(Protocol):
    """Hands a task to the broker by name; implemented by `tasks.queue`."""

    async def enqueue(self, task_name: str, **kwargs: object) -> None: ...

    async def depth(self) -> int | None: ...

    async def ping(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    queue: JobQueue | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db)

    def cipher(self) -> TokenCipher:
        return TokenCipher(self.settings.token_keys)


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    """Create the runtime (engine objects only; nothing connects until first use)."""
    return Runtime(
        settings=settings,
        db=Database(settings.database, pool_size=settings.db_pool_size),
        clock=clock or SystemClock(),
    )
