"""The wake-up a new or renewed connection sends materialise-weekly, so the venue's week is made within seconds.

Light on purpose (storage only): core.connections imports it without pulling in the posts engine.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.uow import wake_after_commit

TASK_NAME = "weekly-materialise-venue"


def after_connecting(session: AsyncSession, account_id: int) -> None:
    """Wake materialise-weekly for the venue once this transaction commits (without a queue, the daily run does)."""
    wake_after_commit(session, TASK_NAME, account_id=account_id)


__all__ = ["TASK_NAME", "after_connecting"]
