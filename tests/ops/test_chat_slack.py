# ruff: noqa: F811 - the Slack twin's fixtures are imported here and named as parameters
"""Ops incidents in Slack, end to end through the Slack twin: staff type `/cheers alerts ops here` in #alerts; an
incident is posted there once (never in the venue's #general), edited in place as it changes and to "Resolved
after …" when it clears; a silenced incident sends nothing new; Run now queues the job for a staff clicker and is
refused for the venue's owner; Runbook is a link button; a Slack outage is retried without a second message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.slack.sender import SlackSender as AlertSender
from core.clock import FrozenClock
from core.ops import alerts, incidents
from core.ops.incidents import Finding, reconcile
from core.runtime import Runtime
from sandbox.slack.model import Message
from sandbox.slack.sender import SlackRequest, SlackSender
from storage.enums import ChatMessageStatus, ChatPlatform, Severity
from storage.models import OpsMessage, Role
from tests import factories
from tests.bot.support import code_for
from tests.chat_alerts.conftest import destination
from tests.factories import eventually
from tests.sandbox_slack.conftest import SlackTwin, slack, web  # noqa: F401 - the twin's fixtures
from tests.slack.conftest import EVENTS, TEAM, app, install_through_oauth, sender, settings  # noqa: F401

OPS, VENUE = "C0ALERTS01", "C0GENERAL1"
STAFF, OWNER = "U0MANAGER1", "U0OWNER001"  # the twin's people


class Recorded:
    """The runtime's queue, noting each task name it is handed (what Run now queued) and passing it on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.names: list[str] = []

    async def enqueue(self, task_name: str, **kwargs: object) -> None:
        self.names.append(task_name)
        await self.inner.enqueue(task_name, **kwargs)

    async def depth(self) -> int | None:
        return int(await self.inner.depth())

    async def ping(self) -> None:
        await self.inner.ping()


async def _send(app: httpx.AsyncClient, sender: SlackSender, request: SlackRequest) -> httpx.Response:
    return await sender.send(request, f"{app.base_url}{EVENTS}", app)


async def _link(app: httpx.AsyncClient, runtime: Runtime, sender: SlackSender, person: factories.Person,
                user: str) -> None:  # fmt: skip
    said = await _send(app, sender, await sender.slash_command(f"link {await code_for(runtime, person)}",
                                                               user_id=user))  # fmt: skip
    assert "Linked" in said.text, said.text


@pytest.fixture
async def ops_channel(app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin,
                      sender: SlackSender) -> int:  # fmt: skip
    """The app installed, the venue's #general taking its alerts, staff linked, #alerts the ops channel."""
    installed = await install_through_oauth(app, web, runtime, slack)
    runtime.chat_senders[ChatPlatform.slack] = AlertSender(runtime.settings.slack_api_base)
    await destination(runtime, installed.venue_id, VENUE, workspace_id=TEAM)
    await _link(app, runtime, sender, await factories.person(runtime, staff=True, name="Stella Staff"), STAFF)
    owner = await factories.person(runtime, venue_id=installed.venue_id, role=Role.owner, name="Olly Owner")
    await _link(app, runtime, sender, owner, OWNER)
    here = await _send(app, sender, await sender.slash_command("alerts ops here", user_id=STAFF, channel_id=OPS))
    assert "incidents go to this channel" in here.text, here.text
    return installed.venue_id


async def _incident(runtime: Runtime, detail: str = "3 runs in a row failed") -> list[int]:
    finding = Finding(rule="job_failing", key="job_failing:housekeeping", severity=Severity.error,
                      title="Job housekeeping is failing", detail=detail, subject={"job": "housekeeping"},
                      facts={"failures": 3})  # fmt: skip
    async with runtime.uow() as uow:
        changes = await reconcile(uow.session, runtime.clock, [finding], {"job_failing"})
        await uow.commit()
    return changes.opened


async def _cleared(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        await reconcile(uow.session, runtime.clock, [], {"job_failing"})
        await uow.commit()


async def _tell(runtime: Runtime, clock: FrozenClock) -> dict[str, int]:
    """One ops pass, the clock past the channel's one-second pacing first."""
    clock.advance(seconds=2)
    return await alerts.run(runtime)


async def _until(runtime: Runtime, clock: FrozenClock, slack: SlackTwin, what: str,
                 check: Callable[[list[Message]], bool]) -> list[Message]:  # fmt: skip
    """Ops passes (a commit also wakes the ops-alerts-deliver task in the app's broker) until #alerts shows `what`."""

    async def shown() -> list[Message] | None:
        await _tell(runtime, clock)
        found = _ours(slack, OPS)
        return found if check(found) else None

    return await eventually(shown, what=what)


async def _posted(runtime: Runtime, clock: FrozenClock, slack: SlackTwin) -> Message:
    """An incident opened and its one message in #alerts."""
    await _incident(runtime)
    [posted] = await _until(runtime, clock, slack, "the incident in #alerts", lambda found: len(found) == 1)
    return posted


def _ours(slack: SlackTwin, channel: str) -> list[Message]:
    return [m for m in slack.state.channel_messages(channel) if m.via == "api" and m.thread_ts is None]


def _buttons(message: Message) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]}


async def _click(app: httpx.AsyncClient, slack: SlackTwin, sender: SlackSender, action_id: str, ts: str,
                 user: str) -> str:  # fmt: skip
    click = await sender.block_action(action_id, channel_id=OPS, message_ts=ts, user_id=user)
    acked = await _send(app, sender, click)
    assert acked.status_code == 200, acked.text

    async def answered() -> list[dict[str, Any]] | None:
        return await slack.control.answers(click.response_url_id or "") or None

    return str((await eventually(answered, what="the click's answer at its response_url"))[0]["body"])


