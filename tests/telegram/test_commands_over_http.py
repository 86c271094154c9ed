"""Every Telegram command as Telegram sends it: the twin POSTs real updates to the app's webhook (served on a real
port, with the secret), the app answers through the twin's Bot API. Linking by deep link and by command, the one-line
schedule, slow work answered by the telegram-turn task, group versus private answers, the bot added to a group."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.runtime import Runtime
from providers.errors import Permanent
from storage.enums import ChatPlatform
from storage.models import ChatDestination, ChatIdentity, DeliveryStatus, Role
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - The Red Lion, its Facebook publisher scripted
from tests.bot.support import code_for
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.publishing.support import deliveries, delivery
from tests.telegram.conftest import DEV_BOT_USERNAME, Chats, Served, buttons

ADMIN, EDITOR, VIEWER = 701, 702, 703  # Telegram user ids
GROUP = -1001  # the venue's staff group
WORKING = "Working on it"


async def _identities(runtime: Runtime) -> list[ChatIdentity]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(ChatIdentity).order_by(ChatIdentity.id))).scalars())


async def _destinations(runtime: Runtime) -> list[ChatDestination]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(ChatDestination).order_by(ChatDestination.id))).scalars())


async def member(chats: Chats, runtime: Runtime, venue: Pub, role: Role, user: int, name: str) -> factories.Person:
    person = await factories.person(runtime, venue_id=venue.id, role=role, name=name)
    await chats.link(person, user, name=name.split()[0])
    return person


def _post_id(message: dict[str, Any]) -> int:
    title = message["text"].split("\n", 1)[0]
    assert title.startswith("Post "), message
    return int(title.split()[1].rstrip(":"))


async def failed_delivery(chats: Chats, runtime: Runtime, venue: Pub, drain: Drain) -> int:  # noqa: F811
    """Mo, an editor, posts now in one line and Facebook refuses it for good: the failed delivery's id."""
    await member(chats, runtime, venue, Role.editor, EDITOR, "Mo Editor")
    venue.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
    [said] = await chats.says('/schedule now "Quiz night" to fb', EDITOR)
    await drain()
    [target] = await deliveries(runtime, _post_id(said))
    assert target.status is DeliveryStatus.failed
    return target.id


async def test_link_by_deep_link_from_the_api(chats: Chats, served: Served, runtime: Runtime, pub: Pub) -> None:  # noqa: F811
    vic = await factories.person(runtime, venue_id=pub.id, role=Role.viewer, name="Vic Viewer")
    browser = await factories.login(served.client, runtime, vic)
    issued = await served.client.post("/api/chat/link-codes", headers=browser.headers)
    assert issued.status_code == 201, issued.text
    code, deep_link = issued.json()["code"], issued.json()["telegram_link"]
    assert deep_link == f"https://t.me/{DEV_BOT_USERNAME}?start={code}"  # the username came from getMe

    # Opening the link in Telegram and pressing Start sends "/start CODE".
    [said] = await chats.says(f"/start {deep_link.split('start=')[1]}", VIEWER, name="Vic")
    assert said["text"].startswith("Linked: here you are Vic Viewer"), said
    [identity] = await _identities(runtime)
    assert (identity.platform, identity.workspace_id, identity.chat_user_id) == (
        ChatPlatform.telegram,
        "7000000001",
        str(VIEWER),
    )
    assert identity.user_id == vic.user_id


async def test_link_by_command_and_before_it_how_to_link(chats: Chats, runtime: Runtime, pub: Pub) -> None:  # noqa: F811
    [unlinked] = await chats.says("/week", VIEWER)
    assert unlinked["text"].startswith("Link your chat account to CheersAI first"), unlinked
    assert "Then type /link CODE here." in unlinked["text"], unlinked
    [hello] = await chats.says("/start", VIEWER)
    assert hello["text"].startswith("What I can do"), hello
    vic = await factories.person(runtime, venue_id=pub.id, role=Role.viewer, name="Vic Viewer")
    [wrong] = await chats.says("/link ZZZZ-ZZZZ", VIEWER)
    assert wrong["text"].startswith("Not linked"), wrong
    [linked] = await chats.says(f"/link@{DEV_BOT_USERNAME} {await code_for(runtime, vic)}", VIEWER)
    assert linked["text"].startswith("Linked"), linked
    assert "Type /help to see what you can ask." in linked["text"], linked
    assert "<code>/help</code>" in linked["html"], linked
    [week] = await chats.says("/week", VIEWER)
    assert "The Red Lion" in week["text"], week


