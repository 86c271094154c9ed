"""The twin's HTML parse mode: Telegram's tags and entities, offsets in UTF-16 code units, strict refusals."""

from __future__ import annotations

import html

import pytest

from sandbox.telegram.html import HtmlError, parse_html


def test_tags_become_entities_with_utf16_offsets() -> None:
    text, entities = parse_html('🍺 <b>Quiz <i>night</i></b> at <a href="https://red-lion.example/q">the pub</a>')

    assert text == "🍺 Quiz night at the pub"
    # The emoji is two UTF-16 code units, so every offset after it counts two for it, as Telegram's do.
    assert entities == [
        {"type": "bold", "offset": 3, "length": 10},
        {"type": "italic", "offset": 8, "length": 5},
        {"type": "text_link", "offset": 17, "length": 7, "url": "https://red-lion.example/q"},
    ]


def test_every_supported_tag_and_entity() -> None:
    source = (
        "<strong>a</strong><em>b</em><u>c</u><ins>d</ins><s>e</s><strike>f</strike><del>g</del>"
        '<span class="tg-spoiler">h</span><tg-spoiler>i</tg-spoiler><code>j</code><pre><code class="language-py">k'
        '</code></pre><blockquote expandable>l</blockquote><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
        "&lt;&gt;&amp;&quot;&#39;&#x1F37A;"
    )
    text, entities = parse_html(source)

    assert text == "abcdefghijkl👍<>&\"'🍺"
    kinds = [e["type"] for e in entities]
    assert kinds == [
        "bold", "italic", "underline", "underline", "strikethrough", "strikethrough", "strikethrough", "spoiler",
        "spoiler", "code", "pre", "expandable_blockquote", "custom_emoji",
    ]  # fmt: skip
    assert entities[10]["language"] == "py"  # <pre><code class="language-py"> is one entity


def test_escaped_user_text_always_parses_back_to_itself() -> None:
    typed = 'Fish & chips <tonight> "2 for 1" it\'s 5 > 4 🍺'
    text, entities = parse_html(f"<b>{html.escape(typed)}</b>")
    assert text == typed and entities == [{"type": "bold", "offset": 0, "length": len(typed) + 1}]


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", 'Unexpected end tag "b" at byte offset 1'),
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("<br/>", 'Unsupported start tag "br" at byte offset 0'),
        ("🍺<b", "Unclosed start tag at byte offset 4"),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("R&D", 'Character "&" must be escaped as "&amp;" at byte offset 1'),
        ("&copy;", 'Unsupported HTML entity "&copy;"'),
    ],
)
def test_what_telegram_refuses(source: str, error: str) -> None:
    with pytest.raises(HtmlError) as refused:
        parse_html(source)
    assert error in str(refused.value)


def test_an_empty_tag_makes_no_entity_and_a_bare_gt_is_text() -> None:
    assert parse_html("<b></b>a > b") == ("a > b", [])
