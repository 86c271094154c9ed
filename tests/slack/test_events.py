"""POST /slack/events with Slack's signed requests (sandbox.slack.sender) through the real app: forged and stale
requests refused before anything happens, url_verification, events handled once per event_id, the install erased
when Slack says the app was removed, and /cheers answered inside its own request (slow work from a worker)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from core.chat import installs
from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from sandbox.slack.sender import SlackSender
from sandbox.slack.twin import DEV_BOT_TOKEN
from storage.enums import ChatPlatform
from storage.models import ChatInboundEvent, Role
from tests import factories
from tests.bot.support import code_for
from tests.factories import eventually
from tests.sandbox_slack.conftest import SlackTwin
from tests.slack.conftest import EVENTS, TEAM, install_row, install_through_oauth


async def test_a_forged_or_stale_uninstall_is_refused_and_changes_nothing(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    installed = await install_through_oauth(app, web, runtime, slack)
    uninstall = await sender.app_uninstalled()

    forged = await sender.send(sender.forged(uninstall), f"{app.base_url}{EVENTS}", app)
    stale = await sender.send(sender.stale(uninstall), f"{app.base_url}{EVENTS}", app)

    assert forged.status_code == 401 and stale.status_code == 401
    row = await install_row(runtime)
    assert row is not None and row.revoked_at is None
    assert runtime.cipher().decrypt(row.bot_token_ciphertext or "") == installed.token
    assert await _events_seen(runtime) == 0


async def test_url_verification_echoes_the_challenge(app: httpx.AsyncClient, sender: SlackSender) -> None:
    handshake = sender.url_verification("the-challenge-42")

    answer = await sender.send(handshake, f"{app.base_url}{EVENTS}", app)

    assert answer.status_code == 200 and answer.json() == {"challenge": "the-challenge-42"}


async def test_app_uninstalled_erases_the_token_and_commands_are_told_to_reinstall(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    await install_through_oauth(app, web, runtime, slack)

    answer = await sender.send(await sender.app_uninstalled(), f"{app.base_url}{EVENTS}", app)

    assert answer.status_code == 200
    row = await install_row(runtime)
    assert row is not None and row.bot_token_ciphertext is None and row.bot_token_hint is None
    assert row.revoked_at is not None
    command = await sender.slash_command("week")
    week = await sender.send(command, f"{app.base_url}{EVENTS}", app)
    assert week.status_code == 200
    told = await slack.control.answers(command.response_url_id or "")  # bolt answers at the response_url
    assert "isn't installed" in str(told)


async def test_tokens_revoked_erases_the_token(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    await install_through_oauth(app, web, runtime, slack)

    answer = await sender.send(await sender.tokens_revoked(), f"{app.base_url}{EVENTS}", app)

    row = await install_row(runtime)
    assert answer.status_code == 200 and row is not None and row.bot_token_ciphertext is None


async def test_a_retried_event_is_handled_once_even_after_a_reinstall(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    await install_through_oauth(app, web, runtime, slack)
    uninstall = await sender.app_uninstalled()
    first = await sender.send(uninstall, f"{app.base_url}{EVENTS}", app)
    # The admin adds the app again; then Slack's retry of the old uninstall arrives (same event_id).
    await _reinstall(app, web, runtime, slack)

    retry = await sender.send(sender.retried(uninstall), f"{app.base_url}{EVENTS}", app)

    assert first.status_code == 200 and retry.status_code == 200
    row = await install_row(runtime)
    assert row is not None and row.bot_token_ciphertext is not None and row.revoked_at is None
    assert await _events_seen(runtime) == 1


async def test_an_event_whose_first_attempt_rolled_back_is_handled_on_retry(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        assert await installs.first_time(uow.session, runtime.clock, ChatPlatform.slack, "EvDIED")
        await uow.rollback()  # the first attempt died before its commit: its mark went with it
    async with runtime.uow() as uow:
        again = await installs.first_time(uow.session, runtime.clock, ChatPlatform.slack, "EvDIED")
        await uow.commit()
    async with runtime.uow() as uow:
        third = await installs.first_time(uow.session, runtime.clock, ChatPlatform.slack, "EvDIED")

    assert again is True and third is False


async def test_a_slash_command_is_answered_inside_its_request_with_nothing_left_running(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    await install_through_oauth(app, web, runtime, slack)
    command = await sender.slash_command("help")
    before = asyncio.all_tasks()

    answer = await sender.send(command, f"{app.base_url}{EVENTS}", app)

    assert answer.status_code == 200
    body = answer.json()
    assert body["response_type"] == "ephemeral" and body["blocks"] and body["text"] == "What I can do"
    left = [t for t in asyncio.all_tasks() - before if not t.done() and _ours(t)]
    assert not left, f"listener tasks left running after the ack: {left}"
    assert await slack.control.answers(command.response_url_id or "") == []  # nothing more was sent later


async def test_slow_work_is_acked_at_once_and_answered_at_the_response_url_as_the_person(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    installed = await install_through_oauth(app, web, runtime, slack)
    viewer = await factories.person(runtime, venue_id=installed.venue_id, role=Role.viewer, name="Vic Viewer")
    linked = await sender.send(
        await sender.slash_command(f"link {await code_for(runtime, viewer)}"), f"{app.base_url}{EVENTS}", app
    )
    assert "Linked" in linked.text, linked.text
    retry = await sender.slash_command("retry 424242")

    acked = await sender.send(retry, f"{app.base_url}{EVENTS}", app)

    assert acked.status_code == 200 and "Working on it" in acked.text
    answers = await eventually(
        lambda: _answers(slack, retry.response_url_id), what="the retry's answer at the response_url"
    )
    body = answers[0]["body"]
    assert isinstance(body, dict) and body["response_type"] == "ephemeral" and "not found" in str(body).lower()


async def test_a_button_is_performed_as_the_person_who_clicked_it(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    installed = await install_through_oauth(app, web, runtime, slack)
    posted = await slack.client(installed.token).chat_postMessage(
        channel="C0GENERAL1",
        text="Post failed",
        blocks=[
            {
                "type": "actions",
                "block_id": "m",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "retry:m",
                        "text": {"type": "plain_text", "text": "Retry"},
                        "value": "retry t=424242",
                    }
                ],
            }
        ],
    )
    # Nobody linked this Slack user: whoever the alert was for, the clicker is asked to link first.
    click = await sender.block_action("retry:m", channel_id="C0GENERAL1", message_ts=str(posted["ts"]))

    acked = await sender.send(click, f"{app.base_url}{EVENTS}", app)

    assert acked.status_code == 200
    answers = await eventually(lambda: _answers(slack, click.response_url_id), what="the click's answer")
    body = answers[0]["body"]
    assert isinstance(body, dict) and body["response_type"] == "ephemeral" and "link" in str(body).lower()


def _ours(task: asyncio.Task[object]) -> bool:
    """A task running bolt's or the bot's code (bolt's default would leave the listener running like this)."""
    code = getattr(task.get_coro(), "cr_code", None)
    filename = code.co_filename if code is not None else ""
    return "slack_bolt" in filename or "/bot/" in filename


async def _answers(slack: SlackTwin, response_url_id: str | None) -> list[dict[str, object]] | None:
    found = await slack.control.answers(response_url_id or "")
    return found or None


async def _events_seen(runtime: Runtime) -> int:
    async with runtime.uow() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(ChatInboundEvent))).scalar_one())