async def test_every_command_in_a_private_chat(chats: Chats, runtime: Runtime, pub: Pub) -> None:  # noqa: F811
    await member(chats, runtime, pub, Role.admin, ADMIN, "Alex Admin")
    shown = {}
    for command in ("/help", "/help week", "/week", "/week next", "/status", "/venue The Red Lion", "/alerts me"):
        [said] = await chats.says(command, ADMIN)
        shown[command] = said["text"]
    assert shown["/help"].startswith("What I can do"), shown
    assert '/schedule WHEN "TEXT"' in shown["/help"] and "/link CODE" in shown["/help"], shown  # Telegram's commands
    assert "opens a form" not in shown["/help"] and "a bare /schedule asks you step by step" in shown["/help"], shown
    assert shown["/help week"].startswith("/week: "), shown
    assert "`" not in "".join(shown.values()), "code spans are <code>, never literal backticks"
    assert "This week at The Red Lion" in shown["/week"] or "nothing scheduled" in shown["/week"], shown
    assert "The Red Lion: 0 problems this week" in shown["/status"], shown
    assert "The Red Lion" in shown["/venue The Red Lion"], shown
    assert "The Red Lion's alerts go to your private chat with the bot" in shown["/alerts me"], shown

    [reconnect] = await chats.says("/reconnect facebook", ADMIN)
    assert "Reconnect Facebook Page" in reconnect["text"], reconnect
    assert any("/oauth/facebook/start?state=" in (b.get("url") or "") for b in buttons(reconnect)), reconnect

    working, diagnosed = await chats.says("/diagnose", ADMIN, answers=2)  # slow: answered by a worker
    assert working["text"].startswith(WORKING), working
    assert ": healthy" in diagnosed["text"], diagnosed
    assert pub.publisher.diagnosed == 1

    [nothing] = await chats.says("/cancel", ADMIN)
    assert nothing["text"].startswith("Nothing to cancel") or "cancel" in nothing["text"].lower(), nothing
    [unknown] = await chats.says("/wek", ADMIN)
    assert "Did you mean /week?" in unknown["text"], unknown
    [plain] = await chats.says("week", ADMIN)  # in a private chat the slash is optional
    assert "The Red Lion" in plain["text"], plain


