"""Updates reaching the bot: webhook delivery with the secret header and Telegram-like resends, getUpdates."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Update
from telegram.error import Conflict

from sandbox.telegram.state import DEV_WEBHOOK_SECRET
from tests.sandbox_telegram.conftest import Receiver, TelegramTwin

SAM = 4242
GROUP = -1001234567890


async def test_an_update_goes_to_the_webhook_with_the_secret_header(telegram: TelegramTwin, receiver: Receiver) -> None:
    async with telegram.bot() as bot:
        assert await bot.set_webhook(receiver.url, secret_token=DEV_WEBHOOK_SECRET, allowed_updates=["message"])
        info = await bot.get_webhook_info()
        assert info.url == receiver.url and info.pending_update_count == 0

    said = await telegram.control.user_says("/week@cheers_sandbox_bot next", user_id=SAM, user_name="Sam")

    assert said["delivered"] and said["status"] == 200 and said["via"] == "webhook"
    (post,) = receiver.received
    assert post["headers"]["x-telegram-bot-api-secret-token"] == DEV_WEBHOOK_SECRET
    update = Update.de_json(post["json"], None)
    assert update.message is not None and update.message.chat.type == "private"
    assert update.message.text == "/week@cheers_sandbox_bot next" and update.message.from_user.id == SAM  # type: ignore[union-attr]
    (command,) = update.message.entities
    assert (command.type, command.offset, command.length) == ("bot_command", 0, len("/week@cheers_sandbox_bot"))


async def test_a_refused_update_is_resent_until_taken(telegram: TelegramTwin, receiver: Receiver) -> None:
    await telegram.control.set_webhook(receiver.url, DEV_WEBHOOK_SECRET)
    receiver.answers = [500, 503]

    said = await telegram.control.user_says("/status", user_id=SAM)

    assert said["statuses"] == [500, 503, 200] and said["delivered"]
    assert [p["json"]["update_id"] for p in receiver.received] == [said["update_id"]] * 3

    receiver.answers = [500, 500, 500]
    lost = await telegram.control.user_says("/help", user_id=SAM)
    assert lost["statuses"] == [500, 500, 500] and not lost["delivered"]
    webhook = await telegram.control.webhook()
    assert webhook["pending_update_count"] == 1
    assert webhook["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"

    again = await telegram.control.resend(lost["update_id"])
    assert again["delivered"] and again["update"] == lost["update"]
    assert (await telegram.control.webhook())["pending_update_count"] == 0


async def test_a_webhook_that_does_not_answer_is_a_timeout_then_a_resend(
    telegram: TelegramTwin, receiver: Receiver
) -> None:
    await telegram.control.set_webhook(f"{receiver.url.rsplit(':', 1)[0]}:1/nothing-listens", DEV_WEBHOOK_SECRET)
    await telegram.control.configure_webhook(resend_attempts=2, resend_interval=0.01, timeout_seconds=2.0)

    said = await telegram.control.user_says("/week", user_id=SAM)

    assert said["statuses"] == [None, None] and not said["delivered"]
    assert all(e.startswith("Connection failed") for e in said["errors"])


async def test_get_updates_long_polls_and_confirms_by_offset(telegram: TelegramTwin) -> None:
    async with telegram.bot() as bot:
        waiting = asyncio.create_task(bot.get_updates(timeout=30))
        await asyncio.sleep(0.05)
        said = await telegram.control.user_says("/alerts here", user_id=SAM, chat_id=GROUP, chat_title="The Red Lion")
        (update,) = await asyncio.wait_for(waiting, 30)
        assert said["via"] == "getUpdates" and said["status"] is None
        assert update.update_id == said["update_id"]
        assert update.message is not None and update.message.chat.type == "supergroup"
        assert update.message.chat.title == "The Red Lion"

        assert [u.update_id for u in await bot.get_updates()] == [update.update_id]  # not confirmed yet
        assert await bot.get_updates(offset=update.update_id + 1) == ()  # confirmed: gone

        await bot.set_webhook("http://127.0.0.1:9/telegram/webhook")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        await bot.delete_webhook()
        await telegram.control.resend(update.update_id)
        assert [u.update_id for u in await bot.get_updates()] == [update.update_id]


async def test_bot_added_to_a_group_is_a_my_chat_member_update(telegram: TelegramTwin, receiver: Receiver) -> None:
    await telegram.control.set_webhook(receiver.url, DEV_WEBHOOK_SECRET)

    added = await telegram.control.bot_added(-4001, title="Bar staff", by_user_id=SAM)

    update = Update.de_json(added["update"], None)
    member = update.my_chat_member
    assert member is not None and member.chat.type == "group" and member.chat.title == "Bar staff"
    assert member.new_chat_member.status == "member" and member.from_user.id == SAM
    assert member.new_chat_member.user.username == "cheers_sandbox_bot"


async def test_privacy_mode_keeps_plain_group_chatter_from_the_bot(telegram: TelegramTwin, receiver: Receiver) -> None:
    await telegram.control.set_webhook(receiver.url, DEV_WEBHOOK_SECRET)
    group = -4002

    command = await telegram.control.user_says("/week", user_id=SAM, chat_id=group, chat_title="Bar staff")
    chatter = await telegram.control.user_says("who's on tonight?", user_id=SAM, chat_id=group)
    other_bot = await telegram.control.user_says("/week@OtherBot", user_id=SAM, chat_id=group)
    mention = await telegram.control.user_says("@cheers_sandbox_bot hello", user_id=SAM, chat_id=group)
    async with telegram.bot() as bot:
        assert not (await bot.get_me()).can_read_all_group_messages
        sent = await bot.send_message(group, "What should it say?")
    reply = await telegram.control.user_says(
        "Quiz at 8", user_id=SAM, chat_id=group, reply_to_message_id=sent.message_id
    )

    assert command["delivered"] and mention["delivered"] and reply["delivered"]
    assert chatter["via"] == other_bot["via"] == "privacy" and chatter["update"] is None
    assert reply["update"]["message"]["reply_to_message"]["text"] == "What should it say?"
    assert len(receiver.received) == 3

    await telegram.control.privacy(False)  # BotFather's /setprivacy → Disable
    assert (await telegram.control.user_says("who's on tonight?", user_id=SAM, chat_id=group))["delivered"]
    with pytest.raises(LookupError):
        await telegram.control.user_says("hi", user_id=SAM, chat_id=group, reply_to_message_id=999)


async def test_a_slow_webhook_times_out_and_the_update_comes_again(telegram: TelegramTwin, receiver: Receiver) -> None:
    await telegram.control.set_webhook(receiver.url, DEV_WEBHOOK_SECRET)
    await telegram.control.configure_webhook(timeout_seconds=0.2)
    receiver.stalls = [1.0]

    said = await telegram.control.user_says("/retry", user_id=SAM)

    assert said["statuses"] == [None, 200] and said["errors"] == ["Read timeout expired"] and said["delivered"]
    # The slow answer was still worked on: the bot sees the same update twice and must not act twice.
    assert [p["json"]["update_id"] for p in receiver.received] == [said["update_id"]] * 2


async def test_updates_are_kept_for_a_day(telegram: TelegramTwin, receiver: Receiver) -> None:
    await telegram.control.set_webhook(receiver.url, DEV_WEBHOOK_SECRET)
    old = await telegram.control.user_says("/week", user_id=SAM)
    telegram.clock.advance(hours=25)

    new = await telegram.control.user_says("/week", user_id=SAM)

    assert [u["update_id"] for u in await telegram.control.updates()] == [new["update_id"]]
    with pytest.raises(LookupError):
        await telegram.control.resend(old["update_id"])