@pytest.mark.usefixtures("ops_channel")
async def test_an_incident_is_posted_once_to_the_ops_channel_edited_in_place_and_resolved(
    runtime: Runtime, slack: SlackTwin, clock: FrozenClock
) -> None:
    posted = await _posted(runtime, clock, slack)
    assert "Job housekeeping is failing" in posted.text and "3 runs in a row failed" in str(posted.blocks)
    buttons = _buttons(posted)
    assert set(buttons) == {"ops_run_job:m", "ops_silence:m", "ops_runbook:m"}, buttons
    assert buttons["ops_runbook:m"]["url"].endswith("/ops/runbook#incident-job-failing"), buttons["ops_runbook:m"]
    assert "value" not in buttons["ops_runbook:m"], "a link button carries nothing back"
    assert _ours(slack, VENUE) == [], "an ops incident reached a venue's channel"

    clock.advance(seconds=60)
    await _incident(runtime, detail="5 runs in a row failed")
    [edited] = await _until(runtime, clock, slack, "the incident edited",
                            lambda found: "5 runs" in str([m.blocks for m in found]))  # fmt: skip
    assert edited.ts == posted.ts and "5 runs in a row failed" in str(edited.blocks), edited.blocks

    clock.advance(minutes=72)
    await _cleared(runtime)
    [resolved] = await _until(runtime, clock, slack, "the incident resolved",
                              lambda found: all(m.text.startswith("Resolved") for m in found))  # fmt: skip
    assert resolved.ts == posted.ts and resolved.text.startswith("Resolved: Job housekeeping is failing"), resolved
    assert "Resolved after 1 h 1" in str(resolved.blocks), resolved.blocks
    assert _buttons(resolved) == {}, "a resolved incident offers nothing more"
    assert _ours(slack, VENUE) == []


@pytest.mark.usefixtures("ops_channel")
async def test_a_silenced_incident_sends_nothing_new_until_the_silence_ends(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender, clock: FrozenClock
) -> None:
    posted = await _posted(runtime, clock, slack)

    said = await _click(app, slack, sender, "ops_silence:m", posted.ts, STAFF)
    assert "silenced until" in said, said
    [silenced] = await _until(runtime, clock, slack, "the message saying it is silenced",
                              lambda found: "Silenced until" in str(found[0].blocks))  # fmt: skip
    assert set(_buttons(silenced)) >= {"ops_run_job:m", "ops_runbook:m"}

    # While silenced, an incident not told yet stays untold (no new message, no e-mail) until the silence ends.
    async with runtime.uow() as uow:
        [incident] = await incidents.list_incidents(uow.session)
        incident.told_version = 0  # as if it had never been told (a fan-out that lagged behind the silence)
        await uow.commit()
    await _tell(runtime, clock)
    async with runtime.db.session() as session:
        again = await incidents.get_incident(session, incident.id)
        assert again.told_version == 0, "a silenced incident was told as new"
    clock.advance(minutes=61)
    await _until(runtime, clock, slack, "the incident told again once the silence ended",
                 lambda found: len(found) == 1 and "Silenced until" not in str(found[0].blocks))  # fmt: skip
    assert len(_ours(slack, OPS)) == 1, "its one message was edited, not posted again"


@pytest.mark.usefixtures("ops_channel")
async def test_run_now_queues_the_job_for_staff_and_is_refused_for_a_venue_owner(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender, clock: FrozenClock
) -> None:
    posted = await _posted(runtime, clock, slack)
    assert runtime.queue is not None
    queue = Recorded(runtime.queue)
    runtime.queue = queue

    refused = await _click(app, slack, sender, "ops_run_job:m", posted.ts, OWNER)
    assert "staff" in refused, refused
    assert "job:housekeeping" not in queue.names

    said = await _click(app, slack, sender, "ops_run_job:m", posted.ts, STAFF)
    assert "housekeeping is queued" in said, said

    async def ran() -> list[Any] | None:
        return list(await factories.job_runs(runtime, "housekeeping")) or None

    await eventually(ran, what="the housekeeping run a worker took off the queue")
    assert queue.names.count("job:housekeeping") == 1, queue.names


@pytest.mark.usefixtures("ops_channel")
async def test_a_slack_outage_is_retried_and_the_incident_is_posted_once(
    runtime: Runtime, slack: SlackTwin, clock: FrozenClock
) -> None:
    await slack.control.server_error(count=1, method="chat.postMessage", status=503)
    await slack.control.rate_limit(count=1, method="chat.postMessage", retry_after=30)
    await _incident(runtime)

    await _until(runtime, clock, slack, "the incident posted after the outage", lambda found: len(found) == 1)
    for _ in range(3):
        clock.advance(minutes=1)
        await _tell(runtime, clock)
    assert len(_ours(slack, OPS)) == 1, "the incident was posted twice"
    async with runtime.db.session() as session:
        [row] = (await session.execute(select(OpsMessage))).scalars().all()
    assert row.status is ChatMessageStatus.sent and row.ref == _ours(slack, OPS)[0].ts, row
    # The 503 may have followed a post that landed, so it counted as a lost answer: posted again once at most.
    assert row.posts_started <= 2, f"{row.posts_started} posts started for one message"
