"""A ChatMessage as Telegram HTML and an inline keyboard: escaped text, the offers as buttons, within the limits."""

from __future__ import annotations

import html
import re

from bot.messages import ChatLink, ChatMessage, Item
from bot.telegram.callbacks import MAX_BYTES, parse_data
from bot.telegram.render import MAX_BUTTONS, MAX_TEXT, MORE_LABEL, PARSE_MODE, Outgoing, to_telegram
from core.notifications.actions import Action, offer

TAG = re.compile(r"</?(?:b|code)>")


def visible(text: str) -> str:
    """What Telegram shows: the HTML without its tags, entities read; fails on markup we never send."""
    bare = TAG.sub("", text)
    assert "<" not in bare and ">" not in bare, bare
    assert not re.search(r"&(?!amp;|lt;|gt;)", bare), bare
    return html.unescape(bare)


def buttons(out: Outgoing) -> list[tuple[str, str | None, str | None]]:
    rows = out.reply_markup.inline_keyboard if out.reply_markup else ()
    return [(b.text, b.callback_data if isinstance(b.callback_data, str) else None, b.url) for r in rows for b in r]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_parse_mode_is_html() -> None:
    assert PARSE_MODE == "HTML"


def test_title_bold_lines_and_fields_escaped() -> None:
    message = ChatMessage(
        title="Post <b>failed</b> & more",
        lines=("Reason: <script>", "a & b"),
        fields=(("Venue", "Fish & <Chips>"),),
    )
    out = to_telegram(message)
    assert out.text.splitlines()[0] == "<b>Post &lt;b&gt;failed&lt;/b&gt; &amp; more</b>"
    assert visible(out.text) == "Post <b>failed</b> & more\nReason: <script>\na & b\nVenue: Fish & <Chips>"
    assert out.reply_markup is None


def test_offers_are_buttons_with_slacks_labels_and_data_that_reads_back() -> None:
    offers = (offer(Action.retry, target_id=17), offer(Action.manual_package, target_id=17))
    out = to_telegram(ChatMessage(title="Post failed", offers=offers))
    got = buttons(out)
    assert [label for label, _, _ in got] == ["Retry", "Download the manual package"]
    assert [parse_data(data) for _, data, _ in got] == list(offers)


def test_a_single_items_buttons_are_not_numbered_but_several_are() -> None:
    one = to_telegram(ChatMessage(title="t", items=(Item("Quiz night", (offer(Action.retry, target_id=1),)),)))
    assert [b[0] for b in buttons(one)] == ["Retry"]
    assert visible(one.text).endswith("\n\nQuiz night")
    two = to_telegram(
        ChatMessage(
            title="2 posts failed",
            items=(
                Item("Quiz <night>", (offer(Action.retry, target_id=1),)),
                Item("Curry & pint", (offer(Action.retry, target_id=2),)),
            ),
        )
    )
    assert visible(two.text) == "2 posts failed\n\n1. Quiz <night>\n2. Curry & pint"
    got = buttons(two)
    assert [b[0] for b in got] == ["1 · Retry", "2 · Retry"]
    assert [parse_data(b[1]) for b in got] == [offer(Action.retry, target_id=1), offer(Action.retry, target_id=2)]


def test_long_labels_get_their_own_rows() -> None:
    offers = (
        offer(Action.mark_published, target_id=1),
        offer(Action.publish_again, target_id=1),
        offer(Action.manual_package, target_id=1),
    )
    out = to_telegram(ChatMessage(title="t", offers=offers))
    assert out.reply_markup is not None
    assert [len(row) for row in out.reply_markup.inline_keyboard] == [1, 1, 1]
    short = to_telegram(
        ChatMessage(title="t", offers=(offer(Action.retry, target_id=1), offer(Action.diagnose, connection_id=2)))
    )
    assert short.reply_markup is not None
    assert [len(row) for row in short.reply_markup.inline_keyboard] == [2]


def test_links_are_url_buttons() -> None:
    out = to_telegram(ChatMessage(title="t", links=(ChatLink("Open <it>", "https://cheers.example/posts/1?a=1&b=2"),)))
    assert buttons(out) == [("Open <it>", None, "https://cheers.example/posts/1?a=1&b=2")]


