# ruff: noqa: F811 - the Slack twin's fixtures are imported here and named as parameters
"""The week approved from chat, end to end through the Slack twin: slots → materialise-weekly → the week's message
in #general (each post with Approve / Edit / Skip, Approve all under it) → Approve all clicked → the posts go out
at the (fake) publisher at their times, exactly one per slot and date; Reject asks why in a modal; a viewer's click
is refused; two approvers at once decide once (the second told who decided); Edit answers privately."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.slack.sender import SlackSender as AlertSender
from core.chat import delivery
from core.clock import FrozenClock
from core.posts.times import zone
from core.runtime import Runtime
from core.weekly import materialise as mat
from sandbox.slack.model import Message
from sandbox.slack.sender import SlackRequest, SlackSender
from storage.enums import ChatPlatform
from storage.models import Account, DeliveryStatus, Post, PostTarget, Role, WeeklyPost
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - a venue whose Facebook publisher is scripted
from tests.bot.support import code_for
from tests.chat_alerts.conftest import destination
from tests.factories import eventually
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.sandbox_slack.conftest import SlackTwin, slack, web  # noqa: F401 - the twin's fixtures
from tests.slack.conftest import EVENTS, TEAM, app, install_through_oauth, sender, settings  # noqa: F401 - the app at the twin

CHANNEL = "C0GENERAL1"
OWNER, ADMIN, VIEWER = "U0OWNER001", "U0MANAGER1", "U0VIEWER01"  # the twin's people, all in #general


@pytest.fixture
async def week_in_slack(
    app: httpx.AsyncClient,
    web: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    pub: Pub,
) -> None:
    """The app installed in the twin, #general taking The Red Lion's week messages, the Slack sender on, and the
    venue asking for the weekly plan's posts to be approved."""
    await install_through_oauth(app, web, runtime, slack)
    runtime.chat_senders[ChatPlatform.slack] = AlertSender(runtime.settings.slack_api_base)
    await destination(runtime, pub.id, CHANNEL, workspace_id=TEAM, kinds=["weekly_materialised"])
    async with runtime.uow() as uow:
        account = await uow.session.get(Account, pub.id)
        assert account is not None
        account.approve_weekly_posts = True
        await uow.commit()


async def _plan_two_slots(runtime: Runtime, pub: Pub) -> list[int]:
    """Two slots on the next two days (whatever today is), 20:00 venue time; their ids."""
    async with runtime.db.session() as session:
        account = await session.get(Account, pub.id)
        assert account is not None
        today = runtime.clock.now().astimezone(zone(account.timezone)).date()
    days = [today + timedelta(days=1), today + timedelta(days=2)]
    return [
        await factories.weekly_slot(
            runtime, pub.id, [pub.connection_id], name=name, weekday=day.weekday(), text_template=text
        )
        for name, day, text in (
            ("Quiz night", days[0], "Quiz night tonight, {date:%A}, from 8pm"),
            ("Live music", days[1], "Live music tonight, {date:%A %d %B}"),
        )
    ]


async def _week_message(runtime: Runtime, slack: SlackTwin) -> Message:
    await mat.materialise(runtime)
    await delivery.run(runtime)

    async def posted() -> Message | None:
        return next((m for m in slack.state.channel_messages(CHANNEL) if m.thread_ts is None and m.blocks), None)

    return await eventually(posted, what="the week's message in #general")


async def _link(app: httpx.AsyncClient, runtime: Runtime, sender: SlackSender, venue_id: int, role: Role, user: str,
                name: str) -> None:  # fmt: skip
    person = await factories.person(runtime, venue_id=venue_id, role=role, name=name)
    linked = await _send(
        app, sender, await sender.slash_command(f"link {await code_for(runtime, person)}", user_id=user)
    )
    assert "Linked" in linked.text, linked.text


async def _send(app: httpx.AsyncClient, sender: SlackSender, request: SlackRequest) -> httpx.Response:
    return await sender.send(request, f"{app.base_url}{EVENTS}", app)


