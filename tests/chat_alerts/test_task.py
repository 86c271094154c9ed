"""The chat-alerts-deliver task: a wake-up arriving while a pass runs in this worker joins it (one pass per process,
however many alerts woke it), and the pass still sends everything."""

from __future__ import annotations

import asyncio

from core.notifications.kinds import NotificationKind
from core.ops.jobs import JOBS
from core.runtime import Runtime
from storage.enums import Severity
from tasks.chat import deliver_passes
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


def test_the_sweep_is_a_registered_periodic_job() -> None:
    assert JOBS["chat-alerts"].cron == "* * * * *"