def test_a_long_list_is_cut_within_4096_with_and_n_more_and_the_whole_lists_link() -> None:
    items = tuple(
        Item(f"Post {n} <about> fish & chips " + "x" * 80, (offer(Action.retry, target_id=n),)) for n in range(200)
    )
    out = to_telegram(ChatMessage(title="Week", items=items, more_url="https://cheers.example/week"))
    assert len(out.text) <= MAX_TEXT
    shown = visible(out.text)
    match = re.search(r"… and (\d+) more$", shown)
    assert match
    listed = len(re.findall(r"^\d+\. Post", shown, re.M))
    assert listed + int(match.group(1)) == 200
    got = buttons(out)
    assert got[-1] == (MORE_LABEL, None, "https://cheers.example/week")
    assert len(got) == listed + 1


def test_at_most_100_buttons() -> None:
    items = tuple(
        Item(f"{n}", (offer(Action.retry, target_id=n), offer(Action.manual_package, target_id=n))) for n in range(80)
    )
    out = to_telegram(ChatMessage(title="t", items=items, offers=(offer(Action.diagnose, connection_id=1),)))
    got = buttons(out)
    assert len(got) <= MAX_BUTTONS
    assert got[-1][0] == "Diagnose"  # the message's own offers are kept
    assert "… and" in visible(out.text)
    assert all(len(data.encode()) <= MAX_BYTES for _, data, _ in got if data)


def test_without_more_url_the_cut_still_says_how_many() -> None:
    items = tuple(Item("y" * 1000) for _ in range(10))
    out = to_telegram(ChatMessage(title="t", items=items))
    assert utf16(out.text) <= MAX_TEXT
    assert re.search(r"… and \d+ more$", out.text)
    assert out.reply_markup is None


def test_emoji_count_twice_and_escapes_never_split() -> None:
    out = to_telegram(ChatMessage(title="🍺" * 5000, lines=("&" * 5000,), items=(Item("🍻" * 3000),)))
    assert utf16(out.text) <= MAX_TEXT
    visible(out.text)  # well formed: no half "&amp;" at a cut
    assert "…" in out.text


def test_very_many_lines_keep_the_title_and_stay_well_formed() -> None:
    out = to_telegram(ChatMessage(title="Status", lines=tuple(f"line {n} & <more>" for n in range(2000))))
    assert utf16(out.text) <= MAX_TEXT
    assert out.text.startswith("<b>Status</b>\nline 0 &amp; &lt;more&gt;")
    visible(out.text)


def test_an_item_per_kind_of_text_round_trips_visibly() -> None:
    text = 'He said "hi" & left <3'
    out = to_telegram(ChatMessage(title=text, lines=(text,), items=(Item(text),)))
    assert visible(out.text) == f"{text}\n{text}\n\n{text}"


def test_code_spans_are_code_made_after_escaping_and_commands_take_telegrams_slash() -> None:
    out = to_telegram(
        ChatMessage(
            title="`/week`: this week's posts",
            lines=(
                "Then type `link CODE` here.",
                "Type `help` to see what you can ask.",
                "Or ask your operator to run `cheers chat link-code --user <YOUR_ID>`.",
                "A `<b>bold</b> & co` span and a lone ` backtick",
            ),
            fields=(("Muted", "until `alerts here` again"),),
            items=(Item("`venue The Red Lion` (viewer)"), Item("`venue <i>The Crown</i>` (editor)")),
        )
    )

    assert out.text.startswith("<b><code>/week</code>: this week's posts</b>"), out.text
    assert "Then type <code>/link CODE</code> here." in out.text, out.text
    assert "Type <code>/help</code> to see what you can ask." in out.text, out.text
    assert "<code>cheers chat link-code --user &lt;YOUR_ID&gt;</code>" in out.text, "not a chat command: no slash"
    assert "A <code>&lt;b&gt;bold&lt;/b&gt; &amp; co</code> span and a lone ` backtick" in out.text, out.text
    assert "until <code>/alerts here</code> again" in out.text, out.text
    assert "1. <code>/venue The Red Lion</code> (viewer)" in out.text, out.text
    assert "2. <code>/venue &lt;i&gt;The Crown&lt;/i&gt;</code> (editor)" in out.text, out.text
    assert visible(out.text).count("`") == 1, "only the unpaired backtick is left as typed"