async def _click(
    app: httpx.AsyncClient, slack: SlackTwin, sender: SlackSender, action_id: str, ts: str, user: str
) -> str:
    """Click a button of the week's message; what the clicker was told privately (at the click's response_url)."""
    click = await sender.block_action(action_id, channel_id=CHANNEL, message_ts=ts, user_id=user)
    acked = await _send(app, sender, click)
    assert acked.status_code == 200 and acked.text == "", acked.text

    async def answered() -> list[dict[str, Any]] | None:
        return await slack.control.answers(click.response_url_id or "") or None

    answers = await eventually(answered, what="the click's answer at its response_url")
    return str(answers[0]["body"])


async def _posts(runtime: Runtime, venue_id: int) -> list[Post]:
    async with runtime.db.session() as session:
        found = await session.execute(select(Post).where(Post.account_id == venue_id).order_by(Post.scheduled_at))
        return list(found.scalars().all())


async def _statuses(runtime: Runtime, post_id: int) -> list[DeliveryStatus]:
    async with runtime.db.session() as session:
        found = await session.execute(select(PostTarget.status).where(PostTarget.post_id == post_id))
        return list(found.scalars().all())


def _buttons(message: Message) -> list[str]:
    return [e["action_id"] for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.usefixtures("week_in_slack")
async def test_approve_all_in_slack_publishes_one_post_per_slot_and_date(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,
    drain: Drain,
    clock: FrozenClock,
) -> None:
    slots = await _plan_two_slots(runtime, pub)
    week = await _week_message(runtime, slack)
    assert "Quiz night" in str(week.blocks) and "waiting for approval" in str(week.blocks), week.blocks
    buttons = _buttons(week)
    assert "approve_all:m" in buttons and {"approve:i0", "edit:i0", "skip:i0", "approve:i1"} <= set(buttons), buttons
    made = await _posts(runtime, pub.id)
    assert [p.approval for p in made] == ["pending", "pending"]
    await _link(app, runtime, sender, pub.id, Role.admin, ADMIN, "Mo Manager")

    said = await _click(app, slack, sender, "approve_all:m", week.ts, ADMIN)

    assert "Approved 2 of 2 posts" in said, said
    assert [p.approval for p in await _posts(runtime, pub.id)] == ["approved", "approved"]
    assert (await mat.materialise(runtime)).entries == []  # a rerun makes nothing more
    for post in made:  # each goes out at its own time
        clock.advance(seconds=(post.scheduled_at - clock.now()).total_seconds() + 30)
        await drain()
        assert await _statuses(runtime, post.id) == [DeliveryStatus.published]
    assert sorted(r.text for r, _ in pub.publisher.calls) == sorted(p.text for p in made)
    async with runtime.db.session() as session:
        rows = (await session.execute(select(WeeklyPost).where(WeeklyPost.account_id == pub.id))).scalars().all()
        assert sorted((r.slot_id, r.outcome) for r in rows) == sorted((s, "made") for s in slots)
        per_slot_date = select(func.count()).select_from(WeeklyPost).group_by(WeeklyPost.slot_id, WeeklyPost.local_date)
        assert set((await session.execute(per_slot_date)).scalars().all()) == {1}
    assert len(await _posts(runtime, pub.id)) == 2


@pytest.mark.usefixtures("week_in_slack")
async def test_a_viewers_click_is_refused_and_changes_nothing(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,
) -> None:
    await _plan_two_slots(runtime, pub)
    week = await _week_message(runtime, slack)
    await _link(app, runtime, sender, pub.id, Role.viewer, VIEWER, "Vic Viewer")

    said = await _click(app, slack, sender, "approve_all:m", week.ts, VIEWER)
    assert "can't" in said.lower() and "admin" in said, said
    said = await _click(app, slack, sender, "skip:i0", week.ts, VIEWER)
    assert "can't" in said.lower(), said
    assert [p.approval for p in await _posts(runtime, pub.id)] == ["pending", "pending"]
    assert await slack.control.views(user=VIEWER, type="modal") == []


@pytest.mark.usefixtures("week_in_slack")
async def test_edit_answers_privately_with_the_commands_and_edit_changes_the_post(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,
) -> None:
    await _plan_two_slots(runtime, pub)
    week = await _week_message(runtime, slack)
    await _link(app, runtime, sender, pub.id, Role.editor, ADMIN, "Mo Manager")
    first = (await _posts(runtime, pub.id))[0]

    said = await _click(app, slack, sender, "edit:i0", week.ts, ADMIN)

    assert f"Edit post {first.id}" in said and first.text in said, said
    assert f"edit {first.id} text" in said and f"edit {first.id} when fri 8pm" in said, said
    typed = await _send(
        app, sender, await sender.slash_command(f'edit {first.id} text "Quiz night, new host!"', user_id=ADMIN)
    )
    assert f"Post {first.id} changed" in typed.text, typed.text
    assert (await _posts(runtime, pub.id))[0].text == "Quiz night, new host!"


@pytest.mark.usefixtures("week_in_slack")
async def test_reject_asks_why_in_a_modal_and_cancels_the_post(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,
    clock: FrozenClock,
) -> None:
    await destination(runtime, pub.id, "C0ALERTS01", workspace_id=TEAM, kinds=["approval_requested"])
    await _plan_two_slots(runtime, pub)
    await _week_message(runtime, slack)
    first = (await _posts(runtime, pub.id))[0]

    async def asked() -> Message | None:
        return next(
            (m for m in slack.state.channel_messages("C0ALERTS01") if m.blocks and first.text in str(m.blocks)), None
        )

    request = await eventually(asked, what="the approval request for the first post in #alerts")
    assert {"approve:m", "reject:m", "edit:m"} <= set(_buttons(request)), request.blocks
    await _link(app, runtime, sender, pub.id, Role.admin, ADMIN, "Mo Manager")

    click = await sender.block_action("reject:m", channel_id="C0ALERTS01", message_ts=request.ts, user_id=ADMIN)
    assert (await _send(app, sender, click)).status_code == 200
    [opened] = await slack.control.views(user=ADMIN, type="modal")
    empty = await _send(app, sender, await sender.view_submission(opened["id"], {"reason": {"reject_reason": " "}}))
    assert empty.json()["response_action"] == "errors", empty.text
    done = await _send(
        app, sender, await sender.view_submission(opened["id"], {"reason": {"reject_reason": "Quiz is off this week"}})
    )
    assert done.status_code == 200 and done.text == "", done.text

    post = (await _posts(runtime, pub.id))[0]
    assert post.approval == "rejected" and post.approval_note == "Quiz is off this week"
    assert await _statuses(runtime, post.id) == [DeliveryStatus.cancelled]
    [told] = slack.state.ephemerals(ADMIN, "C0ALERTS01")
    assert "Rejected by Mo Manager: Quiz is off this week" in str(told.blocks), told.blocks

    async def resolved() -> Message | None:
        clock.advance(seconds=2)  # past the channel's pacing, on the frozen clock
        await delivery.run(runtime)
        now = next(m for m in slack.state.channel_messages("C0ALERTS01") if m.ts == request.ts)
        return now if now.text.startswith("Resolved") else None

    edited = await eventually(resolved, what="the approval request edited to resolved, its buttons gone")
    assert "Resolved by Mo Manager" in str(edited.blocks) and not _buttons(edited), edited.blocks


@pytest.mark.usefixtures("week_in_slack")
async def test_two_approvers_at_once_decide_once_and_the_second_is_told_who(
    app: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    sender: SlackSender,
    pub: Pub,
) -> None:
    await _plan_two_slots(runtime, pub)
    week = await _week_message(runtime, slack)
    await _link(app, runtime, sender, pub.id, Role.admin, ADMIN, "Mo Manager")
    await _link(app, runtime, sender, pub.id, Role.owner, OWNER, "Sam Owner")

    said = await asyncio.gather(
        _click(app, slack, sender, "approve:i0", week.ts, ADMIN),
        _click(app, slack, sender, "approve:i0", week.ts, OWNER),
    )

    approved = [s for s in said if "Approved by" in s and "already" not in s]
    told = [s for s in said if "already approved by" in s.lower()]
    assert len(approved) == 1 and len(told) == 1, said
    decider = "Mo Manager" if "Mo Manager" in approved[0] else "Sam Owner"
    assert decider in told[0], said
    first = (await _posts(runtime, pub.id))[0]
    assert first.approval == "approved"
