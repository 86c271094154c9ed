"""The update being handled: who and where (the chat turn), its open unit of work, and what it sends back.

The webhook (bot/telegram/webhook.py) opens one unit of work per update, claims the update_id in it, puts an
`Inbound` in `CURRENT` and runs python-telegram-bot's `process_update`; the handlers read `current()`, write through
`uow`, add replies, and ask for slow work with `later` (enqueued after the commit). Nothing here outlives the update.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from bot.dispatch import TurnUnit
from bot.telegram.replies import Replies
from core.chat.people import ChatTurn
from core.runtime import Runtime


@dataclass(frozen=True)
class LaterWork:
    """A taskiq task to enqueue once the update's transaction has committed."""

    task_name: str
    kwargs: dict[str, Any]


@dataclass
class Inbound:
    """One update in progress (see the module docstring)."""

    runtime: Runtime
    uow: TurnUnit
    turn: ChatTurn
    replies: Replies = field(default_factory=Replies)
    later: list[LaterWork] = field(default_factory=list)

    def enqueue_after_commit(self, task_name: str, **kwargs: Any) -> None:
        self.later.append(LaterWork(task_name, kwargs))


CURRENT: ContextVar[Inbound | None] = ContextVar("telegram_inbound", default=None)


def current() -> Inbound:
    """The update being handled; a handler called outside the webhook's processing is a bug."""
    inbound = CURRENT.get()
    if inbound is None:
        raise RuntimeError("no Telegram update is being handled")
    return inbound
