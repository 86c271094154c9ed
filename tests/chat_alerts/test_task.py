"""The chat-alerts-deliver task: a wake-up arriving while a pass runs in this worker joins it (one pass per process,
however many alerts woke it), and the pass still sends everything."""

from __future__ import annotations

import asyncio

from core.notifications.kinds import NotificationKind
from core.ops.jobs import JOBS
from core.runtime import Runtime
from storage.enums import Severity
from tasks.chat import deliver_passes
from tasks.inprocess import InProcessWorkers
from tests import factories
from tests.chat_alerts.conftest import FakeSender, Venue, destination


async def test_a_wake_up_during_a_pass_joins_it_and_every_alert_goes_once(
    runtime: Runtime, venue: Venue, sender: FakeSender
) -> None:
    for chat in ("C1", "C2", "C3"):
        await destination(runtime, venue.id, chat)
    await factories.record_notification(
        runtime, venue.id, kind=NotificationKind.publish_failed, severity=Severity.error, title="Failed: quiz"
    )
    first, second = await asyncio.gather(deliver_passes(runtime, linger=0), deliver_passes(runtime, linger=0))
    assert second == {"joined": True}
    assert first["posted"] == 3
    assert sorted(s.address.chat_id for s in sender.posts) == ["C1", "C2", "C3"]


async def test_a_failure_committed_reaches_the_chat_through_the_task_woken_after_commit(
    runtime: Runtime, venue: Venue, sender: FakeSender
) -> None:
    await destination(runtime, venue.id, "C1")
    workers = InProcessWorkers(runtime, with_scheduler=False)  # the worker half of `make dev`: no sweep runs
    await workers.start()
    try:
        await factories.record_notification(
            runtime, venue.id, kind=NotificationKind.publish_failed, severity=Severity.error, title="Failed: quiz"
        )
        posted = await factories.eventually(
            lambda: _first_post(sender), what="the alert posted by the woken task", within=30
        )
    finally:
        await workers.stop()
    assert posted == ("C1", "Failed: quiz")


async def _first_post(sender: FakeSender) -> tuple[str, str] | None:
    return (sender.posts[0].address.chat_id, sender.posts[0].message.title) if sender.posts else None


def test_the_sweep_is_a_registered_periodic_job() -> None:
    assert JOBS["chat-alerts"].cron == "* * * * *"
