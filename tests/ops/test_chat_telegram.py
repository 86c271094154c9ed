# ruff: noqa: F811 - the Telegram twin's fixtures are imported here and named as parameters
"""Ops incidents in Telegram, end to end through the Telegram twin: staff send /alerts ops here in the ops group; an
incident is posted there once (not in the venue's group), edited in place and to "Resolved after …"; Runbook is a
URL key; Run now is refused for the venue's owner and queues the job for staff; /ops status answers staff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.telegram.sender import install_telegram_sender
from core.clock import FrozenClock
from core.ops import alerts
from core.ops.incidents import Finding, reconcile
from core.runtime import Runtime
from storage.enums import Severity
from storage.models import Role
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - a venue (The Red Lion)
from tests.factories import eventually
from tests.telegram.conftest import Chats, Served, TelegramTwin, buttons, chats, served, settings, telegram  # noqa: F401
from tests.weekly.test_chat_approval_telegram import GROUP, _press  # a key pressed, and its toast

OPS_GROUP, VENUE_GROUP = GROUP, -700  # _press presses in GROUP
STAFF, OWNER = 201, 202
Body = dict[str, Any]


@pytest.fixture
async def ops_group(runtime: Runtime, chats: Chats, pub: Pub) -> Chats:
    """Staff and the venue's owner linked; the venue's group taking its alerts; the ops group taking incidents."""
    install_telegram_sender(runtime)
    await chats.link(await factories.person(runtime, staff=True, name="Stella Staff"), STAFF, name="Stella")
    owner = await factories.person(runtime, venue_id=pub.id, role=Role.owner, name="Olly Owner")
    await chats.link(owner, OWNER, name="Olly")
    [venue] = await chats.says("/alerts here", OWNER, group=VENUE_GROUP)
    assert "alerts go to this" in venue["text"], venue
    [here] = await chats.says("/alerts ops here", STAFF, group=OPS_GROUP)
    assert "incidents go to this group" in here["text"], here
    return chats


async def _incident(runtime: Runtime, detail: str = "3 runs in a row failed") -> None:
    finding = Finding(rule="job_failing", key="job_failing:housekeeping", severity=Severity.error,
                      title="Job housekeeping is failing", detail=detail, subject={"job": "housekeeping"},
                      facts={"failures": 3})  # fmt: skip
    async with runtime.uow() as uow:
        await reconcile(uow.session, runtime.clock, [finding], {"job_failing"})
        await uow.commit()


async def _ours(chats: Chats, chat_id: int) -> list[Body]:
    return [m for m in await chats.twin.control.messages(chat_id) if "housekeeping" in m.get("text", "")]


async def _until(runtime: Runtime, chats: Chats, clock: FrozenClock, what: str,
                 check: Callable[[list[Body]], bool]) -> list[Body]:  # fmt: skip
    """Ops passes, the clock past the group's pacing each time, until the ops group shows `what`."""

    async def shown() -> list[Body] | None:
        clock.advance(seconds=3)
        await alerts.run(runtime)
        found = await _ours(chats, OPS_GROUP)
        return found if check(found) else None

    return await eventually(shown, what=what)


async def test_an_incident_is_posted_once_to_the_ops_group_edited_and_resolved(
    runtime: Runtime, ops_group: Chats, clock: FrozenClock
) -> None:
    await _incident(runtime)
    [posted] = await _until(runtime, ops_group, clock, "the incident in the ops group", lambda m: len(m) == 1)
    keys = {b["text"]: b for b in buttons(posted)}
    assert set(keys) == {"Run now", "Silence 1 h", "Runbook"}, keys
    assert keys["Runbook"]["url"].endswith("#incident-job-failing") and "callback_data" not in keys["Runbook"]
    assert keys["Run now"]["callback_data"].startswith("o1:j:"), keys["Run now"]
    assert await _ours(ops_group, VENUE_GROUP) == [], "an ops incident reached the venue's group"

    clock.advance(seconds=60)
    await _incident(runtime, detail="5 runs in a row failed")
    [edited] = await _until(runtime, ops_group, clock, "the incident edited", lambda m: "5 runs" in m[0]["text"])
    assert edited["message_id"] == posted["message_id"]

    clock.advance(minutes=72)
    async with runtime.uow() as uow:
        await reconcile(uow.session, runtime.clock, [], {"job_failing"})
        await uow.commit()
    [resolved] = await _until(runtime, ops_group, clock, "the incident resolved",
                              lambda m: m[0]["text"].startswith("Resolved"))  # fmt: skip
    assert resolved["message_id"] == posted["message_id"] and "Resolved after 1 h 1" in resolved["text"], resolved
    assert buttons(resolved) == [], "a resolved incident offers nothing more"
    assert await _ours(ops_group, VENUE_GROUP) == []


async def test_run_now_is_refused_for_a_venue_owner_and_queues_the_job_for_staff(
    runtime: Runtime, ops_group: Chats, clock: FrozenClock
) -> None:
    await _incident(runtime)
    [posted] = await _until(runtime, ops_group, clock, "the incident in the ops group", lambda m: len(m) == 1)

    refused = await _press(ops_group, posted, "Run now", OWNER)
    assert "staff" in refused.lower() or "can't" in refused.lower(), refused
    assert list(await factories.job_runs(runtime, "housekeeping")) == [], "a refused Run now ran the job"

    said = await _press(ops_group, posted, "Run now", STAFF)
    assert "queued" in said, said

    async def ran() -> list[Any] | None:
        return list(await factories.job_runs(runtime, "housekeeping")) or None

    await eventually(ran, what="the housekeeping run a worker took off the queue")


async def test_ops_status_answers_staff_and_refuses_others(runtime: Runtime, ops_group: Chats) -> None:
    await _incident(runtime)
    # In the private chat: the ops group may get the incident itself meanwhile (the commit woke the ops delivery).
    [status] = await ops_group.says("/ops status", STAFF)
    assert "needs attention" in status["text"] and "Job housekeeping is failing" in status["text"], status
    [refused] = await ops_group.says("/ops status", OWNER)
    assert "staff" in refused["text"], refused
