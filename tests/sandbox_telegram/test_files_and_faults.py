"""Files (a person's photo through getFile and the file URL, the bot's documents), faults, and keeping state."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from sandbox.telegram.state import DEV_BOT_TOKEN
from sandbox.telegram.twin import running_telegram_twin
from tests.sandbox_telegram.conftest import TelegramTwin

SAM = 4242
GROUP = -4001


def photo(width: int = 1200, height: int = 800) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


async def test_a_photo_is_downloaded_through_get_file(telegram: TelegramTwin) -> None:
    data = photo()
    sent = await telegram.control.user_sends_photo(data, user_id=SAM, caption="Tonight's special")

    message = sent["update"]["message"]
    assert message["caption"] == "Tonight's special"
    sizes = message["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [(90, 60), (320, 213), (1200, 800)]
    async with telegram.bot() as bot:
        file = await bot.get_file(sizes[-1]["file_id"])
        assert file.file_size == len(data) and file.file_path is not None
        assert file.file_path.startswith(f"{telegram.url}/file/bot{DEV_BOT_TOKEN}/photos/")
        assert bytes(await file.download_as_bytearray()) == data
        thumbnail = await (await bot.get_file(sizes[0]["file_id"])).download_as_bytearray()
        assert Image.open(io.BytesIO(bytes(thumbnail))).size == (90, 60)
        with pytest.raises(BadRequest, match="Invalid file_id"):
            await bot.get_file("AgACAgQAAxkBAAInot-a-file")

    with pytest.raises(ValueError, match="IMAGE_PROCESS_FAILED"):
        await telegram.control.user_sends_photo(b"not a picture", user_id=SAM)


async def test_send_document_is_kept_with_its_bytes(telegram: TelegramTwin) -> None:
    await telegram.control.user_says("/package", user_id=SAM)
    content = b"%PDF-1.4 manual package"
    async with telegram.bot() as bot:
        sent = await bot.send_document(
            SAM, content, filename="quiz-night.zip", caption="<b>Manual package</b>", parse_mode="HTML"
        )
        assert sent.document is not None and sent.document.file_name == "quiz-night.zip"
        again = await bot.get_file(sent.document.file_id)
        assert bytes(await again.download_as_bytearray()) == content

    (message,) = await telegram.control.messages(SAM)
    assert message["document"]["file_name"] == "quiz-night.zip" and message["document"]["size"] == len(content)
    assert message["document"]["caption"] == "Manual package" and message["html"] == "<b>Manual package</b>"
    assert await telegram.control.file(message["document"]["file_id"]) == content


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own retry_after type notice
async def test_rate_limit_answers_429_with_retry_after(telegram: TelegramTwin) -> None:
    await telegram.control.user_says("hi", user_id=SAM)
    await telegram.control.rate_limit("sendMessage", retry_after=7)
    async with telegram.bot() as bot:
        with pytest.raises(RetryAfter) as limited:
            await bot.send_message(SAM, "one")
        assert "Retry in 7" in str(limited.value)  # parameters.retry_after, as PTB reads it
        await bot.send_message(SAM, "two")  # once only
    assert [m["text"] for m in await telegram.control.messages(SAM)] == ["two"]
    (refused, done) = await telegram.control.calls("sendMessage")
    assert refused["status"] == 429 and refused["description"] == "Too Many Requests: retry after 7"
    assert done["status"] == 200


async def test_server_errors_and_delays(telegram: TelegramTwin) -> None:
    await telegram.control.user_says("hi", user_id=SAM)
    await telegram.control.server_error("sendMessage", status=502, times=2)
    async with telegram.bot() as bot:
        for _ in range(2):
            with pytest.raises(NetworkError, match="Bad Gateway"):
                await bot.send_message(SAM, "lost")
        assert await telegram.control.messages(SAM) == []

    await telegram.control.delay("editMessageText", seconds=1)
    slow = Bot(
        DEV_BOT_TOKEN,
        base_url=f"{telegram.url}/bot",
        base_file_url=f"{telegram.url}/file/bot",
        request=HTTPXRequest(read_timeout=0.2),
    )
    async with slow:
        sent = await slow.send_message(SAM, "Failed")
        with pytest.raises(TimedOut):
            await slow.edit_message_text("Resolved", SAM, sent.message_id)
    # The call was carried out after the delay although the client gave up: Telegram does the same.
    for _ in range(200):
        if (await telegram.control.messages(SAM))[0]["edited"]:
            break
        await asyncio.sleep(0.05)
    assert (await telegram.control.messages(SAM))[0]["text"] == "Resolved"


async def test_blocked_user_and_kicked_group_are_forbidden(telegram: TelegramTwin) -> None:
    await telegram.control.user_says("hi", user_id=SAM)
    await telegram.control.user_says("/alerts here", user_id=SAM, chat_id=GROUP, chat_title="Bar staff")
    await telegram.control.block(SAM)
    await telegram.control.kick(GROUP)
    async with telegram.bot() as bot:
        with pytest.raises(Forbidden, match="Forbidden: bot was blocked by the user"):
            await bot.send_message(SAM, "alert")
        with pytest.raises(Forbidden, match="Forbidden: bot was kicked from the group chat"):
            await bot.send_message(GROUP, "alert")
        with pytest.raises(ValueError, match="kicked"):
            await telegram.control.user_says("/week", user_id=SAM, chat_id=GROUP)

        await telegram.control.user_says("/start", user_id=SAM)  # writing to the bot again unblocks it
        await bot.send_message(SAM, "welcome back")
        await telegram.control.bot_added(GROUP, title="Bar staff", by_user_id=SAM)  # added back
        await bot.send_message(GROUP, "hello again")

        await telegram.control.block(SAM)
        await telegram.control.clear()
        await bot.send_message(SAM, "cleared")


async def test_the_state_survives_a_restart(tmp_path: Path) -> None:
    kept = tmp_path / "telegram.json"
    async with running_telegram_twin(state_file=kept) as (url, control, _state):
        await control.set_webhook("http://127.0.0.1:9/telegram/webhook", "s3cret")
        await control.configure_webhook(resend_attempts=1, timeout_seconds=1.0)
        await control.user_sends_photo(photo(100, 100), user_id=SAM)
        await control.block(SAM + 1)
        bot = Bot(DEV_BOT_TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot")
        async with bot:
            sent = await bot.send_message(SAM, "<i>kept</i>", parse_mode="HTML")
            await bot.set_my_commands([("week", "This week's posts")])
    assert kept.is_file()

    async with running_telegram_twin(state_file=kept) as (url, control, state):
        (message,) = await control.messages(SAM)
        assert message["message_id"] == sent.message_id and message["html"] == "<i>kept</i>"
        webhook = await control.webhook()
        assert webhook["url"] == "http://127.0.0.1:9/telegram/webhook" and webhook["secret_token"] == "s3cret"
        assert webhook["pending_update_count"] == 1  # the photo nobody took
        assert state.blocked == {SAM + 1}
        bot = Bot(DEV_BOT_TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot")
        async with bot:
            assert [c.command for c in await bot.get_my_commands()] == ["week"]
            (update,) = (await control.updates())[-1:]
            file_id = update["update"]["message"]["photo"][-1]["file_id"]
            assert len(await (await bot.get_file(file_id)).download_as_bytearray()) > 0
            nxt = await bot.send_message(SAM, "next")
            assert nxt.message_id == sent.message_id + 1


async def test_send_photo_uploads_in_sizes_or_reuses_a_file_id(telegram: TelegramTwin) -> None:
    await telegram.control.user_says("/schedule", user_id=SAM)
    async with telegram.bot() as bot:
        sent = await bot.send_photo(SAM, photo(640, 480), caption="Preview: <i>Facebook</i>", parse_mode="HTML")
        assert [(p.width, p.height) for p in sent.photo] == [(90, 68), (320, 240), (640, 480)]
        again = await bot.send_photo(SAM, sent.photo[-1].file_id)
        assert again.photo[-1].file_id == sent.photo[-1].file_id
        with pytest.raises(BadRequest, match="Wrong file identifier"):
            await bot.send_photo(SAM, "AgACAgQAAxkBAAIunknown")

    first, _second = await telegram.control.messages(SAM)
    assert first["caption"] == first["text"] == "Preview: Facebook" and first["html"] == "Preview: <i>Facebook</i>"
    assert len(first["photo"]) == 3
