"""Messages as Block Kit: every limit Slack enforces is kept, and a cut list says how many more and where."""

from __future__ import annotations

from typing import Any

import pytest

from bot.messages import ChatLink, ChatMessage, Item
from bot.slack.blocks import MAX_BLOCKS, button_offer, button_value, to_slack
from core.notifications.actions import Action, offer


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out.extend(field["text"] for field in block.get("fields", []))
        out.extend(element["text"] for element in block.get("elements", []) if block["type"] == "context")
    return out


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_an_alert_renders_title_reason_fields_buttons_and_links() -> None:
    message = ChatMessage(
        title="Couldn't publish to Facebook Page The Red Lion",
        lines=("Facebook says the Page's access was removed.", "Reconnect the Page, then retry."),
        fields=(("Post", "#42 Quiz night"), ("When", "Fri 11 Dec 18:00 GMT")),
        offers=(offer(Action.retry, target_id=17), offer(Action.reconnect, connection_id=3)),
        links=(ChatLink("Open in the planner", "https://cheers.example/posts/42"),),
    )
    rendered = to_slack(message)
    blocks = rendered["blocks"]
    assert rendered["text"] == message.title
    assert [b["type"] for b in blocks] == ["header", "section", "section", "actions", "context"]
    assert "Reconnect the Page, then retry." in blocks[1]["text"]["text"]
    assert [b["value"] for b in _buttons(blocks)] == ["retry t=17", "reconnect c=3"]
    assert len({b["action_id"] for b in _buttons(blocks)}) == 2, "action_ids must be unique within a message"
    assert "<https://cheers.example/posts/42|Open in the planner>" in _texts(blocks)


def test_a_burst_of_sixty_failures_is_cut_within_fifty_blocks_saying_how_many_more() -> None:
    items = tuple(Item(f"#{n} Quiz night {n}", (offer(Action.retry, target_id=n),)) for n in range(60))
    message = ChatMessage(
        title="60 posts couldn't publish to Facebook Page The Red Lion",
        lines=("The Page's token expired.",),
        items=items,
        offers=(offer(Action.reconnect, connection_id=3),),
        more_url="https://cheers.example/problems",
    )
    blocks = to_slack(message)["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    shown = [t for t in _texts(blocks) if t.startswith("#")]
    more = [t for t in _texts(blocks) if t.startswith("…and")]
    assert more == [f"…and {60 - len(shown)} more: <https://cheers.example/problems|see them all>"]
    assert len(shown) >= 20, "the cut should keep as many items as fit"
    assert blocks[-1]["type"] == "actions" and _buttons([blocks[-1]])[0]["value"] == "reconnect c=3"


def test_a_list_that_fits_is_not_cut() -> None:
    items = tuple(Item(f"#{n}") for n in range(40))
    blocks = to_slack(ChatMessage(title="This week", items=items))["blocks"]
    assert len(blocks) == 41 and not [t for t in _texts(blocks) if t.startswith("…and")]


def test_long_texts_are_cut_to_slacks_limits() -> None:
    message = ChatMessage(
        title="T" * 400,
        lines=("x" * 5000,),
        fields=tuple((f"f{n}", "v" * 3000) for n in range(14)),
        offers=(offer(Action.mark_published, target_id=1),),
    )
    blocks = to_slack(message)["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    assert len(blocks[1]["text"]["text"]) == 3000 and blocks[1]["text"]["text"].endswith("…")
    assert len(blocks[2]["fields"]) == 10 and all(len(f["text"]) <= 2000 for f in blocks[2]["fields"])
    assert all(len(b["text"]["text"]) <= 75 for b in _buttons(blocks))


def test_user_text_cannot_inject_slack_markup() -> None:
    blocks = to_slack(ChatMessage(title="x", lines=("<!channel> & <https://evil.example|click>",)))["blocks"]
    assert blocks[1]["text"]["text"] == "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"


def test_a_button_value_reads_back_as_the_offer() -> None:
    for sent in (offer(Action.retry, target_id=17), offer(Action.diagnose, connection_id=3)):
        back = button_offer(button_value(sent))
        assert (back.action, back.target_id, back.connection_id) == (sent.action, sent.target_id, sent.connection_id)


@pytest.mark.parametrize(
    "forged", ["", "explode t=1", "retry", "retry t=abc", "retry t=1 t=2", "retry x=1", "retry t=" + "9" * 30]
)
def test_a_forged_button_value_is_refused(forged: str) -> None:
    with pytest.raises(ValueError):
        button_offer(forged)