async def _reinstall(app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin) -> None:
    """A second venue's admin adds the app to the same workspace (the install row is reused)."""
    again = await install_through_oauth(app, web, runtime, slack)
    row = await install_row(runtime, TEAM)
    assert row is not None and row.account_id == again.venue_id


async def test_single_workspace_mode_answers_with_the_configured_token_and_no_install(
    settings: Settings, clock: FrozenClock, sender: SlackSender
) -> None:
    own_app = settings.model_copy(update={"cheers_slack_bot_token": DEV_BOT_TOKEN})
    runtime = build_runtime(own_app, clock=clock)
    try:
        async with factories.app_client(runtime) as app:
            answer = await sender.send(await sender.slash_command("help"), f"{app.base_url}{EVENTS}", app)
    finally:
        await runtime.close()

    assert answer.status_code == 200 and answer.json()["text"] == "What I can do"
    assert await install_row(runtime) is None


async def test_the_home_tab_is_published_before_the_event_is_acknowledged(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin, sender: SlackSender
) -> None:
    await install_through_oauth(app, web, runtime, slack)
    opened = await sender.app_home_opened("U0VIEWER01")
    before = asyncio.all_tasks()

    answer = await sender.send(opened, f"{app.base_url}{EVENTS}", app)
    again = await sender.send(sender.retried(opened), f"{app.base_url}{EVENTS}", app)

    assert answer.status_code == 200 and again.status_code == 200
    # Done within the request (process_before_response): nothing of the listener runs on after the answer.
    assert not [t for t in asyncio.all_tasks() - before if not t.done() and _ours(t)]
    [home] = await slack.control.views(user="U0VIEWER01", type="home")
    assert "What I can do" in str(home)
    assert await _events_seen(runtime) == 1