async def test_one_line_schedule_retry_and_package(
    chats: Chats,
    runtime: Runtime,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    [said] = await chats.says('/schedule fri 6pm "Quiz night!" to fb', ADMIN)
    assert said["text"].startswith("Link your chat account"), said  # not linked yet: nothing scheduled
    await member(chats, runtime, pub, Role.editor, ADMIN, "Alex Editor")
    [said] = await chats.says('/schedule fri 6pm "Quiz <night> & fun!" to fb', ADMIN)
    assert "Scheduled for Fri 27 Nov 18:00 GMT" in said["text"], said
    [target] = await deliveries(runtime, _post_id(said))
    [status] = await chats.says(f"/status {_post_id(said)}", ADMIN)
    assert "Quiz <night> & fun!" in status["text"] and "&lt;night&gt; &amp;" in status["html"], status  # escaped
    assert target.status is DeliveryStatus.scheduled

    target_id = await failed_delivery(chats, runtime, pub, drain)
    working, retried = await chats.says(f"/retry {target_id}", EDITOR, answers=2)
    assert working["text"].startswith(WORKING) and "Sending to Facebook Page" in retried["text"], retried
    assert (await delivery(runtime, target_id)).status is DeliveryStatus.scheduled

    working, package = await chats.says(f"/package {target_id}", EDITOR, answers=2)
    assert "Manual package for delivery" in package["text"], package
    assert any("/packages/" in (b.get("url") or "") for b in buttons(package)), package


async def test_group_and_private_answers(chats: Chats, runtime: Runtime, pub: Pub) -> None:  # noqa: F811
    added = await chats.twin.control.bot_added(GROUP, title="Red Lion staff", by_user_id=ADMIN)
    assert added["status"] == 200, added
    [greeting] = await chats.texts(GROUP)
    assert "/alerts here" in greeting and "/link CODE" in greeting, greeting
    await chats.twin.control.bot_added(GROUP, title="Red Lion staff", by_user_id=ADMIN)  # removed and added again
    assert len(await chats.texts(GROUP)) == 1  # said once

    await member(chats, runtime, pub, Role.admin, ADMIN, "Alex Admin")
    [here] = await chats.says("/alerts here", ADMIN, group=GROUP)
    assert "The Red Lion's alerts go to this chat" in here["text"], here
    [row] = await _destinations(runtime)
    assert (row.platform, row.chat_id, row.user_id) == (ChatPlatform.telegram, str(GROUP), None)

    # A private answer asked for in the group goes to the person's private chat; the group hears only that.
    before = len(await chats.texts(ADMIN))
    [note] = await chats.says(f"/reconnect@{DEV_BOT_USERNAME} facebook", ADMIN, group=GROUP)
    assert note["text"].startswith("I've sent you a private message"), note
    assert note["reply_to_message_id"] is not None
    assert f"Open https://t.me/{DEV_BOT_USERNAME} and press Start, then ask again." in note["text"], note
    [consent] = await chats.new_messages(ADMIN, before, 1)
    assert "Reconnect Facebook Page" in consent["text"], consent
    assert "oauth" not in str(note), note

    [guided] = await chats.says("/schedule", ADMIN, group=GROUP)
    assert guided["text"].startswith("Let's do this in a private chat"), guided
    assert f"https://t.me/{DEV_BOT_USERNAME}" in guided["text"], guided

    # A command for another bot in the group is not ours.
    await chats.twin.control.user_says("/week@OtherBot", user_id=ADMIN, chat_id=GROUP, chat_type="group")
    assert len(await chats.texts(GROUP)) == 4


@pytest.mark.parametrize("clicker", ["editor", "viewer"])
async def test_alert_buttons_as_the_person_who_clicks(
    chats: Chats,
    runtime: Runtime,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
    clicker: str,
) -> None:
    from bot.telegram.sender import install_telegram_sender
    from core.chat import delivery as chat_delivery

    await member(chats, runtime, pub, Role.admin, ADMIN, "Alex Admin")
    await chats.says("/alerts here", ADMIN, group=GROUP)
    install_telegram_sender(runtime)
    target_id = await failed_delivery(chats, runtime, pub, drain)

    async def alerted() -> dict[str, Any] | None:
        await chat_delivery.run(runtime)  # as the woken chat-alerts task does (it may have already)
        found = [m for m in await chats.twin.control.messages(GROUP) if buttons(m)]
        return found[-1] if found else None

    alert = await factories.eventually(alerted, what="the alert in the group")
    labels = [b["text"] for b in buttons(alert)]
    assert any(label.startswith("Retry") for label in labels), labels

    user = EDITOR if clicker == "editor" else VIEWER
    if clicker == "viewer":
        await member(chats, runtime, pub, Role.viewer, VIEWER, "Vic Viewer")
    group_before, private_before = len(await chats.texts(GROUP)), len(await chats.texts(user))
    retry = next(label for label in labels if label.startswith("Retry"))
    clicked = await chats.twin.control.user_clicks(retry, user_id=user, chat_id=GROUP, message_id=alert["message_id"])
    assert clicked["status"] == 200, clicked

    async def answered() -> list[dict[str, Any]] | None:
        found = [a for a in await chats.twin.control.callback_answers() if a["callback_query_id"]]
        return found or None

    [answer] = await factories.eventually(answered, what="the click answered")
    assert answer["user_id"] == user
    if clicker == "editor":
        [said] = await chats.new_messages(GROUP, group_before, 1)
        assert "Sending to Facebook Page" in said["text"] and said["reply_to_message_id"] == alert["message_id"]
        assert (await delivery(runtime, target_id)).status is DeliveryStatus.scheduled
    else:
        [refused] = await chats.new_messages(user, private_before, 1)
        assert "You can't do that" in refused["text"] and "editor" in refused["text"], refused
        assert (await delivery(runtime, target_id)).status is DeliveryStatus.failed
        assert len(pub.publisher.calls) == 1


async def test_alerts_mute_and_off_in_a_group_and_jobs_run_for_staff(
    chats: Chats,
    runtime: Runtime,
    pub: Pub,  # noqa: F811
) -> None:
    await member(chats, runtime, pub, Role.admin, ADMIN, "Alex Admin")
    await chats.says("/alerts here", ADMIN, group=GROUP)
    [muted] = await chats.says("/alerts mute publish_succeeded for 2h", ADMIN, group=GROUP)
    assert "Muted: publish_succeeded until Wed 25 Nov 14:00 UTC" in muted["text"], muted
    [off] = await chats.says("/alerts off", ADMIN, group=GROUP)
    assert "Alerts for The Red Lion are off" in off["text"], off
    [row] = await _destinations(runtime)
    assert row.alerts is False

    # A job run is slow work (a worker answers); only CheersAI staff may, and a refusal is told privately.
    before = len(await chats.texts(ADMIN))
    working = await chats.says("/jobs run oauth-states-cleanup", ADMIN, group=GROUP)
    assert working[0]["text"].startswith(WORKING), working
    [refused] = await chats.new_messages(ADMIN, before, 1)
    assert "You can't do that" in refused["text"] and "staff" in refused["text"], refused
    staff = await factories.person(runtime, staff=True, name="Stella Staff")
    await chats.link(staff, 777, name="Stella")
    _, ran = await chats.says("/jobs run oauth-states-cleanup", 777, answers=2)
    assert ran["text"].startswith("Ran oauth-states-cleanup"), ran
    assert [r.trigger for r in await factories.job_runs(runtime, "oauth-states-cleanup")] == ["manual"]
