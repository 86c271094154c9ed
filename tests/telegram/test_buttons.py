"""Buttons: Manual package under a real alert in a group (delivered by the alert sender through the twin) puts the
zip there as a reply to the alert; Reconnect is answered at once, as the clicker; a button the bot no longer
understands is answered "out of date". And the web process stays ready while Telegram is unreachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.telegram.callbacks import offer_data
from bot.telegram.sender import install_telegram_sender
from core.chat import delivery as chat_delivery
from core.clock import FrozenClock
from core.notifications.actions import LABELS, Action, Offer
from core.runtime import Runtime, build_runtime
from sandbox.telegram.state import DEV_WEBHOOK_SECRET
from storage.models import Role
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - The Red Lion, its Facebook publisher scripted
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.telegram.conftest import SECRET_HEADER, WEBHOOK, Chats, Served, TelegramTwin, buttons, telegram_settings
from tests.telegram.test_commands_over_http import ADMIN, EDITOR, GROUP, VIEWER, failed_delivery, member
from tests.telegram.test_webhook import _closed_port


async def alert_in_group(chats: Chats, runtime: Runtime, pub: Pub, drain: Drain) -> dict[str, Any]:  # noqa: F811
    """The group set up for The Red Lion's alerts, a delivery failed, its alert posted there with its buttons."""
    await member(chats, runtime, pub, Role.admin, ADMIN, "Alex Admin")
    await chats.says("/alerts here", ADMIN, group=GROUP)
    install_telegram_sender(runtime)
    await failed_delivery(chats, runtime, pub, drain)

    async def alerted() -> dict[str, Any] | None:
        await chat_delivery.run(runtime)
        found = [m for m in await chats.twin.control.messages(GROUP) if buttons(m)]
        return found[-1] if found else None

    return await factories.eventually(alerted, what="the alert in the group")


async def test_manual_package_puts_the_zip_in_the_group_as_a_reply_to_the_alert(
    chats: Chats,
    runtime: Runtime,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    alert = await alert_in_group(chats, runtime, pub, drain)
    labels = [b["text"] for b in buttons(alert)]
    label = next((text for text in labels if "package" in text.lower()), None)
    assert label is not None, labels
    clicked = await chats.twin.control.user_clicks(label, user_id=EDITOR, chat_id=GROUP, message_id=alert["message_id"])
    assert clicked["status"] == 200, clicked

    async def shared() -> dict[str, Any] | None:
        found = [m for m in await chats.twin.control.messages(GROUP) if m.get("document")]
        return found[0] if found else None

    zipped = await factories.eventually(shared, what="the package in the group")
    assert zipped["document"]["file_name"].endswith(".zip"), zipped
    assert zipped["reply_to_message_id"] == alert["message_id"]
    said = " ".join(str(m.get("caption") or m.get("text") or "") for m in await chats.twin.control.messages(GROUP))
    assert "Asked for by Mo Editor." in said, "their CheersAI name, not their Telegram one (Mo)"
    [answer] = await chats.twin.control.callback_answers()
    assert answer["user_id"] == EDITOR


async def test_reconnect_button_is_answered_inline_as_the_clicker(
    chats: Chats,
    served: Served,
    runtime: Runtime,
    pub: Pub,  # noqa: F811
) -> None:
    """A button answered without a worker (Reconnect): the spinner stopped with the answer's title, then the consent
    link, to an admin; a viewer pressing the same button is told who can, and nothing starts."""
    await member(chats, runtime, pub, Role.admin, ADMIN, "Alex Admin")
    await member(chats, runtime, pub, Role.viewer, VIEWER, "Vic Viewer")
    data = offer_data(Offer(Action.reconnect, LABELS[Action.reconnect], connection_id=pub.connection_id))
    for update_id, user in ((71, ADMIN), (72, VIEWER)):
        before = len(await chats.texts(user))
        answer = await served.client.post(
            WEBHOOK, json=_click(update_id, user, data), headers={SECRET_HEADER: DEV_WEBHOOK_SECRET}
        )
        assert answer.status_code == 200, answer.text
        [said] = await chats.new_messages(user, before, 1)
        if user == ADMIN:
            assert said["text"].startswith("Reconnect Facebook Page"), said
            assert any("/oauth/facebook/start?state=" in (b.get("url") or "") for b in buttons(said)), said
        else:
            assert "Only the venue's owners and admins can reconnect: Alex Admin" in said["text"], said
    toasts = [c["params"].get("text") for c in await chats.twin.control.calls("answerCallbackQuery")]
    assert len(toasts) == 2 and toasts[0].startswith("Reconnect"), toasts
    assert len(await factories.audit_entries(runtime, "reconnect_started")) == 1


def _click(update_id: int, user: int, data: str) -> dict[str, Any]:
    """A callback_query update: `user` pressed a button carrying `data` under a message in their private chat."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": {"id": user, "is_bot": False, "first_name": "Sam"},
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": 1,
                "date": 1795608000,
                "chat": {"id": user, "type": "private", "first_name": "Sam"},
                "text": "an alert",
            },
        },
    }


async def test_a_button_the_bot_no_longer_understands_is_answered_out_of_date(
    served: Served, telegram: TelegramTwin
) -> None:
    click = _click(55, ADMIN, "o0:retry:17")  # a format of an older version
    answer = await served.client.post(WEBHOOK, json=click, headers={SECRET_HEADER: DEV_WEBHOOK_SECRET})
    assert answer.status_code == 200, answer.text
    [call] = await telegram.control.calls("answerCallbackQuery")
    assert call["params"]["callback_query_id"] == "cb55"
    assert call["params"]["text"] == "This button is out of date"


async def test_ready_while_telegram_is_unreachable(database_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    settings = telegram_settings(database_url, tmp_path, unreachable, cheers_telegram_timeout_seconds=1.0)
    runtime = build_runtime(settings, clock=clock)
    try:
        async with factories.app_client(runtime) as app:
            ready = await app.get("/readyz")
            assert ready.status_code == 200, ready.text
            update = {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 1795608000,
                    "from": {"id": 5, "is_bot": False, "first_name": "Sam"},
                    "chat": {"id": 5, "type": "private", "first_name": "Sam"},
                    "text": "/help",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
                },
            }
            answer = await app.post(WEBHOOK, json=update, headers={SECRET_HEADER: DEV_WEBHOOK_SECRET})
            assert answer.status_code == 503 and "did not answer" in answer.text, answer.text
            assert (await app.get("/readyz")).status_code == 200
    finally:
        await runtime.close()
