"""The chat grammar's `edit POST_ID text "…"` and `edit POST_ID when PHRASE`, and what it says when words lack."""

from __future__ import annotations

import pytest

from bot.commands import CommandUnclear, EditPost, parse_command


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ('edit 42 text "Quiz night from 8"', EditPost(42, text="Quiz night from 8")),
        ("edit #42 text “Curly quotes”", EditPost(42, text="Curly quotes")),
        ("/cheers edit 42 when fri 8pm", EditPost(42, when="fri 8pm")),
        ("/edit@CheersBot 42 WHEN tomorrow 19:30", EditPost(42, when="tomorrow 19:30")),
    ],
)
def test_edit_reads_the_post_and_the_one_change(typed: str, parsed: EditPost) -> None:
    assert parse_command(typed) == parsed


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("edit", "say which post"),
        ("edit 42", "say `text` or `when`"),
        ("edit 42 text no quotes", "put the new text in quotes"),
        ('edit 42 text ""', "the new text is empty"),
        ("edit 42 when", "say the new time"),
        ("edit x when fri", "'x' is not a post number"),
    ],
)
def test_edit_with_missing_words_says_what_would_work(typed: str, said: str) -> None:
    with pytest.raises(CommandUnclear) as unclear:
        parse_command(typed)
    assert said in unclear.value.message and "edit POST_ID" in unclear.value.message, unclear.value.message
