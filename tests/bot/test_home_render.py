"""The App Home as Block Kit: problems and every venue's week fit Slack's 100 blocks, cut lists say how many more."""

from __future__ import annotations

from typing import Any

from bot.messages import ChatMessage, Item
from bot.slack.blocks import MAX_HOME_BLOCKS, home_view
from core.notifications.actions import Action, offer

MORE = "https://cheers.example/api/posts?week=this"


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if "text" in b]


def test_a_long_home_is_cut_within_a_hundred_blocks_and_every_venue_keeps_its_heading() -> None:
    problems = ChatMessage(
        title="80 problems to fix",
        items=tuple(Item(f"#{n} failed", (offer(Action.retry, target_id=n),)) for n in range(80)),
        more_url=MORE,
    )
    weeks = [
        ChatMessage(title=f"This week at Venue {v}: 60 posts", items=tuple(Item(f"Post {n}") for n in range(60)))
        for v in range(3)
    ]

    view = home_view([problems, *weeks])

    blocks = view["blocks"]
    assert view["type"] == "home" and len(blocks) <= MAX_HOME_BLOCKS
    texts = _texts(blocks)
    for title in [problems.title, *(w.title for w in weeks)]:
        assert title in texts, f"{title!r} was pushed out by the lists above it"
    more = [t for t in texts if t.startswith("…and")]
    assert more[0].endswith(f"<{MORE}|see them all>") and len(more) == 4, more
    action_ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(set(action_ids)) == len(action_ids)


def test_two_retries_in_one_item_have_distinct_action_ids() -> None:
    item = Item("Post 4", (offer(Action.retry, target_id=1), offer(Action.retry, target_id=2)))
    [actions] = [b for b in home_view([ChatMessage(title="This week", items=(item,))])["blocks"] if "elements" in b]
    ids = [e["action_id"] for e in actions["elements"]]
    assert len(set(ids)) == 2 and all(i.startswith("retry:") for i in ids)
