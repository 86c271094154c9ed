"""The Bot API as python-telegram-bot uses it: sending, editing, HTML checked as Telegram checks it, buttons."""

from __future__ import annotations

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters
from telegram.error import BadRequest, InvalidToken

from tests.sandbox_telegram.conftest import TelegramTwin

SAM = 4242


def keyboard(*labels: str, data: str = "o1:x") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=f"{data}:{label}")] for label in labels])


async def test_get_me_is_the_sandbox_bot_and_a_wrong_token_is_refused(telegram: TelegramTwin) -> None:
    async with telegram.bot() as bot:
        assert bot.username == "cheers_sandbox_bot"
        assert bot.id == 7000000001
    with pytest.raises(InvalidToken):
        async with telegram.bot("7000000001:AAHwrong-token-but-the-right-shape-000") as other:
            await other.get_me()


async def test_send_message_in_html_keeps_the_html_and_the_plain_text(telegram: TelegramTwin) -> None:
    await telegram.control.user_says("/start", user_id=SAM)
    async with telegram.bot() as bot:
        sent = await bot.send_message(
            SAM,
            "<b>Quiz night</b> failed on &lt;Facebook&gt; &amp; Instagram",
            parse_mode="HTML",
            reply_markup=keyboard("Retry", "Diagnose"),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        assert sent.text == "Quiz night failed on <Facebook> & Instagram"
        assert sent.entities[0].type == "bold" and sent.entities[0].length == len("Quiz night")
        answer = await bot.send_message(SAM, "Done", reply_parameters=ReplyParameters(sent.message_id))
        assert answer.reply_to_message is not None and answer.reply_to_message.message_id == sent.message_id

    first, second = await telegram.control.messages(SAM)
    assert first["html"] == "<b>Quiz night</b> failed on &lt;Facebook&gt; &amp; Instagram"
    assert first["text"] == "Quiz night failed on <Facebook> & Instagram"
    assert [row[0]["text"] for row in first["reply_markup"]["inline_keyboard"]] == ["Retry", "Diagnose"]
    assert first["link_preview_disabled"] and first["edited"] == 0
    assert second["reply_to_message_id"] == first["message_id"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<blink>hi</blink>", 'Unsupported start tag "blink" at byte offset 0'),
        ("Fish & chips", 'Character "&" must be escaped'),
        ("1 < 2", "Unclosed start tag at byte offset 2"),
        ("a < b > c", "Empty tag name at byte offset 2"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
    ],
)
async def test_html_that_telegram_cannot_parse_is_refused(telegram: TelegramTwin, text: str, error: str) -> None:
    await telegram.control.user_says("hi", user_id=SAM)
    async with telegram.bot() as bot:
        with pytest.raises(BadRequest, match=r"^Can't parse entities: ") as refused:
            await bot.send_message(SAM, text, parse_mode="HTML")
    assert error.lower() in str(refused.value).lower()  # PTB capitalises: "Can't parse entities: can't …"
    assert await telegram.control.messages(SAM) == []


async def test_text_length_chat_and_button_limits(telegram: TelegramTwin) -> None:
    await telegram.control.user_says("hi", user_id=SAM)
    async with telegram.bot() as bot:
        # 4096 characters after entity parsing: the tags do not count, the text does; "x…:A" is 64, then 65 bytes.
        await bot.send_message(SAM, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(SAM, "x" * 4097)
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(SAM, "<b> </b>", parse_mode="HTML")
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(999, "who?")
        await bot.send_message(SAM, "64 bytes", reply_markup=keyboard("A", data="x" * 62))
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await bot.send_message(SAM, "65 bytes", reply_markup=keyboard("A", data="x" * 63))
        many = InlineKeyboardMarkup([[InlineKeyboardButton(str(i), callback_data=str(i))] for i in range(101)])
        with pytest.raises(BadRequest, match="Too many inline keyboard buttons"):
            await bot.send_message(SAM, "101 buttons", reply_markup=many)


async def test_edit_message_text_not_modified_and_not_found(telegram: TelegramTwin) -> None:
    await telegram.control.user_says("hi", user_id=SAM)
    async with telegram.bot() as bot:
        sent = await bot.send_message(SAM, "<b>Failed</b>", parse_mode="HTML", reply_markup=keyboard("Retry"))
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text(
                "<b>Failed</b>", SAM, sent.message_id, parse_mode="HTML", reply_markup=keyboard("Retry")
            )
        edited = await bot.edit_message_text("Resolved by Sam", SAM, sent.message_id)
        assert not isinstance(edited, bool) and edited.text == "Resolved by Sam"
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("gone", SAM, 9999)
        await bot.edit_message_reply_markup(SAM, sent.message_id, reply_markup=keyboard("Publish again"))
        assert await bot.delete_message(SAM, sent.message_id)
        with pytest.raises(BadRequest, match="Message to delete not found"):
            await bot.delete_message(SAM, sent.message_id)

    (message,) = await telegram.control.messages(SAM)
    assert message["text"] == "Resolved by Sam" and message["html"] is None
    assert message["edited"] == 2 and message["deleted"]
    assert message["reply_markup"]["inline_keyboard"][0][0]["text"] == "Publish again"


async def test_a_click_is_a_callback_query_answered_once(telegram: TelegramTwin) -> None:
    await telegram.control.user_says("hi", user_id=SAM)
    async with telegram.bot() as bot:
        await bot.send_message(SAM, "Alert", reply_markup=keyboard("Retry", "Diagnose"))
        clicked = await telegram.control.user_clicks("Diagnose", user_id=SAM, chat_id=SAM)
        (update,) = [u for u in await bot.get_updates(timeout=0) if u.callback_query]
        query = update.callback_query
        assert query is not None and query.data == "o1:x:Diagnose" and query.from_user.id == SAM
        assert clicked["update_id"] == update.update_id
        assert await query.answer("Looking into it…")
        with pytest.raises(BadRequest, match="Query is too old"):
            await query.answer("again")
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query("unknown-query")

        # Not answered within Telegram's window: too old.
        await telegram.control.user_clicks("Retry", user_id=SAM, chat_id=SAM)
        late = next(u for u in await bot.get_updates(offset=update.update_id + 1) if u.callback_query)
        telegram.clock.advance(seconds=30)
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query(late.callback_query.id)  # type: ignore[union-attr]

    (answer,) = await telegram.control.callback_answers()
    assert answer["text"] == "Looking into it…" and answer["data"] == "o1:x:Diagnose" and answer["user_id"] == SAM
    with pytest.raises(LookupError):
        await telegram.control.user_clicks("Mark published", user_id=SAM, chat_id=SAM)
