"""A backlog of alerts in several chats drains in one pass at the pace Slack allows, not one a chat per sweep."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from core.chat import delivery
from core.notifications.kinds import NotificationKind
from core.runtime import build_runtime
from core.settings import Settings
from storage.enums import ChatPlatform, Severity
from tests import factories
from tests.chat_alerts.conftest import FakeSender, Venue, destination


class RunningClock:
    """Real time elapsing from the test's frozen instant: a pass's wait for a paced chat must really pass."""

    def __init__(self, start: datetime) -> None:
        self._start, self._t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


async def test_four_alerts_in_each_of_three_chats_go_out_in_one_pass(
    runtime: Any, settings: Settings, venue: Venue, sender: FakeSender, clock: Any
) -> None:
    chats = ("C1", "C2", "C3")
    for chat in chats:
        await destination(runtime, venue.id, chat)
    for i in range(4):  # four problems on four connections: four messages a chat, one a second at most
        await factories.record_notification(
            runtime, venue.id, kind=NotificationKind.connection_needs_reconnect, severity=Severity.error,
            title=f"Page {i} needs reconnecting", subject={"connection_id": 3000 + i},
        )  # fmt: skip
    worker = build_runtime(settings, clock=RunningClock(clock.now()))
    worker.chat_senders[ChatPlatform.slack] = sender
    try:
        await delivery.run(worker)
    finally:
        await worker.close()

    posted = sorted((s.address.chat_id, s.message.title) for s in sender.posts)
    assert posted == sorted((c, f"Page {i} needs reconnecting") for c in chats for i in range(4)), (
        "one pass should send every paced message of the backlog, not one a chat"
    )
